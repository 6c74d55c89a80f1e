"""Mao et al. Theorem 6 (meta-learning for Algorithm 2): the certified bound
written out in NumPy, and on random general-sum families above the average of
Theorem 5's bounds with the measured initialisations, itself above the average
measured CCE-gap.

The property test runs 48 families of K = 5 games (240 games; hypothesis
draws the seed and a step size in [0.01, 0.03]; one compiled program) at
``H = 2`` and ``T = 1000``, where Theorem 5 with the measured
meta-initialisations is within a small factor of the measured gap (the
smallest ratio over the families about 2 at ``eta = 0.01``); Theorem 6
itself stays about 60 times above it, its follow-the-leader and
``alpha``-greedy terms being worst cases over the initialisations.
"""

import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import marlmeta as M
from marlmeta import theory as Th

G = M.games
H, S, ACTS, K, T, CPS, SEEDS, ETA = 2, 1, (2, 2), 5, 1000, (100, 1000), 48, 0.01


@jax.jit
def _run(key, eta):
    """Per seed: the family, the meta run, Theorems 5 (every game) and 6."""

    def one(k):
        k1, k2 = jr.split(k)
        base = G.unstack(G.random_general_sum(k1, 1, ACTS, S, H, dtype=jnp.float64))[0]
        fam = G.perturb_rewards(k2, base, K, 0.2, coupling="independent")
        solver = M.solvers.GeneralSumOMD(eta)
        run = M.meta.sequential_meta(solver, fam, T, checkpoints=CPS)
        b5 = jax.vmap(Th.mao_theorem5_trace, in_axes=(0, None, None, None, 0, 0))(
            fam, eta, T, CPS, run.inits, run.solutions.stats
        )
        b6 = Th.mao_theorem6_trace(fam, eta, T, CPS, run.solutions.stats)
        return fam, run, b5, b6

    return jax.vmap(one)(jr.split(key, SEEDS))


@settings(max_examples=3, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(math.log(0.01), math.log(0.03)))
def test_theorem6_above_theorem5_above_the_gap(seed, log_eta):
    _, run, b5, b6 = _run(jr.key(seed), math.exp(log_eta))
    gap = np.asarray(run.solutions.trace.cce_gap.mean(1))  # (seeds, C)
    thm5 = np.asarray(b5.value.mean(1))
    assert np.all(np.asarray(b6.applies))  # alpha = 1/sqrt(5) < 1/2
    assert np.all(gap >= -1e-12)
    assert np.all(thm5 >= gap - 1e-12), np.min(thm5 - gap)
    assert np.all(np.asarray(b6.value) >= thm5)
    assert np.all(np.isfinite(b6.printed))


def _kl(p, q):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sum(np.where(p > 0, p * np.log(p / q), 0.0), axis=-1)


def test_theorem6_written_out():
    fams, run, _, b6 = _run(jr.key(11), ETA)
    rewards = np.asarray(fams.rewards[0])  # (K, N, H, S, A, B)
    brs = [np.asarray(b[0]) for b in run.solutions.stats]  # (K, stages, H, S, A)
    n = len(ACTS)
    c = max(
        np.ptp(rewards[k, i].reshape(-1)) for k in range(K) for i in range(n)
    )  # the family's largest reward range
    alpha = 1 / math.sqrt(K)
    for j, t in enumerate(CPS):
        lengths = list(M.solvers.stage_lengths(H, t))
        full = list(M.solvers.full_stage_lengths(H, len(lengths)))
        complete = sum(a == b for a, b in zip(lengths, full, strict=True))
        tau_last = max(complete - 1, 0)
        delta = sum(
            _kl(b[:, : len(lengths)], b[:, : len(lengths)].mean(0, keepdims=True)).sum(
                axis=(0, 3)
            )
            for b in brs
        )  # (stages, H)
        meta = S * sum(
            8 * a * (1 + math.log(K)) / (K * alpha) + 4 * alpha * math.log(a / alpha)
            for a in ACTS
        )
        want = c * max(H - tau_last, 0)
        for h in range(min(tau_last, H)):
            tau = tau_last - h
            d_bar = delta[tau, h] / K + meta + (ETA * c * (H - h) if tau > 0 else 0)
            want += d_bar / (ETA * full[tau]) + 36 * (n - 1) ** 2 * ETA**2 * c**3 * H**3
        assert float(b6.value[0, j]) == pytest.approx(want, rel=1e-10)
        printed = (
            3
            / (ETA * K * t)
            * (
                delta.sum()
                + 8 * 2 * (1 + math.log(K)) / alpha
                + 4 * K * H * len(lengths) * alpha * math.log(2 / alpha)
            )
            + c * 36 * n**2 * (ETA * c) ** 2 * H**4
        )
        assert float(b6.printed[0, j]) == pytest.approx(printed, rel=1e-10)
    # at T the similarity of all the entries is Delta of the run
    np.testing.assert_allclose(delta.sum(), run.similarity[0], rtol=1e-10)


def test_theorem6_step_size_rate_and_bad_input():
    # K = 64, H = 8, T = 1000, N = 8: 64^(-1/6) 8^(-2/3) 1000^(-1/3) 8^(-2/3)
    assert Th.theorem6_step_size(64, 8, 1000, 8) == pytest.approx(0.5 * 0.25 * 0.1 / 4)
    # (H N / T)^(2/3) = (64 / 1000)^(2/3) = 0.16; K = 64: K^(5/6) = 32, K^(1/3) = 4
    want = 0.16 * (
        3.2 / 32
        + 10 * 2 * math.log(64) / 4
        + 52 * 64 * math.log(1000) * math.log(128) / 4
    )
    assert Th.mao_theorem6_rate(64, 8, 1000, 8, 2, 3.2) == pytest.approx(want)
    fams, run, _, _ = _run(jr.key(0), ETA)
    fam = jax.tree.map(lambda x: x[0], fams)
    stats = tuple(b[0] for b in run.solutions.stats)
    with pytest.raises(ValueError, match=r"best_responses\[1\] has shape"):
        Th.mao_theorem6(fam, ETA, T, (stats[0], stats[1][:, :1]))
    with pytest.raises(ValueError, match="batch shape"):
        Th.mao_theorem6(fams, ETA, T, run.solutions.stats)
    with pytest.raises(ValueError, match="alpha is 0.0"):
        Th.mao_theorem6(fam, ETA, T, stats, alpha=0.0)
