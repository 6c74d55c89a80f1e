"""Certificates of LP answers, measured on the original (unscaled) data.

A simplex run ends with a basis and a claim (optimal, infeasible, unbounded).
Rounding can make the claim wrong, so every claim is checked afterwards
against the data the caller gave, and only a claim that checks out is
reported. With ``A`` the constraint matrix (``m_ub`` inequality rows first,
then equalities), ``x >= 0`` and the multipliers ``y`` (``y_ub <= 0``; scipy's
sign convention), the checks are relative to the size of the terms involved:

- optimality (:func:`optimality_residual`): the primal residuals ``p_i``,
  ``max(A_i x - b_i, 0)`` for an inequality with ``y_i = 0`` and
  ``|A_i x - b_i|`` for an equality or an inequality with ``y_i != 0``
  (complementary slackness), relative to the sizes ``|b_i| + sum_j |A_ij|
  x_j``; the dual residuals ``q_j``, ``max(-d_j, 0)`` for ``x_j = 0`` and
  ``|d_j|`` for ``x_j > 0``, of the reduced costs ``d = c - A^T y``, relative
  to ``|c_j| + sum_i |A_ij| |y_i|``. Both are measured componentwise with a
  floor: ``max_i r_i p_i / (r_i z_i + f max_l r_l z_l)`` for the sizes
  ``z_i = |b_i| + |A_i| x``, the row scales ``r`` of the equilibration (column
  scales ``s`` for ``q``) and ``f = sqrt(10 default_tolerance)`` (``1e-4`` in
  float64, ``1e-2`` in float32), so the measure does not change when a row or
  column of the data is multiplied by a constant, and a row whose terms are
  all rounding noise (``z_i`` about 0) is judged against the others. Since
  ``c x - b y = x d + y (A x - b)``, residuals ``<= tau`` bound the duality gap
  by ``tau`` times the sizes of the terms: ``c x`` is optimal to that accuracy;
- unboundedness (:func:`ray_residual`): a feasible ``x`` (primal residual as
  above) and a ray ``r >= 0`` with ``A_ub r <= 0``, ``A_eq r = 0`` (relative to
  ``|A| r``, measured as above) and ``c r < -tau |c| r``;
- infeasibility (:func:`farkas_residual`): a Farkas multiplier ``y`` with
  ``y_ub <= 0``, ``A^T y <= 0`` (relative to ``|A|^T |y|``, measured as
  above) and ``b y > tau |b| |y|``: then ``0 >= y A x = y b - y_ub s > 0``
  for any feasible ``x`` with slacks ``s``, a contradiction.

A claim is accepted when its residual is at most
:func:`certificate_tolerance`. The module also holds the argument checks
shared by the LP solvers and the power-of-two equilibration of the data
(Curtis and Reid 1972, "On the automatic scaling of matrices for Gaussian
elimination"; Ruiz 2001, "A scaling algorithm to equilibrate both rows and
columns norms in matrices"), which makes the pivoting independent of how the
rows and columns happen to be scaled.
"""

from __future__ import annotations

import math
import numbers

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from marlmeta.lp._simplex import Status, default_tolerance

CERTIFICATE_FACTOR = 10.0


def certified(
    status: Array,
    certificates: tuple[Array, Array, Array],
    cert_tol: float,
    data: tuple[Array, ...],
) -> tuple[Array, Array]:
    """The claim ``status`` of a simplex run, kept only with its certificate.

    Args:
        status: the run's claim (:class:`~marlmeta.lp.Status`).
        certificates: the residuals of an infeasibility, an unboundedness and
            an optimality claim (the one of the claim is read).
        cert_tol: :func:`certificate_tolerance`.
        data: the caller's arrays (any shapes).

    Returns:
        ``(status, cert)``: the claim where every entry of ``data`` is finite
        and its certificate ``cert`` is at most ``cert_tol`` (or the run hit
        its iteration limit), else ``Status.NUMERICAL``; and ``cert``.
    """
    farkas, ray, optimal = certificates
    cert = jnp.select(
        [status == Status.INFEASIBLE, status == Status.UNBOUNDED],
        [farkas, ray],
        optimal,
    )
    finite = jnp.all(jnp.isfinite(jnp.concatenate([x.ravel() for x in data])))
    ok = finite & (cert <= cert_tol)
    status = jnp.where(
        ok | (finite & (status == Status.ITERATION_LIMIT)), status, Status.NUMERICAL
    ).astype(jnp.int32)
    return status, cert


