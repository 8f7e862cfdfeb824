# The two commands a new user needs: `make check` (the policy gate) and `make test`.
# Everything else is installed on demand into git-ignored dirs: .venv/, .bin/, .cache/.
SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
BIN := $(ROOT)/.bin
export PATH := $(BIN):$(VENV)/bin:$(PATH)
PORT ?= 8000
# pytest-xdist workers for `make test`: two per core, as about half of the suite's time is spent
# waiting on the servers and processes it starts (gunicorn, Prometheus, redis, git), not on CPU
TEST_WORKERS ?= $(shell echo $$(( 2 * $$(nproc) )))

.PHONY: help setup check test e2e cluster lint run bench docs clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/.stamp: tools/requirements.txt apps/agent/requirements.txt tools/pyproject.toml apps/agent/pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r tools/requirements.txt
	$(PY) -m pip install -q --no-deps -e tools -e apps/agent
	@touch $@

$(BIN)/.stamp: tools/setup/go-tools.sh tools/setup/versions.env tools/setup/opa_capabilities.py tools/kustodian/capabilities.py
	tools/setup/go-tools.sh
	@touch $@

.cache/crds/.stamp: tools/setup/fetch-crds.sh tools/setup/crd_to_jsonschema.py tools/setup/versions.env
	tools/setup/fetch-crds.sh
	@touch $@

.cache/psa/.stamp: tools/setup/fetch-psa.sh tools/setup/versions.env
	tools/setup/fetch-psa.sh
	@touch $@

setup: $(VENV)/.stamp $(BIN)/.stamp .cache/crds/.stamp .cache/psa/.stamp ## install the venv, kustomize, conftest, CRD schemas, services
	tools/setup/services.sh
	@# byte-compile the editable packages as pip does for installed ones (every start of
	@# kustodian would otherwise compile ~80 modules, even with PYTHONDONTWRITEBYTECODE set)
	@$(PY) -m compileall -q tools/kustodian apps/agent/src

check: setup ## the policy gate over every overlay (+ --apiserver once `make cluster` built it)
	$(VENV)/bin/kustodian check $$($(PY) -c 'import kustodian.cluster as c; print("--apiserver" * c.available())')

test: setup .cache/tests-compiled.stamp ## the whole test suite (real kustomize, conftest, redis, gunicorn, prometheus)
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal --ignore=tests/e2e tests

# pytest rewrites the asserts of every test module in each xdist worker, and keeps nothing
# while PYTHONDONTWRITEBYTECODE is set: one collection with it unset leaves the rewritten
# modules in __pycache__ (git-ignored), which the workers then load instead of compiling.
.cache/tests-compiled.stamp: $(VENV)/.stamp $(shell find tests -name '*.py' -not -path 'tests/e2e/*')
	@mkdir -p $(@D)
	@# a collection error is left to the suite's own run to report
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q -p no:cacheprovider --collect-only --ignore=tests/e2e tests >/dev/null 2>&1 && touch $@ || true

cluster: $(VENV)/.stamp ## build etcd, kube-apiserver, kubectl from the Go module proxy (cached)
	tools/cluster/build.sh etcd kube-apiserver kubectl

e2e: setup cluster ## the tests against a real cluster, a real Argo CD syncing this repo (docs/cluster.md)
	tools/cluster/build.sh kube-controller-manager kube-scheduler
	tools/setup/e2e-tools.sh argocd kwok external-secrets
	$(PY) -m pytest -q -p no:cacheprovider tests/e2e

lint: setup ## ruff over the Python code
	$(VENV)/bin/ruff check --config tools/ruff.toml tools apps tests bench

run: $(VENV)/.stamp ## start the agent on localhost:$(PORT) (uses REDIS_URL, else a local redis-server)
	PORT=$(PORT) apps/agent/run-local.sh

bench: setup ## benchmarks (bench/README.md)
	$(PY) bench/run_all.py

docs: $(VENV)/.stamp ## regenerate docs/policies.md from the rule catalogue
	$(VENV)/bin/kustodian docs > docs/policies.md

clean: ## remove installed tools and caches
	rm -rf $(VENV) $(BIN) .cache
