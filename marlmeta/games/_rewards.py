"""Reward models: how a game stores its players' rewards.

Every consumer reads ``game.rewards``, the dense ``(N, (H,) S, A_0, .., A_{N-1})``
array; a reward model decides what is stored:

- :class:`DenseRewards`: one table per player (general sum);
- :class:`ZeroSumRewards`: player 0's table only, player 1 gets its negative;
- :class:`IdenticalRewards`: one table that every player shares;
- :class:`StationaryRewards`: finite-horizon rewards the same at every step.

The compact models keep a batch of zero-sum or identical-interest games at
``1 / N`` of the memory; the dense view is formed where it is used (inside a
compiled function XLA fuses it into the consumer). The constructors choose the
model: identical rewards and, for two players, ``r_1 = -r_0`` are detected on
concrete inputs.

A model also says which noise keeps its structure (:meth:`AbstractRewards.coupling`):
:func:`marlmeta.games.perturb_rewards` uses it by default, so a zero-sum game
gives a zero-sum family and an identical-interest game an identical-interest one.
Every model checks at construction that its tables are real (always) and finite
(concrete tables), naming the first bad index.
"""

from __future__ import annotations

import abc
from typing import Literal

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from marlmeta._checks import (
    check_identical,
    check_values,
    concrete,
    count,
    real_array,
)

Coupling = Literal["independent", "zero_sum", "identical"]


class AbstractRewards(eqx.Module):
    """The rewards of an ``N``-player game."""

    @property
    @abc.abstractmethod
    def num_players(self) -> int:
        """``N``."""

    @abc.abstractmethod
    def dense(self, entry_ndim: int) -> Array:
        """Every player's table stacked on the axis after any batch axes, for
        tables of ``entry_ndim`` axes (state and action axes)."""

    @abc.abstractmethod
    def shape(self, entry_ndim: int) -> tuple[int, ...]:
        """The shape of :meth:`dense` (without forming it)."""

    def coupling(self, entry_ndim: int) -> Coupling | None:
        """The noise coupling that keeps this model's structure: ``"zero_sum"``
        (two players, ``r_1 = -r_0``), ``"identical"`` (one shared reward) or
        ``"independent"`` (general sum). Dense tables are compared when
        concrete; for traced dense tables the structure is unknown (``None``).
        """
        r = concrete(self.dense(entry_ndim))
        if r is None:
            return None
        r = np.moveaxis(r, r.ndim - entry_ndim - 1, 0)
        if r.shape[0] > 1 and (r == r[:1]).all():
            return "identical"
        if r.shape[0] == 2 and np.array_equal(r[1], -r[0]):
            return "zero_sum"
        return "independent"

    @abc.abstractmethod
    def perturbed(self, eps: Array, coupling: Coupling) -> AbstractRewards:
        """The rewards plus noise ``eps`` (dense layout, one leading batch axis), which
        was drawn with ``coupling``; compact models stay compact when the
        coupling keeps their structure."""

    def shared(self, entry_ndim: int) -> Array:
        """The one reward every player shares (a cooperative game), or a
        ``ValueError`` naming the first index where a player's reward differs
        from player 0's (concrete rewards; traced ones are not inspected)."""
        dense = self.dense(entry_ndim)
        axis = dense.ndim - entry_ndim - 1
        check_identical(jnp.moveaxis(dense, axis, 0), "game.rewards")
        return jnp.take(dense, 0, axis=axis)


class DenseRewards(AbstractRewards):
    """One reward table per player, ``tables[i]``."""

    tables: Float[Array, "N ..."]

    def __check_init__(self):
        check_values("rewards", self.tables)

    @property
    def num_players(self) -> int:
        """``N`` (of one game: the leading axis of ``tables``)."""
        return self.tables.shape[0]

    def dense(self, entry_ndim: int) -> Array:
        del entry_ndim
        return self.tables

    def shape(self, entry_ndim: int) -> tuple[int, ...]:
        del entry_ndim
        return tuple(self.tables.shape)

    def perturbed(self, eps, coupling):
        del coupling
        return DenseRewards(self.tables + eps)


