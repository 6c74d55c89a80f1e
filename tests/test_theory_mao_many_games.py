"""Mao et al. Theorems 1 and 5 on hundreds of random games.

One compiled program: per random two-player zero-sum game (rewards scaled
and shifted), Algorithm 1 (``ZeroSumOMD``) at a random fraction of Theorem 1's
step ``1 / (8 H^2 c)`` from random per-stage initial policies, and Algorithm 2
(``GeneralSumOMD``, a zero-sum game is a general-sum one) at a random step
over three orders of magnitude; hypothesis draws the seeds, scales and
shifts (3 examples of 128 games). The measured NashConv never exceeds
Theorem 1's certified bound and the measured CCE-gap never exceeds Theorem
5's. At ``H = 1`` and ``T = 2000`` neither bound is vacuous: at unit scale
the median bounds are 0.66 and 0.50 against a largest possible gap of about
1 (the smallest bound-to-gap ratios 4.4 and 1.2), so a wrong constant fails.
The hand-worked instances and the three-player families are in
tests/test_theory_mao.py and tests/test_theory_mao_cce.py.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import marlmeta as M
import marlmeta.games as G
from marlmeta import theory as Th

H, S, ACTS, T, BATCH = 1, 2, (2, 3), 2000, 128


@jax.jit
def _batch(key, scale, shift):
    def one(key):
        k_game, k_init, k_frac, k_eta = jr.split(key, 4)
        g = G.unstack(G.random_zero_sum(k_game, 1, ACTS, S, H, dtype=jnp.float64))[0]
        g = G.zero_sum_game(g.rewards[0] * scale + shift, g.transitions, g.initial)
        stages = M.solvers.num_stages(H, T)
        init = tuple(
            jax.nn.softmax(2.0 * jr.normal(k, (stages, H, S, a), jnp.float64), -1)
            for k, a in zip(jr.split(k_init), ACTS, strict=True)
        )
        frac = jr.uniform(k_frac, (), jnp.float64, 0.05, 1.0)
        eta1 = frac / (8 * H**2 * Th.reward_range(g))
        sol1 = M.solve(M.solvers.ZeroSumOMD(eta1), g, T, init=init)
        thm1 = Th.mao_theorem1(g, eta1, T, init, sol1.stats)
        eta5 = jnp.exp(jr.uniform(k_eta, (), jnp.float64, -5.0, 1.5)) / scale
        solver5 = M.solvers.GeneralSumOMD(eta5)
        sol5 = M.solve(solver5, g, T)
        init5 = solver5.default_init(g, T)
        thm5 = Th.mao_theorem5(g, eta5, T, init5, sol5.stats)
        gap5 = M.evaluation.cce_gap(g, sol5.policy)
        return sol1.trace.nash_conv[-1], thm1, gap5, thm5

    return jax.vmap(one)(jr.split(key, BATCH))


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(0.05, 20.0),
    shift=st.floats(-5.0, 5.0),
)
def test_measured_gaps_never_above_theorems_1_and_5(seed, scale, shift):
    gap1, thm1, gap5, thm5 = _batch(jr.key(seed), scale, shift)
    assert bool(jnp.all(thm1.applies))
    # informative: some bounds below the reward range (NashConv <= 2 c H)
    c = np.abs(scale)  # the reward range of U[0, 1] rewards times the scale
    assert np.any(np.asarray(thm1.value) < c) and np.any(np.asarray(thm5.value) < c)
    for gap, bound in ((gap1, thm1), (gap5, thm5)):
        gap, value = np.asarray(gap), np.asarray(bound.value)
        assert np.all(np.isfinite(value)) and np.all(gap >= -1e-12)
        assert np.all(gap <= value + 1e-10), np.min(value - gap)
