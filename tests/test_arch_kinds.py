"""Kinds and strategies of the architecture: typed evaluation results, the
linear-solver strategies of the discounted kind, successor rows of every kernel
kind, averaging rules, and preconditions checked by the kind."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
import marlmeta.games as G
import marlmeta.policies as P
from tests import reference as ref

jax.config.update("jax_enable_x64", True)


def _kernels(rng):
    """One dense, sparse and factored kernel over 4 states, actions (2, 2)."""
    dense = G.DenseTransitions(rng.dirichlet(np.ones(4), (1, 4, 2, 2)))
    nxt = rng.integers(0, 4, (1, 4, 2, 2, 2))
    sparse = G.SparseTransitions(nxt, rng.dirichlet(np.ones(2), nxt.shape[:-1]), 4)
    local = tuple(rng.dirichlet(np.ones(2), (1, 2, 2)) for _ in range(2))
    return dense, sparse, G.FactoredTransitions(local)


def test_successor_rows_equal_the_dense_kernel_for_every_kind():
    for kernel in _kernels(np.random.default_rng(0)):
        dense = np.asarray(kernel.dense())[0]  # (S, A0, A1, S')
        for s, a0, a1 in [(0, 0, 0), (3, 1, 0), (2, 1, 1)]:
            row = kernel.successor_probs(0, s, jnp.array([a0, a1]))
            np.testing.assert_array_equal(row, dense[s, a0, a1])


def _discounted(rng):
    r = rng.uniform(-1, 1, (2, 4, 2, 2))
    kernel = G.DenseTransitions(rng.dirichlet(np.ones(4), (1, 4, 2, 2)))
    return G.discounted_game(r, kernel, np.full(4, 0.25), 0.8)


def test_linear_solver_strategies_agree_with_numpy():
    rng = np.random.default_rng(1)
    game = _discounted(rng)
    assert game.linear_solver == G.AutoSolve()
    assert game.linear_solver.pick(game) == G.DenseSolve()
    small = G.AutoSolve(max_dense_states=3)
    assert small.pick(game) == G.MatrixFreeSolve()
    tables = P.random_policy(game, key=jax.random.key(2))
    pol = P.as_policy(tables)
    r, p = np.asarray(game.rewards), np.asarray(game.transitions.dense())
    expected = ref.discounted_values(
        r, p, np.asarray(game.initial), 0.8, [np.asarray(t) for t in tables]
    )
    best = ref.discounted_best_response_values(
        r, p, np.asarray(game.initial), 0.8, [np.asarray(t) for t in tables]
    )
    named = dataclasses.replace(game, linear_solver="dense")
    assert named.linear_solver == G.DenseSolve()
    for solver in (G.DenseSolve(), G.MatrixFreeSolve()):
        g = dataclasses.replace(game, linear_solver=solver)
        ev = g.evaluate(pol, best=True)
        assert isinstance(ev, G.Evaluation)
        np.testing.assert_allclose(ev.values @ game.initial, expected, atol=1e-10)
        np.testing.assert_allclose(ev.best_values @ game.initial, best, atol=1e-9)
        assert len(ev.best_responses) == 2
        assert ev.averaged_q is None
    with pytest.raises(ValueError, match="linear_solver is 'lu'"):
        dataclasses.replace(game, linear_solver="lu")


def test_finite_evaluation_is_a_typed_result():
    game = G.zoo.mao2023_zero_sum(horizon=2)
    pol = P.as_policy(P.uniform(game))
    ev = game.evaluate(pol, best=True)
    r, p = np.asarray(game.rewards), np.asarray(game.transitions.dense())
    tables = [np.asarray(t) for t in pol.tables]
    expected = ref.finite_values(r, p, np.asarray(game.initial), tables)
    np.testing.assert_allclose(ev.values @ game.initial, expected, atol=1e-12)
    assert ev.averaged_q is None and len(ev.best_responses) == 2


def test_preconditions_are_checked_by_the_kind():
    finite = G.zoo.mao2023_zero_sum(horizon=2)
    with pytest.raises(ValueError, match="f needs a DiscountedMarkovGame; game is"):
        finite.require_discounted("f")
    disc = _discounted(np.random.default_rng(3))
    with pytest.raises(ValueError, match="g needs finite-horizon games; game is"):
        disc.require_finite_horizon("g")
    finite.require_finite_horizon("g")
    disc.require_discounted("f")


def test_averaging_rules_are_objects():
    assert M.solvers.AVERAGES["reach"] == M.solvers.ReachAverage()
    # The averaging rule belongs to Algorithm 1 on observations.
    assert M.solvers.ObservedZeroSumOMD(0.1).average == M.solvers.ReachAverage()
    with pytest.raises(ValueError, match="average is 'plain'"):
        M.solvers.ObservedZeroSumOMD(0.1, average="plain")


def test_optimal_policy_is_typed_and_agrees_with_value_iteration():
    game = _discounted(np.random.default_rng(4))
    r = game.rewards[0]
    p = np.asarray(game.transitions.dense())[0].reshape(4, 4, 4)  # (S, a, S')
    flat = np.asarray(r).reshape(4, 4)
    v = np.zeros(4)
    for _ in range(2000):  # NumPy value iteration on the joint-action MDP
        v = (flat + 0.8 * p @ v).max(-1)
    for solver in (G.DenseSolve(), G.MatrixFreeSolve()):
        opt = dataclasses.replace(game, linear_solver=solver).optimal_policy(r)
        assert isinstance(opt, G.OptimalPolicy)
        np.testing.assert_allclose(opt.values, v, atol=1e-10)
        np.testing.assert_array_equal(opt.actions, (flat + 0.8 * p @ v).argmax(-1))
