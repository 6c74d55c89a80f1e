"""The poker endgame experiment (Figure 4(a)) on its pruned-range smoke config."""

import json
import pathlib

import numpy as np

from marlmeta.experiments import load_config, run_experiment

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_smoke_poker_runs(tmp_path):
    config = load_config(ROOT / "configs" / "smoke_poker.yaml")
    out = run_experiment(config, tmp_path, progress=False)
    results = json.loads((out / "results.json").read_text())
    assert results["finite"] and (out / "figure.png").stat().st_size > 0
    assert len(results["stacks"]) == config.run.seeds
    for label in ("individual", "meta", "reference"):
        r = results[label]
        nc, full = (
            np.array(r["nash_conv_mean"]),
            np.array(r["full_state_nash_conv_mean"]),
        )
        assert np.all(nc > 0) and np.all(full >= nc - 1e-12)
        assert len(r["nash_conv_per_game"]) == config.game.num_games
    # Every learner lowers the exploitability between the first and last checkpoint.
    for label in ("individual", "meta", "reference"):
        nc = results[label]["nash_conv_mean"]
        assert nc[-1] < nc[0]
    assert results["similarity"]["meta"] > 0


def test_full_config_loads():
    config = load_config(ROOT / "configs" / "poker_endgame.yaml")
    assert config.game.num_games == 10 and config.game.ranges == "uniform"
    assert config.game.stack_std == 0.5 and config.game.variant == "bet_call"
