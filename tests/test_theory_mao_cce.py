"""Mao et al. Theorem 5 (Algorithm 2, CCE-gap) beside the measured gap.

The regret chain and the Lemma 17 bound on random general-sum games
(hypothesis draws the seeds, reward scales and shifts and step sizes; one
vmapped, jitted call per example) and on a hand-worked matrix game.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import marlmeta as M
import marlmeta.games as G
from marlmeta import theory as Th

H, S, ACTS, BATCH = 3, 2, (2, 2, 3), 8


def _logistic(x):
    return 1.0 / (1.0 + math.exp(-x))


def test_theorem5_hand_worked_dominant_actions():
    # Both players have a dominant action 0 (c = 1, H = 1, N = 2), eta = 0.1,
    # T = 3: stages of lengths 1 and 2, both complete, tau_last = 1 >= H.
    # Stage 0 has Q = 0 (uniform best response, KL 0); stage 1 has Q = r, the
    # feedback is [1, 0] at every iterate, and optimistic OMD from uniform
    # plays pi^1(0) = logistic(0.2), pi^2(0) = logistic(0.3). The output is the
    # mixture of stage 1, so the CCE-gap is each player's regret
    # 1 - (logistic(0.2) + logistic(0.3)) / 2.
    g = G.matrix_game([[[1.0, 1.0], [0.0, 0.0]], [[1.0, 0.0], [1.0, 0.0]]])
    eta, T = 0.1, 3

    @jax.jit
    def run(g):
        solver = M.solvers.GeneralSumOMD(eta)
        sol = M.solve(solver, g, T)
        init = solver.default_init(g, T)
        regrets = Th.stage_regrets(solver, g, T)
        return (
            M.evaluation.cce_gap(g, sol.policy),
            Th.mao_theorem5_regret_chain(g, T, regrets),
            Th.mao_theorem5(g, eta, T, init, sol.stats),
        )

    gap, chain, bound = run(g)
    want_gap = 1.0 - (_logistic(0.2) + _logistic(0.3)) / 2
    assert float(gap) == pytest.approx(want_gap, abs=1e-12)
    assert float(chain) == pytest.approx(want_gap, abs=1e-12)
    # D = KL(one-hot || uniform) + restart prior eta c H = ln 2 + 0.1, L_1 = 2;
    # Lemma 17: D / (eta L_1) + 36 (N-1)^2 eta^2 c^3 H^3 = (ln 2 + 0.1) / 0.2 + 0.36
    assert float(bound.value) == pytest.approx((math.log(2) + 0.1) / 0.2 + 0.36)
    # printed: 3 / (eta T) (0 + ln 2) + 36 N^2 eta^2 H^4 = 10 ln 2 + 1.44
    assert float(bound.printed) == pytest.approx(10 * math.log(2) + 1.44)
    assert bool(bound.applies)


def test_theorem5_step_size_and_uniform_rate():
    # eq. (11): eta = H^(-2/3) T^(-1/3) (N-1)^(-2/3); at H = 8, T = 1000, N = 2:
    # 1/4 * 1/10 = 0.025; the rate 12 * 2^(2/3) * 8^(8/3) * ln(1000) ln(2) / 100
    assert Th.theorem5_step_size(8, 1000, 2) == pytest.approx(0.025)
    want = 12 * 2 ** (2 / 3) * 256 * math.log(1000) * math.log(2) / 100
    assert Th.mao_theorem5_uniform(8, 1000, 2, 2) == pytest.approx(want)
    with pytest.raises(ValueError, match="num_players is 1"):
        Th.theorem5_step_size(3, 10, 1)


def test_last_complete_stage():
    # H = 3: stages 3, 4, 5, 6, 8: T = 7 completes two, T = 11 two (third cut)
    assert Th.last_complete_stage(3, 2) == 0
    assert Th.last_complete_stage(3, 3) == 0
    assert Th.last_complete_stage(3, 7) == 1
    assert Th.last_complete_stage(3, 11) == 1
    assert Th.last_complete_stage(3, 12) == 2


def test_theorem5_validates_shapes(key):
    g = G.unstack(G.random_general_sum(key, 1, ACTS, S, H))[0]
    solver = M.solvers.GeneralSumOMD(0.1)
    init = solver.default_init(g, 20)
    with pytest.raises(ValueError, match=r"init\[0\] has shape \(5, 3, 2, 2\)"):
        Th.mao_theorem5(g, 0.1, 30, init, init)
    with pytest.raises(ValueError, match="expected 3 players"):
        Th.mao_theorem5(g, 0.1, 20, init[:2], init)


@jax.jit
def _batch(games, eta, scale, shift):
    def one(g, e):
        g = eqx.tree_at(lambda x: x.rewards, g, g.rewards * scale + shift)
        solver = M.solvers.GeneralSumOMD(e)
        out = []
        for steps in (7, 30):
            sol = M.solve(solver, g, steps)
            init = solver.default_init(g, steps)
            regrets = Th.stage_regrets(solver, g, steps)
            out.append(
                (
                    M.evaluation.cce_gap(g, sol.policy),
                    Th.mao_theorem5_regret_chain(g, steps, regrets),
                    jnp.max(jnp.stack([jnp.max(r[1:, 0]) for r in regrets.regrets])),
                    Th.mao_theorem5(g, e, steps, init, sol.stats).value,
                )
            )
        return out

    return jax.vmap(one)(games, eta)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(0.05, 20.0),
    shift=st.floats(-5.0, 5.0),
)
def test_theorem5_bounds_hold_on_random_general_sum_games(seed, scale, shift):
    k1, k2 = jr.split(jr.key(seed))
    games = G.random_general_sum(k1, BATCH, ACTS, S, H, dtype=jnp.float64)
    eta = jnp.exp(jr.uniform(k2, (BATCH,), jnp.float64, -5.0, 1.5)) / scale
    for gap, chain, _, value in _batch(games, eta, scale, shift):
        gap, chain, value = (np.asarray(x) for x in (gap, chain, value))
        assert np.all(np.isfinite(value)) and np.all(gap >= -1e-12)
        assert np.all(gap <= chain + 1e-10), (gap, chain)
        assert np.all(chain <= value + 1e-10), (chain, value)


def test_theorem5_stage_zero_term_is_needed(key):
    # At T = 7 (H = 3) the output plays stage 0 (Q = 0) from step 1 on: the
    # regrets alone (stage 1 at step 0) do not bound the gap, the chain's
    # c (H - tau_last) term does.
    games = G.random_general_sum(key, BATCH, ACTS, S, H, dtype=jnp.float64)
    (gap, chain, regret, _), _ = _batch(
        games, jnp.full(BATCH, 0.1, jnp.float64), 1.0, 0.0
    )
    gap, chain, regret = (np.asarray(x) for x in (gap, chain, regret))
    assert np.any(gap > regret + 1e-3)
    assert np.all(gap <= chain + 1e-10)


def test_theorem5_trace_uses_the_prefix_runs(key):
    # The bound at checkpoint t from the full run's statistics equals the
    # bound of a run of t iterations (only complete stages enter), and bounds
    # that run's gap.
    g = G.unstack(G.random_general_sum(key, 1, ACTS, S, H, dtype=jnp.float64))[0]
    solver, T, cps = M.solvers.GeneralSumOMD(0.2), 12, (7, 12)

    @jax.jit
    def run(g):
        sol = M.solve(solver, g, T)
        trace = Th.mao_theorem5_trace(
            g, 0.2, T, cps, solver.default_init(g, T), sol.stats
        )
        prefix = []
        for t in cps:
            s = M.solve(solver, g, t)
            bound = Th.mao_theorem5(g, 0.2, t, solver.default_init(g, t), s.stats)
            prefix.append((M.evaluation.cce_gap(g, s.policy), bound.value))
        return trace, prefix

    trace, prefix = run(g)
    for j, (gap, value) in enumerate(prefix):
        np.testing.assert_allclose(trace.value[j], value, rtol=1e-12)
        assert float(gap) <= float(value)
    with pytest.raises(ValueError, match="checkpoints contains 13"):
        Th.mao_theorem5_trace(g, 0.2, T, (13,), init=(), best_responses=())
