"""marlmeta.exact and evaluation.ce_gap against independent scipy/NumPy references."""

import functools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import marlmeta as M
import marlmeta.evaluation as E
import marlmeta.games as G
import marlmeta.policies as P
from marlmeta.exact import markov_cce, markov_ce, zero_sum_equilibrium
from tests import reference_exact as ref


@functools.cache
def _batched(f):
    """``jax.jit(jax.vmap(f))``, one per function for the module (an eager
    ``vmap`` compiles each of its operations on its own)."""
    return jax.jit(jax.vmap(f))


zero_sum_j = _batched(zero_sum_equilibrium)
cce_j = _batched(markov_cce)
ce_j = _batched(markov_ce)
ce_gap_j = jax.jit(E.ce_gap)


# Few shapes, shared by the tests, so that each program compiles once.
ZS = dict(num_actions=(3, 2), num_states=3, dtype=jnp.float64)
GS = dict(num_states=2, horizon=2, dtype=jnp.float64)


def _np(game):
    return (
        np.asarray(game.rewards),
        np.asarray(game.transitions.dense()),
        np.asarray(game.initial),
    )


def test_zero_sum_finite_matches_scipy_shapley(key):
    games = G.random_zero_sum(key, 3, horizon=4, **ZS)
    eq = zero_sum_j(games)
    assert np.asarray(eq.converged).all()
    assert eq.policy[0].shape == (3, 4, 3, 3) and eq.policy[1].shape == (3, 4, 3, 2)
    assert eq.state_values.shape == (3, 4, 3)
    np.testing.assert_array_less(np.abs(eq.certificate), 1e-9)
    np.testing.assert_array_less(_batched(E.nash_conv)(games, eq.policy), 1e-9)
    np.testing.assert_allclose(
        _batched(E.values)(games, eq.policy)[:, 0], eq.value, atol=1e-12
    )
    for k, g in enumerate(G.unstack(games)):
        r, p, init = _np(g)
        np.testing.assert_allclose(
            eq.value[k], ref.shapley_finite(r[0], p, init), atol=1e-9
        )


def test_zero_sum_discounted_matches_scipy_value_iteration(key):
    games = G.random_zero_sum(key, 3, discount=0.6, **ZS)
    eq = zero_sum_j(games)
    assert np.asarray(eq.converged).all()
    assert eq.policy[0].shape == (3, 3, 3) and eq.state_values.shape == (3, 3)
    np.testing.assert_array_less(np.abs(eq.certificate), 1e-9)
    np.testing.assert_array_less(_batched(E.nash_conv)(games, eq.policy), 1e-9)
    for k, g in enumerate(G.unstack(games)):
        r, p, init = _np(g)
        expected = ref.shapley_discounted(r[0], p, init, 0.6)
        np.testing.assert_allclose(eq.value[k], expected, atol=1e-9)


def test_zero_sum_discounted_high_discount_certificate_and_cap(key):
    games = G.random_zero_sum(jr.fold_in(key, 1), 3, discount=0.9, **ZS)
    eq = zero_sum_j(games)
    assert np.asarray(eq.converged).all()
    np.testing.assert_array_less(np.abs(eq.certificate), 1e-9)
    # Value iteration stopped by its cap reports it.
    capped = jax.jit(jax.vmap(lambda g: zero_sum_equilibrium(g, max_iterations=3)))
    eq = capped(games)
    assert not np.asarray(eq.converged).any()
    np.testing.assert_array_equal(eq.iterations, 3)


def test_zero_sum_matrix_game():
    r = np.array([[0.0, -1, 1], [1, 0, -1], [-1, 1, 0]])
    eq = jax.jit(zero_sum_equilibrium)(G.matrix_game([r, -r]))
    np.testing.assert_allclose(eq.value, 0.0, atol=1e-15)
    np.testing.assert_allclose(eq.policy[0][0, 0], [1 / 3] * 3, atol=1e-15)
    np.testing.assert_allclose(eq.policy[1][0, 0], [1 / 3] * 3, atol=1e-15)


