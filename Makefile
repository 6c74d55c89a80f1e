# marlmeta: one entry point per habit. `make test` works on a fresh machine
# with only Python 3.11 and pip: it creates .venv and installs everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint format check demo bench bench-gpu clean

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
	mkdir -p runs/bench
	cd benchmarks && ../$(BIN)/python evaluation.py
	cd benchmarks && ../$(BIN)/python zero_sum.py
	cd benchmarks && ../$(BIN)/python general_sum.py
	cd benchmarks && ../$(BIN)/python maml.py
	cd benchmarks && ../$(BIN)/python exact.py
	cd benchmarks && ../$(BIN)/python million.py --json ../runs/bench/million.json

# The accelerator sizes (nash_conv on 10^6 games in one call, Algorithm 1 on
# 10^5 games, MAML meta-gradients on 10^4 games) on whatever jax.devices() has.
bench-gpu: $(STAMP)
	mkdir -p runs/bench
	cd benchmarks && for s in evaluation zero_sum general_sum maml exact; do \
		../$(BIN)/python $$s.py --gpu --json ../runs/bench/$$s-gpu.json || exit 1; done
	cd benchmarks && ../$(BIN)/python million.py --json ../runs/bench/million-gpu.json

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
