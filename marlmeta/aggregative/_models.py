"""Rewards and transitions of an aggregative Markov game, as functions of ``x``.

In an aggregative Markov game (Tang, Tang, Wu, "Provably Efficient
Reinforcement Learning for Large Aggregative Markov Games") player ``i``'s
reward ``r_{h,i}(s, a_i, x)`` and the kernel ``P_h(. | s, x)`` depend on the
other players only through the continuous aggregate ``x`` in ``R^d``. Each
model here is a pytree evaluated at any ``x`` (on or off the planner's grid)
and declares its Lipschitz constant:

- rewards: ``gamma_r`` with ``|r(x) - r(x')| <= gamma_r ||x - x'||_inf``;
- transitions: ``gamma_P`` with ``TV(P(x), P(x')) <= gamma_P ||x - x'||_inf``
  (total variation is half the ``L1`` distance).

Rewards also bound their range over a box of aggregates (:meth:`bounds`), which
scales the continuation term of the planners' Lipschitz constants.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta._checks import check_finite, check_simplex_rows, concrete


def _array(x) -> Array:
    """A float array from an array, a NumPy array or a list."""
    a = jnp.asarray(x)
    return a if jnp.issubdtype(a.dtype, jnp.floating) else a.astype(float)


def _check_leaves(module: eqx.Module, prefix: str) -> None:
    """``ValueError`` for the first non-finite entry of any array field."""
    for name, leaf in vars(module).items():
        c = concrete(leaf)
        if c is not None and c.dtype.kind == "f":
            check_finite(f"{prefix}.{name}", c)


class AbstractAggregateRewards(eqx.Module):
    """Rewards ``r_{h,i}(s, a, x)`` of ``n`` players with ``m`` actions each."""

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, int, int, int]:
        """``(H, S, n, m)``."""

    @abc.abstractmethod
    def __call__(self, h, s, i, a, x: Float[Array, " d"]) -> Float[Array, ""]:
        """Player ``i``'s reward for action ``a`` at aggregate ``x``."""

    @abc.abstractmethod
    def lipschitz(self) -> Float[Array, ""]:
        """``gamma_r`` in the ``inf``-norm of ``x``."""

    @abc.abstractmethod
    def bounds(self, lo: Float[Array, "H S d"], hi: Float[Array, "H S d"]):
        """``(rmin, rmax)`` of the rewards over ``lo[h, s] <= x <= hi[h, s]``."""

    def check(self) -> None:
        """Raise ``ValueError`` naming a NaN or infinite entry (concrete inputs)."""
        _check_leaves(self, "rewards")


def _box_max(slope, lo, hi):
    """``max_{lo <= x <= hi} slope . x`` along the last axis."""
    return jnp.sum(jnp.maximum(slope * lo, slope * hi), axis=-1)


class AffineRewards(AbstractAggregateRewards):
    """``r_{h,i}(s, a, x) = base[h, s, i, a] + slope[h, s, i, a] . x``.

    ``gamma_r = max ||slope[h, s, i, a]||_1``.

    Attributes:
        base: ``(H, S, n, m)``.
        slope: ``(H, S, n, m, d)``.
    """

    base: Float[Array, "H S n m"] = eqx.field(converter=_array)
    slope: Float[Array, "H S n m d"] = eqx.field(converter=_array)

    @property
    def shape(self):
        return tuple(self.base.shape)

    def __call__(self, h, s, i, a, x):
        return self.base[h, s, i, a] + self.slope[h, s, i, a] @ x

    def lipschitz(self):
        return jnp.max(jnp.sum(jnp.abs(self.slope), -1))

    def bounds(self, lo, hi):
        lo, hi = lo[:, :, None, None], hi[:, :, None, None]
        top = self.base + _box_max(self.slope, lo, hi)
        bottom = self.base - _box_max(-self.slope, lo, hi)
        return jnp.min(bottom), jnp.max(top)


class CongestionRewards(AbstractAggregateRewards):
    """``r_{h,i}(s, a, x) = theta[h, s, i, a] - cost[h, s, i, a] * x[a]``.

    The congestion form: action ``a`` uses facility ``a`` whose load is the
    aggregate coordinate ``x[a]`` (so ``d = m``); a negative ``cost`` rewards
    crowding. ``gamma_r = max |cost|``.

    Attributes:
        theta: ``(H, S, n, m)``.
        cost: ``(H, S, n, m)``.
    """

    theta: Float[Array, "H S n m"] = eqx.field(converter=_array)
    cost: Float[Array, "H S n m"] = eqx.field(converter=_array)

    @property
    def shape(self):
        return tuple(self.theta.shape)

    def __call__(self, h, s, i, a, x):
        return self.theta[h, s, i, a] - self.cost[h, s, i, a] * x[a]

    def lipschitz(self):
        return jnp.max(jnp.abs(self.cost))

    def bounds(self, lo, hi):
        m = self.theta.shape[-1]
        lo, hi = lo[:, :, None, :m], hi[:, :, None, :m]
        a, b = -self.cost * lo, -self.cost * hi
        top = self.theta + jnp.maximum(a, b)
        bottom = self.theta + jnp.minimum(a, b)
        return jnp.min(bottom), jnp.max(top)


