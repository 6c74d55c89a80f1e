"""The linear-quadratic tracking game (Mao et al. 2023, appendix F.3).

References are written here from the formula, one state and action at a time
in NumPy: the local moves, the dense kernel, the rewards.
"""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
from marlmeta.games import zoo

WEIGHTS = (
    np.exp(-(np.arange(-2, 3) ** 2) / 2) / np.exp(-(np.arange(-2, 3) ** 2) / 2).sum()
)


def numpy_dense(drifts, num_positions, sigma=1.0, dt=1.0):
    """``P[s, a, s']`` from the formula, by enumeration of states, joint
    actions and the players' noise values."""
    n, m = len(drifts), (num_positions - 1) // 2
    states = list(itertools.product(range(-m, m + 1), repeat=n))
    index = {s: k for k, s in enumerate(states)}
    p = np.zeros((len(states),) + (3,) * n + (len(states),))
    for s in states:
        for a in itertools.product((-1, 0, 1), repeat=n):
            for eps in itertools.product(range(-2, 3), repeat=n):
                nxt = tuple(
                    int(
                        np.round(
                            np.clip(
                                s[i] + drifts[i] * a[i] * dt + sigma * eps[i] * dt**0.5,
                                -m,
                                m,
                            )
                        )
                    )
                    for i in range(n)
                )
                w = np.prod([WEIGHTS[e + 2] for e in eps])
                p[(index[s],) + tuple(x + 1 for x in a) + (index[nxt],)] += w
    return p, states


def numpy_reward(state, action, kappa=0.5, dt=1.0):
    mu = sum(state) / len(state)
    return [
        (-(a**2) / 2 - kappa / 2 * (mu - s) ** 2) * dt
        for s, a in zip(state, action, strict=True)
    ]


def test_factored_kernel_equals_dense_formula():
    """Two players with drifts 1.5 (rounding ties: half to even) and 0.7, 5
    positions: the factored kernel is the formula's."""
    drifts = (1.5, 0.7)
    game = zoo.lq_tracking(2, 5, horizon=2, drift=drifts, dtype=jnp.float64)
    ref, _ = numpy_dense(drifts, 5)
    dense = np.asarray(game.transitions.dense()[0])
    np.testing.assert_allclose(dense, ref, atol=1e-14)
    np.testing.assert_allclose(dense.sum(-1), 1.0, atol=1e-14)  # rows on the simplex
    v = np.random.default_rng(0).normal(size=ref.shape[0])
    np.testing.assert_allclose(
        np.asarray(game.transitions.expectation(1, jnp.asarray(v))), ref @ v, atol=1e-12
    )
    # position 0 pushed right with drift 1.5 and eps = 0 lands on 1.5 -> 2
    assert numpy_dense((1.5,), 5)[0][2, 2, 4] > WEIGHTS[2]


def test_clipping_at_the_edges():
    """At position -2 pushing left, everything but eps = 2 stays at -2."""
    p = np.asarray(zoo.lq_tracking(dtype=jnp.float64).transitions.local[0][0])
    assert p[0, 0, 0] == pytest.approx(1 - WEIGHTS[4], abs=1e-15)
    assert p[0, 0, 1] == pytest.approx(WEIGHTS[4], abs=1e-15)
    assert p[4, 2, 4] == pytest.approx(1 - WEIGHTS[0], abs=1e-15)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-15)
    assert np.all(p >= 0)


def test_default_game_rows_and_rewards_by_formula():
    """The 625-state game: expectations on sampled (s, a) rows and rewards
    against the formula."""
    game = zoo.lq_tracking(dtype=jnp.float64)
    assert game.num_states == 625 and game.num_actions == (3, 3, 3, 3)
    assert game.horizon == 10
    np.testing.assert_allclose(np.asarray(game.initial), 1 / 625)
    rng = np.random.default_rng(1)
    v = rng.normal(size=625)
    ev = np.asarray(game.transitions.expectation(0, jnp.asarray(v)))
    states = list(itertools.product(range(-2, 3), repeat=4))
    rewards = np.asarray(game.rewards)
    local = [np.asarray(p[0]) for p in game.transitions.local]
    for _ in range(30):
        k = int(rng.integers(625))
        a = tuple(int(x) for x in rng.integers(3, size=4))
        # the row P(.|s, a) as a product of the formula's one-player moves
        row = np.zeros(625)
        for eps in itertools.product(range(-2, 3), repeat=4):
            nxt = tuple(
                int(np.clip(states[k][i] + (a[i] - 1) + eps[i], -2, 2))
                for i in range(4)
            )
            row[states.index(nxt)] += np.prod([WEIGHTS[e + 2] for e in eps])
        assert ev[(k, *a)] == pytest.approx(row @ v, abs=1e-12)
        for i in range(4):
            assert local[i][states[k][i] + 2, a[i]] @ np.ones(5) == pytest.approx(1)
        for h in (0, 9):
            np.testing.assert_allclose(
                rewards[(slice(None), h, k, *a)],
                numpy_reward(states[k], [x - 1 for x in a]),
                atol=1e-15,
            )


