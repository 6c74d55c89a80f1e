"""Exact zero-sum matrix games by one slack-feasible simplex solve."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from marlmeta.lp._certificate import (
    certificate_tolerance,
    check_budget,
    check_tolerance,
)
from marlmeta.lp._linprog import _as_array, _check_finite, solve_standard
from marlmeta.lp._simplex import Status, default_tolerance


class MatrixGameSolution(eqx.Module):
    """Result of :func:`solve_matrix_game` (a pytree; batched under ``vmap``).

    When ``status`` is not :attr:`Status.OPTIMAL` every array field is NaN.

    Attributes:
        value: the value ``max_x min_y x^T M y``.
        x: ``(m,)`` an optimal (extreme) strategy of the row player (maximiser).
        y: ``(n,)`` an optimal (extreme) strategy of the column player.
        certificate: ``max_a (M y)_a - min_b (x^T M)_b >= 0``, the duality gap
            of the pair; zero (to rounding) exactly when both are optimal.
        status: :class:`Status` as ``int32``.
        iterations: number of pivots.
    """

    value: Float[Array, ""]
    x: Float[Array, " m"]
    y: Float[Array, " n"]
    certificate: Float[Array, ""]
    status: Int[Array, ""]
    iterations: Int[Array, ""]

    @property
    def success(self) -> Array:
        """``status == Status.OPTIMAL``."""
        return self.status == Status.OPTIMAL


def solve_matrix_game(
    M: ArrayLike, *, max_iterations: int | None = None, tol: float | None = None
) -> MatrixGameSolution:
    """Solve the zero-sum matrix game ``M`` (row player maximises ``x^T M y``).

    The classical reduction to one LP (von Neumann and Morgenstern 1944,
    "Theory of Games and Economic Behavior"; Dantzig 1951, "A proof of the
    equivalence of the programming problem and the game problem"): rescale
    ``B = (M - min M) / d + 1`` into ``[1, 2]``, ``d = max M - min M`` (or 1
    for a constant ``M``), which keeps the strategies and maps the value
    affinely whatever the scale of ``M``; then solve ``max 1^T w`` s.t.
    ``B w <= 1``, ``w >= 0`` by :func:`marlmeta.lp.linprog`'s certified
    simplex (its slack basis is feasible, so phase 1 is empty). With ``t =
    1^T w``: ``y = w / t`` (the value is ``(1 / t - 1) d + min M``), and the
    row strategy ``x = u / 1^T u`` comes from the LP multipliers ``u`` of the
    rows. The reported value is the midpoint of ``[min_b (x^T M)_b, max_a
    (M y)_a]``, which contains the value: its error is at most half the
    ``certificate``. Both strategies are vertices of the optimal sets. Batch with
    ``jax.vmap``.

    The status is :attr:`Status.OPTIMAL` only when the LP is certified and
    the duality gap ``certificate`` of ``(x, y)`` in ``M`` itself is at most
    ``10 tol d`` (``1e-8 d`` in float64, ``1e-4 d`` in float32 by default);
    otherwise :attr:`Status.NUMERICAL` (or the LP's status).

    Args:
        M: ``(m, n)`` payoff matrix of the row player.
        max_iterations: pivot budget (static, a non-negative int); default
            ``2 (m + n) + 6``.
        tol: pivot / reduced-cost tolerance in ``(0, 0.01]``; default
            :func:`marlmeta.lp.default_tolerance` of the dtype.

    Returns:
        A :class:`MatrixGameSolution`.

    Raises:
        ValueError: if ``M`` is not a non-empty matrix, or (when concrete) has
            a NaN or infinite entry, or ``max_iterations`` or ``tol`` is
            invalid. Under ``jit`` a NaN or infinite entry gives
            :attr:`Status.NUMERICAL` instead.

    Example:
        >>> from marlmeta.lp import solve_matrix_game
        >>> sol = solve_matrix_game([[1.0, -1.0], [-1.0, 1.0]])  # matching pennies
        >>> print(sol.value.round(12), sol.x.round(12), sol.y.round(12))
        0.0 [0.5 0.5] [0.5 0.5]
    """
    M = _as_array("M", M, 2)
    if not jnp.issubdtype(M.dtype, jnp.floating):
        M = M.astype(jnp.result_type(float))
    m, n = M.shape
    if m == 0 or n == 0:
        raise ValueError(f"M has shape {M.shape}; expected at least one action each")
    _check_finite("M", M)
    dtype = M.dtype
    if max_iterations is None:
        max_iterations = 2 * (m + n) + 6
    max_iterations = check_budget("max_iterations", max_iterations, 0)
    tol = check_tolerance("tol", tol, default_tolerance(dtype))
    low = jnp.min(M)
    spread = jnp.max(M) - low
    spread = jnp.where(spread > 0, spread, 1)
    B = (M - low) / spread + 1
    w, u, status, iters, _ = solve_standard(
        -jnp.ones(n, dtype), B, jnp.ones(m, dtype), m, max_iterations, tol
    )
    y = w / jnp.sum(w)
    x = -u / jnp.sum(-u)
    # The value lies between the guarantees of the two strategies.
    upper, lower = jnp.max(M @ y), jnp.min(x @ M)
    value = (upper + lower) / 2
    certificate = upper - lower
    certified = certificate <= certificate_tolerance(tol) * spread
    ok = status == Status.OPTIMAL
    status = jnp.where(ok & ~certified, Status.NUMERICAL, status).astype(jnp.int32)
    ok = status == Status.OPTIMAL
    nan = jnp.array(jnp.nan, dtype)
    return MatrixGameSolution(
        value=jnp.where(ok, value, nan),
        x=jnp.where(ok, x, nan),
        y=jnp.where(ok, y, nan),
        certificate=jnp.where(ok, certificate, nan),
        status=status,
        iterations=iters,
    )
