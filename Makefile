# marlmeta: one entry point per habit. `make test` works on a fresh machine
# with only Python 3.11 and pip: it creates .venv and installs everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-times compile-report lint format check demo bench bench-gpu docs figures clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev,docs]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder tests

# Cold and warm wall-clock times of `make test`: the first run compiles every
# XLA program into an empty cache folder, the second reuses it.
test-times: $(STAMP)
	@cache=$$(mktemp -d) && start=$$(date +%s) \
	&& MARLMETA_JAX_CACHE=$$cache $(MAKE) --no-print-directory test && mid=$$(date +%s) \
	&& MARLMETA_JAX_CACHE=$$cache $(MAKE) --no-print-directory test && end=$$(date +%s) \
	&& rm -rf $$cache && echo "make test: cold $$((mid - start)) s, warm $$((end - mid)) s"

# XLA compilations (count and backend seconds) per test file and the 20 tests
# that compile longest, from a cold run of the suite (tests/compile_report.py).
compile-report: $(STAMP)
	cache=$$(mktemp -d) && MARLMETA_JAX_CACHE=$$cache MARLMETA_COMPILE_REPORT=$$cache/report.json \
		$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder tests \
	&& $(BIN)/python tests/compile_report.py $$cache/report.json.gw* && rm -rf $$cache

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
	cd benchmarks && ../$(BIN)/python evaluation.py --json results/evaluation.json
	cd benchmarks && ../$(BIN)/python zero_sum.py --json results/zero_sum.json
	cd benchmarks && ../$(BIN)/python general_sum.py --json results/general_sum.json
	cd benchmarks && ../$(BIN)/python maml.py --json results/maml.json
	cd benchmarks && ../$(BIN)/python exact.py --json results/exact.json
	cd benchmarks && ../$(BIN)/python cooperative.py --json results/cooperative.json
	cd benchmarks && ../$(BIN)/python aggregative.py --json results/aggregative.json
	cd benchmarks && ../$(BIN)/python simulation.py --json results/simulation.json
	cd benchmarks && ../$(BIN)/python interop.py --liars-dice --json results/interop.json
	mkdir -p runs/bench
	cd benchmarks && ../$(BIN)/python million.py --json ../runs/bench/million.json
	$(BIN)/python docs/_generate.py readme

# The documentation site, built strictly into site/ (any warning fails).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# Regenerate the figures the docs show (runs every non-smoke config, minutes).
figures: $(STAMP)
	$(BIN)/python docs/gen_figures.py

# The accelerator sizes (nash_conv on 10^6 games in one call, Algorithm 1 on
# 10^5 games, MAML meta-gradients on 10^4 games, MA-PPO on 10^6 games, the full
# check_bet_call river endgame) on whatever jax.devices() has.
bench-gpu: $(STAMP)
	mkdir -p runs/bench
	cd benchmarks && for s in evaluation zero_sum general_sum maml exact cooperative poker simulation; do \
		../$(BIN)/python $$s.py --gpu --json ../runs/bench/$$s-gpu.json || exit 1; done
	cd benchmarks && ../$(BIN)/python million.py --json ../runs/bench/million-gpu.json

clean:
	rm -rf $(VENV) runs site .pytest_cache .ruff_cache
