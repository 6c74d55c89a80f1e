"""The dense tableau simplex kernel of :func:`linprog` and :func:`solve_matrix_game`.

The kernel is a ``lax.while_loop`` of at most ``max_iterations + 1`` passes;
each pass performs at most one pivot and is masked out once the lane has
finished, and the loop stops when every lane of a ``vmap`` has finished.
Pivoting follows Bland's rule (Bland 1977, "New finite pivoting rules for the
simplex method"): the entering column is the lowest-index column with a
negative reduced cost, and among the rows that tie in the ratio test the
leaving row is the one whose basic variable has the lowest index. It cannot
cycle, so degenerate LPs terminate.

Tableau layout (``m`` constraint rows, ``k`` columns plus the right-hand side):

- rows ``0..m-1``: the constraints in canonical form for ``basis`` (identity
  columns at the basic variables), right-hand side ``>= 0`` in the last column;
- row ``m``: phase-2 reduced costs ``c_j - c_B B^{-1} A_j``, with
  ``-objective`` in the last column;
- row ``m + 1`` (only with phase 1): phase-1 reduced costs (the objective is
  the sum of the artificial variables).

Columns ``>= num_enterable`` are artificial: they never enter the basis. In
phase 2 an artificial still basic (at level zero, in a degenerate or redundant
row) is pivoted out as soon as the entering column has a nonzero entry in its
row, which keeps it at zero; an artificial in a redundant row stays basic at
zero for ever, which is harmless.

Tolerances (``tol``, by default :func:`default_tolerance` of the dtype): a
reduced cost must be ``< -tol`` to enter; a pivot element must exceed ``tol``
in absolute value and ``10 tol`` times the largest entry of its column; the
ratio test ties ratios within ``16 eps (1 + |min|)``; phase 1 declares
infeasibility when the sum of artificials exceeds ``tol (1 + max |b|)``.
"""

from __future__ import annotations

import enum

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int


class Status(enum.IntEnum):
    """Termination status of an LP (an ``int32`` in results).

    Attributes:
        OPTIMAL: an optimal vertex was found.
        INFEASIBLE: phase 1 ended with a positive sum of artificial variables.
        UNBOUNDED: an entering column had no positive entry: the objective
            decreases without bound along a ray.
        ITERATION_LIMIT: the pivot budget ran out before either of the above.
        NUMERICAL: the pivoting ended, but the answer failed its certificate
            on the original data (an optimal point whose primal or dual
            residuals or duality gap exceed the tolerance, an unboundedness
            ray or infeasibility proof that does not check out, or NaN or
            infinite data under ``jit``): there is no trustworthy answer.
    """

    OPTIMAL = 0
    INFEASIBLE = 1
    UNBOUNDED = 2
    ITERATION_LIMIT = 3
    NUMERICAL = 4


def default_tolerance(dtype) -> float:
    """Pivot and reduced-cost tolerance: ``1e-9`` in float64, ``1e-5`` in float32.

    About ``4.5e6`` and ``84`` machine epsilons: loose enough to ignore the
    rounding noise of a few hundred pivots on data of order one, tight enough
    that an accepted vertex is optimal to that accuracy.
    """
    return 1e-9 if jnp.finfo(dtype).bits >= 64 else 1e-5


def _pivot(t: Array, r, j) -> Array:
    """Pivot the tableau on row ``r``, column ``j`` (both traced integers)."""
    rows = jnp.arange(t.shape[0]) == r
    cols = jnp.arange(t.shape[1]) == j
    prow = t[r] / t[r, j]
    out = t - t[:, j][:, None] * prow[None, :]
    out = jnp.where(rows[:, None], prow[None, :], out)
    # The entering column becomes exactly the unit vector e_r.
    return jnp.where(cols[None, :], rows[:, None].astype(t.dtype), out)