def certificate_tolerance(tol: float) -> float:
    """The relative residual up to which an answer is certified: ``10 tol``.

    With the default pivot tolerance (:func:`marlmeta.lp.default_tolerance`)
    that is ``1e-8`` in float64 and ``1e-4`` in float32.
    """
    return CERTIFICATE_FACTOR * tol


def check_tolerance(name: str, tol, default: float) -> float:
    """``tol`` as a float in ``(0, 0.01]`` (``default`` if None), else ValueError."""
    if tol is None:
        return default
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real):
        raise ValueError(f"{name} is {tol!r}; expected a number in (0, 0.01]")
    value = float(tol)
    if not (math.isfinite(value) and 0.0 < value <= 0.01):
        raise ValueError(f"{name} is {value!r}; expected a number in (0, 0.01]")
    return value


def check_budget(name: str, value, minimum: int = 1) -> int:
    """``value`` as a Python int ``>= minimum``, else ValueError naming ``name``."""
    kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} is {value!r}; expected {kind}")
    if int(value) < minimum:
        raise ValueError(f"{name} is {int(value)}; expected {kind}")
    return int(value)


def power_of_two(x: Array) -> Array:
    """The power of two nearest to ``x > 0`` in log scale (1 where ``x`` is not
    positive and finite): scaling by it is exact."""
    good = (x > 0) & jnp.isfinite(x)
    return jnp.where(good, jnp.exp2(jnp.round(jnp.log2(jnp.where(good, x, 1)))), 1)


def equilibrate(
    a: Float[Array, "m n"], passes: int = 8
) -> tuple[Float[Array, " m"], Float[Array, " n"]]:
    """Row and column scales ``r``, ``s`` (powers of two) such that every
    nonzero row and column of ``r[:, None] * |a| * s`` has a largest entry near 1.

    Ruiz's iteration: divide each row, then each column, by the square root of
    its largest entry, ``passes`` times; zero rows and columns keep scale 1.
    """
    m, n = a.shape
    r = jnp.ones(m, a.dtype)
    s = jnp.ones(n, a.dtype)
    mag = jnp.abs(a)
    for _ in range(passes):
        rmax = jnp.max(mag * r[:, None] * s[None, :], axis=1, initial=0.0)
        r = r / jnp.where(rmax > 0, jnp.sqrt(rmax), 1)
        cmax = jnp.max(mag * r[:, None] * s[None, :], axis=0, initial=0.0)
        s = s / jnp.where(cmax > 0, jnp.sqrt(cmax), 1)
    return power_of_two(r), power_of_two(s)


def relative(viol: Array, scale: Array, weight: Array | float) -> Array:
    """``max_i w_i viol_i / (w_i scale_i + f max_l w_l scale_l)``, the floor
    ``f`` as in the module docstring (0 when nothing is violated)."""
    floor = math.sqrt(certificate_tolerance(default_tolerance(viol.dtype)))
    ws = weight * scale
    den = ws + floor * jnp.max(ws, initial=0.0)
    tiny = jnp.finfo(viol.dtype).tiny
    ratio = jnp.where(viol == 0, 0, weight * viol / jnp.maximum(den, tiny))
    return jnp.max(ratio, initial=0.0)


