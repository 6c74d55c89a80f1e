"""The aggregative experiments run end to end on their smoke configs."""

import json
import pathlib

import numpy as np

from marlmeta.experiments import load_config, run_experiment

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(name, tmp_path):
    config = load_config(ROOT / "configs" / f"{name}.yaml")
    out = run_experiment(config, tmp_path, progress=False)
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return json.loads((out / "results.json").read_text())


def test_smoke_aggregative_experiments(tmp_path):
    res = _run("smoke_aggregative_scaling", tmp_path)
    assert res["all_bounded"] is True
    assert [r["n"] for r in res["players"]] == [4]
    assert len(res["alpha"]) == 1 and len(res["dim"]) == 1
    res = _run("smoke_aggre_vi", tmp_path)
    assert len(res["output_gap_mean"]) == 6
    assert np.all(np.diff(res["width_mean"]) <= 0)
    assert np.all(np.diff(res["nash_regret_mean"]) >= 0)
    res = _run("smoke_congestion_welfare", tmp_path)
    assert res["best_equilibrium"][0] <= res["best_profile"][0]
    # selection beats every pure equilibrium up to the rounding of d players
    assert res["selected"][0] >= res["best_equilibrium"][0] - 3
    # a rerun of the finished run reads the saved chunks back
    again = _run("smoke_congestion_welfare", tmp_path)
    assert again == res
