"""Exact zero-sum matrix games by one slack-feasible simplex solve."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from marlmeta.lp._linprog import _as_array, _check_finite
from marlmeta.lp._simplex import Status, default_tolerance, primal, solve_tableau


class MatrixGameSolution(eqx.Module):
    """Result of :func:`matrix_game` (a pytree; batched under ``vmap``).

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


def matrix_game(
    M: ArrayLike, *, max_iterations: int | None = None, tol: float | None = None
) -> MatrixGameSolution:
    """Solve the zero-sum matrix game ``M`` (row player maximises ``x^T M y``).

    The classical reduction to one LP (von Neumann and Morgenstern 1944,
    "Theory of Games and Economic Behavior"; Dantzig 1951, "A proof of the
    equivalence of the programming problem and the game problem"): shift
    ``B = M - min M + 1 > 0``, then solve ``max 1^T w`` s.t. ``B w <= 1``,
    ``w >= 0``, whose slack basis is feasible, so no phase 1 is needed. With
    ``t = 1^T w``: ``y = w / t``, ``value = 1 / t - (1 - min M)``, and the row
    strategy ``x = u / 1^T u`` comes from the LP duals ``u`` (the reduced
    costs of the slack columns). Both strategies are vertices of the optimal
    sets. Batch with ``jax.vmap``.

    Args:
        M: ``(m, n)`` payoff matrix of the row player.
        max_iterations: pivot budget (static); default ``2 (m + n) + 6``.
        tol: pivot / reduced-cost tolerance; default
            :func:`marlmeta.lp.default_tolerance` of the dtype.

    Returns:
        A :class:`MatrixGameSolution`.

    Raises:
        ValueError: if ``M`` is not a non-empty matrix, or (when concrete) has
            a NaN or infinite entry.

    Example:
        >>> from marlmeta.lp import matrix_game
        >>> sol = matrix_game([[1.0, -1.0], [-1.0, 1.0]])  # matching pennies
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
    tol = default_tolerance(dtype) if tol is None else float(tol)
    shift = 1 - jnp.min(M)
    B = M + shift
    rows = jnp.concatenate(
        [B, jnp.eye(m, dtype=dtype), jnp.ones((m, 1), dtype)], axis=1
    )
    cost = jnp.concatenate([-jnp.ones(n, dtype), jnp.zeros(m + 1, dtype)])
    t, basis, status, iters = solve_tableau(
        jnp.concatenate([rows, cost[None]]),
        n + jnp.arange(m),
        num_enterable=n + m,
        phase_one=False,
        max_iterations=int(max_iterations),
        tol=tol,
    )
    w = primal(t, basis)[:n]
    u = jnp.maximum(t[m, n : n + m], 0)
    y = jnp.maximum(w, 0) / jnp.sum(w)
    x = u / jnp.sum(u)
    value = 1 / jnp.sum(w) - shift
    certificate = jnp.max(M @ y) - jnp.min(x @ M)
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