def optimality_residual(
    c: Float[Array, " n"],
    a: Float[Array, "m n"],
    b: Float[Array, " m"],
    num_ub: int,
    x: Float[Array, " n"],
    y: Float[Array, " m"],
    row_weight: Float[Array, " m"],
    col_weight: Float[Array, " n"],
) -> Float[Array, ""]:
    """Relative primal, dual and complementarity residual of ``(x >= 0, y)``
    with ``y_ub <= 0`` (module docstring); NaN if any input is not finite."""
    d = c - a.T @ y
    # Dual feasibility d >= 0, and d = 0 (complementarity) where x > 0.
    viol = jnp.where(x > 0, jnp.abs(d), jnp.maximum(-d, 0))
    scale = jnp.abs(c) + jnp.abs(a).T @ jnp.abs(y)
    dual = relative(viol, scale, col_weight)
    primal = primal_residual(a, b, num_ub, x, row_weight, y)
    finite = jnp.all(jnp.isfinite(jnp.concatenate([c, y])))
    return jnp.where(finite, jnp.maximum(primal, dual), jnp.nan)


def _row_violation(d: Float[Array, " m"], is_ub: Bool[Array, " m"]) -> Array:
    """``max(d, 0)`` on inequality rows, ``|d|`` on equality rows."""
    return jnp.where(is_ub, jnp.maximum(d, 0), jnp.abs(d))


def primal_residual(
    a: Float[Array, "m n"],
    b: Float[Array, " m"],
    num_ub: int,
    x: Float[Array, " n"],
    row_weight: Float[Array, " m"],
    y: Float[Array, " m"] | None = None,
) -> Float[Array, ""]:
    """Relative row violation of ``x >= 0`` (module docstring); with
    multipliers ``y``, rows with ``y_i != 0`` must hold with equality
    (complementarity)."""
    is_ub = jnp.arange(a.shape[0]) < num_ub
    if y is not None:
        is_ub = is_ub & (y == 0)
    viol = _row_violation(a @ x - b, is_ub)
    res = relative(viol, jnp.abs(b) + jnp.abs(a) @ x, row_weight)
    finite = jnp.all(jnp.isfinite(jnp.concatenate([a.ravel(), b, x])))
    return jnp.where(finite, res, jnp.nan)


def ray_residual(
    c: Float[Array, " n"],
    a: Float[Array, "m n"],
    num_ub: int,
    ray: Float[Array, " n"],
    row_weight: Float[Array, " m"],
    tol: float,
) -> Float[Array, ""]:
    """How far ``ray >= 0`` is from proving unboundedness (module docstring):
    the relative violation of ``A_ub r <= 0`` and ``A_eq r = 0``, or ``inf``
    unless ``c r < -tol |c| r``."""
    viol = _row_violation(a @ ray, jnp.arange(a.shape[0]) < num_ub)
    res = relative(viol, jnp.abs(a) @ ray, row_weight)
    slope = -(c @ ray) / jnp.maximum(jnp.abs(c) @ ray, jnp.finfo(c.dtype).tiny)
    ok = jnp.all(jnp.isfinite(jnp.concatenate([c, a.ravel(), ray]))) & (slope > tol)
    return jnp.where(ok, res, jnp.inf)


def farkas_residual(
    a: Float[Array, "m n"],
    b: Float[Array, " m"],
    y: Float[Array, " m"],
    col_weight: Float[Array, " n"],
    tol: float,
) -> Float[Array, ""]:
    """How far ``y`` (``y_ub <= 0`` taken as given) is from proving
    infeasibility: the relative violation of ``A^T y <= 0``, or ``inf``
    unless ``b y > tol |b| |y|``."""
    res = relative(jnp.maximum(a.T @ y, 0), jnp.abs(a).T @ jnp.abs(y), col_weight)
    margin = (b @ y) / jnp.maximum(jnp.abs(b) @ jnp.abs(y), jnp.finfo(b.dtype).tiny)
    ok = jnp.all(jnp.isfinite(jnp.concatenate([a.ravel(), b, y]))) & (margin > tol)
    return jnp.where(ok, res, jnp.inf)
