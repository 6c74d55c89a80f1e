# marlmeta: one entry point per habit. `make test` works on a fresh machine
# with only Python 3.11 and pip: it creates .venv and installs everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint format check demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile tests

lint: $(STAMP)
	$(BIN)/ruff check marlmeta tests benchmarks
	$(BIN)/ruff format --check marlmeta tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format marlmeta tests benchmarks
	$(BIN)/ruff check --fix marlmeta tests benchmarks

check: lint test

demo: $(STAMP)
	$(BIN)/marlmeta run configs/zero_sum_meta.yaml
	$(BIN)/marlmeta run configs/zero_sum_meta_mixed.yaml
	$(BIN)/marlmeta run configs/potential_meta.yaml
	$(BIN)/marlmeta run configs/softmax_mpg_g2.yaml

bench: $(STAMP)
	cd benchmarks && ../$(BIN)/python evaluation.py
	cd benchmarks && ../$(BIN)/python zero_sum.py
	cd benchmarks && ../$(BIN)/python general_sum.py
	cd benchmarks && ../$(BIN)/python maml.py
	cd benchmarks && ../$(BIN)/python exact.py
	cd benchmarks && ../$(BIN)/python aggregative.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
