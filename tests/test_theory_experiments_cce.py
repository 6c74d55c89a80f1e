"""Mao et al. Theorem 5 in the general-sum meta-learning experiment."""

import json

import numpy as np

from marlmeta.experiments import load_config, run_experiment

CONFIG = """
name: general_sum_bound_smoke
experiment: general_sum_meta
game:
  num_actions: [2, 2]
  num_states: 2
  horizon: 2
  num_games: 2
solver:
  step_size: 0.1
  num_steps: 20
run:
  seeds: 1
  chunk_seeds: 1
  checkpoints: [5, 20]
"""


def test_general_sum_records_and_draws_theorem5(tmp_path):
    path = tmp_path / "general_sum_bound_smoke.yaml"
    path.write_text(CONFIG)
    out = run_experiment(load_config(path), tmp_path / "runs", progress=False)
    results = json.loads((out / "results.json").read_text())
    for label in ("individual", "meta"):
        entry = results["bounds"][f"theorem5_{label}"]
        gap = np.asarray(results[label]["cce_gap_mean"])
        bound = np.asarray(entry["bound_mean"])
        # every game's bound is above its gap, so the means are too
        assert entry["applies"] is True and bound.shape == gap.shape
        assert np.all(bound >= gap)
        np.testing.assert_allclose(entry["ratio_last"], bound[-1] / gap[-1])
        assert entry["vacuous_last"] == bool(bound[-1] >= entry["largest_possible_gap"])
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