class AbstractAggregateTransitions(eqx.Module):
    """A kernel ``P_h(. | s, x)`` over ``S`` states."""

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, int]:
        """``(H, S)``."""

    @abc.abstractmethod
    def __call__(self, h, s, x: Float[Array, " d"]) -> Float[Array, " S"]:
        """The next-state distribution at aggregate ``x``."""

    @abc.abstractmethod
    def lipschitz(self) -> Float[Array, ""]:
        """``gamma_P``: total variation per unit of ``||x - x'||_inf``."""

    def check(self) -> None:
        """Raise ``ValueError`` naming a NaN or infinite entry (concrete inputs)."""
        _check_leaves(self, "transitions")


class SoftmaxTransitions(AbstractAggregateTransitions):
    """``P_h(. | s, x) = softmax(logits[h, s] + coupling[h, s] @ x)``.

    Lipschitz constant: the Jacobian of the softmax at ``p`` maps ``v`` to
    ``p * (v - p . v)``, whose ``L1`` norm, the mean absolute deviation of ``v``
    under ``p``, is at most half the range ``max v - min v``. With
    ``v = coupling[h, s] @ dx`` the range is at most
    ``max_{k, k'} ||coupling[h, s, k] - coupling[h, s, k']||_1 ||dx||_inf``, so
    ``gamma_P = max_{h, s, k, k'} ||coupling[h, s, k] - coupling[h, s, k']||_1 / 4``.

    Attributes:
        logits: ``(H, S, S)``.
        coupling: ``(H, S, S, d)``.
    """

    logits: Float[Array, "H S S"] = eqx.field(converter=_array)
    coupling: Float[Array, "H S S d"] = eqx.field(converter=_array)

    @property
    def shape(self):
        return tuple(self.logits.shape[:2])

    def __call__(self, h, s, x):
        return jax.nn.softmax(self.logits[h, s] + self.coupling[h, s] @ x)

    def lipschitz(self):
        c = self.coupling
        diff = c[:, :, :, None, :] - c[:, :, None, :, :]
        return jnp.max(jnp.sum(jnp.abs(diff), -1)) / 4


class ThresholdTransitions(AbstractAggregateTransitions):
    """A smoothed threshold on the largest load: a mixture of two kernels.

    ``P_h(. | s, x) = (1 - g) low[h, s] + g high[h, s]`` with
    ``g = sigmoid(sharpness (max_k x_k - threshold[h, s]))``: the sigmoid
    smoothing of the hard rule "go to ``high`` when some load exceeds the
    threshold" of the distancing game of Leonardos, Overman, Panageas,
    Piliouras, "Global Convergence of Multi-Agent Policy Gradient in Markov
    Potential Games" (ICLR 2022). ``max_k x_k`` is 1-Lipschitz in ``||.||_inf``
    and the sigmoid ``sharpness / 4``-Lipschitz, so
    ``gamma_P = sharpness / 4 * max TV(low[h, s], high[h, s])``.

    Attributes:
        low: ``(H, S, S)`` next-state distributions below the threshold.
        high: ``(H, S, S)`` above it.
        threshold: ``(H, S)``.
        sharpness: scalar.
    """

    low: Float[Array, "H S S"] = eqx.field(converter=_array)
    high: Float[Array, "H S S"] = eqx.field(converter=_array)
    threshold: Float[Array, "H S"] = eqx.field(converter=_array)
    sharpness: Float[Array, ""] = eqx.field(converter=_array)

    @property
    def shape(self):
        return tuple(self.low.shape[:2])

    def __call__(self, h, s, x):
        g = jax.nn.sigmoid(self.sharpness * (jnp.max(x) - self.threshold[h, s]))
        return (1 - g) * self.low[h, s] + g * self.high[h, s]

    def lipschitz(self):
        tv = 0.5 * jnp.max(jnp.sum(jnp.abs(self.low - self.high), -1))
        return jnp.abs(self.sharpness) / 4 * tv

    def check(self) -> None:
        _check_leaves(self, "transitions")
        for name, p in [("low", self.low), ("high", self.high)]:
            c = concrete(p)
            if c is not None:
                check_simplex_rows(f"transitions.{name}", c)