def solve_tableau(
    tableau: Float[Array, "R K1"],
    basis: Int[Array, " m"],
    *,
    num_enterable: int,
    phase_one: bool,
    max_iterations: int,
    tol: float,
    feasibility_scale: Float[Array, ""] | float = 1.0,
) -> tuple[Array, Array, Array, Array]:
    """Run (two-phase) simplex on a canonical tableau.

    Args:
        tableau: ``(m + 1 + phase_one, k + 1)`` as described in the module
            docstring.
        basis: ``(m,)`` column index of each row's basic variable.
        num_enterable: columns ``< num_enterable`` may enter the basis.
        phase_one: whether row ``m + 1`` holds a phase-1 objective to minimise
            first (static).
        max_iterations: the pivot budget (static); the loop makes one more
            pass to recognise optimality after the last pivot.
        tol: see the module docstring.
        feasibility_scale: phase 1 declares infeasibility when the sum of the
            artificials exceeds ``tol * feasibility_scale``.

    Returns:
        ``(tableau, basis, status, iterations)``: the final tableau and basis,
        the :class:`Status` as ``int32`` and the number of pivots made.
    """
    m = basis.shape[0]
    k = tableau.shape[1] - 1
    dtype = tableau.dtype
    eps = jnp.finfo(dtype).eps
    enterable = jnp.arange(k) < num_enterable
    big = jnp.iinfo(jnp.int32).max
    feas_tol = tol * feasibility_scale

    def cond(carry):
        i, _, _, phase, _, _ = carry
        return (phase > 0) & (i <= max_iterations)

    def body(carry):
        i, t, basis, phase, status, iters = carry
        art = basis >= num_enterable
        if phase_one:
            d1 = t[m + 1, :k]
            p1_done = (phase == 1) & ~jnp.any(enterable & (d1 < -tol))
            infeasible = p1_done & (-t[m + 1, k] > feas_tol)
            status = jnp.where(infeasible, Status.INFEASIBLE, status)
            phase = jnp.where(p1_done, jnp.where(infeasible, 0, 2), phase)
            # Artificials left in the basis are zero up to rounding: make it exact.
            clamp = p1_done & ~infeasible & art
            t = t.at[:m, k].set(jnp.where(clamp, 0, t[:m, k]))
            d = jnp.where(phase == 1, d1, t[m, :k])
        else:
            d = t[m, :k]
        cand = enterable & (d < -tol)
        has_enter = jnp.any(cand)
        j = jnp.argmax(cand)
        col = t[:m, j]
        rhs = t[:m, k]
        # Bounded pivots: absolutely and relative to the column (no pivoting
        # on an entry that is rounding noise of a drifted tableau).
        piv = jnp.maximum(tol, 10 * tol * jnp.max(jnp.abs(col)))
        pos = col > piv
        drive = art & (phase == 2) & (jnp.abs(col) > piv)
        ok = pos | drive
        ratio = jnp.where(pos, rhs / jnp.where(pos, col, 1), jnp.inf)
        ratio = jnp.where(drive, -1.0, ratio)
        ratio = jnp.where(ok, ratio, jnp.inf)
        rmin = jnp.min(ratio)
        tie = ok & (ratio <= rmin + 16 * eps * (1 + jnp.abs(rmin)))
        r = jnp.argmin(jnp.where(tie, basis, big))
        has_leave = jnp.any(ok)
        running = phase > 0
        optimal = running & (phase == 2) & ~has_enter
        unbounded = running & (phase == 2) & has_enter & ~has_leave
        pivot = running & has_enter & has_leave & (i < max_iterations)
        t = jnp.where(pivot, _pivot(t, r, j), t)
        basis = jnp.where(pivot, basis.at[r].set(j.astype(jnp.int32)), basis)
        status = jnp.where(optimal, Status.OPTIMAL, status)
        status = jnp.where(unbounded, Status.UNBOUNDED, status)
        phase = jnp.where(optimal | unbounded, 0, phase)
        return i + 1, t, basis, phase, status, iters + pivot.astype(jnp.int32)

    init = (
        jnp.int32(0),
        tableau,
        basis.astype(jnp.int32),
        jnp.int32(1 if phase_one else 2),
        jnp.int32(Status.ITERATION_LIMIT),
        jnp.int32(0),
    )
    _, t, basis, _, status, iters = jax.lax.while_loop(cond, body, init)
    return t, basis, status, iters
