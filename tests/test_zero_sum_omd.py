"""Seed 000 Algorithm 1 against the NumPy reference, Theorem 1, LP values."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import marlmeta as M
import marlmeta.games as G
from tests import reference as ref


def test_schedule_matches_spec_example():
    lengths = M.solvers.stage_lengths(10, 1000)
    assert len(lengths) == 29
    assert lengths[:5] == [10, 11, 12, 13, 14] and lengths[-3:] == [79, 86, 41]
    assert sum(lengths) == 1000
    # the integer recursion grows at H = 47 (the float form does not)
    assert M.solvers.stage_lengths(47, 200)[:3] == [47, 48, 49]


@pytest.mark.parametrize(
    "T, acts",
    # 10 actions exceed the unrolled-reduction limit and take the ordinary path.
    [
        (7, (3, 2)),
        (10, (3, 2)),
        (21, (3, 2)),
        (33, (3, 2)),
        (60, (3, 2)),
        (21, (10, 3)),
    ],
)
def test_matches_numpy_reference(key, T, acts):
    H = 4  # stages 4, 5, 6, 7, 8, 10, ...: T=21 is inside, T=33 at a stage end
    games = G.random_zero_sum(key, 3, acts, 2, H, dtype=jnp.float64)
    solver = M.solvers.ZeroSumOMD(0.3)
    run = jax.jit(lambda g, i: M.solve(solver, g, T, init=i))
    for k, g in enumerate(G.unstack(games)):
        K = M.solvers.num_stages(H, T)
        k1, k2 = jr.split(jr.fold_in(key, k))
        mu0 = jax.nn.softmax(jr.normal(k1, (K, H, 2, acts[0]), jnp.float64), -1)
        nu0 = jax.nn.softmax(jr.normal(k2, (K, H, 2, acts[1]), jnp.float64), -1)
        sol = run(g, (mu0, nu0))
        want = ref.omd_zero_sum(
            np.asarray(g.rewards[0]),
            np.asarray(g.transitions.dense()),
            0.3,
            T,
            np.asarray(mu0),
            np.asarray(nu0),
        )
        np.testing.assert_allclose(sol.policy[0], want[0], atol=1e-9)
        np.testing.assert_allclose(sol.policy[1], want[1], atol=1e-9)
        np.testing.assert_allclose(sol.stats[0], want[2], atol=1e-9)
        np.testing.assert_allclose(sol.stats[1], want[3], atol=1e-9)


def test_trace_is_prefix_of_longer_run(key):
    g = G.unstack(G.random_zero_sum(key, 1, (2, 3), 3, 3, dtype=jnp.float64))[0]
    solver = M.solvers.ZeroSumOMD(0.1)
    long = M.solve(solver, g, 50, checkpoints=[9, 23, 50])
    for t, gap in zip([9, 23], long.trace.nash_conv[:2], strict=True):
        short = M.solve(solver, g, t)
        np.testing.assert_allclose(short.trace.nash_conv[-1], gap, atol=1e-12)


def test_theorem1_bound_and_lp_value(key):
    # eta = 1/(8 H^2), uniform initialisation: Theorem 1's bound at every
    # checkpoint, the certified form of marlmeta.theory.mao_theorem1 (from the
    # run's stage best responses; tests/test_theory_mao.py checks it by hand),
    # itself below the printed eq. (4); the gap falls like log(T)/T once stages
    # are long (measured: about 0.6 at T=300, 0.1 at T=30,000), and the value
    # approaches the LP value.
    H, cps = 3, [300, 3000, 30000]
    games = G.random_zero_sum(key, 4, (2, 2), 2, H, dtype=jnp.float64)
    solver = M.solvers.ZeroSumOMD(1.0 / (8 * H**2))
    out = M.solve_batch(solver, games, cps[-1], checkpoints=cps)
    stats = [M.solve_batch(solver, games, t).stats for t in cps[:-1]] + [out.stats]
    assert bool(jnp.all(out.finite))
    for k, g in enumerate(G.unstack(games)):
        gaps = np.asarray(out.trace.nash_conv[k])
        printed = [768 * H**5 * np.log(t) * np.log(4) / t for t in cps]
        bounds = [
            float(
                M.theory.mao_theorem1(
                    g,
                    solver.step_size,
                    t,
                    solver.default_init(g, t),
                    tuple(x[k] for x in st),
                ).value
            )
            for t, st in zip(cps, stats, strict=True)
        ]
        assert np.all((gaps >= 0) & (gaps <= bounds))
        assert np.all(np.asarray(bounds) <= printed)
        assert np.all(np.diff(gaps) < 0) and gaps[-1] < 0.25 * gaps[0]
        value, _, _ = ref.shapley_lp(
            np.asarray(g.rewards[0]),
            np.asarray(g.transitions.dense()),
            np.asarray(g.initial),
        )
        err = np.abs(np.asarray(out.trace.values[k, :, 0]) - value)
        assert np.all(err <= gaps + 1e-9)  # |V - V*| <= NashConv always
        assert err[-1] < 0.05


def test_solve_validates_checkpoints():
    g = G.zoo.matching_pennies()
    s = M.solvers.ZeroSumOMD(0.1)
    with pytest.raises(
        ValueError, match=r"checkpoints\[1\] is 5; checkpoints must increase"
    ):
        M.solve(s, g, 10, checkpoints=[5, 5])
    with pytest.raises(ValueError, match=r"checkpoints\[0\] is 11"):
        M.solve(s, g, 10, checkpoints=[11])
    with pytest.raises(ValueError, match="num_steps is 0"):
        M.solve(s, g, 0)


def test_converges_to_the_lp_value_at_a_measured_rate(key):
    # A test that can fail, unlike Theorem 1's bound above: eight random
    # zero-sum games (H = 2, S = 2, 2 x 3 actions), eta = 0.5, T = 20,000.
    # Measured (float64, this key): NashConv of the average policy at most
    # 0.0335 / 0.0091 / 0.0051 at T = 2,000 / 10,000 / 20,000, i.e. close to
    # 1/T; |V - V*| at most 0.0027 at T = 20,000; the ratio
    # NashConv(20,000) / NashConv(2,000) at most 0.158 (a 1/sqrt(T) rate would
    # give 0.32). Thresholds are 3x the measured values, the ratio 0.2.
    games = G.random_zero_sum(key, 8, (2, 3), 2, 2, dtype=jnp.float64)
    cps = [2000, 10000, 20000]
    out = M.solve_batch(M.solvers.ZeroSumOMD(0.5), games, cps[-1], checkpoints=cps)
    assert bool(jnp.all(out.finite))
    gaps = np.asarray(out.trace.nash_conv)  # (games, checkpoints)
    assert np.all(gaps >= -1e-12)
    assert np.max(gaps[:, -1]) < 3 * 0.0051
    assert np.max(gaps[:, -1] / gaps[:, 0]) < 0.2
    values = jax.vmap(M.evaluation.values)(games, out.policy)[:, 0]
    np.testing.assert_allclose(values, out.trace.values[:, -1, 0], atol=1e-12)
    for k, g in enumerate(G.unstack(games)):
        lp_value, _, _ = ref.shapley_lp(
            np.asarray(g.rewards[0]),
            np.asarray(g.transitions.dense()),
            np.asarray(g.initial),
        )
        err = abs(float(values[k]) - lp_value)
        assert err <= gaps[k, -1] + 1e-12  # |V - V*| <= NashConv always
        assert err < 3 * 0.0027
