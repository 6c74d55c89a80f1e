"""Exact tabular multi-agent PPO and independent softmax PG on cooperative
games, against the NumPy references of ``tests/reference_cooperative.py``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
from tests import reference_cooperative as ref


def _games(n=3, actions=(2, 2, 2), states=3, seed=0):
    return M.games.random_cooperative(
        jax.random.key(seed), n, actions, states, 0.9, dtype=jnp.float64
    )


def _arrays(g):
    r = np.asarray(g.reward_model.reward)
    p = np.asarray(g.transitions.dense())[0]
    return r, p, float(g.discount), np.asarray(g.initial)


def _tables(game, policy):
    return tuple(policy)


CPS = [1, 7, 60, 200]


def test_iterates_equal_numpy_reference_up_to_200_steps():
    g = M.games.unstack(_games())[0]
    r, p, gamma, _ = _arrays(g)
    solver = M.solvers.MultiAgentPPO.from_beta(0.5, 200)
    eta = 1 / (0.5 * np.sqrt(200))
    np.testing.assert_allclose(solver.step_size, eta)
    run = jax.jit(lambda g: M.solve(solver, g, 200, checkpoints=CPS, metric=_tables))
    sol = run(g)
    history = ref.ma_ppo(r, p, gamma, eta, 200)
    for c, k in enumerate(CPS):
        for m in range(3):
            np.testing.assert_allclose(sol.trace[m][c], history[k][m], atol=1e-9)
    assert isinstance(sol.policy, M.policies.AutoregressivePolicy)
    assert bool(sol.finite)


def test_solve_batch_gap_equals_numpy_and_falls_to_zero():
    games = _games(4, seed=1)
    solver = M.solvers.MultiAgentPPO(1.0)
    gap = M.evaluation.optimality_gap
    cps = [1, 30, 300]
    batch = M.solve_batch(solver, games, 300, checkpoints=cps, metric=gap)
    for k, g in enumerate(M.games.unstack(games)):
        r, p, gamma, rho = _arrays(g)
        vstar = ref.optimal_value(r, p, gamma)
        hist = ref.ma_ppo(r, p, gamma, 1.0, 1)
        joint = ref.joint_policy(hist[1], 3, (2, 2, 2))
        v, _ = ref.policy_value(r, p, gamma, joint)
        np.testing.assert_allclose(batch.trace[k][0], rho @ (vstar - v), atol=1e-12)
    tr = np.asarray(batch.trace)
    assert (tr >= -1e-12).all() and (tr[:, -1] < 5e-3).all()
    assert (np.diff(tr, axis=1) <= 1e-12).all()  # monotone on these games


def test_gradient_play_is_independent_softmax_pg():
    """GradientPlay on a cooperative game is the paper's baseline: checked
    against NumPy independent PG, whose gradient is itself checked against
    central finite differences of ``J = rho @ V``."""
    g = M.games.unstack(_games(1, actions=(2, 3), states=2, seed=2))[0]
    r, p, gamma, rho = _arrays(g)
    rng = np.random.default_rng(0)
    theta = [rng.normal(size=(2, 2)), rng.normal(size=(2, 3))]
    grads, _ = ref.product_gradient(r, p, gamma, rho, theta)
    eps = 1e-6
    for i in range(2):
        for idx in np.ndindex(theta[i].shape):
            up = [t.copy() for t in theta]
            dn = [t.copy() for t in theta]
            up[i][idx] += eps
            dn[i][idx] -= eps
            fd = ref.product_gradient(r, p, gamma, rho, up)[1]
            fd = (fd - ref.product_gradient(r, p, gamma, rho, dn)[1]) / (2 * eps)
            assert abs(fd - grads[i][idx]) < 1e-7
    history = ref.independent_pg(r, p, gamma, rho, 0.7, 40)
    solver = M.solvers.GradientPlay(0.7)
    run = jax.jit(lambda g: M.solve(solver, g, 40, checkpoints=[1, 40], metric=_tables))
    sol = run(g)
    for c, k in enumerate([1, 40]):
        for i in range(2):
            np.testing.assert_allclose(sol.trace[i][c], history[k][i], atol=1e-12)


def test_ratio_game_ma_ppo_reaches_the_global_maximum():
    g = M.games.zoo.ratio_game(jnp.float64)
    sol = jax.jit(
        lambda g: M.solve(
            M.solvers.MultiAgentPPO(1.0), g, 50, metric=M.evaluation.values
        )
    )(g)
    np.testing.assert_allclose(sol.trace[0], 1.0, atol=1e-3)


def test_bad_input():
    with pytest.raises(ValueError, match="step_size is -1.0"):
        M.solvers.MultiAgentPPO(-1.0)
    with pytest.raises(ValueError, match="beta is 0"):
        M.solvers.MultiAgentPPO.from_beta(0, 10)
    with pytest.raises(ValueError, match="num_steps is 0"):
        M.solvers.MultiAgentPPO.from_beta(1.0, 0)
    general = M.games.unstack(
        M.games.random_general_sum(
            jax.random.key(0), 1, (2, 2), 2, discount=0.9, dtype=jnp.float64
        )
    )[0]
    with pytest.raises(ValueError, match=r"game.rewards\[1, 0, 0, 0\] is .* but"):
        M.solve(M.solvers.MultiAgentPPO(1.0), general, 2)
    finite = M.games.zoo.mao2023_identical_interest()
    with pytest.raises(ValueError, match="needs a DiscountedMarkovGame"):
        M.solve(M.solvers.MultiAgentPPO(1.0), finite, 2)
