# The one command surface: README, CI and developers all use these verbs.
PYTHON ?= python3
DRILL ?=
PIP ?= $(PYTHON) -m pip
APT_PACKAGES ?= redis-server chromium prometheus curl nginx gettext-base
PIP_EXTRAS ?= target,test
SCALED ?= 2
REPORT_DIR ?= reports/ci
BASELINE ?= reports/baseline

.PHONY: help deps deps-python deps-mitmproxy deps-system demo demo-scaled drill test test-tiers test-parallel test-timing test-inprocess test-repeat test-for test-fast lint format ci-load ci-gate bench-compare bench bench-fidelity bench-cost bench-saturation bench-connections bench-capacity bench-ceiling bench-witness bench-fanout

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -e 's/:.*## /\t/' -e 's|$$(REPORT_DIR)|$(REPORT_DIR)|g' -e 's|$$(SCALED)|$(SCALED)|g' -e 's|$$(BASELINE)|$(BASELINE)|g'

deps: deps-system deps-python deps-mitmproxy ## install everything: Debian packages (redis-server, chromium, prometheus, nginx), Python packages, mitmproxy's venv

deps-python:
	$(PIP) install -q -e '.[$(PIP_EXTRAS)]'

# mitmproxy (tests/discover: real browser recordings through mitmdump) pins older asgiref, cryptography, Flask,
# h11 and pyOpenSSL than Django, Channels, Locust and Twisted want: it gets a venv of its own, made once.
MITM_VENV ?= .tools/mitmproxy
deps-mitmproxy:
	@test -x $(MITM_VENV)/bin/mitmdump || { $(PYTHON) -m venv $(MITM_VENV) && $(MITM_VENV)/bin/pip install -q 'mitmproxy>=11,<12'; }

deps-system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: deps-python ## start the target on a free port, run a 20 s headless load test, print the results
	$(PYTHON) scripts/with_target.py -- locust -f loadtests/ws.py --config loadtests/profiles/smoke.conf \
		--host {host} --report-dir reports/demo

demo-scaled: deps ## the demo's load against $(SCALED) Daphne processes on Redis behind nginx (ChatUser broadcasts too)
	$(PYTHON) scripts/with_target.py --scaled $(SCALED) -- locust -f loadtests/ws.py RoomUser ChatUser \
		--config loadtests/profiles/smoke.conf --host {host} --report-dir reports/demo-scaled

drill: deps ## a restart drill on 2 Daphne behind nginx: one SIGTERMed at 10 s, started at 15 s; prints the recovery (docs/restarts.md)
	$(PYTHON) scripts/drill.py $(DRILL)

CI_ARGS ?=
ci-load: deps-python ## the CI profile (loadtests/profiles/ci.conf) against an auto-started target; artifacts in $(REPORT_DIR); CI_ARGS: more locust options
	$(PYTHON) scripts/with_target.py -- locust --config loadtests/profiles/ci.conf --host {host} --report-dir $(REPORT_DIR) $(CI_ARGS)

ci-gate: deps-python ## ci-load judged against an earlier run's report folder $(BASELINE): message:p50<=1.1x, then compare.html
	$(PYTHON) scripts/with_target.py -- locust --config loadtests/profiles/ci.conf --host {host} --report-dir $(REPORT_DIR) \
		--baseline $(BASELINE) --slo 'message:p50<=1.1x' $(CI_ARGS); \
	code=$$?; $(PYTHON) -m chanload compare $(BASELINE) $(REPORT_DIR) --report-dir $(REPORT_DIR) >/dev/null; exit $$code

# The tests (tests/conftest.py): in-process ones; `e2e` ones, which start processes (servers, locust); and
# tests/locust/inprocess/, Locust in the pytest process (gevent), so in a pytest process of its own.
# `timing` tests measure time or rates: they run alone, after the parallel run. The parallel run asserts behaviour
# only (docs/architecture.md, "The tiers"; tests/test_tiers.py checks it).
# TEST_WORKERS: the parallel tier's pytest-xdist workers; 4 on a 2-core machine (docs/architecture.md, the figures).
TEST_WORKERS ?= 4
# JUNIT=PREFIX: each tier also writes PREFIX-parallel.xml, PREFIX-timing.xml, PREFIX-inprocess.xml (test-repeat).
JUNIT ?=
junit = $(if $(JUNIT),--junitxml=$(JUNIT)-$(1).xml)
# pytest's exit code 5 (no tests collected) is a failure too.
PYTEST_STATUS = code=$$?; if [ $$code -eq 5 ]; then echo "pytest collected no tests: treating as failure"; exit 1; fi; exit $$code

test: deps ## run the whole test suite: in parallel, then the timing tests alone, then Locust in-process (pytest; exit 5 fails)
	@$(MAKE) --no-print-directory test-tiers

