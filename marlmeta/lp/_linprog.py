"""``linprog``: small dense LPs by two-phase tableau simplex, vmappable.

Solves ``min c @ x`` subject to ``A_ub @ x <= b_ub``, ``A_eq @ x == b_eq`` and
``x >= 0`` by the two-phase simplex method (Dantzig 1963, "Linear Programming
and Extensions", ch. 5) with Bland's rule; the basis is refactorised from
the data by :func:`marlmeta._linalg.lu_factor` (plain XLA operations: LAPACK's
batched kernels can deadlock XLA's CPU thread pool; see that module).
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from marlmeta._checks import concrete
from marlmeta._linalg import lu_factor, lu_solve
from marlmeta.lp._certificate import (
    certificate_tolerance,
    certified,
    check_budget,
    check_tolerance,
    equilibrate,
    farkas_residual,
    optimality_residual,
    power_of_two,
    primal_residual,
    ray_residual,
)
from marlmeta.lp._simplex import Status, default_tolerance, solve_tableau


class LPResult(eqx.Module):
    """Result of :func:`linprog` (a pytree; batched under ``vmap``).

    A result whose ``status`` is not :attr:`Status.OPTIMAL` never poses as a
    solution: ``x`` and ``dual`` are NaN, and ``value`` is ``+inf`` when the LP
    is infeasible, ``-inf`` when it is unbounded and NaN when the pivot budget
    ran out.

    Attributes:
        x: ``(n,)`` an optimal vertex.
        value: ``c @ x``.
        dual: ``(m_ub + m_eq,)`` Lagrange multipliers of the constraints, the
            rows of ``A_ub`` first, then those of ``A_eq``. They follow scipy's
            ``ineqlin.marginals`` / ``eqlin.marginals``: ``dual[i]`` is the
            sensitivity ``d value / d b[i]`` of the optimal value to the
            right-hand side, so ``dual[:m_ub] <= 0`` and
            ``value == b_ub @ dual[:m_ub] + b_eq @ dual[m_ub:]`` (strong
            duality), and ``c - A^T dual >= 0`` are the reduced costs.
        status: :class:`Status` as ``int32``.
        iterations: number of pivots (both phases).
        certificate: the relative residual of the status's claim on the
            original data (see :class:`Status` and the solver's docstring):
            for an optimum the largest of the primal residuals, the dual
            residuals and the duality gap; for an infeasible (unbounded) LP
            that of its Farkas multiplier (ray). The status is kept only when
            it is at most ``10 tol``; otherwise it becomes
            :attr:`Status.NUMERICAL`.
        num_ub: ``m_ub`` (static), to split ``dual``.
    """

    x: Float[Array, " n"]
    value: Float[Array, ""]
    dual: Float[Array, " m"]
    status: Int[Array, ""]
    iterations: Int[Array, ""]
    certificate: Float[Array, ""]
    num_ub: int = eqx.field(static=True)

    @property
    def success(self) -> Array:
        """``status == Status.OPTIMAL``."""
        return self.status == Status.OPTIMAL

    @property
    def dual_ub(self) -> Array:
        """Multipliers of the ``A_ub`` rows (``<= 0``)."""
        return self.dual[..., : self.num_ub]

    @property
    def dual_eq(self) -> Array:
        """Multipliers of the ``A_eq`` rows."""
        return self.dual[..., self.num_ub :]


def _check_finite(name: str, x: Array) -> None:
    c = concrete(x)
    if c is None:
        return
    bad = ~np.isfinite(c)
    if bad.any():
        idx = [int(i) for i in np.unravel_index(int(np.argmax(bad)), c.shape)]
        raise ValueError(
            f"{name}{idx} is {c[tuple(idx)].tolist()!r}; expected a finite number"
        )


def _as_array(name: str, x, ndim: int) -> Array:
    a = jnp.asarray(x)
    if a.ndim != ndim:
        raise ValueError(
            f"{name} has shape {a.shape}; expected {ndim} axes "
            "(batch several LPs with jax.vmap)"
        )
    return a


def _rows(name_a, a, name_b, b, shape: tuple[int, ...], dtype):
    """Validated constraint block ``(a (m, *shape), b (m,))``, ``shape`` that of
    the variables; empty when both are None."""
    if (a is None) != (b is None):
        given, missing = (name_a, name_b) if b is None else (name_b, name_a)
        raise ValueError(f"{given} is given but {missing} is not")
    if a is None:
        return jnp.zeros((0, *shape), dtype), jnp.zeros((0,), dtype)
    a, b = _as_array(name_a, a, 1 + len(shape)), _as_array(name_b, b, 1)
    if a.shape[1:] != shape:
        cols = ", ".join(map(str, shape))
        raise ValueError(
            f"{name_a} has shape {a.shape}; expected (rows, {cols}) to agree with c"
        )
    if b.shape[0] != a.shape[0]:
        raise ValueError(
            f"{name_b} has shape {b.shape}; expected ({a.shape[0]},) "
            f"to agree with {name_a}"
        )
    return a, b


def _constraints(c, A_ub, b_ub, A_eq, b_eq):
    """The LP's dtype and its validated constraint blocks, whose columns have
    the shape of ``c`` (finite entries checked on concrete inputs)."""
    given = [jnp.asarray(x) for x in (A_ub, b_ub, A_eq, b_eq) if x is not None]
    dtype = jnp.result_type(c, *given)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    A_ub, b_ub = _rows("A_ub", A_ub, "b_ub", b_ub, c.shape, dtype)
    A_eq, b_eq = _rows("A_eq", A_eq, "b_eq", b_eq, c.shape, dtype)
    for name, x in [
        ("c", c),
        ("A_ub", A_ub),
        ("b_ub", b_ub),
        ("A_eq", A_eq),
        ("b_eq", b_eq),
    ]:
        _check_finite(name, x)
    return dtype, A_ub, b_ub, A_eq, b_eq


def _result(c, x, dual, status, iterations, certificate, num_ub: int) -> LPResult:
    """The :class:`LPResult` of a basic solution: NaN or infinite where not
    optimal (see there)."""
    ok = status == Status.OPTIMAL
    nan = jnp.array(jnp.nan, x.dtype)
    value = jnp.select(
        [ok, status == Status.INFEASIBLE, status == Status.UNBOUNDED],
        [jnp.tensordot(c, x, c.ndim), jnp.inf, -jnp.inf],
        nan,
    )
    return LPResult(
        x=jnp.where(ok, x, nan),
        value=value.astype(x.dtype),
        dual=jnp.where(ok, dual, nan),
        status=status,
        iterations=iterations,
        certificate=certificate,
        num_ub=num_ub,
    )


def linprog(
    c: ArrayLike,
    A_ub: ArrayLike | None = None,
    b_ub: ArrayLike | None = None,
    A_eq: ArrayLike | None = None,
    b_eq: ArrayLike | None = None,
    *,
    max_iterations: int | None = None,
    tol: float | None = None,
) -> LPResult:
    """Minimise ``c @ x`` s.t. ``A_ub x <= b_ub``, ``A_eq x == b_eq``, ``x >= 0``.

    Dense two-phase tableau simplex with Bland's rule (Bland 1977, "New finite
    pivoting rules for the simplex method"), meant for small LPs (up to a few
    hundred variables) solved by the thousand under ``jax.vmap``. Phase 1
    minimises the sum of artificial variables placed on the equality rows and
    on the inequality rows with ``b < 0`` (the other rows start from their
    slack); phase 2 minimises ``c @ x`` from the feasible basis found. Both
    run inside one fixed-length masked loop, so every lane of a ``vmap`` does
    the same work. The solution is a vertex (a basic feasible solution).

    The dtype follows the inputs (float64 inputs give float64, float32 give
    float32; integers give JAX's default float).

    Certified answers: the rows and columns are first equilibrated by powers
    of two (Ruiz 2001, "A scaling algorithm to equilibrate both rows and
    columns norms in matrices"; exact, so the LP is unchanged), the cost and
    right-hand side normalised, and after the pivoting the final basis is
    refactorised from the data. The claim of the pivoting is then checked on
    the original data: an optimum by its primal residuals, dual residuals and
    complementarity (which bound the duality gap), infeasibility by a Farkas
    multiplier, unboundedness by a ray; each relative to the size of the terms
    involved, componentwise in the equilibrated scaling (``certificate`` in
    :class:`LPResult`). The status stands only when that residual is at most
    ``10 tol`` (``1e-8`` in float64 and ``1e-4`` in float32 by default);
    otherwise it is :attr:`Status.NUMERICAL`, as it is for NaN or infinite
    data under ``jit``. An :attr:`Status.OPTIMAL` value is therefore optimal
    to that relative accuracy, whatever the scale of the data.

    Args:
        c: ``(n,)`` objective.
        A_ub: ``(m_ub, n)``; with ``b_ub`` ``(m_ub,)``, or both ``None``.
        b_ub: ``(m_ub,)``.
        A_eq: ``(m_eq, n)``; with ``b_eq`` ``(m_eq,)``, or both ``None``.
        b_eq: ``(m_eq,)``.
        max_iterations: pivot budget (static, a non-negative int); default
            ``4 (n + 2 m_ub + m_eq) + 20``. Hitting it gives
            :attr:`Status.ITERATION_LIMIT`.
        tol: pivot / reduced-cost tolerance in ``(0, 0.01]``; default
            :func:`marlmeta.lp.default_tolerance` of the dtype. Answers are
            certified to ``10 tol``.

    Returns:
        An :class:`LPResult` (see there for the sign convention of ``dual``).

    Raises:
        ValueError: for inconsistent shapes, an invalid ``max_iterations`` or
            ``tol``, or (on concrete inputs) a NaN or infinite entry, naming
            the argument and index or value.

    Example:
        >>> from marlmeta.lp import linprog
        >>> res = linprog([-1.0, -2.0], A_ub=[[1.0, 1.0]], b_ub=[4.0])
        >>> print(res.x.tolist(), res.value.item(), res.dual.tolist())
        [0.0, 4.0] -8.0 [-2.0]
    """
    c = _as_array("c", c, 1)
    n = c.shape[0]
    if n == 0:
        raise ValueError("c is empty; expected at least one variable")
    dtype, A_ub, b_ub, A_eq, b_eq = _constraints(c, A_ub, b_ub, A_eq, b_eq)
    m_ub, m_eq = A_ub.shape[0], A_eq.shape[0]
    if max_iterations is None:
        max_iterations = 4 * (n + 2 * m_ub + m_eq) + 20
    max_iterations = check_budget("max_iterations", max_iterations, 0)
    tol = check_tolerance("tol", tol, default_tolerance(dtype))
    # With no constraint at all, add the vacuous row 0 @ x <= 1.
    pad = m_ub + m_eq == 0
    if pad:
        A_ub, b_ub = jnp.zeros((1, n), dtype), jnp.ones((1,), dtype)
    mu = A_ub.shape[0]
    a = jnp.concatenate([A_ub, A_eq]).astype(dtype)
    b = jnp.concatenate([b_ub, b_eq]).astype(dtype)
    x, dual, status, iters, cert = solve_standard(
        c.astype(dtype), a, b, mu, max_iterations, tol
    )
    return _result(
        c.astype(dtype),
        x,
        dual[:0] if pad else dual,
        status,
        iters,
        cert,
        0 if pad else mu,
    )


def solve_standard(
    c: Float[Array, " n"],
    a: Float[Array, "m n"],
    b: Float[Array, " m"],
    mu: int,
    max_iterations: int,
    tol: float,
):
    """Certified two-phase simplex on ``min c x``, ``a[:mu] x <= b[:mu]``,
    ``a[mu:] x == b[mu:]``, ``x >= 0`` (validated data, ``m >= 1``).

    The data are equilibrated (powers of two, so exactly) and pivoted; the
    final basis is refactorised from the scaled data (no drift from the
    tableau updates), the answer unscaled, and the claim of the pivoting
    checked on the original data (:mod:`marlmeta.lp._certificate`).

    Returns:
        ``(x, y, status, iterations, certificate)``: the basic solution, the
        multipliers (scipy's sign convention), the certified :class:`Status`,
        the number of pivots and the relative residual of the claim.
    """
    m, n = a.shape
    dtype = a.dtype
    r, s = equilibrate(a)
    a1 = r[:, None] * a * s[None, :]
    beta = power_of_two(1 / jnp.max(jnp.abs(r * b)))
    gamma = power_of_two(1 / jnp.max(jnp.abs(s * c)))
    b1, c1 = beta * r * b, gamma * s * c
    is_ub = jnp.arange(m) < mu
    sign = jnp.where(b1 < 0, -1.0, 1.0).astype(dtype)
    # The columns: structural, slacks of the A_ub rows, artificials.
    full = jnp.concatenate([a1, jnp.eye(m, mu, dtype=dtype), jnp.diag(sign)], 1)
    rows = sign[:, None] * jnp.concatenate([full, b1[:, None]], axis=1)
    needs_art = ~(is_ub & (b1 >= 0))
    basis = jnp.where(needs_art, n + mu + jnp.arange(m), n + jnp.arange(m))
    k = n + mu + m
    cost2 = jnp.concatenate([c1, jnp.zeros(k - n, dtype)])
    cost1 = jnp.concatenate([jnp.zeros(n + mu, dtype), needs_art.astype(dtype)])
    red1 = jnp.append(cost1, 0) - jnp.sum(jnp.where(needs_art[:, None], rows, 0), 0)
    tableau = jnp.concatenate([rows, jnp.append(cost2, 0)[None], red1[None]])
    run = functools.partial(
        solve_tableau,
        num_enterable=n + mu,
        phase_one=True,
        max_iterations=max_iterations,
        tol=tol,
        feasibility_scale=1 + jnp.max(jnp.abs(b1)),
    )
    _, basis, status, iters = run(tableau, basis)
    # Reinversion: pivot on from a tableau rebuilt from the data at the final
    # basis, which corrects decisions taken on a drifted tableau.
    lu = lu_factor(full[:, basis])
    body = lu_solve(lu, jnp.concatenate([full, b1[:, None]], 1))
    body = body.at[:, k].set(jnp.maximum(body[:, k], 0))
    reduced = [jnp.append(cost, 0) - cost[basis] @ body for cost in (cost2, cost1)]
    _, basis, status, more = run(jnp.concatenate([body, jnp.stack(reduced)]), basis)
    iters = iters + more
    # Refactorise the final basis from the scaled data.
    lu = lu_factor(full[:, basis])
    x_full = jnp.zeros(k, dtype).at[basis].set(lu_solve(lu, b1))
    x = s * jnp.maximum(x_full[:n], 0) / beta
    y2 = lu_solve(lu, cost2[basis], trans=True)
    # A row whose slack is basic has a zero multiplier (complementarity).
    in_basis = jnp.zeros(k, bool).at[basis].set(True)
    slack_basic = jnp.append(in_basis[n : n + mu], jnp.zeros(m - mu, bool))
    y = jnp.where(is_ub, jnp.minimum(y2, 0), y2)
    y = jnp.where(slack_basic, 0, y) * r / gamma
    cert_tol = certificate_tolerance(tol)
    optimal = optimality_residual(c, a, b, mu, x, y, r, s)
    # Unboundedness: an enterable column with negative reduced cost and no
    # positive entry gives the ray e_j - B^{-1} a_j.
    d = cost2 - full.T @ y2
    col = lu_solve(lu, full)
    rays = (jnp.arange(k) < n + mu) & (d < -tol) & jnp.all(col <= tol, axis=0)
    j = jnp.argmax(rays)
    ray_full = (jnp.arange(k) == j).astype(dtype).at[basis].add(-col[:, j])
    ray = ray_residual(c, a, mu, s * jnp.maximum(ray_full[:n], 0), r, cert_tol)
    unbounded = jnp.where(
        jnp.any(rays), jnp.maximum(ray, primal_residual(a, b, mu, x, r)), jnp.inf
    )
    # Infeasibility: the phase-1 multipliers are a Farkas certificate.
    y1 = lu_solve(lu, cost1[basis], trans=True)
    farkas = farkas_residual(
        a, b, jnp.where(is_ub, jnp.minimum(y1, 0), y1) * r, s, cert_tol
    )
    status, cert = certified(status, (farkas, unbounded, optimal), cert_tol, (c, a, b))
    return x, y, status, iters, cert
