"""The aggregative paper's Theorem 4.2 (welfare of equilibrium selection) on
one-step games: OPT(zeta), E and the bound written out in NumPy on a
congestion game, and the selected profile's welfare never below the bound on
random aggregative games."""

import itertools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import marlmeta as M

A = M.aggregative
Th = M.theory
THETA, COST, N, ALPHA = (1.0, 0.8, 0.6), (1.0, 1.2, 0.8), 4, 0.1


def _np_gains(profile, theta, cost, n):
    """Each player's best deviation gain in the congestion game."""
    m = len(theta)
    load = np.bincount(profile, minlength=m)
    gains = []
    for a in profile:
        own = theta[a] - cost[a] * load[a] / n
        dev = [theta[b] - cost[b] * (load[b] + (b != a)) / n for b in range(m)]
        gains.append(max(dev) - own)
    return np.array(gains)


@eqx.filter_jit
def _selected_and_bound(games, weights, grid):
    """Per game: the selected welfare, Theorem 4.2's bound and ``OPT(0)``."""

    def one(g, w):
        res = A.aggre_bi(g, grid, welfare=w)
        bound = Th.aggregative_theorem42(g, w, res)
        exact = Th.approximate_pne_welfare(g, w, 1e-12)
        return A.welfare(g, res.profile, w), bound, exact

    return jax.vmap(one)(games, weights)


def _family(seed):
    """The hand game first, then three random congestion games (n = 4, m = 3),
    with uniform welfare weights."""
    rng = np.random.default_rng(seed)
    thetas = [THETA, *rng.uniform(0.5, 1.5, (3, 3))]
    costs = [COST, *rng.uniform(0.5, 1.5, (3, 3))]
    games = [
        A.singleton_congestion(t, c, N) for t, c in zip(thetas, costs, strict=True)
    ]
    games = jax.tree.map(lambda *x: jnp.stack(x), *games)
    weights = rng.uniform(size=(4, 1, 1, N, 3))
    return games, weights, thetas, costs


def test_theorem42_written_out_on_a_congestion_game():
    games, w, thetas, costs = _family(7)
    welfare, bound, exact = _selected_and_bound(games, w, A.make_grid(games, ALPHA))
    for k in range(4):
        # zeta = delta sqrt(8 n ln(2 m n)) with delta = 1/n (one player moves
        # a share by 1/n); gamma_0 = gamma_r = the largest congestion cost
        tol = 0.25 * math.sqrt(8 * 4 * math.log(24)) * max(costs[k])
        opt, best_eq = -np.inf, -np.inf
        for prof in itertools.product(range(3), repeat=N):
            p = np.array(prof)
            gain = _np_gains(p, thetas[k], costs[k], N).max()
            wel = w[k, 0, 0, np.arange(N), p].sum()
            if gain <= tol * (1 + 1e-9):
                opt = max(opt, wel)
            if gain <= 1e-12:
                best_eq = max(best_eq, wel)
        e = 3 * np.max(w[k].max(-1) - w[k].min(-1))  # d = m = 3 players may move
        np.testing.assert_allclose(bound.value[k], opt - e, rtol=1e-12)
        np.testing.assert_allclose(exact[k], [best_eq], rtol=1e-12)
    np.testing.assert_allclose(bound.printed, bound.value)
    assert np.all(np.asarray(bound.applies))
    assert np.all(np.asarray(welfare) >= np.asarray(bound.value))


@settings(max_examples=3, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_theorem42_bounds_the_selected_welfare(seed):
    games, w, _, _ = _family(seed)
    welfare, bound, _ = _selected_and_bound(games, w, A.make_grid(games, ALPHA))
    assert np.all(np.asarray(bound.applies))
    assert np.all(np.asarray(welfare) >= np.asarray(bound.value) - 1e-12)


def test_theorem42_bad_input():
    g = A.singleton_congestion(THETA, COST, N, horizon=2)
    with pytest.raises(ValueError, match="horizon 2"):
        Th.approximate_pne_welfare(g, np.zeros((2, 1, N, 3)), 0.1)
    big = A.singleton_congestion(THETA, COST, 11)
    with pytest.raises(ValueError, match="pure profiles"):
        Th.approximate_pne_welfare(big, np.zeros((1, 1, 11, 3)), 0.1)
