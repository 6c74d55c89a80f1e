"""Zhang et al. Theorems 6 and 7 in the softmax experiment's results."""

import math

from marlmeta.experiments import load_config
from marlmeta.experiments.softmax import _barrier_theorem

HEAD = """
name: barrier_theorem_smoke
experiment: softmax_mpg
game:
  name: {game}
output:
  plot_steps: 1
  stride: 1
solvers:
"""
GP = """  - {label: gp, solver: GradientPlay, step_size: 0.001, barrier: 0.3,
      num_steps: 1}
"""
NGP = """  - {label: ngp, solver: NaturalGradientPlay, step_size: 0.0079113924,
      barrier: 0.3, num_steps: 1}
"""
CLIPPED = """  - {label: clip, solver: NaturalGradientPlay, step_size: 0.001,
      barrier: 0.3, clip: 1.0, num_steps: 1}
"""


def _config(tmp_path, game, *solvers):
    path = tmp_path / "barrier_theorem_smoke.yaml"
    path.write_text(HEAD.format(game=game) + "".join(solvers))
    return load_config(path)


def test_theorem7_recorded_on_g8(tmp_path):
    # G8's rewards span 0.999 <= 1 (gamma = 0, M = 1, |A_i| = 3); at lambda =
    # 0.3 Theorem 7's rule is 1/(4 (3.6 + 4 + 24)) = 1/126.4 = 0.0079114. One
    # step (T = 1) keeps the test cheap.
    config = _config(tmp_path, "zhang2022_g8", NGP)
    (entry,) = config.solvers
    ngp = _barrier_theorem(config, entry)
    assert ngp["applies"] is True
    assert math.isclose(ngp["rule_step_size"], 1 / 126.4)
    # Theorem 7 as stated, with the bias lambda max|A_i| M = 0.9
    assert ngp["bound"] >= 0.9 and ngp["measured_mean_gap"] <= ngp["bound"]
    assert ngp["drawn"] == ngp["bound"]


def test_theorems_6_and_7_flag_g2_whose_rewards_span_1_2(tmp_path):
    # G2's rewards span 1.2: outside both theorems (no trajectory is run);
    # a clipped NGP is outside Theorem 7 on any game.
    config = _config(tmp_path, "zhang2022_g2", GP, NGP, CLIPPED)
    out = [_barrier_theorem(config, entry) for entry in config.solvers]
    assert all(o["applies"] is False and "drawn" not in o for o in out)
    # the rule is still reported: 1 / (6 * 2 * 1.2 + 2 * 0.3 * 3) for GP
    assert math.isclose(out[0]["rule_step_size"], 1 / (14.4 + 1.8))
