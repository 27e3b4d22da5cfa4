# Two commands on a fresh clone:
#   make test   create .venv, install pinned, run the whole suite
#   make demo   create .venv, install pinned, start the simulator, run the example DAGs
#   make e2e    a real deployment (Celery + Postgres + Redis + triggerer, S3 on moto, Chromium): e2e/README.md
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.11 python3.12 python3.10 python3; do $$p -c "import sys; assert sys.version_info >= (3, 10)" >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
E2E_VENV := .venv-e2e
E2E_BIN := $(E2E_VENV)/bin
E2E_STAMP := $(E2E_VENV)/.installed
UV_VERSION := 0.13.9

.PHONY: install test demo e2e e2e-system lint format bench clean

install: $(STAMP)

# $(call venv_install,VENV,EXTRA): create VENV and install the package with EXTRA, pinned by constraints.txt
define venv_install
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 is required"'
	test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(1)/bin/uv pip install --quiet --python $(1)/bin/python -c constraints.txt -e ".[$(2)]"
	touch $(1)/.installed
endef

$(STAMP): pyproject.toml constraints.txt
	$(call venv_install,$(VENV),dev)

test: install
	$(BIN)/python -m pytest

demo: install
	$(BIN)/python -m airflow_provider_voice.testing.demo --dags-folder dags

# PostgreSQL, Redis, Chromium and ChromeDriver from Debian's packages (installed when missing, as root)
e2e-system:
	bash e2e/system-packages.sh

$(E2E_STAMP): pyproject.toml constraints.txt
	$(call venv_install,$(E2E_VENV),e2e)

e2e: e2e-system $(E2E_STAMP)
	$(E2E_BIN)/python -m e2e $(E2E_ARGS)

lint: install
	$(BIN)/ruff check airflow_provider_voice tests dags benchmarks scripts e2e
	$(BIN)/ruff format --check airflow_provider_voice tests dags benchmarks scripts e2e
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format airflow_provider_voice tests dags benchmarks scripts e2e
	$(BIN)/ruff check --fix airflow_provider_voice tests dags benchmarks scripts e2e

bench: install
	$(BIN)/python benchmarks/campaign_fanout.py
	$(BIN)/python benchmarks/cdr_download.py
	$(BIN)/python benchmarks/bench_webhooks.py
	$(BIN)/python benchmarks/bench_outcomes.py
	$(BIN)/python benchmarks/bench_load_records.py
	$(BIN)/python benchmarks/bench_contact_policy.py
	$(BIN)/python benchmarks/bench_contact_ledger.py
	$(BIN)/python benchmarks/bench_validation.py
	$(BIN)/python benchmarks/bench_memory.py
	$(BIN)/python benchmarks/bench_triggers.py
	$(BIN)/python benchmarks/bench_parse.py
	$(BIN)/python scripts/structure_metrics.py

clean:
	rm -rf $(VENV) $(E2E_VENV) .e2e .pytest_cache .ruff_cache .mypy_cache .import_linter_cache .demo
