"""The aggregative paper's Theorem 4.2 beyond one step: on tiny random
multi-step aggregative games, ``OPT`` by brute force over every pure Markov
policy of the class (NumPy, from the game's dense tables), the bound's
recursion written out, and the selected welfare never below the bound."""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings, strategies as st

import marlmeta as M
from marlmeta.aggregative._metrics import _dense_tables

A = M.aggregative
Th = M.theory
H, S, N, MA, GAMES, ALPHA = 2, 2, 2, 2, 3, 0.1
JOINT = np.array(list(itertools.product(range(MA), repeat=N)))


@eqx.filter_jit
def _run(key, weights, grid, tols):
    """Per game: the plan, the bound, its welfare, OPT at the tolerances
    ``tols (T, H)`` and the dense tables."""
    games = A.random_aggregative(
        key, GAMES, horizon=H, num_states=S, num_players=N, num_actions=MA
    )

    def one(g, w):
        res = A.aggre_bi(g, grid, welfare=w)
        bound = Th.aggregative_theorem42(g, w, res)
        opts = jax.vmap(lambda t: Th.approximate_pne_welfare(g, w, t, res.values))(tols)
        tables = _dense_tables(g, jnp.asarray(JOINT))
        return res, bound, A.welfare(g, res.profile, w), opts, tables

    return games, jax.vmap(one)(games, weights)


#: Contributions lie in ``[0, 1 / n]``, so every aggregate in ``[0, 1]``: one
#: grid (``-alpha .. 1 + alpha``) serves every drawn game and one compiled call.
GRID = A.Grid(start=jnp.array([-ALPHA]), alpha=jnp.asarray(ALPHA), counts=(13,))


def _values(r, p, profile):
    """NumPy policy evaluation: ``(H + 1, S, n)`` values of a pure profile."""
    v = np.zeros((H + 1, S, N))
    for h in range(H - 1, -1, -1):
        for s in range(S):
            a = tuple(profile[h, s])
            v[h, s] = r[(slice(None), h, s, *a)] + p[(h, s, *a)] @ v[h + 1]
    return v


def _welfare_to_go(p, w, profile):
    out = np.zeros((H + 1, S))
    for h in range(H - 1, -1, -1):
        for s in range(S):
            a = profile[h, s]
            out[h, s] = w[h, s, np.arange(N), a].sum() + p[(h, s, *a)] @ out[h + 1]
    return out


def _gain(r, p, v, h, s, a):
    """Largest unilateral gain in the step's Q-game ``r + P . v[h + 1]``."""

    def q(i, b):
        return r[(i, h, s, *b)] + p[(h, s, *b)] @ v[h + 1, :, i]

    best = 0.0
    for i in range(N):
        for x in range(MA):
            dev = list(a)
            dev[i] = x
            best = max(best, q(i, dev) - q(i, a))
    return best


def _opt(r, p, w, v, tol, initial):
    """Brute force over every pure Markov policy whose every ``(h, s)`` profile
    is a ``tol[h]``-approximate PNE of the Q-game."""
    cells = [(h, s) for h in range(H) for s in range(S)]
    allowed = [
        [a for a in JOINT if _gain(r, p, v, h, s, a) <= tol[h]] for h, s in cells
    ]
    best = -np.inf
    for choice in itertools.product(*allowed):
        profile = np.zeros((H, S, N), int)
        for (h, s), a in zip(cells, choice, strict=True):
            profile[h, s] = a
        best = max(best, initial @ _welfare_to_go(p, w, profile)[0])
    return best


def _check(seed):
    rng = np.random.default_rng(seed)
    key = jax.random.key(seed)
    weights = rng.uniform(size=(GAMES, H, S, N, MA))
    games, (res, bound, welfare, opts, (rew, trans)) = _run(
        key, weights, GRID, jnp.asarray(TOLS)
    )
    assert np.all(np.asarray(res.exhausted) == 0)
    assert np.all(np.asarray(bound.applies))
    assert np.all(np.asarray(welfare) >= np.asarray(bound.value) - 1e-12)
    for k in range(GAMES):
        g = jax.tree.map(lambda x, k=k: x[k], games)
        r, p, w = np.asarray(rew[k]), np.asarray(trans[k]), weights[k]
        profile = np.asarray(res.profile[k])
        v = _values(r, p, profile)
        np.testing.assert_allclose(res.values[k], v, atol=1e-12)
        wtg = _welfare_to_go(p, w, profile)
        np.testing.assert_allclose(welfare[k], np.asarray(g.initial) @ wtg[0])
        for t, tol in enumerate(TOLS):
            ref = _opt(r, p, w, v, tol, np.asarray(g.initial))
            np.testing.assert_allclose(g.initial @ opts[k, t], ref, rtol=1e-12)
        # theta_0 = sum_h E_h + gamma_P (2 alpha + d delta) span(W^pi_{h+1})
        e = [float(g.dim) * np.max(w[h].max(-1) - w[h].min(-1)) for h in range(H)]
        span = [np.ptp(wtg[h + 1]) for h in range(H)]
        shift = 2 * ALPHA + float(g.dim) * float(g.delta)
        theta = sum(e[h] + float(g.gamma_p) * shift * span[h] for h in range(H))
        lip = np.asarray(g.lipschitz_steps())
        z = float(g.delta) * np.sqrt(8 * N * np.log(2 * MA * N))
        opt_zeta = _opt(r, p, w, v, z * lip * (1 + 1e-9), np.asarray(g.initial))
        np.testing.assert_allclose(bound.value[k], opt_zeta - theta, rtol=1e-12)


#: OPT's tolerances per step: exact equilibria, and a middle one.
TOLS = np.array([[0.0, 0.0], [0.05, 0.1]])


def test_theorem42_multistep_written_out():
    _check(3)


@settings(max_examples=3, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_theorem42_multistep_bounds_the_selected_welfare(seed):
    _check(seed)
