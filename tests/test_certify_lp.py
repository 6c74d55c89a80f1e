"""Certified LP answers: OPTIMAL is never wrong, whatever the scale or dtype.

The independent reference is scipy's HiGHS on the exact (unscaled, float64)
LP; certificates are recomputed here in NumPy.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linprog as scipy_linprog

from marlmeta.lp import Status, grouped_linprog, linprog, solve_matrix_game
from tests import reference_exact as ref
from tests.test_lp import _batch

linprog_vmap = jax.jit(jax.vmap(linprog))
# Relative agreement with HiGHS of a certified optimum (certificate tolerance
# 1e-8 in float64 and 1e-4 in float32, times the size of the terms).
VALUE_RTOL = {np.float64: 1e-7, np.float32: 1e-3}


def _scaled(kind, seed, count, exponent, dtype):
    """LPs of ``kind`` with rows and columns multiplied by log-uniform factors
    in ``[10^-e, 10^e]`` (the optimal value is unchanged), cast to ``dtype``,
    with the unscaled float64 LPs."""
    lps = _batch(kind, seed, count)
    c, A_ub, b_ub, A_eq, b_eq = lps
    rng = np.random.default_rng(seed + 100)
    ru = 10 ** rng.uniform(-exponent, exponent, size=b_ub.shape)
    re = 10 ** rng.uniform(-exponent, exponent, size=b_eq.shape)
    cs = 10 ** rng.uniform(-exponent, exponent, size=c.shape)
    scaled = [
        c * cs,
        A_ub * ru[..., None] * cs[:, None],
        b_ub * ru,
        A_eq * re[..., None] * cs[:, None],
        b_eq * re,
    ]
    return [np.asarray(x, dtype) for x in scaled], lps


def _highs(lps, k):
    res = scipy_linprog(*[np.asarray(x[k], float) for x in lps], method="highs")
    return res.status, res.fun


def _feasible_to(x, data, k, tol):
    """Independent primal check of ``x`` on the LP ``data[.][k]`` (normwise
    relative residual, each row scaled to a largest entry of 1)."""
    c, A_ub, b_ub, A_eq, b_eq = (np.asarray(d[k], float) for d in data)
    A = np.vstack([A_ub, A_eq])
    b = np.concatenate([b_ub, b_eq])
    w = 1 / np.maximum(np.abs(A).max(1), 1e-300)
    r = A @ x - b
    r[: len(b_ub)] = np.maximum(r[: len(b_ub)], 0)
    size = np.max(w * (np.abs(b) + np.abs(A) @ np.abs(x)))
    return (x >= 0).all() and np.max(w * np.abs(r)) <= tol * max(size, 1e-300)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["feasible", "degenerate"])
def test_scaled_lps_never_wrong_while_optimal(kind, dtype):
    """Rows and columns scaled by 1e-6..1e6 and 1e-8..1e8: every OPTIMAL
    answer is feasible to the certificate tolerance on the data given (checked
    here), and its value agrees with HiGHS on the exact LP to ``VALUE_RTOL``
    unless rounding the scaled data made the LP ill-posed (HiGHS on the data
    given and on the exact LP disagree about its status: one degenerate
    float32 LP at 1e-8..1e8, exact optimum -2, that HiGHS calls infeasible
    after rounding); no bounded LP is UNBOUNDED; almost every LP is
    certified (measured: all in float64 but one degenerate LP at 1e-8..1e8;
    in float32 all well-posed feasible LPs, and 35 of 36 and 31 of 33
    well-posed degenerate ones)."""
    tau = 1e-8 if dtype == np.float64 else 1e-4
    for exponent in (6, 8):
        data, lps = _scaled(kind, 3, 200, exponent, dtype)
        res = linprog_vmap(*data)
        status = np.asarray(res.status)
        assert not (status == Status.UNBOUNDED).any()
        agreed = optimal = 0
        for k in range(200):
            their_status, their_value = _highs(lps, k)
            well_posed = dtype == np.float64 or _highs(data, k)[0] == their_status
            optimal += their_status == 0 and well_posed
            if status[k] != Status.OPTIMAL:
                continue
            x = np.asarray(res.x[k], float)
            assert _feasible_to(x, data, k, tau), (exponent, k)
            if their_status == 0 and well_posed:
                value = float(res.value[k])
                scale = max(1.0, abs(their_value))
                assert abs(value - their_value) <= VALUE_RTOL[dtype] * scale, k
                agreed += 1
        # Nearly all well-posed LPs that have an optimum get a certified one.
        print(f"{kind} {dtype.__name__} 1e-{exponent}..1e{exponent}: {agreed} of")
        print(f"  {optimal} well-posed LPs with an optimum certified, agreeing")
        fraction = 0.95 if dtype == np.float64 else 0.9
        assert agreed >= fraction * optimal, (exponent, agreed, optimal)


def test_float32_degenerate_lps_and_matrix_games():
    """float32: degenerate LPs and matrix games are never wrong while
    OPTIMAL; the duality gap of the returned strategies, recomputed here, is
    within the stated ``1e-4 (max M - min M)``; almost all are certified."""
    data = [np.asarray(x, np.float32) for x in _batch("degenerate", 9, 100)]
    res = linprog_vmap(*data)
    status = np.asarray(res.status)
    certified = 0
    for k in range(100):
        their_status, their_value = _highs(data, k)
        if status[k] == Status.OPTIMAL:
            assert their_status == 0, k
            assert abs(float(res.value[k]) - their_value) <= 1e-3 * max(
                1, abs(their_value)
            )
            certified += 1
        elif their_status == 0:
            assert status[k] in (Status.NUMERICAL, Status.ITERATION_LIMIT)
    assert certified >= 0.95 * np.sum([_highs(data, k)[0] == 0 for k in range(100)])

    rng = np.random.default_rng(12)
    Ms = rng.normal(size=(100, 4, 7)) * 10.0 ** rng.uniform(-6, 6, (100, 1, 1))
    Ms[::3] = np.round(Ms[::3] / np.abs(Ms[::3]).max((1, 2), keepdims=True) * 3)
    Ms = Ms.astype(np.float32)
    sols = jax.jit(jax.vmap(solve_matrix_game))(Ms)
    ok = np.asarray(sols.status) == Status.OPTIMAL
    for M, sol_ok, v, x, y in zip(Ms, ok, sols.value, sols.x, sols.y, strict=True):
        if not sol_ok:
            continue
        M = M.astype(float)
        x, y = np.asarray(x, float), np.asarray(y, float)
        spread = M.max() - M.min()
        assert abs(x.sum() - 1) < 1e-5 and abs(y.sum() - 1) < 1e-5
        assert (M @ y).max() - (x @ M).min() <= 1e-4 * spread + 1e-6 * abs(M).max()
        assert abs(float(v) - ref.matrix_game_value(M)) <= 1e-4 * spread
    assert ok.sum() >= 95


@pytest.mark.parametrize("tol", [np.nan, 10.0, -1.0, 0.0, np.inf, "1e-9", True])
def test_bad_tolerance_raises(tol):
    for call in (
        lambda: linprog([-1.0, -2.0], [[1.0, 1.0]], [4.0], tol=tol),
        lambda: solve_matrix_game([[1.0, 0.0], [0.0, 1.0]], tol=tol),
        lambda: grouped_linprog([[0.0, -1.0]], [[True, True]], tol=tol),
    ):
        with pytest.raises(ValueError, match=r"tol is .*expected a number in"):
            call()


@pytest.mark.parametrize("budget", [-1, 2.5, True, None])
def test_bad_pivot_budget_raises(budget):
    if budget is None:  # None is the default; a string is not a budget
        budget = "10"
    for call in (
        lambda: linprog([-1.0, -2.0], [[1.0, 1.0]], [4.0], max_iterations=budget),
        lambda: solve_matrix_game([[1.0, 0.0], [0.0, 1.0]], max_iterations=budget),
        lambda: grouped_linprog([[0.0, -1.0]], [[True, True]], max_iterations=budget),
    ):
        with pytest.raises(ValueError, match=r"max_iterations is .*expected an int"):
            call()


def test_non_finite_data_under_jit_is_never_optimal():
    """NaN or infinite data cannot be checked under ``jit``: the answer is
    NUMERICAL (value NaN), never OPTIMAL."""
    A, b = np.array([[1.0, 1.0]]), np.array([4.0])
    for c, b_ub in [([np.nan, -2.0], b), ([-1.0, -2.0], [np.inf]), ([np.inf, 0], b)]:
        res = jax.jit(linprog)(jnp.asarray(c), A, jnp.asarray(b_ub))
        assert int(res.status) == Status.NUMERICAL and np.isnan(res.value)
        assert np.isnan(res.x).all()
    sol = jax.jit(solve_matrix_game)(jnp.array([[1.0, np.nan], [0.0, 1.0]]))
    assert int(sol.status) == Status.NUMERICAL and np.isnan(sol.value)
    g = jax.jit(grouped_linprog)(
        jnp.array([[0.0, np.nan]]), jnp.ones((1, 2), bool), A[None], b
    )
    assert int(g.status) == Status.NUMERICAL and np.isnan(g.value)


def test_docstring_lp_certified_and_default_tolerance_kept():
    """The example of ``linprog`` (optimum -8) with explicit valid tolerances:
    the same certified answer; its residual is reported."""
    for tol in (None, 1e-9, 1e-6):
        # jitted: one program per tolerance rather than ~80 eager operations
        res = jax.jit(functools.partial(linprog, tol=tol))(
            [-1.0, -2.0], [[1.0, 1.0]], [4.0]
        )
        assert int(res.status) == Status.OPTIMAL and float(res.value) == -8.0
        assert 0 <= float(res.certificate) <= 1e-12
