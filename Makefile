# Atende — the front door. `make run` and `make test` work on a fresh machine:
# they create the virtualenv(s) and install pinned dependencies first.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13 = the Lambda runtime's minor version. Found on PATH or under pyenv.
# (pyenv shims are skipped: a shim may exist yet refuse to run a version that is not selected.)
PYTHON313 ?= $(shell for p in $$(command -v python3.13) $$(ls -1d $(HOME)/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | sort -rV) /usr/local/bin/python3.13 /usr/bin/python3.13; do \
	[ -x "$$p" ] && "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
STAMP := $(VENV)/.installed
SAM_STAMP := $(SAM_VENV)/.installed
export PYTHONPATH := layers/shared:.
export SAM_CLI_TELEMETRY := 0

ENV ?= dev
FN ?= WebhookFunction
EVENT ?= events/meta_text.json
TEXT ?= Olá! Vocês abrem no domingo?
CHANNEL ?= meta

.PHONY: help install run demo say invoke test unit lint format bench eval build validate deploy events clean

help: ## show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(STAMP): requirements/dev.txt layers/shared/requirements.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found (install it, e.g. 'pyenv install 3.13', or set PYTHON313=/path/to/python3.13)"; exit 1; }
	@test -x $(PY) || $(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(UV) pip install --quiet --python $(PY) -r requirements/dev.txt
	@touch $@

install: $(STAMP) ## create .venv with the pinned dependencies

run: $(STAMP) ## start the local stack (moto + webhook on :3000 + processor + provider sandboxes on :3001)
	$(PY) -m local.run

demo: $(STAMP) ## play a conversation: make demo [CHANNEL=meta|evolution|whaticket] (uses `make run` if up)
	$(PY) -m local.demo --channel $(CHANNEL)

say: $(STAMP) ## send one message: make say TEXT='Quanto custa o bolo?' [CHANNEL=evolution]
	$(PY) -m local.demo --channel $(CHANNEL) --say "$(TEXT)"

invoke: $(STAMP) ## in-process `sam local invoke`: make invoke FN=WebhookFunction EVENT=events/meta_text.json
	$(PY) -m local.invoke $(FN) $(EVENT)

events: $(STAMP) ## regenerate the signed events/*.json from the fixtures
	$(PY) -m local.make_events

test: lint unit ## everything: lint, types, template lint, unit + integration tests

# The suite runs in PYTEST_WORKERS processes (pytest-xdist; 0 = in this one, as plain `pytest`
# does). Its local-stack tests mostly wait on sockets, so one worker per core leaves cores idle.
# worksteal: an idle worker takes queued tests from a busy one (the bench smoke test alone is ~1 min).
# Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set: every worker and every child
# interpreter the tests start (the bench's) would otherwise compile moto, boto3 and the SDKs again.
PYTEST_WORKERS ?= 3
PYTEST_ARGS ?=

unit: $(STAMP) ## the pytest suite only: make unit [PYTEST_WORKERS=0] [PYTEST_ARGS='-k burst']
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: $(STAMP) ## ruff (lint + format check), mypy --strict on the whole package, cfn-lint on the template
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/cfn-lint template.yaml

format: $(STAMP) ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP) ## measure cold start, warm CPU, round trips and media peak memory; writes bench/results/latest.json
	$(PY) -m bench.run $(BENCH_ARGS)

eval: $(STAMP) ## opt-in: the pt-BR customer-service eval against OpenAI (needs OPENAI_API_KEY; costs money): make eval [EVAL_ARGS='--k 4 --tasks pet']
	$(PY) -m eval.run $(EVAL_ARGS)

$(SAM_STAMP):
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found"; exit 1; }
	@test -x $(SAM_VENV)/bin/python || $(PYTHON313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check aws-sam-cli==1.170.0
	@touch $@

validate: $(SAM_STAMP) ## sam validate --lint (SAM's own checks, on top of cfn-lint)
	$(SAM) validate --lint --region us-east-1

# sam build needs `python3.13` on PATH for BuildMethod python3.13; then we ship bytecode:
# Lambda's code directories are read-only, so .pyc files missing from the zip are recompiled
# on every cold start. unchecked-hash: zip timestamps can't invalidate them.
build: $(SAM_STAMP) ## sam build (arm64) + precompiled bytecode in .aws-sam/build
	PATH="$(dir $(PYTHON313)):$$PATH" $(SAM) build --parallel
	$(PYTHON313) -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build
	@echo "bytecode: $$(find .aws-sam/build -name '*.pyc' | wc -l) .pyc files for $$($(PYTHON313) -c 'import sys; print(sys.implementation.cache_tag)')"

deploy: build ## sam deploy --config-env $(ENV) (dev|prod), after `make build`
	$(SAM) deploy --config-env $(ENV)

clean: ## remove build outputs (keeps the virtualenvs)
	rm -rf .aws-sam build bench/results .pytest_cache .ruff_cache .mypy_cache