def test_zero_sum_rejects_general_sum_game(key):
    g = G.unstack(G.random_general_sum(key, 3, (3, 2), **GS))[0]
    with pytest.raises(ValueError, match=r"not zero sum: rewards\[0\]\[0, 0, 0, 0\]"):
        zero_sum_equilibrium(g)
    zs = G.unstack(G.random_zero_sum(key, 3, horizon=4, **ZS))[0]
    bad = zs.rewards.at[1, 2, 1, 0, 1].add(1e-6)
    with pytest.raises(ValueError, match=r"rewards\[0\]\[2, 1, 0, 1\]"):
        zero_sum_equilibrium(G.markov_game(bad, zs.transitions, zs.initial))
    three = G.unstack(G.random_general_sum(key, 3, (2, 2, 2), **GS))[0]
    with pytest.raises(ValueError, match="3 players"):
        zero_sum_equilibrium(three)


@pytest.mark.parametrize("acts", [(3, 2), (2, 2, 2)])
def test_markov_cce_gap_and_welfare_match_scipy(key, acts):
    games = G.random_general_sum(key, 3, acts, **GS)
    weights = np.linspace(1.0, 2.0, len(acts))
    eq = jax.jit(jax.vmap(markov_cce, in_axes=(0, None)))(games, weights)
    assert np.asarray(eq.converged).all()
    sigma = np.asarray(eq.policy)
    assert sigma.shape == (3, 2, 2, *acts)
    assert (sigma >= 0).all()
    np.testing.assert_allclose(sigma.reshape(3, 2, 2, -1).sum(-1), 1, atol=1e-12)
    gaps = _batched(E.cce_gap)(games, eq.policy)
    np.testing.assert_array_less(gaps, 1e-9)
    np.testing.assert_allclose(eq.certificate, gaps, atol=1e-14)
    values = _batched(E.values)(games, eq.policy)
    np.testing.assert_allclose(eq.values, values, atol=1e-12)
    for k, g in enumerate(G.unstack(games)):
        expected = ref.markov_cce_welfare(*_np(g), weights)
        np.testing.assert_allclose(eq.welfare[k], expected, atol=1e-8)


@pytest.mark.parametrize("acts", [(3, 2), (2, 2, 2)])
def test_markov_ce_gap_and_welfare_match_scipy(key, acts):
    games = G.random_general_sum(jr.fold_in(key, 1), 3, acts, **GS)
    eq = ce_j(games)
    assert np.asarray(eq.converged).all()
    gaps = _batched(E.ce_gap)(games, eq.policy)
    np.testing.assert_array_less(np.abs(gaps), 1e-9)
    np.testing.assert_allclose(eq.certificate, gaps, atol=1e-14)
    # A CE is a CCE.
    np.testing.assert_array_less(_batched(E.cce_gap)(games, eq.policy), 1e-9)
    for k, g in enumerate(G.unstack(games)):
        expected = ref.markov_cce_welfare(*_np(g), np.ones(len(acts)), ce=True)
        np.testing.assert_allclose(eq.welfare[k], expected, atol=1e-8)


def test_markov_cce_rejects_bad_input(key):
    g = G.unstack(G.random_general_sum(key, 3, (3, 2), **GS))[0]
    with pytest.raises(ValueError, match="welfare has shape"):
        markov_cce(g, [1.0, 2.0, 3.0])
    d = G.unstack(G.random_zero_sum(key, 3, discount=0.6, **ZS))[0]
    with pytest.raises(ValueError, match="finite-horizon"):
        markov_ce(d)
    with pytest.raises(ValueError, match="ce_gains needs finite-horizon"):
        E.ce_gap(d, P.product_to_joint(P.uniform(d)))


def _random_sigma(key, game):
    lead = (game.horizon, game.num_states)
    z = jr.normal(key, (*lead, int(np.prod(game.num_actions))), jnp.float64)
    return jax.nn.softmax(2 * z, -1).reshape(*lead, *game.num_actions)


