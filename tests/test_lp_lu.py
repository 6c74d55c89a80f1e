"""The simplex kernels' LU in plain XLA operations, against NumPy, and the
regression of the aggregative planner's hang: no LAPACK call in the batched
programs of the LP solvers.

The hang: jaxlib's batched LAPACK kernels on CPU split a large batch into
chunks on XLA's intra-op thread pool and wait for them from a thread of that
pool; with as many independent batched solves at once as the pool has threads
(two on a two-core machine) the program deadlocked (the vmapped
``aggre_bi(..., welfare=w)`` of the Theorem 4.2 test and the congestion
welfare config at six players). Running it is not a test that can fail without
hanging, so the test reads the lowered programs instead: a ``lapack`` custom
call in them is the cause, present before the fix and absent after.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
from marlmeta._linalg import lu_factor, lu_solve, solve
from marlmeta.lp import grouped_linprog, linprog

K, BATCH = 5, 6


@jax.jit
def _solves(a, b):
    """Per matrix: ``a^-1 b`` for a vector and a matrix right-hand side, and
    ``a^-T b`` (vmapped over the batch)."""

    def one(a, b):
        f = lu_factor(a)
        return lu_solve(f, b[:, 0]), lu_solve(f, b), lu_solve(f, b, trans=True)

    return jax.vmap(one)(a, b)


def _matrices(rng, dtype):
    a = rng.normal(size=(BATCH, K, K))
    a[0, 0, 0] = 0.0  # a zero first pivot: the row swap is needed
    a[1] = np.triu(a[1])[::-1]  # a row-reversed triangle: k - 1 swaps
    a[2] = np.diag([1e-3, 1.0, 1e3, 1.0, 1.0]) @ a[2]  # badly scaled rows
    return a.astype(dtype), rng.normal(size=(BATCH, K, 2)).astype(dtype)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 1e-3)])
def test_lu_solves_match_numpy(dtype, rtol):
    a, b = _matrices(np.random.default_rng(0), dtype)
    vec, mat, tr = _solves(a, b)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    assert vec.dtype == mat.dtype == tr.dtype == dtype
    np.testing.assert_allclose(
        vec, np.linalg.solve(a64, b64[..., :1])[..., 0], rtol=rtol
    )
    np.testing.assert_allclose(mat, np.linalg.solve(a64, b64), rtol=rtol)
    at = np.swapaxes(a64, 1, 2)
    np.testing.assert_allclose(tr, np.linalg.solve(at, b64), rtol=rtol)


def test_lu_factor_is_a_permuted_lu():
    """``a[perm] = L U`` with unit lower ``L``, and partial pivoting keeps
    every multiplier at most 1 in absolute value (written out in NumPy)."""
    a, _ = _matrices(np.random.default_rng(1), np.float64)
    lu, perm = jax.jit(jax.vmap(lu_factor))(a)
    lu, perm = np.asarray(lu), np.asarray(perm)
    for i in range(BATCH):
        low = np.tril(lu[i], -1) + np.eye(K)
        np.testing.assert_allclose(low @ np.triu(lu[i]), a[i][perm[i]], atol=1e-12)
        assert sorted(perm[i]) == list(range(K))
        assert np.all(np.abs(np.tril(lu[i], -1)) <= 1 + 1e-15)


def test_singular_matrix_gives_no_finite_answer():
    x = solve(jnp.array([[1.0, 2.0], [2.0, 4.0]]), jnp.array([1.0, 0.0]))
    assert not np.all(np.isfinite(np.asarray(x)))


def _custom_calls(fn, *args):
    text = jax.jit(fn).lower(*args).as_text()
    return [line for line in text.splitlines() if "lapack" in line.lower()]


def test_batched_lp_programs_call_no_lapack():
    """The vmapped grouped and dense simplex, and the vmapped welfare-selecting
    Aggre-BI of the Theorem 4.2 test, lower to plain XLA operations."""
    n, m, k = 4, 3, 2
    grouped = jax.vmap(grouped_linprog)
    args = (
        jnp.zeros((8, n, m)),
        jnp.ones((8, n, m), bool),
        jnp.ones((8, k, n, m)),
        jnp.ones((8, k)),
    )
    assert _custom_calls(grouped, *args) == []
    dense = jax.vmap(lambda c, a, b: linprog(c, a, b))
    assert (
        _custom_calls(dense, jnp.ones((8, 3)), jnp.ones((8, 2, 3)), jnp.ones((8, 2)))
        == []
    )

    A = M.aggregative
    games = [A.singleton_congestion((1.0, 0.8, 0.6), (1.0, 1.2, 0.8), 4)] * 2
    games = jax.tree.map(lambda *x: jnp.stack(x), *games)
    grid = A.make_grid(games, 0.1)
    plan = jax.vmap(lambda g, w: A.aggre_bi(g, grid, welfare=w).profile)
    assert _custom_calls(plan, games, jnp.ones((2, 1, 1, 4, 3))) == []
