"""marlmeta.lp against scipy HiGHS, hand-solved games and its own invariants."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linprog as scipy_linprog

from marlmeta.lp import Status, linprog, solve_matrix_game
from tests import reference_exact as ref

SCIPY_STATUS = {0: Status.OPTIMAL, 2: Status.INFEASIBLE, 3: Status.UNBOUNDED}
linprog_j = jax.jit(linprog)
matrix_game_j = jax.jit(solve_matrix_game)


N, M_UB, M_EQ = 5, 4, 2


def _random_lp(rng, kind):
    """(c, A_ub, b_ub, A_eq, b_eq) of a given kind, with shapes fixed per kind."""
    n, m_ub, m_eq = N, M_UB, 0 if kind == "unbounded" else M_EQ
    A_ub = rng.normal(size=(m_ub, n))
    A_eq = rng.normal(size=(m_eq, n))
    x0 = rng.random(n)
    b_ub = A_ub @ x0 + rng.random(m_ub) * rng.integers(0, 2, m_ub)  # some tight
    b_eq = A_eq @ x0
    c = rng.normal(size=n)
    if kind == "feasible":  # bounded by sum(x) <= 10
        A_ub, b_ub = np.vstack([A_ub, np.ones(n)]), np.append(b_ub, 10.0)
    elif kind == "infeasible":  # sum(x) <= -1 contradicts x >= 0
        A_ub, b_ub = np.vstack([A_ub, np.ones(n)]), np.append(b_ub, -1.0)
    elif kind == "unbounded":  # every x >= 0 is feasible; some c_j < 0
        A_ub, b_ub, c = -np.abs(A_ub), np.abs(b_ub), c - 2 * np.abs(c).max()
    elif kind == "degenerate":  # integer data, many b = 0, duplicated rows
        A_ub = rng.integers(-2, 3, size=(m_ub, n)).astype(float)
        b_ub = np.where(rng.random(m_ub) < 0.6, 0.0, rng.integers(0, 3, m_ub))
        A_ub = np.vstack([A_ub, A_ub[:1], np.ones(n)])
        b_ub = np.concatenate([b_ub, b_ub[:1], [2.0]])
        A_eq = rng.integers(-1, 2, size=(m_eq, n)).astype(float)
        b_eq = A_eq @ rng.integers(0, 2, n)
        # A redundant equality row (rank-deficient A_eq).
        A_eq, b_eq = np.vstack([A_eq, 2 * A_eq[:1]]), np.append(b_eq, 2 * b_eq[0])
        c = rng.integers(-3, 4, size=n).astype(float)
    return c, A_ub, b_ub, A_eq, b_eq


def _batch(kind, seed, count):
    rng = np.random.default_rng(seed)
    lps = [_random_lp(rng, kind) for _ in range(count)]
    return [np.stack(x) for x in zip(*lps, strict=True)]


@pytest.mark.parametrize("kind", ["feasible", "infeasible", "unbounded", "degenerate"])
def test_linprog_matches_highs(kind):
    """One vmapped call over 40 LPs, lane by lane against HiGHS."""
    seed = {"feasible": 1, "infeasible": 2, "unbounded": 3, "degenerate": 7}[kind]
    c, A_ub, b_ub, A_eq, b_eq = _batch(kind, seed, 40)
    eq = A_eq.shape[1] > 0
    batch = jax.jit(jax.vmap(linprog))(c, A_ub, b_ub, *((A_eq, b_eq) if eq else ()))
    for k in range(len(c)):
        ours = jax.tree.map(lambda x, k=k: x[k], batch)
        Ae, be = (A_eq[k], b_eq[k]) if eq else (None, None)
        theirs = scipy_linprog(c[k], A_ub[k], b_ub[k], Ae, be, method="highs")
        assert int(ours.status) == SCIPY_STATUS[theirs.status]
        if theirs.status != 0:
            assert np.isnan(ours.x).all() and not bool(ours.success)
            assert float(ours.value) == (np.inf if theirs.status == 2 else -np.inf)
            continue
        assert bool(ours.success)
        np.testing.assert_allclose(ours.value, theirs.fun, atol=1e-9)
        x = np.asarray(ours.x)
        assert (x >= -1e-12).all()
        np.testing.assert_array_less(A_ub[k] @ x - b_ub[k], 1e-9)
        if eq:
            np.testing.assert_allclose(Ae @ x, be, atol=1e-9)
        # The duals certify optimality in scipy's sign convention: dual
        # feasibility, strong duality and complementary slackness. (They need
        # not equal HiGHS's marginals: degenerate vertices have many duals.)
        y_ub, y_eq = np.asarray(ours.dual_ub), np.asarray(ours.dual_eq)
        assert (y_ub <= 1e-12).all()
        A_all = np.vstack([A_ub[k], A_eq[k]])
        b_all = np.concatenate([b_ub[k], b_eq[k]])
        y = np.concatenate([y_ub, y_eq])
        assert (c[k] - A_all.T @ y >= -1e-9).all()
        np.testing.assert_allclose(b_all @ y, theirs.fun, atol=1e-9)
        np.testing.assert_allclose(y_ub * (A_ub[k] @ x - b_ub[k]), 0, atol=1e-9)
        np.testing.assert_allclose((c[k] - A_all.T @ y) * x, 0, atol=1e-9)


def test_hand_solved_and_docstring_example():
    res = linprog_j([-1.0, -2.0], A_ub=[[1.0, 1.0]], b_ub=[4.0])
    np.testing.assert_allclose(res.x, [0.0, 4.0])
    np.testing.assert_allclose(res.value, -8.0)
    np.testing.assert_allclose(res.dual, [-2.0])
    # Equalities only, redundant and negative right-hand sides.
    res = linprog_j(
        [1.0, 1.0, 0.0],
        A_eq=[[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        b_eq=[-1.0, 1.0, 2.0],
    )
    np.testing.assert_allclose(res.x, [0.0, 1.0, 2.0], atol=1e-12)
    assert int(res.status) == Status.OPTIMAL
    # No constraints at all.
    assert float(linprog_j([1.0, 2.0]).value) == 0.0
    assert int(linprog_j([1.0, -2.0]).status) == Status.UNBOUNDED


def test_beale_cycling_example_terminates():
    """Beale (1955): Dantzig's rule with lowest-index ties cycles; Bland's does not."""
    c = [-0.75, 20.0, -0.5, 6.0]
    A = [[0.25, -8.0, -1.0, 9.0], [0.5, -12.0, -0.5, 3.0], [0.0, 0.0, 1.0, 0.0]]
    res = linprog_j(c, A, [0.0, 0.0, 1.0])
    assert int(res.status) == Status.OPTIMAL
    np.testing.assert_allclose(res.value, -1.25, atol=1e-12)
    np.testing.assert_allclose(res.x, [1.0, 0.0, 1.0, 0.0], atol=1e-12)


def test_iteration_limit_never_poses_as_optimal():
    c = [-0.75, 20.0, -0.5, 6.0]
    A = [[0.25, -8.0, -1.0, 9.0], [0.5, -12.0, -0.5, 3.0], [0.0, 0.0, 1.0, 0.0]]
    # jitted: one compiled program rather than ~230 eager operations
    res = jax.jit(functools.partial(linprog, max_iterations=1))(c, A, [0.0, 0.0, 1.0])
    assert int(res.status) == Status.ITERATION_LIMIT and not bool(res.success)
    assert np.isnan(res.value) and np.isnan(res.x).all() and np.isnan(res.dual).all()


def test_vmap_equals_per_lp_calls():
    c, A_ub, b_ub, A_eq, b_eq = _batch("degenerate", 5, 16)
    batch = jax.jit(jax.vmap(linprog))(c, A_ub, b_ub, A_eq, b_eq)
    for k in range(len(c)):
        one = linprog_j(c[k], A_ub[k], b_ub[k], A_eq[k], b_eq[k])
        for a, b in zip(jax.tree.leaves(batch), jax.tree.leaves(one), strict=True):
            np.testing.assert_array_equal(a[k], b)


def test_float32():
    """float32 follows the inputs; the agreement with HiGHS is 1e-4.

    The default float32 tolerance is 1e-5 (about 84 eps); a few pivots on data
    of order one lose one or two more digits, so 1e-4 is a safe bound.
    """
    c, A_ub, b_ub, A_eq, b_eq = _batch("feasible", 4, 20)
    args32 = [jnp.asarray(x, jnp.float32) for x in (c, A_ub, b_ub, A_eq, b_eq)]
    batch = jax.jit(jax.vmap(linprog))(*args32)
    assert batch.x.dtype == jnp.float32 and batch.value.dtype == jnp.float32
    for k in range(len(c)):
        theirs = scipy_linprog(c[k], A_ub[k], b_ub[k], A_eq[k], b_eq[k], method="highs")
        assert int(batch.status[k]) == SCIPY_STATUS[theirs.status]
        np.testing.assert_allclose(batch.value[k], theirs.fun, rtol=1e-4, atol=1e-4)
    M = np.random.default_rng(4).normal(size=(4, 5))
    sol = matrix_game_j(jnp.asarray(M, jnp.float32))
    assert sol.value.dtype == jnp.float32 and abs(float(sol.certificate)) < 1e-5
    np.testing.assert_allclose(sol.value, ref.matrix_game_value(M), atol=1e-5)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([1.0, np.nan], [[1.0, 1.0]], [1.0]), r"c\[1\] is nan"),
        (([1.0, 1.0], [[1.0, np.inf]], [1.0]), r"A_ub\[0, 1\] is inf"),
        (([1.0, 1.0], [[1.0, 1.0]], [1.0, 2.0]), "b_ub has shape"),
        (([1.0, 1.0], [[1.0, 1.0, 1.0]], [1.0]), "A_ub has shape"),
        (([1.0, 1.0], [[1.0, 1.0]], None), "A_ub is given but b_ub is not"),
        (([[1.0, 1.0]],), "c has shape"),
        (([],), "c is empty"),
        (([1.0, 1.0], None, None, [[1.0, 1.0]], [np.nan]), r"b_eq\[0\] is nan"),
    ],
)
def test_bad_input_raises(args, match):
    with pytest.raises(ValueError, match=match):
        linprog(*args)


def test_matrix_game_bad_input():
    with pytest.raises(ValueError, match=r"M\[1, 0\] is nan"):
        solve_matrix_game([[1.0, 2.0], [np.nan, 0.0]])
    with pytest.raises(ValueError, match="M has shape"):
        solve_matrix_game([1.0, 2.0])


@pytest.mark.parametrize("shape", [(2, 2), (3, 3), (4, 7), (10, 10), (9, 2)])
def test_matrix_game_matches_highs(shape):
    rng = np.random.default_rng(shape[0] * 10 + shape[1])
    Ms = rng.normal(size=(10, *shape))
    Ms[::2] = np.round(Ms[::2])  # integer games: degenerate, ties
    sols = jax.jit(jax.vmap(solve_matrix_game))(Ms)
    assert (np.asarray(sols.status) == Status.OPTIMAL).all()
    for M, v, x, y, cert in zip(
        Ms, sols.value, sols.x, sols.y, sols.certificate, strict=True
    ):
        np.testing.assert_allclose(v, ref.matrix_game_value(M), atol=1e-9)
        assert -1e-12 < float(cert) < 1e-9 * (1 + abs(float(v)))
        np.testing.assert_allclose([x.sum(), y.sum()], [1.0, 1.0], atol=1e-12)
        assert (x >= 0).all() and (y >= 0).all()
        assert np.min(x @ M) >= v - 1e-9 and np.max(M @ y) <= v + 1e-9


def test_matrix_game_hand_solved():
    mp = matrix_game_j(np.array([[1.0, -1.0], [-1.0, 1.0]]))
    np.testing.assert_allclose([mp.value, *mp.x, *mp.y], [0, 0.5, 0.5, 0.5, 0.5])
    rps = matrix_game_j(np.array([[0.0, -1, 1], [1, 0, -1], [-1, 1, 0]]))
    np.testing.assert_allclose(rps.value, 0.0, atol=1e-15)
    np.testing.assert_allclose(rps.x, [1 / 3] * 3, atol=1e-15)
    np.testing.assert_allclose(rps.y, [1 / 3] * 3, atol=1e-15)
    # Row 2 is strictly dominated by row 0; the remaining 2 x 2 game
    # has value 2/3 and unique strategies.
    dom = matrix_game_j(np.array([[2.0, 0.0], [0.0, 1.0], [1.0, -1.0]]))
    np.testing.assert_allclose(dom.value, 2 / 3, atol=1e-15)
    np.testing.assert_allclose(dom.x, [1 / 3, 2 / 3, 0.0], atol=1e-15)
    np.testing.assert_allclose(dom.y, [1 / 3, 2 / 3], atol=1e-15)
    # A continuum of equilibria: every x is optimal when all rows are equal,
    # and column 1 is optimal for every mix of it with column 0.
    flat = matrix_game_j(np.array([[1.0, 1.0, 3.0], [1.0, 1.0, 2.0]]))
    np.testing.assert_allclose(flat.value, 1.0, atol=1e-15)
    assert abs(float(flat.certificate)) < 1e-12
    assert float(flat.y[2]) == 0.0
    # A pure saddle point and a 1 x n game.
    sad = matrix_game_j(np.array([[3.0, 5.0], [1.0, 4.0]]))
    np.testing.assert_allclose([sad.value, *sad.x, *sad.y], [3, 1, 0, 1, 0])
    row = matrix_game_j(np.array([[4.0, -2.0, 7.0]]))
    np.testing.assert_allclose([row.value, *row.y], [-2, 0, 1, 0])
