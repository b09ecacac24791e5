# Splitline: `make demo` and `make test` work on a fresh clone (see README).
# Component fragments in mk/*.mk add their own setup steps and test targets by
# appending to SETUP_TARGETS, TEST_TARGETS and DEMO_STEPS.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST := $(VENV)/bin/pytest
STAMP := $(VENV)/.installed
TOOLS := .tools
BUF := $(TOOLS)/node_modules/.bin/buf
BUF_VERSION := 1.75.0

SETUP_TARGETS := setup-python
TEST_TARGETS := test-python
PYTEST_ARGS ?=

.PHONY: typecheck all setup setup-python demo test test-fast test-python lint proto proto-check vectors \
        vectors-check buf-lint buf-breaking bench clean

all: test

$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[all,dev]'
	touch $(STAMP)

setup-python: $(STAMP)

$(BUF):
	npm install --prefix $(TOOLS) --no-audit --no-fund --silent @bufbuild/buf@$(BUF_VERSION)

-include mk/*.mk

setup: $(SETUP_TARGETS)

## The main job on embedded defaults (no etcd, no Kafka).
demo: setup-python
	$(PY) -m splitline.demo

## Everything: lint, generated-code checks, every test suite (real etcd and Kafka included).
test: setup lint proto-check vectors-check buf-breaking $(TEST_TARGETS)

# SPLITLINE_REQUIRE_NATIVE: the native-core tests fail instead of skipping when the library is missing.
test-python: setup-python
	SPLITLINE_REQUIRE_NATIVE=1 $(PYTEST) -q $(PYTEST_ARGS)

## The inner loop: pure-Python tests without etcd, Kafka, Spark or slow tests.
test-fast: setup-python
	$(PYTEST) -q -m "not etcd and not kafka and not spark and not slow" $(PYTEST_ARGS)

typecheck: setup-python
	$(PY) tools/typecheck.py

lint: setup-python $(BUF)
	$(VENV)/bin/ruff check .
	$(PY) tools/typecheck.py
	cd proto && ../$(BUF) lint

proto: setup-python
	$(PY) tools/gen_proto.py

proto-check: setup-python
	$(PY) tools/gen_proto.py --check

vectors: setup-python
	$(PY) tools/gen_vectors.py

vectors-check: setup-python
	$(PY) tools/gen_vectors.py --check

## buf breaking against the previous commit (skipped when it has no protos).
buf-breaking: $(BUF)
	@if git rev-parse -q --verify HEAD~1 >/dev/null && git cat-file -e HEAD~1:proto/buf.yaml 2>/dev/null; then \
		cd proto && ../$(BUF) breaking --against '../.git#ref=HEAD~1,subdir=proto' && echo "buf breaking: no breaking change against HEAD~1"; \
	else echo "buf breaking: previous commit has no protos, nothing to compare"; fi

## The quick Python benchmarks (core, SDK, statistics); component targets in mk/*.mk run the rest.
bench: setup-python
	$(PY) bench/assign_bench.py
	$(PY) bench/sdk_bench.py
	$(PY) bench/stats_bench.py

clean:
	rm -rf $(VENV) $(TOOLS) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
