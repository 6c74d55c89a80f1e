"""Seed 001's softmax gradient-play family against the authors' numbers.

References: ``research/seed-001.md`` section 4.6 (golden checkpoints, 12
digits, from the authors' probability-space code in float64) and section 4.5
(their reported values, 5 significant digits: the tolerance is half a unit of
the last printed digit), plus a NumPy port of the MATLAB scripts in
``tests/reference.py`` for whole trajectories. Iteration ``t`` of the paper is
the pre-update iterate, i.e. ``t - 1`` solver steps here.
"""

import decimal
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
from marlmeta.games import zoo
from tests import reference as ref

SOLVERS = {
    "GP": lambda eta, lam: M.solvers.GradientPlay(eta),
    "NGP": lambda eta, lam: M.solvers.NaturalGradientPlay(eta),
    "LBGP": lambda eta, lam: M.solvers.GradientPlay(eta, barrier=lam),
    "LBNGP": lambda eta, lam: M.solvers.NaturalGradientPlay(eta, barrier=lam, clip=1.0),
}


# One compiled program per solver kind, game and schedule, shared by every run
# that differs only in its array hyperparameters (GP and LBGP are one
# GradientPlay program): eagerly, every run re-traces and re-compiles its loops
# and compiles each operation around them.
_solve = eqx.filter_jit(M.solve)


def _trace(solver, game, ts, init=None):
    """Potential, NE-gap and c at paper iterations ``ts`` (all > 1)."""
    sol = _solve(
        solver,
        game,
        max(ts) - 1,
        init=init,
        checkpoints=tuple(t - 1 for t in ts),
        metric=M.evaluation.softmax_report,
    )
    return sol


def _half(printed: str) -> float:
    """Half a unit of the last printed digit of a number."""
    return 0.5 * 10.0 ** decimal.Decimal(printed).as_tuple().exponent


# (algorithm, t, potential, NE-gap) of seed-001.md section 4.6, G2 uniform.
GOLDEN = [
    ("GP", 2, "-0.093019670114", "0.2481654621"),
    ("GP", 5, "0.111215283434", "0.04442609523"),
    ("GP", 100, "0.157805329057", "1.18939014e-3"),
    ("NGP", 2, "0.096480099548", "0.05881123674"),
    ("NGP", 5, "0.155816962451", "4.180629982e-3"),
    ("NGP", 100, "0.159938678912", "0.03270279056"),
    ("LBGP", 2, "-0.093019670114", "0.2481654621"),
    ("LBGP", 5, "0.108549379622", "0.04708061651"),
    ("LBGP", 100, "0.152769907690", "5.596165360e-3"),
]


@functools.cache
def _run(game, kind, eta, lam, steps):
    """One run traced at every paper iteration ``2..steps``, shared by the tests
    that read the same algorithm on the same game (a run's trace at ``t`` is
    that of a run of length ``t``: the same steps in the same order)."""
    g = getattr(zoo, f"zhang2022_{game}")(jnp.float64)
    return _trace(SOLVERS[kind](eta, lam), g, list(range(2, steps + 1)))


# The G2 runs of test_trajectory_matches_matlab_port, read at the golden
# iterations and by the NGP escape test (GP ignores the barrier).
G2_RUNS = {
    "GP": ("g2", "GP", 5.0, 0.0, 300),
    "NGP": ("g2", "NGP", 5.0, 0.0, 300),
    "LBGP": ("g2", "LBGP", 5.0, 0.003, 300),
}


@pytest.mark.parametrize("kind, t, phi, gap", GOLDEN)
def test_g2_golden_checkpoints(kind, t, phi, gap):
    sol = _run(*G2_RUNS[kind])
    i = t - 2
    assert float(sol.trace.potential[i]) == pytest.approx(float(phi), abs=_half(phi))
    assert float(sol.trace.ne_gap[i]) == pytest.approx(float(gap), abs=_half(gap))


def test_g2_gp_policy_after_one_step():
    sol = _trace(SOLVERS["GP"](5.0, 0.0), zoo.zhang2022_g2(jnp.float64), [2])
    np.testing.assert_allclose(
        sol.policy[0][0], [0.21265563, 0.56378564, 0.22355872], atol=5e-9
    )
    np.testing.assert_allclose(sol.policy[1][0], [0.5145792, 0.4854208], atol=5e-8)


@pytest.mark.parametrize(
    "game, kind, eta, lam, steps",
    [
        ("g2", "GP", 5.0, 0.0, 300),
        ("g2", "NGP", 5.0, 0.0, 300),
        ("g2", "LBGP", 5.0, 0.003, 300),
        ("g3", "GP", 10.0, 0.0, 200),
        ("g3", "NGP", 10.0, 0.0, 200),
        ("g3", "LBGP", 10.0, 0.003, 200),
        ("g3", "LBNGP", 10.0, 0.003, 200),
    ],
)
def test_trajectory_matches_matlab_port(game, kind, eta, lam, steps):
    g = getattr(zoo, f"zhang2022_{game}")(jnp.float64)
    R = np.asarray(g.potential_reward[0])
    init = [np.full(a, 1.0 / a) for a in R.shape]
    phi, gap, _, _ = ref.matlab_softmax_play(R, kind, eta, steps, init, lam)
    sol = _run(game, kind, eta, lam, steps)
    np.testing.assert_allclose(sol.trace.potential, phi[1:], atol=1e-9)
    np.testing.assert_allclose(sol.trace.ne_gap, gap[1:], atol=1e-9)


