# Two commands for a newcomer: `make run` serves the whole system on :8080,
# `make test` runs the whole suite against real PostgreSQL and Mosquitto.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run stack test lint lint-js format services demo-db bench clean lock lock-upgrade proto interop

# Dependencies come from the lock files (exact versions and hashes, `make lock`), the
# project itself without its dependencies: CI, `make run` and the image install the same.
RUNTIME_LOCK := requirements/runtime.txt
DEV_LOCK     := requirements/dev.txt
INTEROP_LOCK := requirements/interop.txt

$(STAMP): pyproject.toml $(RUNTIME_LOCK) $(DEV_LOCK)
	$(PYTHON) scripts/check_lock.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r $(DEV_LOCK)
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

## lock: pin pyproject.toml's dependencies (and the dev extra) with hashes into
## requirements/; versions already pinned stay, a new dependency gets the newest release.
## lock-upgrade: the same, every package moved to its newest release.
PIP_TOOLS  := pip-tools==7.6.2
LOCK_VENV  := .venv-lock
LOCK_FLAGS := --quiet --generate-hashes --strip-extras --allow-unsafe \
              --no-emit-index-url --no-emit-find-links
lock: $(LOCK_VENV)/.installed
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile $(LOCK_FLAGS) $(LOCK_ARGS) \
	    -o $(RUNTIME_LOCK) pyproject.toml
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile $(LOCK_FLAGS) $(LOCK_ARGS) \
	    --extra dev -o $(DEV_LOCK) pyproject.toml
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile $(LOCK_FLAGS) $(LOCK_ARGS) \
	    -o $(INTEROP_LOCK) requirements/interop.in
	$(PYTHON) scripts/check_lock.py

lock-upgrade:
	$(MAKE) lock LOCK_ARGS=--upgrade

## proto: regenerate the Sparkplug B payload module from its schema (protoc from
## grpcio-tools, in a virtualenv of its own: only this target needs it).
PROTO_TOOLS := grpcio-tools==1.85.1
PROTO_VENV  := .venv-proto
PROTO_DIR   := services/telemetry/sparkplug/proto
proto: $(PROTO_VENV)/.installed
	cd $(PROTO_DIR) && $(CURDIR)/$(PROTO_VENV)/bin/python -m grpc_tools.protoc -I. \
	    --python_out=. --pyi_out=. sparkplug_b.proto

$(PROTO_VENV)/.installed:
	$(PYTHON) -m venv $(PROTO_VENV)
	$(PROTO_VENV)/bin/pip install -q '$(PROTO_TOOLS)'
	touch $@

## interop: the independent Sparkplug B encoder the interop tests run (pysparkplug, from
## requirements/interop.in locked into requirements/interop.txt). It pins paho-mqtt<2, which
## aiomqtt 2 cannot share, so it has a virtualenv of its own; `make test` creates it.
INTEROP_VENV  := .venv-interop
INTEROP_STAMP := $(INTEROP_VENV)/.installed
interop: $(INTEROP_STAMP)

$(INTEROP_STAMP): $(INTEROP_LOCK)
	$(PYTHON) -m venv $(INTEROP_VENV)
	$(INTEROP_VENV)/bin/pip install -q --upgrade pip
	$(INTEROP_VENV)/bin/pip install -q --require-hashes -r $(INTEROP_LOCK)
	touch $@

$(LOCK_VENV)/.installed:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q '$(PIP_TOOLS)'
	touch $@

## run: the whole system at http://localhost:8080 (Ctrl-C stops it)
run: $(STAMP)
	$(BIN)/python -m devserver

## stack: the compose stack without Docker: each service its own process (:8081-:8084,
## simulator :8090), Mosquitto with the project's ACLs (:1884), nginx with the project's
## config in front on :8080 (Ctrl-C stops it)
stack: $(STAMP) services
	bash scripts/stack.sh

## test: lint, then the whole suite against real PostgreSQL and a real MQTT broker, on two
## workers (every test has its own databases, brokers and ports; about 3 minutes on 2 cores)
PYTEST_WORKERS ?= 2
test: $(STAMP) $(INTEROP_STAMP) services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS)

## services: install and start PostgreSQL, Mosquitto, nginx, the ODBC driver and docker-compose if missing
services:
	bash scripts/ensure-services.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) lint-js

## lint-js: a syntax check of the web app's ES modules (node --check; skipped without node)
lint-js:
	@if command -v node >/dev/null 2>&1; then \
	    for f in $$(find services/web/static -name '*.js' -not -path '*/vendor/*'); do \
	        node --check --input-type=module < $$f || { echo "syntax error in $$f"; exit 1; }; \
	    done; \
	else echo "lint-js: node not found, skipped"; fi

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## demo-db: (re)create a demo Protheus database: make demo-db DSN=postgresql://... SCALE=large
DSN   ?= postgresql://postgres@127.0.0.1:5432/protheus
SCALE ?= default
demo-db: $(STAMP)
	$(BIN)/python -m protheus_demo --dsn $(DSN) --scale $(SCALE)

## bench: benchmarks on the large demo scale (not part of `make test`)
bench: $(STAMP) services
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(LOCK_VENV) $(PROTO_VENV) $(INTEROP_VENV) .run .pytest_cache .ruff_cache
