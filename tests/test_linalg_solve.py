"""The shared dense solve (:func:`marlmeta._linalg.solve`) against NumPy, its
derivatives against the formulas written out in NumPy, and the regression of
the batched-LAPACK deadlock outside the LP: no ``lapack`` custom call in the
vmapped programs of the discounted metrics and of a pessimistic MA-PPO step.

The hang: jaxlib's batched LAPACK kernels on CPU wait, from a thread of XLA's
intra-op pool, for chunks scheduled on that same pool; a vmapped ``nash_conv``
of 30,000 three-player games (independent solves per player) deadlocked in
some runs. Running it cannot fail without hanging, so the test reads the
lowered programs instead.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import marlmeta as M
from marlmeta._linalg import XLA_SOLVE_MAX, solve

_solve = jax.jit(solve)


def _system(rng, k, dtype):
    a = rng.normal(size=(k, k)) + np.sqrt(k) * np.eye(k)
    return a.astype(dtype), rng.normal(size=(k, 2)).astype(dtype)


@pytest.mark.parametrize(
    "k,dtype,rtol",
    [
        (5, np.float64, 1e-10),
        (5, np.float32, 1e-3),
        (XLA_SOLVE_MAX + 1, np.float64, 1e-9),
    ],
)
def test_solve_matches_numpy(k, dtype, rtol):
    """Both sides of the threshold, a vector and a matrix right-hand side."""
    a, b = _system(np.random.default_rng(k), k, dtype)
    ref = np.linalg.solve(a.astype(np.float64), b.astype(np.float64))
    mat, vec = _solve(a, b), _solve(a, b[:, 0])
    assert mat.dtype == vec.dtype == dtype
    np.testing.assert_allclose(mat, ref, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(vec, ref[:, 0], rtol=rtol, atol=rtol)


def test_solve_derivatives_match_the_formulas():
    """``f = c . a^-1 b``: ``df/db = a^-T c``, ``df/da = -(a^-T c) x^T``, and
    the Hessian-vector product in ``a`` along ``u``:
    ``(a^-T u^T a^-T c) x^T + (a^-T c)(a^-1 u x)^T`` (NumPy)."""
    rng = np.random.default_rng(3)
    a, b = _system(rng, 4, np.float64)
    b, c, u = b[:, 0], rng.normal(size=4), rng.normal(size=(4, 4))

    def f(a, b):
        return c @ solve(a, b)

    ga, gb = jax.jit(jax.grad(f, argnums=(0, 1)))(a, b)
    hvp = jax.jit(lambda a: jax.jvp(lambda a: jax.grad(f)(a, b), (a,), (u,))[1])(a)
    x, y = np.linalg.solve(a, b), np.linalg.solve(a.T, c)
    np.testing.assert_allclose(gb, y, rtol=1e-10)
    np.testing.assert_allclose(ga, -np.outer(y, x), rtol=1e-10)
    ref = np.outer(np.linalg.solve(a.T, u.T @ y), x) + np.outer(
        y, np.linalg.solve(a, u @ x)
    )
    np.testing.assert_allclose(hvp, ref, rtol=1e-9)


def _lapack_calls(fn, *args):
    text = jax.jit(fn).lower(*args).as_text()
    return [line for line in text.splitlines() if "lapack" in line.lower()]


@pytest.mark.parametrize("players", [2, 3])
def test_vmapped_discounted_metrics_call_no_lapack(players):
    E = M.evaluation
    games = M.games.random_general_sum(
        jr.key(0), 3, (2,) * players, 4, discount=0.9, dtype=jnp.float64
    )
    pol = jax.vmap(M.policies.uniform)(games)
    assert _lapack_calls(jax.vmap(E.nash_conv), games, pol) == []
    assert _lapack_calls(jax.vmap(E.values), games, pol) == []


def test_vmapped_optimality_gap_and_pessimistic_step_call_no_lapack():
    games = M.games.random_cooperative(jr.key(1), 3, (2, 2), 3, 0.8)
    pol = jax.vmap(M.policies.uniform)(games)
    gap = jax.vmap(M.evaluation.optimality_gap)
    assert _lapack_calls(gap, games, pol) == []

    rng = np.random.default_rng(0)
    feats = tuple(
        jnp.asarray(rng.normal(size=(3, *(2,) * (m + 1), 2)), jnp.float32)
        for m in range(2)
    )
    solver = M.solvers.PessimisticMAPPO(0.3, feats, jr.key(0), num_samples=8)

    def step(game):
        return solver.step(game, solver.init(game, (jnp.zeros(2), jnp.zeros(2))))

    assert _lapack_calls(jax.vmap(step), games) == []