def test_g2_lbngp_two_agent_clip_is_chaotic_but_settles():
    """Seed-001.md 4.7: rounding grows from t ~ 20; only the attractor matches."""
    g = zoo.zhang2022_g2(jnp.float64)
    solver = M.solvers.NaturalGradientPlay(5.0, 0.003, clip=1.0, centred_clip=False)
    R = np.asarray(g.potential_reward[0])
    phi, _, _, _ = ref.matlab_softmax_play(
        R, "LBNGP", 5.0, 16, [np.full(3, 1 / 3), np.full(2, 0.5)], 0.003, True
    )
    # One run read early (t = 2..16) and late (t = 200, 210, .., 2000).
    sol = _trace(solver, g, list(range(2, 17)) + list(range(200, 2001, 10)))
    early = jax.tree.map(lambda x: x[:15], sol.trace)
    late = jax.tree.map(lambda x: x[15:], sol.trace)
    np.testing.assert_allclose(early.potential, phi[1:], atol=1e-9)
    # Paper: Phi in [0.19097, 0.19116] and NE-gap in [0.00574, 0.00576].
    assert np.all((late.potential > 0.190965) & (late.potential < 0.191165))
    assert np.all((late.ne_gap > 0.005735) & (late.ne_gap < 0.005765))


def test_g2_long_runs_match_the_paper():
    g = zoo.zhang2022_g2(jnp.float64)
    gp = _trace(SOLVERS["GP"](5.0, 0.0), g, [20000])
    assert float(gp.trace.potential[0]) == pytest.approx(0.19998, abs=5e-6)
    assert float(gp.trace.ne_gap[0]) == pytest.approx(1.30e-5, abs=5e-8)
    np.testing.assert_allclose(gp.policy[0][0], [0, 0.00025, 0.99975], atol=5e-6)
    lbgp = _trace(SOLVERS["LBGP"](5.0, 0.003), g, [2000])  # the fixed point
    assert float(lbgp.trace.potential[0]) == pytest.approx(0.19100, abs=5e-6)
    assert float(lbgp.trace.ne_gap[0]) == pytest.approx(5.748e-3, abs=5e-7)
    assert float(lbgp.trace.lojasiewicz[0]) == pytest.approx(0.9225, abs=5e-5)
    np.testing.assert_allclose(
        lbgp.policy[0][0], [0.00251, 0.07494, 0.92255], atol=5e-6
    )


def test_g2_ngp_escape_time_and_lojasiewicz_floor():
    """NGP: Qbar_1(3) overtakes Qbar_1(2) first at t = 66, where c = 1.89e-26."""
    ts = list(range(2, 121))
    c = np.asarray(_run(*G2_RUNS["NGP"]).trace.lojasiewicz)[: len(ts)]
    assert ts[int(np.argmin(c))] == 66
    assert c.min() == pytest.approx(1.89e-26, rel=5e-3)
    # log10 c at t = 100 is -24.2 (seed-001.md 4.5).
    assert np.log10(c[ts.index(100)]) == pytest.approx(-24.2, abs=0.05)


def test_g2_bad_init_gp_is_stuck_at_the_trap():
    g = zoo.zhang2022_g2(jnp.float64)
    init = (jnp.array([[0.8, 0.1, 0.1]]), jnp.array([[0.5, 0.5]]))
    sol = _trace(SOLVERS["GP"](5.0, 0.0), g, [5000], init=init)
    assert float(sol.trace.potential[0]) == pytest.approx(0.14998, abs=5e-6)
    assert float(sol.trace.ne_gap[0]) == pytest.approx(8.13e-3, abs=5e-6)
    assert float(sol.trace.lojasiewicz[0]) == pytest.approx(3.35e-4, abs=5e-7)


def test_g8_natural_gradient_reaches_the_papers_equilibrium():
    g = zoo.zhang2022_g8(jnp.float64)
    R = np.asarray(g.potential_reward[0])
    assert R.min() == pytest.approx(0.000626, abs=5e-7)
    assert R.max() == pytest.approx(0.999747, abs=5e-7)
    # compiled: eagerly each of its operations on 3^8 joint actions compiles
    start = jax.jit(M.evaluation.softmax_report)(g, M.policies.uniform(g))
    assert float(start.potential) == pytest.approx(0.50012, abs=5e-6)
    assert float(start.ne_gap) == pytest.approx(8.53e-3, abs=5e-6)
    sol = _trace(SOLVERS["NGP"](5.0, 0.0), g, [500])
    assert float(sol.trace.potential[-1]) == pytest.approx(0.97410, abs=5e-6)
    assert float(sol.trace.ne_gap[-1]) < 1e-3
    ne = tuple(int(np.argmax(p[0])) + 1 for p in sol.policy)
    assert ne == (1, 3, 2, 2, 1, 3, 2, 2)


def test_float32_runs_and_stays_finite():
    g = zoo.zhang2022_g2(jnp.float32)
    for make in SOLVERS.values():
        sol = _trace(make(5.0, 0.003), g, [300])
        assert bool(sol.finite)
        assert sol.policy[0].dtype == jnp.float32
