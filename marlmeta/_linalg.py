"""Dense linear solves that never deadlock XLA's CPU thread pool.

jaxlib's CPU LAPACK kernels (``getrf``, ``trsm``, ``gesv``: what
:func:`jax.numpy.linalg.solve` and :func:`jax.scipy.linalg.lu_factor` call)
split a large batch into chunks scheduled on XLA's intra-op thread pool and
block until the chunks finish, from a thread of that same pool. When as many
independent batched LAPACK calls run at once as the pool has threads (two on
a two-core machine: the simplex computes its primal values, duals and
certificates by independent solves; a vmapped ``nash_conv`` evaluates every
player's values and best responses by independent solves), every thread waits
for chunks that no thread is free to run and the program deadlocks: the main
thread waits in ``BlockUntilReady`` and every XLA worker is idle (jaxlib
0.10). The loops here are ordinary XLA operations, so they never re-enter the
pool.

:func:`lu_factor` is Gaussian elimination with partial pivoting (Golub and
Van Loan, "Matrix Computations", algorithm 3.4.1) written as
``lax.fori_loop`` over the ``k`` columns. Update rule (step
``j = 0 .. k-1``): swap row ``j`` with the row ``p >= j`` of largest
``|lu[p, j]|``; the multipliers ``l = lu[j+1:, j] / lu[j, j]`` replace the
column below the diagonal and ``lu[j+1:, j+1:] -= l lu[j, j+1:]``, so that
``a[perm] = L U`` with ``L`` unit lower triangular. A singular matrix gives
infinite or NaN entries, as LAPACK's solve does.

:func:`solve` uses that LU for systems of up to :data:`XLA_SOLVE_MAX`
unknowns (the batched small systems, where the deadlock happens and where the
loops are as fast as LAPACK) and LAPACK above (one large system, where a
column loop of ``k`` full-matrix updates would be much slower and a batch is
split into few chunks).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

#: :func:`solve` factorises systems of up to this many unknowns by the plain
#: XLA loops of :func:`lu_factor`, larger ones by LAPACK.
XLA_SOLVE_MAX = 64


def _lu_step(j, carry):
    """Step ``j`` of :func:`lu_factor` (a module-level loop body: an eager call
    finds its compiled loop in JAX's caches instead of compiling a new one)."""
    lu, perm = carry
    idx = jnp.arange(lu.shape[0])
    p = jnp.argmax(jnp.where(idx >= j, jnp.abs(lu[:, j]), -1))
    order = idx.at[j].set(p).at[p].set(j)
    lu, perm = lu[order], perm[order]
    below = idx > j
    mult = jnp.where(below, lu[:, j] / lu[j, j], 0)
    lu = lu - mult[:, None] * jnp.where(below, lu[j], 0)[None, :]
    return lu.at[:, j].set(jnp.where(below, mult, lu[:, j])), perm


def lu_factor(a: Float[Array, "k k"]) -> tuple[Float[Array, "k k"], Int[Array, " k"]]:
    """``(lu, perm)`` with ``a[perm] = L U`` (module docstring).

    Args:
        a: ``(k, k)`` a square matrix.

    Returns:
        ``lu``: ``U`` on and above the diagonal, the multipliers of ``L``
        below it; ``perm``: ``(k,)`` the row permutation.
    """
    a = jnp.asarray(a)
    k = a.shape[0]
    return jax.lax.fori_loop(0, k, _lu_step, (a, jnp.arange(k)))


# The substitutions of :func:`lu_solve`; each carries ``(solution so far, lu,
# right-hand side)`` so that the bodies are module-level functions.
def _forward_unit(i, c):  # L y = rhs[perm]
    y, lu, b = c
    return y.at[i].set(b[i] - lu[i] @ y), lu, b


def _back(t, c):  # U x = y
    x, lu, y = c
    i = lu.shape[0] - 1 - t
    return x.at[i].set((y[i] - lu[i] @ x) / lu[i, i]), lu, y


def _forward_t(i, c):  # U^T z = rhs
    z, lu, b = c
    return z.at[i].set((b[i] - lu[:, i] @ z) / lu[i, i]), lu, b


def _back_unit_t(t, c):  # L^T w = z
    w, lu, z = c
    i = lu.shape[0] - 1 - t
    return w.at[i].set(z[i] - lu[:, i] @ w), lu, z


def lu_solve(
    factors: tuple[Float[Array, "k k"], Int[Array, " k"]],
    b: Float[Array, "k ..."],
    trans: bool = False,
) -> Float[Array, "k ..."]:
    """Solve ``a x = b`` (``a^T x = b`` with ``trans``) from :func:`lu_factor`.

    The four triangular solves are substitutions over the rows in order;
    each reads a full row or column of ``lu`` against the solution so far,
    whose entries not yet computed are zero.

    Args:
        factors: ``(lu, perm)`` from :func:`lu_factor` of ``a``.
        b: ``(k,)`` or ``(k, r)`` right-hand sides.
        trans: solve with ``a^T`` (static).
    """
    lu, perm = factors
    k = lu.shape[0]
    b = jnp.asarray(b, lu.dtype)
    rhs = b.reshape(k, -1)
    zero = jnp.zeros_like(rhs)
    if trans:
        z = jax.lax.fori_loop(0, k, _forward_t, (zero, lu, rhs))[0]
        w = jax.lax.fori_loop(0, k, _back_unit_t, (zero, lu, z))[0]
        x = zero.at[perm].set(w)
    else:
        y = jax.lax.fori_loop(0, k, _forward_unit, (zero, lu, rhs[perm]))[0]
        x = jax.lax.fori_loop(0, k, _back, (zero, lu, y))[0]
    return x.reshape(b.shape)


def solve(a: Float[Array, "k k"], b: Float[Array, "k ..."]) -> Float[Array, "k ..."]:
    """``a^{-1} b``: :func:`lu_factor` and :func:`lu_solve` up to
    :data:`XLA_SOLVE_MAX` unknowns, :func:`jax.numpy.linalg.solve` above.

    Differentiable as :func:`jax.numpy.linalg.solve` is: the solve is a
    :func:`jax.lax.custom_linear_solve` of ``x -> a x`` on the factors of
    ``stop_gradient(a)``, so derivatives (of any order) are further solves
    with the same factors and ``a^T``, never derivatives of the pivoting loop.

    Args:
        a: ``(k, k)`` a square matrix.
        b: ``(k,)`` or ``(k, r)`` right-hand sides.
    """
    a = jnp.asarray(a)
    b = jnp.asarray(b)
    if a.shape[-1] > XLA_SOLVE_MAX:
        return jnp.linalg.solve(a, b)
    dtype = jnp.result_type(a.dtype, b.dtype)
    a, b = a.astype(dtype), b.astype(dtype)
    factors = lu_factor(jax.lax.stop_gradient(a))
    return jax.lax.custom_linear_solve(
        lambda x: a @ x,
        b,
        solve=lambda _, x: lu_solve(factors, x),
        transpose_solve=lambda _, x: lu_solve(factors, x, trans=True),
    )
