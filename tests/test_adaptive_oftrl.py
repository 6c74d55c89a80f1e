"""Seed 002 adaptive OFTRL: reference, lambda rule, overflow, the paper's curve."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
import marlmeta.games as G
from tests import reference as ref


@pytest.mark.parametrize("acts, eta", [((2, 3), 0.3), ((2, 2, 2), 2.0)])
def test_matches_numpy_reference(key, acts, eta):
    # The reference keeps the paper's w_t-weighted sums; the solver uses the
    # normalised recursion. (lambda < 1 is not reached on such games, even with
    # large eta and small beta; test_lambda_below_one_... covers that branch.)
    g = G.unstack(G.random_general_sum(key, 1, acts, 2, 3, dtype=jnp.float64))[0]
    T = 25
    sol = M.solve(M.solvers.AdaptiveOFTRL(eta, beta=1.0), g, T)
    sigma, total, _ = ref.dlrc_omwu(
        np.asarray(g.rewards), np.asarray(g.transitions.dense()), eta, T, beta=1.0
    )
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    np.testing.assert_allclose(sol.policy, sigma, atol=1e-9)


def test_lambda_below_one_for_strongly_negative_regrets():
    at = M.solvers.alpha_tilde(3, 70.0)
    r = jnp.array([[-400.0, -500.0, -450.0], [1.0, 0.0, -1.0]], jnp.float64)
    lam, inner = M.solvers.select_lambda(r, at, 60)
    assert bool(inner[0]) and not bool(inner[1])
    assert 0 < float(lam[0]) < 1 and float(lam[1]) == 1.0
    # lambda solves the first-order condition <softmax(l r), r> + (at-1)/l = 0
    p = jax.nn.softmax(lam[0] * r[0])
    np.testing.assert_allclose(p @ r[0] + (at - 1) / lam[0], 0.0, atol=1e-8)
    # against a dense grid of the concave objective
    grid = jnp.linspace(1e-4, 1.0, 200001, dtype=jnp.float64)
    obj = (at - 1) * jnp.log(grid) + jax.nn.logsumexp(grid[:, None] * r[0], axis=1)
    assert abs(float(grid[jnp.argmax(obj)]) - float(lam[0])) < 1e-4


def test_no_overflow_h10_t10000_float32(key):
    g = G.unstack(G.random_general_sum(key, 1, (2, 2), 2, 10, dtype=jnp.float32))[0]
    sol = jax.jit(lambda g: M.solve(M.solvers.AdaptiveOFTRL(0.1), g, 10_000))(g)
    assert bool(sol.finite)
    assert bool(jnp.isfinite(sol.diagnostics.cce_gap_ub).all())
    np.testing.assert_allclose(sol.policy.reshape(10, 2, -1).sum(-1), 1.0, atol=1e-4)


def seed002_games(key, num_games=9, dtype=jnp.float64):
    """Seed 002 section 4: N=2, S=2, two actions, H=2, stay probability 0.8."""
    games = G.random_general_sum(key, num_games, (2, 2), 2, 2, dtype=dtype)
    kernel = jnp.array([[0.8, 0.2], [0.2, 0.8]], dtype)[:, None, None, :]
    probs = jnp.broadcast_to(kernel, games.transitions.probs.shape)
    games = eqx.tree_at(lambda g: g.transitions.probs, games, probs)
    start = jnp.broadcast_to(jnp.array([1.0, 0.0], dtype), games.initial.shape)
    return eqx.tree_at(lambda g: g.initial, games, start)


def test_seed002_curve_with_tuned_step_size(key):
    # Seed 002 figure (a), read off the plot: mean gap ~0.012 at T=500, <0.01
    # from T=1000, ~0.004-0.005 flat from T=2000. Our 9 random games differ from
    # the authors', so the test asserts the shape with factor-2 room: the mean
    # exact CCE-gap falls at every checkpoint and reaches those levels.
    cps = [100, 500, 1000, 2000, 5000]
    out = M.solve_batch(
        M.solvers.AdaptiveOFTRL(0.1), seed002_games(key), 5000, checkpoints=cps
    )
    mean = np.asarray(out.trace.cce_gap.mean(0))
    assert np.all(np.diff(mean) < 0)
    assert mean[2] < 0.02 and mean[3] < 0.01 and mean[4] < 0.005
    assert int(out.diagnostics.lambda_triggers.max()) == 0  # as seed-002.md observed


def test_online_bound_is_exact_after_one_iteration(key):
    # alpha_1 = 1: V, M and B are then the exact value and deviation values of
    # pi^1, so cce_gap_ub equals the exact CCE-gap of sigma = joint(pi^1).
    games = G.random_general_sum(key, 4, (2, 3, 2), 3, 3, dtype=jnp.float64)
    out = M.solve_batch(M.solvers.AdaptiveOFTRL(0.5), games, 1)
    np.testing.assert_allclose(
        out.diagnostics.cce_gap_ub[:, 0], out.trace.cce_gap[:, 0], atol=1e-12
    )


@pytest.mark.parametrize("eta, T", [(None, 40), (0.1, 40), (0.5, 12)])
def test_online_bound_is_never_below_the_exact_gap_of_the_output(key, eta, T):
    """Seed 002's bound is about its output policy, the nested-index correlated
    policy of Algorithm 2 (Lemma 8: V^T is that policy's value). Its exact
    CCE-gap (best history-dependent deviation, index unseen) is computed by an
    independent reference; the solver's V^T and bound match the reference's
    Lemma 8 values and index-aware deviations, and the bound is never below
    the exact gap. (The Markov average-joint policy is a different policy; its
    gap can exceed the bound, see configs/oftrl_cce.yaml's results.)"""
    games = seed002_games(key, num_games=3)
    solver = M.solvers.AdaptiveOFTRL(eta)
    step = jax.jit(lambda g, s: solver.step(g, s))
    for g in G.unstack(games):
        state = solver.init(g, None)
        for _ in range(T):
            state = step(g, state)
        eta_value = float(solver.eta(g))
        _, _, pis = ref.dlrc_omwu(
            np.asarray(g.rewards), np.asarray(g.transitions.dense()), eta_value, T
        )
        rho = np.asarray(g.initial)
        values, index_aware, history = ref.nested_index_policy_values(
            np.asarray(g.rewards), np.asarray(g.transitions.dense()), rho, pis
        )
        # The reference's iterates (the paper's w_t-weighted sums) agree with
        # the solver's (normalised recursion) to ~1e-9; hence 1e-8 below.
        np.testing.assert_allclose(state.values[:, 0] @ g.initial, values, atol=1e-8)
        ub = float(solver.diagnostics(g, state).cce_gap_ub)
        np.testing.assert_allclose(ub, np.max(index_aware - values), atol=1e-8)
        assert np.all(history <= index_aware + 1e-12)  # same iterates: exact
        exact = np.max(history - values)
        assert exact <= ub + 1e-8
