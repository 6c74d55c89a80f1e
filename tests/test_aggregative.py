"""marlmeta.aggregative against dense enumeration, brute force and scipy HiGHS."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta.aggregative as A
import marlmeta.evaluation as E
from tests import reference_aggregative as ref

gains_j = jax.jit(A.gains)
welfare_j = jax.jit(A.welfare)
dense_gains_j = jax.jit(E.gains)


def _random(seed, **kw):
    return A.random_aggregative(jax.random.key(seed), **kw)


def _profile(game, seed):
    rng = np.random.default_rng(seed)
    shape = (game.horizon, game.num_states, game.num_players)
    return rng.integers(0, game.num_actions, shape)


# ---------------------------------------------------------------- validation


def _parts(H=2, S=2, n=3, m=2, d=1):
    rng = np.random.default_rng(0)
    c = rng.uniform(0, 1 / n, (H, S, n, m, d))
    r = A.AffineRewards(
        rng.uniform(size=(H, S, n, m)), rng.normal(size=(H, S, n, m, d))
    )
    p = A.SoftmaxTransitions(rng.normal(size=(H, S, S)), rng.normal(size=(H, S, S, d)))
    return c, r, p, np.full(S, 1 / S)


def test_constructor_accepts_lists_and_derives_delta():
    c, r, p, init = _parts()
    g = A.aggregative_game(c.tolist(), r, p, init.tolist())
    spread = np.abs(c[..., :, None, :] - c[..., None, :, :]).max()
    assert float(g.delta) == pytest.approx(spread)
    assert (g.horizon, g.num_states, g.num_players, g.num_actions, g.dim) == (
        2,
        2,
        3,
        2,
        1,
    )


def _set(a, idx, value):
    a = a.copy()
    a[idx] = value
    return a


@pytest.mark.parametrize(
    "mutate, match",
    [
        (
            lambda c, r, p, i: (_set(c, (0, 1, 0, 1, 0), np.nan), r, p, i),
            r"contributions\[0, 1, 0, 1, 0\] is nan",
        ),
        (
            lambda c, r, p, i: (
                c,
                A.AffineRewards(r.base.at[1, 0, 2, 1].set(np.inf), r.slope),
                p,
                i,
            ),
            r"rewards.base\[1, 0, 2, 1\] is inf",
        ),
        (
            lambda c, r, p, i: (
                c,
                r,
                A.SoftmaxTransitions(p.logits.at[0, 1, 0].set(np.nan), p.coupling),
                i,
            ),
            r"transitions.logits\[0, 1, 0\] is nan",
        ),
        (lambda c, r, p, i: (c, r, p, [0.7, 0.7]), r"initial\[\] sums to 1.4"),
        (lambda c, r, p, i: (c, r, p, [1.2, -0.2]), r"initial\[1\] is -0.2"),
        (lambda c, r, p, i: (c, r, p, [1.0]), r"initial has shape \(1,\)"),
        (lambda c, r, p, i: (c[:, :, :2], r, p, i), r"rewards has shape"),
        (lambda c, r, p, i: (c[0], r, p, i), r"contributions has shape"),
    ],
)
def test_constructor_rejects_bad_input(mutate, match):
    with pytest.raises(ValueError, match=match):
        A.aggregative_game(*mutate(*_parts()))


def test_declared_delta_broken_names_index():
    c, r, p, init = _parts()
    c[1, 0, 2, 1, 0] = 0.9
    c[1, 0, 2, 0, 0] = 0.0
    with pytest.raises(
        ValueError,
        match=r"contributions\[1, 0, 2\] moves the aggregate by 0.9 between "
        r"actions 0 and 1; exceeds delta = 0.5",
    ):
        A.aggregative_game(c, r, p, init, delta=0.5)
    assert float(A.aggregative_game(c, r, p, init, delta=0.9).delta) == 0.9


def test_profile_validation():
    g = A.aggregative_game(*_parts())
    good = np.zeros((2, 2, 3), int)
    with pytest.raises(ValueError, match=r"profile has shape \(2, 2\)"):
        A.gains(g, good[..., 0])
    bad = good.copy()
    bad[1, 0, 2] = 2
    with pytest.raises(
        ValueError, match=r"profile\[1, 0, 2\] is 2; expected an action in \[0, 2\)"
    ):
        A.gains(g, bad)
    with pytest.raises(ValueError, match=r"profile\[0, 0, 0\] is 0.5"):
        A.gains(g, good + 0.5)
    with pytest.raises(ValueError, match="alpha is -0.1"):
        A.make_grid(g, -0.1)
    with pytest.raises(ValueError, match=r"eta\[1\] is -1.0"):
        A.FixedEta([0.1, -1.0])


# ---------------------------------------------------- exact metrics vs dense


@pytest.mark.parametrize("n, m, d", [(3, 3, 1), (4, 2, 2)])
def test_gains_match_dense_markov_game(n, m, d):
    for seed in range(1):
        g = _random(
            seed,
            horizon=3,
            num_states=2,
            num_players=n,
            num_actions=m,
            dim=d,
            slope_scale=2.0,
            coupling_scale=3.0,
        )
        dense = A.to_markov_game(g)
        for k in range(2):
            prof = _profile(g, 10 * seed + k)
            expected = dense_gains_j(dense, A.product_policy(g, prof))
            np.testing.assert_allclose(gains_j(g, prof), expected, atol=1e-12, rtol=0)
            w = np.random.default_rng(k).normal(size=(3, 2, n, m))
            np.testing.assert_allclose(
                welfare_j(g, prof, w),
                ref.welfare_forward(
                    np.asarray(g.contributions),
                    np.asarray(g.transitions.logits),
                    np.asarray(g.transitions.coupling),
                    np.asarray(g.initial),
                    prof,
                    w,
                ),
                atol=1e-12,
            )


def test_distancing_and_cournot_match_dense():
    for g in [A.distancing(num_players=4, horizon=2), A.cournot(3)]:
        dense = A.to_markov_game(g)
        prof = _profile(g, 3)
        np.testing.assert_allclose(
            gains_j(g, prof),
            dense_gains_j(dense, A.product_policy(g, prof)),
            atol=1e-12,
        )
    g = A.distancing()
    assert (g.num_players, g.num_actions, g.num_states, g.dim) == (8, 4, 2, 4)
    assert float(g.delta) == 1 / 8 and float(g.reward_span) == pytest.approx(1.0)


def test_lipschitz_constants_bound_finite_differences():
    rng = np.random.default_rng(1)
    k = 300

    @jax.jit
    def ratios(g, h, s, i, a, x, y):
        def one(h, s, i, a, x, y):
            dx = jnp.max(jnp.abs(x - y))
            dr = jnp.abs(g.rewards(h, s, i, a, x) - g.rewards(h, s, i, a, y))
            tv = 0.5 * jnp.sum(jnp.abs(g.transitions(h, s, x) - g.transitions(h, s, y)))
            return dr / dx, tv / dx

        return jax.vmap(one)(h, s, i, a, x, y)

    for g in [
        _random(3, num_actions=3, coupling_scale=3.0),
        A.distancing(horizon=1, sharpness=8.0),
        A.cournot(4),
    ]:
        idx = [
            rng.integers(b, size=k)
            for b in (g.horizon, g.num_states, g.num_players, g.num_actions)
        ]
        x = rng.uniform(0, 1, (k, g.dim))
        y = x + rng.normal(scale=0.05, size=(k, g.dim))
        lr, lp = ratios(g, *idx, x, y)
        assert np.max(lr) <= float(g.gamma_r) + 1e-9
        assert np.max(lp) <= float(g.gamma_p) + 1e-9
        # the bounds are not vacuous: some pair comes within a factor 3 (rewards)
        assert np.max(lr) >= float(g.gamma_r) / 3
