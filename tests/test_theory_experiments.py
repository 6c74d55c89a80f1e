"""The theorems' bounds in the experiments' results.json and figures."""

import json
import pathlib

import numpy as np

from marlmeta.experiments import load_config, run_experiment

ROOT = pathlib.Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"


def _run(tmp_path, text, name):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.replace("name: smoke", f"name: {name}"))
    out = run_experiment(load_config(path), tmp_path / "runs", progress=False)
    return json.loads((out / "results.json").read_text()), out


def test_bounds_are_recorded_beside_the_gap_when_the_theorem_applies(tmp_path):
    # The smoke family (H = 3, reward range below 1.39) at eta = 0.01 <=
    # 1/(8 H^2 c) and K = 6 games (alpha = 1/sqrt(6) < 1/2): Theorems 1 and 2
    # apply; every game's bound is above its gap, so the means are too, at
    # every checkpoint.
    text = SMOKE.read_text().replace("step_size: 0.1", "step_size: 0.01")
    text = text.replace("num_games: 4", "num_games: 6")
    results, out = _run(tmp_path, text, "smoke_theorem")
    bounds = results["bounds"]
    for label in ("individual", "meta"):
        entry = bounds[f"theorem1_{label}"]
        assert entry["applies"] is True
        gap = np.asarray(results[label]["nash_conv_mean"])
        bound = np.asarray(entry["bound_mean"])
        assert bound.shape == gap.shape and np.all(bound >= gap)
        np.testing.assert_allclose(entry["ratio_last"], bound[-1] / gap[-1])
    thm2 = bounds["theorem2_meta"]
    assert thm2["applies"] is True
    assert thm2["bound_last"] >= results["meta"]["nash_conv_mean"][-1]
    assert thm2["printed_last"] > 0
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


SOFTMAX = """
name: softmax_theorem_smoke
experiment: softmax_mpg
game: {name: zhang2022_g2}
output: {plot_steps: 30, stride: 10}
solvers:
  - {label: gp, solver: GradientPlay, step_size: 0.06944444444444445, num_steps: 30}
  - {label: ngp, solver: NaturalGradientPlay, step_size: 0.2, num_steps: 30}
  - {label: fast, solver: GradientPlay, step_size: 5.0, num_steps: 30}
  - {label: lb, solver: GradientPlay, step_size: 0.05, barrier: 0.003, num_steps: 30}
"""


def test_softmax_results_record_theorem5(tmp_path):
    # G2's potential spans 1.2: the gradient-play rule is 1/14.4 and the
    # natural-gradient rule 1/4.8, so the first two entries are inside
    # Theorem 5, eta = 5 is not, and a log barrier is another theorem.
    path = tmp_path / "softmax_theorem_smoke.yaml"
    path.write_text(SOFTMAX)
    out = run_experiment(load_config(path), tmp_path / "runs", progress=False)
    rows = json.loads((out / "results.json").read_text())["solvers"]
    for row in rows[:2]:
        bound = row["bound"]
        assert bound["applies"] is True
        gaps = np.asarray(row["ne_gap"][:-1])  # t = 1..T: iterates 0..T-1
        np.testing.assert_allclose(
            bound["measured_mean_squared_gap"], np.mean(gaps**2), rtol=1e-9
        )
        assert bound["measured_mean_squared_gap"] <= bound["bound"] <= bound["printed"]
    np.testing.assert_allclose(rows[0]["bound"]["rule_step_size"], 1 / 14.4)
    for row in rows[2:]:
        assert row["bound"]["applies"] is False and "bound" not in row["bound"]
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
