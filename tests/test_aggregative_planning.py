"""Aggre-BI and the state-wise planner: certificates against exact NE-gaps, the
LP subroutine against scipy HiGHS, congestion games against brute force."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta.aggregative as A
from marlmeta.aggregative._planning import _utilities
from tests import reference_aggregative as ref

gap_j = jax.jit(A.ne_gap)
# The caller owns jit: one compiled planner per shape, checked on the host.
_bi = eqx.filter_jit(A.aggre_bi)
_sw = eqx.filter_jit(A.statewise)


def plan(game, alpha, **options):
    return A.check_plan(_bi(game, A.make_grid(game, alpha), **options))


def plan_statewise(game, alpha, **options):
    return A.check_plan(_sw(game, A.make_grid(game, alpha), **options))


# One random shape shared by the tests, so that each program compiles once.
SHAPE = dict(horizon=3, num_states=2, num_players=6, num_actions=3, dim=1)
ALPHA = 0.1


def _closed_form(game, alpha, statewise=False):
    """The paper's bounds (Theorem 4.1, Theorem 3.1), rewards spanning [0, 1]."""
    n, m, d, H = game.num_players, game.num_actions, game.dim, game.horizon
    delta = float(game.delta)
    zeta = delta * math.sqrt(8 * n * math.log(2 * m * n))
    head = zeta + 4 * alpha + 2 * delta + 2 * d * delta
    gr, gp = float(game.gamma_r), float(game.gamma_p)
    if statewise:
        return head * gr * H + delta * gp * H * (H - 1) / 2
    return head * (gr * H + gp * H * (H - 1) / 2)


def test_certificate_bounds_exact_gap_on_random_games():
    games = A.random_aggregative(jax.random.key(0), 2, **SHAPE, coupling_scale=2.0)
    for k in range(2):
        g = jax.tree.map(lambda a, k=k: a[k], games)
        assert float(g.reward_span) == pytest.approx(1.0)
        rules = (A.TheoryEta(), A.SmallestEta(bisection_steps=8), A.FixedEta(0.02))
        for eta in rules:  # TheoryEta first: `theory`
            res = plan(g, ALPHA, eta=eta)
            gap = float(gap_j(g, res.profile))
            assert gap <= float(res.certificate) + 1e-12
            bound = ALPHA + g.dim * float(g.delta) + 1e-12
            assert np.all(np.asarray(res.rounding_error) <= bound)
            if isinstance(eta, A.TheoryEta):
                theory = np.asarray(res.eta)
                assert float(res.certificate) == pytest.approx(
                    _closed_form(g, ALPHA), rel=1e-12
                )
            if isinstance(eta, A.SmallestEta):
                assert np.all(np.asarray(res.eta) <= theory + 1e-15)
        sw = plan_statewise(g, ALPHA)
        assert float(gap_j(g, sw.profile)) <= float(sw.certificate) + 1e-12
        assert float(sw.certificate) == pytest.approx(
            _closed_form(g, ALPHA, statewise=True), rel=1e-12
        )


def test_stage_lp_matches_highs_and_is_a_vertex():
    g = A.random_aggregative(jax.random.key(1), **SHAPE, slope_scale=3.0)
    grid = A.make_grid(g, ALPHA)
    pts = grid.points()
    q = np.asarray(_utilities(g, 1, pts, jnp.zeros((2, 6))))  # (S, G, n, m)
    rng = np.random.default_rng(0)
    s_idx = rng.integers(0, 2, 40)
    g_idx = rng.integers(0, pts.shape[0], 40)
    etas = rng.choice([0.0, 0.05, 0.2, 1.0], 40)
    w = rng.normal(size=(40, 6, 3))
    qs = q[s_idx, g_idx]
    contrib = np.asarray(g.contributions)[1][s_idx]
    xh = np.asarray(pts)[g_idx]
    solve = jax.jit(jax.vmap(lambda *a: A.stage_lp(*a, 0.1, 200)))
    status, p, value, _ = solve(qs, w, contrib, xh, etas)
    status, p, value = np.asarray(status), np.asarray(p), np.asarray(value)
    num_feasible = 0
    for k in range(40):
        feas, opt = ref.highs_stage_lp(qs[k], w[k], contrib[k], xh[k], etas[k], 0.1)
        assert feas == (status[k] == 0), k
        if not feas:
            continue
        num_feasible += 1
        assert value[k] == pytest.approx(opt, abs=1e-8)
        pk = p[k]
        np.testing.assert_allclose(pk.sum(1), 1.0, atol=1e-12)
        assert pk.min() >= -1e-12
        ba = qs[k] >= qs[k].max(1, keepdims=True) - etas[k]
        assert np.all(pk[~ba] == 0)
        x = np.einsum("ia,iad->d", pk, contrib[k])
        assert np.abs(x - xh[k]).max() <= 0.1 + 1e-9
        fractional = np.sum(np.sum(pk > 1e-9, 1) > 1)
        assert fractional <= g.dim
    assert 5 <= num_feasible <= 35  # the sample holds both kinds