def test_family_perturbs_each_drift():
    key = jax.random.key(3)
    fam = M.games.lq_tracking_family(key, 6, 0.5, dtype=jnp.float64)
    drifts = 1.0 + 0.5 * np.asarray(jax.random.normal(key, (6, 4), jnp.float64))
    assert fam.batch_shape == (6,)
    np.testing.assert_array_equal(  # only the transitions change
        np.asarray(fam.rewards[0]), np.asarray(fam.rewards[5])
    )
    for k in (0, 5):
        one = zoo.lq_tracking(drift=drifts[k], dtype=jnp.float64)
        for i in range(4):
            np.testing.assert_allclose(
                np.asarray(fam.transitions.local[i][k]),
                np.asarray(one.transitions.local[i]),
                atol=1e-15,
            )
    assert not np.allclose(fam.transitions.local[0][0], fam.transitions.local[0][1])


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_positions is 4"):
        zoo.lq_tracking(num_positions=4)
    with pytest.raises(ValueError, match=r"drift has shape \(3,\)"):
        zoo.lq_tracking(drift=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="dt is 0.0"):
        zoo.lq_tracking(dt=0.0)
    with pytest.raises(ValueError, match="sigma is nan"):
        zoo.lq_tracking(sigma=float("nan"))
    # The family validates the same parameters, and its own.
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="dt is -1.0"):
        M.games.lq_tracking_family(key, 2, dt=-1.0)
    with pytest.raises(ValueError, match="kappa is inf"):
        M.games.lq_tracking_family(key, 2, kappa=float("inf"))
    with pytest.raises(ValueError, match="std is nan"):
        M.games.lq_tracking_family(key, 2, float("nan"))
    with pytest.raises(ValueError, match="num_games is 0"):
        M.games.lq_tracking_family(key, 0)


def test_float32_and_numpy_drifts():
    game = zoo.lq_tracking(2, 5, 2, drift=np.array([1.0, 0.5]), dtype=jnp.float32)
    p = game.transitions.local[1]
    assert p.dtype == jnp.float32 and game.rewards.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(p).sum(-1), 1.0, atol=1e-6)


def _local_policy(key, game, num_positions):
    """Random policies of the own position only, lifted to global states."""
    n = game.num_players
    grid = np.indices((num_positions,) * n).reshape(n, -1)  # (N, S)
    out = []
    for i, k in enumerate(jax.random.split(key, n)):
        local = jax.random.dirichlet(
            k, jnp.ones(3, jnp.float64), (game.horizon, num_positions)
        )
        out.append(local[:, grid[i]])
    return tuple(out)


@jax.jit
def _potential_errors(game, pis, devs):
    """For every policy ``pi`` and player ``i``: the gain of deviating to
    ``dev_i``, and its error against the potential's difference."""

    def one(pi, dev):
        v0, phi0 = M.evaluation.values(game, pi), M.evaluation.potential(game, pi)
        out = []
        for i in range(len(pi)):
            other = pi[:i] + (dev[i],) + pi[i + 1 :]
            gain = M.evaluation.values(game, other)[i] - v0[i]
            out.append((gain, gain - (M.evaluation.potential(game, other) - phi0)))
        return jnp.array(out)

    return jax.vmap(one)(pis, devs)  # (M, N, 2)


def _relative_error(game, pis, devs) -> float:
    out = np.asarray(_potential_errors(game, pis, devs))
    return float(np.abs(out[..., 1]).max() / np.abs(out[..., 0]).max())


def test_potential_structure_measured():
    """``phi`` is an exact potential over policies of the own position and only
    an approximate one over policies of the global state (measured)."""
    game = zoo.lq_tracking(horizon=3, dtype=jnp.float64)
    phi = M.games.lq_tracking_potential(horizon=3, dtype=jnp.float64)
    game = eqx.tree_at(
        lambda g: g.potential_reward, game, phi, is_leaf=lambda x: x is None
    )
    keys = jax.random.split(jax.random.key(5), 4)
    local = [
        jax.vmap(lambda k: _local_policy(k, game, 5))(jax.random.split(k, 2))
        for k in keys[:2]
    ]
    assert _relative_error(game, *local) < 1e-12
    rand = jax.vmap(lambda k: M.policies.random_policy(game, key=k))
    glob = [rand(jax.random.split(k, 2)) for k in keys[2:]]
    rel = _relative_error(game, *glob)
    # Measured (H = 4, 3 random policies x 4 players): about 6% of the
    # largest gain; the README reports the H = 10 figure.
    assert 1e-3 < rel < 0.3