test-tiers: test-parallel test-timing test-inprocess ## the three tiers of `make test`, in this order, without installing anything first

test-parallel:
	$(PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadgroup -m "not timing" $(call junit,parallel); $(PYTEST_STATUS)

test-timing:
	$(PYTHON) -m pytest -m timing $(call junit,timing); $(PYTEST_STATUS)

test-inprocess:
	$(PYTHON) -m pytest tests/locust/inprocess $(call junit,inprocess); $(PYTEST_STATUS)

N ?= 5
test-repeat: deps ## the flake finder: make test N times (N=5), each in a fresh clone of HEAD; prints every test that failed, and how often
	$(PYTHON) scripts/test_repeat.py --runs $(N) $(if $(filter command line environment,$(origin TEST_WORKERS)),--workers $(TEST_WORKERS))

MODULE ?=
test-for: ## MODULE=chanload.wire.client (or a layer, chanload.wire): only the tests that import it, both tiers
	@test -n "$(MODULE)" || { echo "give MODULE=chanload.<layer>[.<module>], e.g. make test-for MODULE=chanload.wire.client"; exit 2; }
	@files="$$($(PYTHON) scripts/tests_for.py $(MODULE))"; inproc="$$($(PYTHON) scripts/tests_for.py $(MODULE) --tier inprocess)"; \
	if [ -z "$$files$$inproc" ]; then echo "no test file imports $(MODULE)"; exit 1; fi; \
	if [ -n "$$files" ]; then $(PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadgroup $$files || exit $$?; fi; \
	if [ -n "$$inproc" ]; then $(PYTHON) -m pytest $$inproc || exit $$?; fi

test-fast: ## run the in-process tests only (no server, no locust process; under a minute)
	$(PYTHON) -m pytest -m "not e2e"; $(PYTEST_STATUS)
	$(PYTHON) -m pytest tests/locust/inprocess -m "not e2e"; $(PYTEST_STATUS)

lint: ## ruff (style, imports, unused noqa), lint-imports (the layers point down), mypy (the library's types)
	$(PYTHON) -m ruff check loadtests target_project tests benchmarks scripts
	$(PYTHON) -m ruff format --check loadtests target_project tests benchmarks scripts
	lint-imports --no-cache
	$(PYTHON) -m mypy

format:
	$(PYTHON) -m ruff format loadtests target_project tests benchmarks scripts
	$(PYTHON) -m ruff check --fix loadtests target_project tests benchmarks scripts

# Benchmarks (benchmarks/README.md): each starts its own Daphne on a free loopback port, runs < 2 min,
# and ends with one line `GOAL <what>: <figure> -> PASS|FAIL`. They print figures; they do not fail the build.
bench: bench-fidelity bench-cost bench-saturation ## run the three instrument benchmarks (fidelity, cost, saturation)

RUNS ?= 1
ARRIVALS ?= poisson
bench-fidelity: ## suite p50/p99 vs an independent probe in the same seconds, and send gaps; RUNS=10 for the distribution, ARRIVALS=both
	$(PYTHON) -m benchmarks.fidelity --runs $(RUNS) --arrivals $(ARRIVALS)

bench-cost: ## generator CPU per round trip: suite vs a bare asyncio websockets client, side by side and alone (ABAB, pinned)
	$(PYTHON) -m benchmarks.cost

bench-saturation: ## msg/s the suite drives the target to vs the bare asyncio client (ABBA phases)
	$(PYTHON) -m benchmarks.saturation

PAIRS ?= 20
bench-compare: ## compare's false positives on A/A run pairs and its power on a +20% server pause (PAIRS=20: ~25 min)
	$(PYTHON) -m benchmarks.compare --pairs $(PAIRS)

COUNT ?= 20000
TARGETS ?= 4
bench-connections: ## KB per held socket and where it goes; one Locust worker holds COUNT sockets (TARGETS Daphne, Redis, nginx)
	$(PYTHON) -m benchmarks.socketmem
	$(PYTHON) -m benchmarks.connections --sockets $(COUNT) --targets $(TARGETS)

bench-capacity: ## the capacity finder's knee for room/ (sync) beside aroom/ (async)
	$(PYTHON) -m benchmarks.capacity

bench-ceiling: ## msg/s per core of one suite process vs bare asyncio and picows clients, against a picows echo server
	$(PYTHON) -m benchmarks.ceiling

bench-witness: ## the suite's round trip and handshake through proxies holding 1, 5, 20 ms read 2D more (a known delay)
	$(PYTHON) -m benchmarks.witness

bench-fanout: ## one Locust worker accounts a 1,000-member room's deliveries on 2 Daphne/Redis/nginx, then a picows broadcaster (~3 min)
	$(PYTHON) -m benchmarks.fanout
