"""marlmeta.lp.grouped_linprog against scipy HiGHS, the dense simplex and its
own invariants (a vertex has at most k non-pure groups)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linprog as scipy_linprog

from marlmeta.lp import Status, grouped_linprog, linprog

SCIPY_STATUS = {0: Status.OPTIMAL, 2: Status.INFEASIBLE, 3: Status.UNBOUNDED}
N, M, K_UB, K_EQ = 6, 4, 3, 1
grouped_vmap = jax.jit(jax.vmap(grouped_linprog))
# One compiled simplex per number of columns, reused by the LPs of that size:
# eagerly every call re-traces and re-compiles the simplex's loops.
linprog_j = jax.jit(linprog)
grouped_j = jax.jit(grouped_linprog)


def _random_lp(rng, kind):
    """(c, allowed, A_ub, b_ub, A_eq, b_eq), shapes fixed per kind."""
    allowed = rng.random((N, M)) < 0.7
    allowed[np.arange(N), rng.integers(0, M, N)] = True
    p0 = rng.dirichlet(np.ones(M), size=N) * allowed
    p0 /= p0.sum(1, keepdims=True)
    A_ub = rng.normal(size=(K_UB, N, M))
    A_eq = rng.normal(size=(K_EQ, N, M))
    c = rng.normal(size=(N, M))
    b_ub = np.einsum("kna,na->k", A_ub, p0) + rng.random(K_UB) * rng.integers(0, 2)
    b_eq = np.einsum("kna,na->k", A_eq, p0)
    if kind == "infeasible":  # the first row asks for less than its minimum
        b_ub[0] = np.sum(np.min(np.where(allowed, A_ub[0], np.inf), 1)) - 0.5
    elif kind == "degenerate":  # integer data, pure feasible points, a repeated row
        A_ub = rng.integers(-2, 3, size=(K_UB, N, M)).astype(float)
        A_ub[-1] = A_ub[0]
        pure = np.eye(M)[np.argmax(allowed, 1)]
        b_ub = np.einsum("kna,na->k", A_ub, pure)
        A_eq = rng.integers(-1, 2, size=(K_EQ, N, M)).astype(float)
        b_eq = np.einsum("kna,na->k", A_eq, pure)
        c = rng.integers(-3, 4, size=(N, M)).astype(float)
    return c, allowed, A_ub, b_ub, A_eq, b_eq


def _batch(kind, seed, count):
    rng = np.random.default_rng(seed)
    lps = [_random_lp(rng, kind) for _ in range(count)]
    return [np.stack(x) for x in zip(*lps, strict=True)]


def _highs(c, allowed, A_ub, b_ub, A_eq, b_eq):
    """The same LP in scipy's form: convexity rows as equalities, bounds 0 off
    the allowed set."""
    n, m = c.shape
    convex = np.kron(np.eye(n), np.ones((1, m)))
    return scipy_linprog(
        c.ravel(),
        A_ub.reshape(len(b_ub), n * m),
        b_ub,
        np.vstack([convex, A_eq.reshape(len(b_eq), n * m)]),
        np.concatenate([np.ones(n), b_eq]),
        bounds=[(0, None if ok else 0) for ok in allowed.ravel()],
        method="highs",
    )


def _check_vertex(x, allowed, A_ub, b_ub, A_eq, b_eq, atol=1e-9):
    x = np.asarray(x)
    assert (x >= -atol).all() and (x[~allowed] == 0).all()
    np.testing.assert_allclose(x.sum(1), 1.0, atol=atol)
    assert (np.einsum("kna,na->k", A_ub, x) <= b_ub + atol).all()
    np.testing.assert_allclose(np.einsum("kna,na->k", A_eq, x), b_eq, atol=atol)
    mixed = np.sum(np.any((x > atol) & (x < 1 - atol), 1))
    assert mixed <= len(b_ub) + len(b_eq)


@pytest.mark.parametrize("kind", ["feasible", "infeasible", "degenerate"])
def test_grouped_linprog_matches_highs(kind):
    c, allowed, A_ub, b_ub, A_eq, b_eq = data = _batch(kind, 11, 24)
    batch = grouped_vmap(*data)
    for k in range(len(c)):
        lp = [x[k] for x in data]
        theirs = _highs(*lp)
        assert int(batch.status[k]) == SCIPY_STATUS[theirs.status], k
        if theirs.status != 0:
            assert np.isnan(batch.x[k]).all() and float(batch.value[k]) == np.inf
            continue
        np.testing.assert_allclose(batch.value[k], theirs.fun, rtol=1e-9, atol=1e-9)
        _check_vertex(batch.x[k], *lp[1:])
        if kind == "feasible":  # nondegenerate: the duals are unique
            np.testing.assert_allclose(
                batch.dual_ub[k], theirs.ineqlin.marginals, atol=1e-8
            )
            np.testing.assert_allclose(
                batch.dual_eq[k], theirs.eqlin.marginals[N:], atol=1e-8
            )


def test_grouped_equals_dense_simplex():
    """The same LPs written for ``linprog`` (convexity rows as equalities, the
    disallowed variables' columns zeroed and priced out)."""
    c, allowed, A_ub, b_ub, A_eq, b_eq = data = _batch("feasible", 5, 8)
    ours = grouped_vmap(*data)
    convex = np.kron(np.eye(N), np.ones((1, M)))
    for k in range(len(c)):
        keep = allowed[k].ravel()
        dense = linprog_j(
            c[k].ravel()[keep],
            A_ub[k].reshape(K_UB, -1)[:, keep],
            b_ub[k],
            np.vstack([convex, A_eq[k].reshape(K_EQ, -1)])[:, keep],
            np.concatenate([np.ones(N), b_eq[k]]),
        )
        assert int(dense.status) == int(ours.status[k])
        np.testing.assert_allclose(ours.value[k], dense.value, rtol=1e-9, atol=1e-9)


def test_many_groups_and_no_coupling_rows():
    rng = np.random.default_rng(3)
    n, m = 400, 3
    contrib = rng.random((n, m)) / n
    allowed = rng.random((n, m)) < 0.8
    allowed[:, 0] = True
    c = -rng.random((n, m))
    A_ub = np.stack([contrib, -contrib])
    b_ub = np.array([0.55, -0.45])
    ours = grouped_j(c, allowed, A_ub, b_ub)
    theirs = _highs(c, allowed, A_ub, b_ub, np.zeros((0, n, m)), np.zeros(0))
    assert int(ours.status) == Status.OPTIMAL
    np.testing.assert_allclose(ours.value, theirs.fun, rtol=1e-10)
    _check_vertex(ours.x, allowed, A_ub, b_ub, np.zeros((0, n, m)), np.zeros(0))
    # Without coupling rows every group takes its cheapest allowed variable.
    free = grouped_j(c, allowed)
    best = np.min(np.where(allowed, c, np.inf), 1)
    np.testing.assert_allclose(free.value, best.sum(), rtol=1e-12)
    assert free.dual.shape == (0,)


def test_initial_vertex_and_iteration_limit():
    c = np.array([[0.0, -1.0], [0.0, -1.0]])
    A = np.array([[[0.0, 1.0], [0.0, 1.0]]])
    res = jax.jit(functools.partial(grouped_linprog, initial=[1, 1]))(
        c, np.ones((2, 2), bool), A, [1.0]
    )
    assert int(res.status) == Status.OPTIMAL and float(res.value) == -1.0
    np.testing.assert_allclose(res.dual, [-1.0])
    capped = jax.jit(functools.partial(grouped_linprog, max_iterations=0))(
        c, np.ones((2, 2), bool), A, [1.0]
    )
    assert int(capped.status) == Status.ITERATION_LIMIT
    assert np.isnan(capped.value) and np.isnan(capped.x).all()


def test_vmap_equals_per_lp_calls_and_float32():
    data = _batch("feasible", 7, 4)
    batch = grouped_vmap(*data)
    for k in range(4):
        one = grouped_j(*[x[k] for x in data])
        np.testing.assert_array_equal(one.x, batch.x[k])
    # float32: a few pivots on data of order one lose about 1e-6; 1e-4 is safe.
    data32 = [jnp.asarray(x, jnp.float32) if x.dtype == float else x for x in data]
    batch32 = grouped_vmap(*data32)
    assert batch32.x.dtype == jnp.float32
    np.testing.assert_allclose(batch32.value, batch.value, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"c": [[1.0, np.nan]]}, r"c\[0, 1\] is nan"),
        ({"c": [1.0, 2.0]}, "c has shape"),
        ({"allowed": [[True]]}, "allowed has shape"),
        ({"allowed": [[False, False]]}, r"allowed\[0\] is all False"),
        ({"A_ub": [[1.0, 1.0]]}, "A_ub has shape"),
        ({"b_ub": None}, "A_ub is given but b_ub is not"),
        ({"initial": [1]}, r"initial\[0\] is 1; expected an allowed action"),
        ({"initial": [0, 0]}, "initial has shape"),
    ],
)
def test_bad_input_raises(kwargs, match):
    args = {
        "c": [[1.0, 2.0]],
        "allowed": [[True, False]],
        "A_ub": [[[1.0, 1.0]]],
        "b_ub": [1.0],
    }
    with pytest.raises(ValueError, match=match):
        grouped_linprog(**{**args, **kwargs})