THETA, COST = np.array([1.0, 0.8, 0.6]), np.array([1.0, 1.2, 0.8])


def test_congestion_against_brute_force():
    n = 5
    g = A.singleton_congestion(THETA, COST, n)
    brute = ref.congestion_pure_equilibria(THETA, COST, n)
    profiles = np.array(list(brute))
    gaps = jax.jit(jax.vmap(lambda a: A.ne_gap(g, a[None, None])))(profiles)
    np.testing.assert_allclose(gaps, list(brute.values()), atol=1e-12)
    # Rosenthal: the potential maximiser is a pure equilibrium
    pots = [
        A.rosenthal_potential(THETA, COST, np.bincount(p, minlength=3), n)
        for p in profiles
    ]
    assert brute[tuple(profiles[int(np.argmax(pots))])] <= 1e-12
    res = plan(g, 0.2)
    gap = float(gap_j(g, res.profile))
    assert gap <= float(res.certificate)
    assert gap == pytest.approx(brute[tuple(np.asarray(res.profile)[0, 0])], abs=1e-12)


def test_welfare_selection_beats_every_pure_equilibrium():
    n = 5
    g = A.singleton_congestion(THETA, COST, n)
    w = np.random.default_rng(2).uniform(size=(1, 1, n, 3))
    brute = ref.congestion_pure_equilibria(THETA, COST, n)
    best_eq = max(
        sum(w[0, 0, i, a] for i, a in enumerate(p))
        for p, v in brute.items()
        if v <= 1e-12
    )
    sel = plan(g, 0.2, welfare=w)
    plain = plan(g, 0.2)
    slack = g.dim * np.max(np.ptp(w[0, 0], axis=1))
    got = float(A.welfare(g, sel.profile, w))
    assert got >= best_eq - slack
    assert got == pytest.approx(float(sel.welfare_to_go[0, 0]), abs=1e-12)
    assert float(gap_j(g, sel.profile)) <= float(sel.certificate)
    assert got >= float(A.welfare(g, plain.profile, w))


def _two_action_game(threshold):
    """Action 1 pays ``threshold - x``, action 0 pays 0, ``x`` the share on 1."""
    n = 4
    c = np.zeros((1, 1, n, 2, 1))
    c[..., 1, 0] = 1 / n
    base = np.zeros((1, 1, n, 2))
    base[..., 1] = threshold
    slope = np.zeros((1, 1, n, 2, 1))
    slope[..., 1, 0] = -1.0
    rewards = A.AffineRewards(base, slope)
    trans = A.SoftmaxTransitions(np.zeros((1, 1, 1)), np.zeros((1, 1, 1, 1)))
    return A.aggregative_game(c, rewards, trans, [1.0])


def test_infeasible_everywhere_names_the_state_and_bisection_is_tight():
    g = _two_action_game(0.55)
    with pytest.raises(ValueError, match=r"no grid point is feasible at \(h=0, s=0\)"):
        plan(g, 0.1, eta=A.FixedEta(0.01))
    res = plan(g, 0.1, eta=A.SmallestEta())
    eta = float(res.eta[0])
    assert 0 < eta <= float(plan(g, 0.1).eta[0])
    with pytest.raises(ValueError, match="no grid point is feasible"):
        plan(g, 0.1, eta=A.FixedEta(0.9 * eta))
    assert float(A.ne_gap(g, res.profile)) <= float(res.certificate)
