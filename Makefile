# The one command surface: README, CI and developers all use these verbs.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
APT_PACKAGES ?= redis-server chromium
REPORT_DIR ?= reports/ci

.PHONY: help deps deps-python deps-system demo test lint format ci-load bench bench-fidelity bench-cost bench-saturation bench-ceiling

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

deps: deps-system deps-python ## install everything: Debian packages (redis-server, chromium) and Python packages

deps-python:
	$(PIP) install -q -e '.[target,test]'

deps-system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: deps-python ## start the target on a free port, run a 20 s headless load test, print the results
	$(PYTHON) scripts/with_target.py -- locust -f loadtests/ws.py --config loadtests/profiles/smoke.conf \
		--host {host} --report-dir reports/demo

ci-load: deps-python ## the CI profile (loadtests/profiles/ci.conf) against an auto-started target; artifacts in $(REPORT_DIR)
	$(PYTHON) scripts/with_target.py -- locust --config loadtests/profiles/ci.conf --host {host} --report-dir $(REPORT_DIR)

test: deps ## run the test suite (pytest; exit 5, no tests collected, is a failure)
	$(PYTHON) -m pytest; code=$$?; \
	if [ $$code -eq 5 ]; then echo "pytest collected no tests: treating as failure"; exit 1; fi; exit $$code

lint: ## ruff check and format check
	$(PYTHON) -m ruff check loadtests target_project tests benchmarks scripts
	$(PYTHON) -m ruff format --check loadtests target_project tests benchmarks scripts

format:
	$(PYTHON) -m ruff format loadtests target_project tests benchmarks scripts
	$(PYTHON) -m ruff check --fix loadtests target_project tests benchmarks scripts

# Benchmarks (benchmarks/README.md): each starts its own Daphne on a free loopback port, runs < 2 min,
# and ends with one line `GOAL <what>: <figure> -> PASS|FAIL`. They print figures; they do not fail the build.
bench: bench-fidelity bench-cost bench-saturation ## run the three benchmarks

RUNS ?= 1
bench-fidelity: ## suite p50/p99 vs an independent probe in the same seconds, and send gaps; RUNS=10 for the distribution
	$(PYTHON) -m benchmarks.fidelity --runs $(RUNS)

bench-cost: ## generator CPU per round trip: suite vs a bare asyncio websockets client, side by side and alone (ABAB, pinned)
	$(PYTHON) -m benchmarks.cost

bench-saturation: ## msg/s the suite drives the target to vs the bare asyncio client (ABBA phases)
	$(PYTHON) -m benchmarks.saturation

bench-ceiling: ## msg/s per core of one suite process vs bare asyncio and picows clients, against a picows echo server
	$(PYTHON) -m benchmarks.ceiling
