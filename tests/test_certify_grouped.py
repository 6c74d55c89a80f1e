"""Certified infeasibility of ``marlmeta.lp.grouped_linprog``.

An INFEASIBLE status comes with a Farkas multiplier checked on the original
data (``certificate`` at most ``10 tol``), an UNBOUNDED one is impossible (the
feasible set is a product of simplices), and a claim that fails its check is
NUMERICAL. Checked against scipy's HiGHS on random grouped LPs around the
feasibility boundary, in float64 and float32, and by planting false claims.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linprog as scipy_linprog

import marlmeta.lp._grouped as grouped
from marlmeta.lp import (
    Status,
    certificate_tolerance,
    default_tolerance,
    grouped_linprog,
)

N, M, K_UB, K_EQ = 4, 3, 2, 1
solve_batch = jax.jit(jax.vmap(grouped_linprog))


def _random_lps(seed, count):
    """LPs feasible at a random mixed point, half of them made infeasible by
    asking the first inequality row for a little less than its smallest
    attainable value or the equality row for a little more than its largest;
    none unbounded."""
    rng = np.random.default_rng(seed)
    allowed = rng.random((count, N, M)) < 0.8
    allowed[:, np.arange(N), rng.integers(0, M, N)] = True
    p0 = rng.dirichlet(np.ones(M), (count, N)) * allowed
    p0 /= p0.sum(-1, keepdims=True)
    c = rng.normal(size=(count, N, M))
    A_ub = rng.normal(size=(count, K_UB, N, M))
    A_eq = rng.normal(size=(count, K_EQ, N, M))
    b_ub = np.einsum("lkna,lna->lk", A_ub, p0) + rng.uniform(0, 0.5, (count, K_UB))
    b_eq = np.einsum("lkna,lna->lk", A_eq, p0)
    low = np.where(allowed, A_ub[:, 0], np.inf).min(-1).sum(-1)
    high = np.where(allowed, A_eq[:, 0], -np.inf).max(-1).sum(-1)
    gap = rng.uniform(1e-3, 0.5, count)
    which = rng.integers(0, 4, count)  # 0: row 0 of A_ub, 1: A_eq, else feasible
    b_ub[:, 0] = np.where(which == 0, low - gap, b_ub[:, 0])
    b_eq[:, 0] = np.where(which == 1, high + gap, b_eq[:, 0])
    return c, allowed, A_ub, b_ub, A_eq, b_eq


def _highs(c, allowed, A_ub, b_ub, A_eq, b_eq):
    """The same LP in scipy's form (convexity rows as equalities, bounds 0
    off the allowed set), solved in float64."""
    n, m = c.shape
    return scipy_linprog(
        c.ravel(),
        A_ub.reshape(-1, n * m),
        b_ub,
        np.vstack([np.kron(np.eye(n), np.ones((1, m))), A_eq.reshape(-1, n * m)]),
        np.concatenate([np.ones(n), b_eq]),
        bounds=[(0, None if ok else 0) for ok in allowed.ravel()],
        method="highs",
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_infeasible_claims_are_certified_and_match_highs(dtype):
    data = _random_lps(7, 48)
    cast = [x if x.dtype == bool else x.astype(dtype) for x in data]
    res = solve_batch(*cast)
    cert_tol = certificate_tolerance(default_tolerance(dtype))
    counts = {s: 0 for s in Status}
    for k in range(len(data[0])):
        # The reference solves the very numbers marlmeta saw, in float64.
        theirs = _highs(*[np.asarray(x[k], np.float64) for x in cast])
        status = Status(int(res.status[k]))
        counts[status] += 1
        assert theirs.status in (0, 2), theirs.message  # never unbounded
        assert status != Status.UNBOUNDED
        if status == Status.INFEASIBLE:
            assert theirs.status == 2, k
            assert float(res.certificate[k]) <= cert_tol
            assert np.isinf(res.value[k]) and np.isnan(res.x[k]).all()
        elif status == Status.OPTIMAL:
            assert theirs.status == 0, k
            assert float(res.certificate[k]) <= cert_tol
            np.testing.assert_allclose(res.value[k], theirs.fun, rtol=0, atol=cert_tol)
        else:  # only "not certified" is allowed instead of an answer
            assert status == Status.NUMERICAL
    assert counts[Status.INFEASIBLE] >= 10 and counts[Status.OPTIMAL] >= 10, counts
    if dtype == np.float64:  # every claim certified in float64
        assert counts[Status.NUMERICAL] == 0, counts


def _claiming(claim):
    """``_solve`` that reports ``claim`` whatever it found."""
    solve = grouped._solve

    def planted(*args):
        p, pi, y, _, iters = solve(*args)
        return p, pi, y, jnp.int32(claim), iters

    return planted


def test_a_false_claim_is_not_certified(monkeypatch):
    data = [x[0] for x in _random_lps(7, 1)]
    data[3] = data[3] + 10.0  # loose inequalities
    data[5] = np.einsum("kna,na->k", data[4], np.eye(M)[np.argmax(data[1], 1)])
    assert _highs(*data).status == 0  # feasible (a pure point meets the rows)
    for claim in (Status.INFEASIBLE, Status.UNBOUNDED):
        monkeypatch.setattr(grouped, "_solve", _claiming(claim))
        res = jax.jit(lambda *lp: grouped_linprog(*lp))(*data)  # traced anew
        assert Status(int(res.status)) == Status.NUMERICAL, claim
        assert np.isinf(float(res.certificate))  # no proof checks out


def test_farkas_residual_is_sound_on_feasible_lps():
    """No multiplier proves a feasible LP infeasible (weak duality): random
    ``pi`` never pass the check, and the planted Farkas multiplier of an
    infeasible LP (row 0 asks for 1 below its minimum) does."""
    rng = np.random.default_rng(3)
    c, allowed, A_ub, b_ub, A_eq, b_eq = [x[0] for x in _random_lps(5, 1)]
    a = np.concatenate([A_ub, A_eq])
    pure = np.eye(M)[np.argmax(allowed, 1)]
    b = np.einsum("kna,na->k", a, pure) + np.array([1.0, 1.0, 0.0])  # feasible
    tol = certificate_tolerance(default_tolerance(np.float64))
    check = jax.jit(jax.vmap(grouped._farkas_residual, (None,) * 4 + (0, None)))
    out = check(allowed, a, b, K_UB, rng.normal(size=(200, K_UB + K_EQ)), tol)
    assert np.isinf(out).all()
    low = np.where(allowed, a[0], np.inf).min(1).sum()
    b_bad = np.concatenate([[low - 1.0], b[1:]])
    y = np.zeros((1, K_UB + K_EQ))
    y[0, 0] = -1.0  # -A_0 p >= -(low - 1) > -min A_0 p
    assert check(allowed, a, b_bad, K_UB, y, tol)[0] <= tol


def test_a_group_without_allowed_variable_is_certified_infeasible_under_jit():
    data = [x[0] for x in _random_lps(7, 1)]
    data[1] = data[1].copy()
    data[1][2] = False
    res = jax.jit(grouped_linprog)(*data)
    assert Status(int(res.status)) == Status.INFEASIBLE
    assert float(res.certificate) <= certificate_tolerance(
        default_tolerance(np.float64)
    )
