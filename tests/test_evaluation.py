"""Exact metrics against independent NumPy/scipy references and hand-solved games."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import marlmeta.evaluation as E
import marlmeta.games as G
import marlmeta.policies as P
from tests import reference as ref

gains_j = jax.jit(E.gains)
values_j = jax.jit(E.values)
brv_j = jax.jit(E.best_response_values)


def _np(game):
    return (
        np.asarray(game.rewards),
        np.asarray(game.transitions.dense()),
        np.asarray(game.initial),
    )


@pytest.mark.parametrize("acts", [(2, 3), (2, 3, 2)])
def test_finite_values_and_best_responses_match_numpy(key, acts):
    games = G.random_general_sum(key, 4, acts, 3, 3, dtype=jnp.float64)
    for k, g in enumerate(G.unstack(games)):
        pi = P.random_policy(g, key=jr.fold_in(key, k))
        r, p, init = _np(g)
        pol = [np.asarray(x) for x in pi]
        np.testing.assert_allclose(
            values_j(g, pi), ref.finite_values(r, p, init, pol), atol=1e-12
        )
        np.testing.assert_allclose(
            brv_j(g, pi), ref.finite_best_response_values(r, p, init, pol), atol=1e-12
        )


def test_cce_gap_matches_numpy_and_product_case(key):
    games = G.random_general_sum(key, 3, (2, 2, 3), 2, 3, dtype=jnp.float64)
    for k, g in enumerate(G.unstack(games)):
        k1, k2 = jr.split(jr.fold_in(key, k))
        sigma = jax.nn.softmax(
            jr.normal(k1, (3, 2, 2, 2, 3), jnp.float64).reshape(3, 2, -1), -1
        )
        sigma = sigma.reshape(3, 2, 2, 2, 3)
        r, p, init = _np(g)
        v, b = ref.finite_cce_values(r, p, init, np.asarray(sigma))
        np.testing.assert_allclose(jax.jit(E.gains)(g, sigma), b - v, atol=1e-12)
        np.testing.assert_allclose(E.cce_gap(g, sigma), np.max(b - v), atol=1e-12)
        pi = P.random_policy(g, key=k2)
        np.testing.assert_allclose(
            E.cce_gap(g, P.product_to_joint(pi)), E.ne_gap(g, pi), atol=1e-12
        )


def test_lp_equilibrium_of_zero_sum_markov_games(key):
    games = G.random_zero_sum(key, 5, (3, 2), 3, 4, dtype=jnp.float64)
    for k, g in enumerate(G.unstack(games)):
        r, p, init = _np(g)
        value, mu, nu = ref.shapley_lp(r[0], p, init)
        lp_pol = (jnp.asarray(mu), jnp.asarray(nu))
        assert float(E.nash_conv(g, lp_pol)) < 1e-8
        np.testing.assert_allclose(values_j(g, lp_pol)[0], value, atol=1e-8)
        for j in range(5):
            pi = P.random_policy(g, key=jr.fold_in(key, 100 * k + j), scale=3.0)
            assert float(jax.jit(E.nash_conv)(g, pi)) >= -1e-12
            # the LP value lies between the two best-response values
            b = brv_j(g, pi)
            assert -b[1] - 1e-9 <= value <= b[0] + 1e-9


def test_hand_solved_matrix_games():
    mp = G.zoo.matching_pennies()
    u = P.uniform(mp)
    np.testing.assert_allclose(E.gains(mp, u), [0.0, 0.0], atol=1e-12)
    # mu = (0.7, 0.3) against uniform: the min-player plays b=1, earns 0.4.
    pi = (jnp.array([[[0.7, 0.3]]]), u[1])
    np.testing.assert_allclose(E.gains(mp, pi), [0.0, 0.4], atol=1e-12)
    np.testing.assert_allclose(E.nash_conv(mp, pi), 0.4, atol=1e-12)
    rps = G.zoo.rock_paper_scissors()
    np.testing.assert_allclose(E.nash_conv(rps, P.uniform(rps)), 0.0, atol=1e-12)
    rock = (jnp.array([[[1.0, 0.0, 0.0]]]), P.uniform(rps)[1])
    # any reply to a uniform opponent is worth 0; paper beats rock by 1.
    np.testing.assert_allclose(E.gains(rps, rock), [0.0, 1.0], atol=1e-12)
    pd = G.zoo.prisoners_dilemma()
    defect = tuple(jnp.array([[[0.0, 1.0]]]) for _ in range(2))
    np.testing.assert_allclose(E.nash_conv(pd, defect), 0.0, atol=1e-12)
    coop = tuple(jnp.array([[[1.0, 0.0]]]) for _ in range(2))
    np.testing.assert_allclose(E.gains(pd, coop), [2.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(E.values(pd, coop), [3.0, 3.0], atol=1e-12)
    # "always match" (correlated): player 0 earns 1, a fixed deviation against
    # the uniform marginal earns 0 (gain -1: CCE gains can be negative);
    # player 1 earns -1 and 0 by deviating (gain 1).
    sigma = jnp.array([[[[0.5, 0.0], [0.0, 0.5]]]])
    np.testing.assert_allclose(E.gains(mp, sigma), [-1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(E.cce_gap(mp, sigma), 1.0, atol=1e-12)


@pytest.mark.parametrize("acts", [(2, 3), (2, 2, 2)])
def test_discounted_matches_numpy(key, acts):
    games = G.random_general_sum(key, 3, acts, 4, discount=0.9, dtype=jnp.float64)
    for k, g in enumerate(G.unstack(games)):
        pi = P.random_policy(g, key=jr.fold_in(key, k), scale=2.0)
        r, p, init = _np(g)
        pol = [np.asarray(x) for x in pi]
        gamma = float(g.discount)
        np.testing.assert_allclose(
            values_j(g, pi), ref.discounted_values(r, p, init, gamma, pol), atol=1e-10
        )
        np.testing.assert_allclose(
            brv_j(g, pi),
            ref.discounted_best_response_values(r, p, init, gamma, pol),
            atol=1e-9,
        )


def test_discounted_lp_equilibrium_has_zero_gap():
    # gamma = 0 single state: a matrix game solved by LP.
    A = np.array([[0.3, 0.9, 0.1], [0.7, 0.2, 0.6]])
    g = G.discounted_game(np.stack([A, -A])[:, None], np.ones((1, 2, 3, 1)), [1.0], 0.0)
    v, x, y = ref.matrix_game_lp(A)
    pol = (jnp.asarray(x)[None], jnp.asarray(y)[None])
    assert float(E.nash_conv(g, pol)) < 1e-8
    np.testing.assert_allclose(E.values(g, pol)[0], v, atol=1e-9)


def test_vmap_equals_loop_and_jit_equals_nojit(key, jit):
    games = G.random_general_sum(key, 6, (2, 3), 3, 4, dtype=jnp.float64)
    pis = jax.vmap(lambda g, k: P.random_policy(g, key=k))(games, jr.split(key, 6))
    batched = jit(jax.vmap(E.gains))(games, pis)
    for k, g in enumerate(G.unstack(games)):
        pi = jax.tree.map(lambda x, k=k: x[k], pis)
        np.testing.assert_allclose(batched[k], E.gains(g, pi), atol=1e-13)


@pytest.mark.parametrize("discount", [None, 0.85])
def test_gradients_match_finite_differences(key, discount):
    g = G.unstack(
        G.random_general_sum(key, 1, (2, 3), 3, 3, discount=discount, dtype=jnp.float64)
    )[0]
    logits = tuple(
        jr.normal(jr.fold_in(key, i), x.shape, jnp.float64)
        for i, x in enumerate(P.uniform(g))
    )

    @jax.jit
    def f(logits, rewards):
        pol = tuple(jax.nn.softmax(x, -1) for x in logits)
        game = eqx.tree_at(lambda q: q.rewards, g, rewards)
        return E.values(game, pol)[0] + 0.5 * E.gains(game, pol)[1]

    grad = jax.jit(jax.grad(f, argnums=(0, 1)))(logits, g.rewards)
    d = tuple(
        jr.normal(jr.fold_in(key, 10 + i), x.shape, jnp.float64)
        for i, x in enumerate(logits)
    )
    dr = jr.normal(jr.fold_in(key, 20), g.rewards.shape, jnp.float64)
    eps = 1e-6
    plus = f(jax.tree.map(lambda x, y: x + eps * y, logits, d), g.rewards + eps * dr)
    minus = f(jax.tree.map(lambda x, y: x - eps * y, logits, d), g.rewards - eps * dr)
    fd = (plus - minus) / (2 * eps)
    analytic = sum(jnp.sum(a * b) for a, b in zip(grad[0], d, strict=True)) + jnp.sum(
        grad[1] * dr
    )
    np.testing.assert_allclose(analytic, fd, rtol=1e-6, atol=1e-8)


def test_float32_works(key):
    g = G.unstack(G.random_general_sum(key, 1, (2, 3), 3, 3, dtype=jnp.float32))[0]
    pi = P.uniform(g)
    out = jax.jit(E.report)(g, pi)
    assert out.gains.dtype == jnp.float32 and out.values.dtype == jnp.float32
    g64 = jax.tree.map(
        lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x,
        g,
    )
    pi64 = P.uniform(g64)
    np.testing.assert_allclose(out.gains, E.gains(g64, pi64), rtol=1e-5, atol=1e-6)


def test_potential_requires_potential_game(key):
    g = G.unstack(G.random_general_sum(key, 1))[0]
    with pytest.raises(ValueError, match="potential_reward"):
        E.potential(g, P.uniform(g))


def test_policy_validation():
    g = G.zoo.matching_pennies()
    P.validate(g, P.uniform(g))
    with pytest.raises(ValueError, match=r"policy\[1\]\[0, 0\] sums to"):
        P.validate(g, (P.uniform(g)[0], jnp.array([[[0.6, 0.6]]])))
    with pytest.raises(ValueError, match=r"policy\[0\]\[0, 0, 1\] is nan"):
        P.validate(g, (jnp.array([[[0.5, jnp.nan]]]), P.uniform(g)[1]))
    with pytest.raises(ValueError, match="has shape"):
        P.validate(g, (jnp.ones((1, 1, 3)) / 3, P.uniform(g)[1]))


def test_alpha_greedy_and_argmax_uniform():
    x = jnp.array([[1.0, 3.0, 3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(
        P.argmax_uniform(x), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]]
    )
    np.testing.assert_allclose(P.alpha_greedy(jnp.array([1.0, 0.0]), 0.2), [0.9, 0.1])
