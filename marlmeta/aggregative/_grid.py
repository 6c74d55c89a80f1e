"""The aggregate grid ``X_alpha``: points, nearest-point snapping, Lipschitz extension.

``X_alpha = (alpha Z)^d`` restricted to the points within ``alpha`` of the box
of aggregates (per coordinate ``[min lo - alpha, max hi + alpha]``, taken over
all ``(h, s)``): a grid point farther than ``alpha`` from every reachable
aggregate makes its linear program infeasible, so dropping it changes nothing.
This is the paper's ``(alpha Z ∩ [-W, W])^d`` with the smallest ``W`` per axis.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from marlmeta.aggregative._game import AggregativeGame

#: Most grid points a planner builds (``|X_alpha|`` is exponential in ``d``).
MAX_POINTS = 200_000


class Grid(eqx.Module):
    """A regular grid ``start + alpha * k``, ``0 <= k < counts`` per axis.

    Attributes:
        start: ``(d,)`` the lowest point.
        alpha: the spacing.
        counts: points per axis (static).
    """

    start: Float[Array, " d"]
    alpha: Float[Array, ""]
    counts: tuple[int, ...] = eqx.field(static=True)

    @property
    def size(self) -> int:
        return math.prod(self.counts)

    def points(self) -> Float[Array, "G d"]:
        """All points, the last axis varying fastest (lexicographic order)."""
        axes = [jnp.arange(c) for c in self.counts]
        idx = jnp.stack(jnp.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes))
        return self.start + self.alpha * idx.astype(self.start.dtype)

    def snap(self, x: Float[Array, "... d"]) -> Int[Array, "..."]:
        """Index of the nearest grid point (at ``||.||_inf`` distance ``<= alpha / 2``
        inside the grid)."""
        k = jnp.round((x - self.start) / self.alpha).astype(jnp.int32)
        k = jnp.clip(k, 0, jnp.asarray(self.counts) - 1)
        strides = np.cumprod((1, *self.counts[:0:-1]))[::-1].copy()
        return jnp.sum(k * jnp.asarray(strides, jnp.int32), -1)


def make_grid(game: AggregativeGame, alpha: float) -> Grid:
    """The grid of spacing ``alpha`` covering ``game``'s aggregates (concrete).

    ``game`` may be one game or a batch with one leading axis: the grid of a
    batch is one unbatched grid covering every game's box (grid points are the
    multiples of ``alpha``, so it contains each game's own grid, and its extra
    points are farther than ``alpha`` from that game's aggregates, where the
    planners' linear programs are infeasible). Build it on the host and pass it
    to a planner under ``vmap`` with ``in_axes=None``.

    Raises:
        ValueError: for a bad ``alpha``, more than :data:`MAX_POINTS` points, or
            a traced game (the grid's shape depends on the data).
    """
    alpha = float(alpha)
    if not (alpha > 0 and math.isfinite(alpha)):
        raise ValueError(f"alpha is {alpha!r}; expected a finite number > 0")
    contrib = game.contributions
    if isinstance(contrib, jax.core.Tracer):
        raise ValueError(
            "make_grid needs a concrete game (the grid's shape depends on the "
            "data); build the grid outside jit/vmap, for a batch with make_grid(games, "
            "alpha)"
        )
    d = contrib.shape[-1]
    # the box of aggregates over all (h, s) and games of a batch
    lo = np.asarray(jnp.sum(jnp.min(contrib, -2), -2)).reshape(-1, d).min(0) - alpha
    hi = np.asarray(jnp.sum(jnp.max(contrib, -2), -2)).reshape(-1, d).max(0) + alpha
    first = np.ceil(lo / alpha - 1e-9)
    last = np.floor(hi / alpha + 1e-9)
    counts = tuple(int(c) for c in last - first + 1)
    size = math.prod(counts)
    if size > MAX_POINTS:
        raise ValueError(
            f"alpha = {alpha!r} gives {size} grid points in d = {d} "
            f"dimensions; at most {MAX_POINTS} are allowed (increase alpha)"
        )
    dtype = game.contributions.dtype
    return Grid(
        start=jnp.asarray(first * alpha, dtype),
        alpha=jnp.asarray(alpha, dtype),
        counts=counts,
    )


def lipschitz_extension(
    values: Float[Array, "... G"],
    points: Float[Array, "G d"],
    lipschitz,
    *,
    upper: bool = True,
) -> Float[Array, "... G"]:
    """McShane's ``inf``-norm extension restricted to the grid.

    ``upper``: ``min_{g'} values[g'] + L ||x_g - x_g'||_inf``, the largest
    ``L``-Lipschitz function below ``values`` on the grid; otherwise
    ``max_{g'} values[g'] - L ||x_g - x_g'||_inf``, the smallest one above.
    Batched pairwise distances, ``O(G^2)``.
    """
    dist = jnp.max(jnp.abs(points[:, None, :] - points[None, :, :]), -1)
    pen = lipschitz * dist
    if upper:
        return jnp.min(values[..., None, :] + pen, -1)
    return jnp.max(values[..., None, :] - pen, -1)