def _random_sigmas(key, games):
    keys = jr.split(key, games.initial.shape[0])
    return jax.vmap(_random_sigma)(keys, games)


@pytest.mark.parametrize(("acts", "horizon"), [((2, 2, 2), 2), ((3, 2), 1)])
def test_ce_gap_matches_brute_force(key, acts, horizon):
    games = G.random_general_sum(key, 3, acts, 2, horizon, dtype=jnp.float64)
    sigmas = _random_sigmas(jr.fold_in(key, 1), games)
    gaps = _batched(E.ce_gap)(games, sigmas)
    for k, g in enumerate(G.unstack(games)):
        expected = ref.ce_gap_brute_force(*_np(g), np.asarray(sigmas[k]))
        np.testing.assert_allclose(gaps[k], expected, atol=1e-12)


def test_ce_gap_sanity(key):
    games = G.random_general_sum(key, 3, (2, 2, 2), **GS)
    k1, k2 = jr.split(key)
    sigmas = _random_sigmas(k1, games)
    ce = _batched(E.ce_gap)(games, sigmas)
    cce = _batched(E.cce_gap)(games, sigmas)
    assert (np.asarray(ce) >= np.maximum(np.asarray(cce), 0) - 1e-12).all()
    assert (np.asarray(_batched(E.ce_gains)(games, sigmas)) >= -1e-12).all()
    # A product policy: the recommendation says nothing about the others.
    pis = jax.vmap(lambda g, k: P.random_policy(g, key=k))(games, jr.split(k2, 3))
    joint = _batched(P.product_to_joint)(pis)
    np.testing.assert_allclose(
        _batched(E.ce_gap)(games, joint), _batched(E.ne_gap)(games, pis), atol=1e-12
    )
    # The joint policy of an exact zero-sum equilibrium is a CE.
    zs = G.random_zero_sum(key, 3, horizon=4, **ZS)
    joint = _batched(P.product_to_joint)(zero_sum_j(zs).policy)
    np.testing.assert_array_less(np.abs(_batched(E.ce_gap)(zs, joint)), 1e-9)


def test_ce_gap_hand_solved():
    # Chicken: (dare, chicken). The traffic light 1/2 on (D, C), (C, D) is a CE;
    # mass on (D, D) is not: there a daring player would rather swerve.
    chicken = G.matrix_game([[[0, 7], [2, 6]], [[0, 2], [7, 6]]])
    light = jnp.array([[[[0.0, 0.5], [0.5, 0.0]]]])
    np.testing.assert_allclose(E.ce_gap(chicken, light), 0.0, atol=1e-15)
    crash = jnp.array([[[[0.5, 0.0], [0.0, 0.5]]]])
    # Told D (the other dares too) a player swerves for 2 instead of 0; told C
    # (the other swerves too) it dares for 7 instead of 6: gain (2 + 1) / 2.
    np.testing.assert_allclose(E.ce_gains(chicken, crash), [1.5, 1.5], atol=1e-15)


def test_solve_traces_the_distance_from_the_exact_value(key):
    games = G.random_zero_sum(key, 2, horizon=3, **ZS)
    solver = M.solvers.ZeroSumOMD(0.1)
    sol = M.solve_batch(
        solver, games, 60, checkpoints=[5, 60], metric=M.exact.exact_report
    )
    plain = M.solve_batch(solver, games, 60, checkpoints=[5, 60])
    np.testing.assert_allclose(sol.trace.nash_conv, plain.trace.nash_conv, atol=1e-14)
    for k, g in enumerate(G.unstack(games)):
        r, p, init = _np(g)
        v_star = ref.shapley_finite(r[0], p, init)
        np.testing.assert_allclose(sol.trace.exact_value[k], v_star, atol=1e-9)
        err = np.abs(plain.trace.values[k, :, 0] - v_star)
        np.testing.assert_allclose(sol.trace.value_error[k], err, atol=1e-9)
    # |V - V*| <= NashConv for any policy pair of a zero-sum game.
    assert np.all(sol.trace.value_error <= sol.trace.nash_conv + 1e-9)
