"""Zhang et al. Theorems 6 and 7 in the softmax experiment's results."""

import math

from marlmeta.experiments import load_config
from marlmeta.experiments.softmax import _barrier_theorem

CONFIG = """
name: barrier_theorem_smoke
experiment: softmax_mpg
game: {game}
plot_steps: 1
stride: 1
solvers:
  - {{label: gp, solver: GradientPlay, step_size: {gp}, barrier: 0.3, num_steps: 1}}
  - {{label: ngp, solver: NaturalGradientPlay, step_size: {ngp}, barrier: 0.3,
      num_steps: 1}}
"""
CLIPPED = """  - {label: clip, solver: NaturalGradientPlay, step_size: 0.001,
      barrier: 0.3, clip: 1.0, num_steps: 1}
"""


def _config(tmp_path, game, gp, ngp, extra=""):
    path = tmp_path / "barrier_theorem_smoke.yaml"
    path.write_text(CONFIG.format(game=game, gp=gp, ngp=ngp) + extra)
    return load_config(path)


def test_theorems_6_and_7_recorded_on_g8(tmp_path):
    # G8's rewards span 0.999 <= 1 (gamma = 0, M = 1, |A_i| = 3); at lambda =
    # 0.3 the rules give eta = 1/(48 w + 1.8) and 1/(4 (3.6 + 4 + 24)) = 1/126.4.
    # One step (T = 1) keeps the test cheap: the hypotheses are checked on
    # the same one-step trajectory.
    config = _config(tmp_path, "seed001_g8", 0.02, 1 / 126.4)
    gp, ngp = (_barrier_theorem(config, e) for e in config.solvers)
    assert gp["applies"] and ngp["applies"]
    assert math.isclose(ngp["rule_step_size"], 1 / 126.4)
    # Theorem 7 as stated, with the bias lambda max|A_i| M = 0.9
    assert ngp["bound"] >= 0.9 and ngp["measured_mean_gap"] <= ngp["bound"]
    assert ngp["drawn"] == ngp["bound"]
    # Theorem 6: lambda M max|A_i| = 0.9 once 2 gain / (eta T) <= lambda^2
    if "drawn" in gp:
        assert math.isclose(gp["bound"], 0.9) and gp["measured_min_gap"] <= 0.9
    else:
        assert "threshold not reached" in gp["note"]


def test_theorems_6_and_7_flag_g2_whose_rewards_span_1_2(tmp_path):
    config = _config(tmp_path, "seed001_g2", 1e-3, 1e-3, CLIPPED)
    for entry in config.solvers:
        out = _barrier_theorem(config, entry)
        assert out["applies"] is False and "drawn" not in out
    # the rule is still reported: 1 / (6 * 2 * 1.2 + 2 * 0.3 * 3) for GP
    gp = _barrier_theorem(config, config.solvers[0])
    assert math.isclose(gp["rule_step_size"], 1 / (14.4 + 1.8))
