# The suite and the reference target in one image: compose runs it as `target`, `master` and `worker`.
FROM python:3.11.10-slim-bookworm

# make: the image installs the Python packages with the same verb as everyone else (make deps-python).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml Makefile README.md ./
COPY loadtests ./loadtests
COPY target_project ./target_project
# The `test` extra (pytest, playwright ...) stays out of the image; the Debian packages of `make deps`
# (redis-server, nginx) are services of their own in docker-compose.yml.
RUN make deps-python PIP_EXTRAS=target

EXPOSE 8000 8089 5557 9646
