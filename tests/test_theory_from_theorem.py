"""The step-size rules of :mod:`marlmeta.theory` give the papers' values.

Each value is worked by hand on a 2 x 2 matrix game (rewards ``[[1, 0], [0,
0]]`` for both players, one state, ``gamma = 0``: mismatch ``kappa = M = 1``,
reward and potential ranges 1).
"""

import jax.numpy as jnp
import pytest

import marlmeta as M
import marlmeta.games as G
from marlmeta.games import zoo

T = M.theory


def _general_sum_omd(game, num_steps):
    rule = T.theorem5_step_size(game.horizon, num_steps, game.num_players)
    return M.solvers.GeneralSumOMD(rule / T.largest_reward_range(game))


def _barrier(cls, rule, game, barrier):
    return cls(rule(game, barrier), barrier=barrier)


R = [[1.0, 0.0], [0.0, 0.0]]


def _discounted(reward):
    r = jnp.asarray(reward, jnp.float64)[None]
    return G.discounted_game(
        jnp.stack([r, r]), jnp.ones((1, 2, 2, 1)), [1.0], 0.0, potential_reward=r
    )


def test_projected_q_descent_proposition1():
    # alpha = (1 - 0)^4 / (8 kappa^3 N A_max c) = 1 / (8 * 1 * 2 * 2 * 1)
    solver = M.solvers.ProjectedQDescent(M.theory.projected_q_step_size(_discounted(R)))
    assert float(solver.step_size) == pytest.approx(1 / 32)
    # rewards scaled by 4: the rule divides by the reward range
    scaled = M.solvers.ProjectedQDescent(
        M.theory.projected_q_step_size(_discounted(4 * jnp.asarray(R)))
    )
    assert float(scaled.step_size) == pytest.approx(1 / 128)


def test_general_sum_omd_theorem5_eq11():
    # Rewards in [0, 1] (range 1), H = 1, N = 2, T = 1000: the paper's eq. (11)
    # H^(-2/3) T^(-1/3) (N-1)^(-2/3) = 1/10; rewards spanning 2: 1/20.
    g = G.matrix_game([R, [[0.0, 1.0], [1.0, 0.0]]])
    solver = _general_sum_omd(g, 1000)
    assert float(solver.step_size) == pytest.approx(0.1)
    g2 = G.matrix_game([[[2.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]]])
    assert float(_general_sum_omd(g2, 1000).step_size) == (pytest.approx(0.05))


def test_barrier_gradient_play_theorems_6_and_7():
    g = _discounted(R)
    # Theorem 6: beta = 6 n range / (1-gamma)^3 + 2 lambda A = 12 + 2 at 0.5
    gp = _barrier(M.solvers.GradientPlay, T.barrier_gradient_play_step_size, g, 0.5)
    assert float(gp.step_size) == pytest.approx(1 / 14)
    assert float(gp.barrier) == 0.5
    # Theorem 7 at lambda = 0.1: min(1 / (15 (1 + 0.2)), 1 / (4 (0.8 + 4 + 6)))
    ngp = _barrier(
        M.solvers.NaturalGradientPlay, T.barrier_natural_gradient_play_step_size, g, 0.1
    )
    assert float(ngp.step_size) == pytest.approx(1 / 43.2)
    assert float(ngp.barrier) == 0.1 and ngp.clip is None
    # Zhang et al.'s G8 (|A_i| = 3, M = 1) at lambda = 0.3:
    # 1 / (4 (3.6 + 4 + 24)) = 1 / 126.4
    g8 = _barrier(
        M.solvers.NaturalGradientPlay,
        T.barrier_natural_gradient_play_step_size,
        zoo.zhang2022_g8(),
        0.3,
    )
    assert float(g8.step_size) == pytest.approx(1 / 126.4)