class ZeroSumRewards(AbstractRewards):
    """Two players, ``r_1 = -r_0``; only ``reward = r_0`` is stored."""

    reward: Float[Array, " ..."]

    def __check_init__(self):
        check_values("rewards", self.reward)

    @property
    def num_players(self) -> int:
        return 2

    def dense(self, entry_ndim: int) -> Array:
        axis = self.reward.ndim - entry_ndim
        return jnp.stack([self.reward, -self.reward], axis=axis)

    def shape(self, entry_ndim: int) -> tuple[int, ...]:
        return _insert(self.reward.shape, entry_ndim, 2)

    def coupling(self, entry_ndim: int) -> Coupling | None:
        del entry_ndim
        return "zero_sum"

    def perturbed(self, eps, coupling):
        if coupling == "zero_sum":
            return ZeroSumRewards(self.reward + eps[:, 0])
        return DenseRewards(self.dense(eps.ndim - 2) + eps)


class IdenticalRewards(AbstractRewards):
    """``N`` players with one common ``reward``, stored once."""

    reward: Float[Array, " ..."]
    num_players_: int = eqx.field(static=True)

    def __check_init__(self):
        check_values("rewards", self.reward)
        count("num_players", self.num_players_)

    @property
    def num_players(self) -> int:
        return self.num_players_

    def shape(self, entry_ndim: int) -> tuple[int, ...]:
        return _insert(self.reward.shape, entry_ndim, self.num_players_)

    def coupling(self, entry_ndim: int) -> Coupling | None:
        del entry_ndim
        return "identical"

    def dense(self, entry_ndim: int) -> Array:
        axis = self.reward.ndim - entry_ndim
        r = jnp.expand_dims(self.reward, axis)
        shape = list(r.shape)
        shape[axis] = self.num_players_
        return jnp.broadcast_to(r, tuple(shape))

    def shared(self, entry_ndim: int) -> Array:
        del entry_ndim
        return self.reward

    def perturbed(self, eps, coupling):
        if coupling == "identical":
            return IdenticalRewards(self.reward + eps[:, 0], self.num_players_)
        return DenseRewards(self.dense(eps.ndim - 2) + eps)


class StationaryRewards(AbstractRewards):
    """Finite-horizon rewards that do not depend on the step, stored once.

    ``tables[i, s, a_0, .., a_{N-1}]`` is player ``i``'s reward at every step
    ``h < horizon``; the dense view repeats it along the time axis.
    """

    tables: Float[Array, "N S *A"]
    horizon: int = eqx.field(static=True)

    def __check_init__(self):
        check_values("rewards", self.tables)
        count("horizon", self.horizon)

    @property
    def num_players(self) -> int:
        """``N`` (of one game: the leading axis of ``tables``)."""
        return self.tables.shape[0]

    def shape(self, entry_ndim: int) -> tuple[int, ...]:
        return _insert(self.tables.shape, entry_ndim - 1, self.horizon)

    def dense(self, entry_ndim: int) -> Array:
        # entry_ndim counts (h, s, a_0, ..): the time axis goes in front of s.
        axis = self.tables.ndim - entry_ndim + 1
        r = jnp.expand_dims(self.tables, axis)
        shape = list(r.shape)
        shape[axis] = self.horizon
        return jnp.broadcast_to(r, tuple(shape))

    def perturbed(self, eps, coupling):
        del coupling
        # eps has the dense layout (B, N, T, S, *A); its time axis is of
        # length 1 (noise shared by all steps) or ``horizon``.
        if eps.shape[2] == 1:
            return StationaryRewards(self.tables + eps[:, :, 0], self.horizon)
        return DenseRewards(self.dense(eps.ndim - 2) + eps)


def _insert(shape, entry_ndim: int, size: int) -> tuple[int, ...]:
    """``shape`` with an axis of ``size`` before its last ``entry_ndim`` axes."""
    cut = len(shape) - entry_ndim
    return (*shape[:cut], size, *shape[cut:])


def as_rewards(rewards) -> AbstractRewards:
    """A reward model as it is, an array as :class:`DenseRewards`."""
    if isinstance(rewards, AbstractRewards):
        return rewards
    return DenseRewards(real_array("rewards", rewards))
