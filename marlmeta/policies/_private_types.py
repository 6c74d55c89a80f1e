"""Observation policies of a game whose state is a public part times one
private type per player (a poker deal: a pair of hands).

The states are laid out type-major, ``s = (t_0, .., t_{N-1}, p)`` flattened
row-major (``S = n_0 .. n_{N-1} P``: private types ``t_i`` in ``[0, n_i)``,
public part ``p`` in ``[0, P)``). At step ``h`` player ``i`` sees its own type
and the public slot ``k = slots_i[h, p]``: observation ``k n_i + t_i``, or the
single observation ``K_i n_i`` where ``k < 0`` (nothing to see, e.g. after the
game ended). These are the observations of
:class:`~marlmeta.policies.ObservationPolicy` with the maps
``obs_i[h, s] = k n_i + t_i``, but lifting a table to the states is a
broadcast over the other players' types and pooling states into observations
(its transpose) a sum over them: dense contractions instead of a gather and a
scatter over all ``S`` states.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from marlmeta._sampling import draw
from marlmeta.policies._kinds import ProductPolicy, _tables
from marlmeta.policies._observation import AbstractObservationPolicy, with_uniform


def type_table(
    table: Float[Array, "*H O A"],
    slots: Int[Array, "*H P"],
    num_types: tuple[int, ...],
    i: int,
) -> Float[Array, "*H ... P A"]:
    """Player ``i``'s observation table on the type grid: ``(*H, 1, .., n_i,
    .., 1, P, A)`` (player ``i``'s type axis, the others of size 1; broadcast
    it to ``(*H, n_0, .., n_{N-1}, P, A)`` for the states)."""
    n, a = num_types[i], table.shape[-1]
    k = (table.shape[-2] - 1) // n
    lead = table.shape[:-2]
    blocks = table[..., : k * n, :].reshape(*lead, k, n, a)
    none = jnp.broadcast_to(table[..., k * n :, None, :], (*lead, 1, n, a))
    blocks = jnp.concatenate([blocks, none], axis=-3)  # (*H, K + 1, n, A)
    slot = jnp.where(slots < 0, k, slots)  # (*H, P)
    per_public = jnp.take_along_axis(blocks, slot[..., None, None], axis=-3)
    x = jnp.moveaxis(per_public, -3, -2)  # (*H, n_i, P, A)
    shape = [1] * len(num_types)
    shape[i] = n
    return x.reshape(*lead, *shape, slots.shape[-1], a)


def lift_types(
    table: Float[Array, "*H O A"],
    slots: Int[Array, "*H P"],
    num_types: tuple[int, ...],
    i: int,
) -> Float[Array, "*H S A"]:
    """Player ``i``'s observation table on the states (module text)."""
    x = type_table(table, slots, num_types, i)
    lead, a = table.shape[:-2], table.shape[-1]
    x = jnp.broadcast_to(x, (*lead, *num_types, slots.shape[-1], a))
    return x.reshape(*lead, -1, a)


def pool_types(
    x: Float[Array, "*H S A"],
    slots: Int[Array, "*H P"],
    num_types: tuple[int, ...],
    i: int,
    num_observations: int,
) -> Float[Array, "*H O A"]:
    """``sum_{s: obs_i(s) = o} x[.., s, :]``, the transpose of
    :func:`lift_types` (sums over the other players' types)."""
    zero = jnp.zeros((*slots.shape[:-1], num_observations, x.shape[-1]), x.dtype)
    (out,) = jax.linear_transpose(lambda t: lift_types(t, slots, num_types, i), zero)(x)
    return out


class AbstractDeviations(eqx.Module):
    """What a deviating player of a :class:`PrivateTypePolicy` sees (its best
    responses are over policies on that)."""

    @abc.abstractmethod
    def choose(self, dev, weight, slots, num_types, i: int, count: int):
        """Player ``i``'s best deviation at one step, on the type grid.

        Args:
            dev: ``(n_0, .., n_{N-1}, P, A_i)`` the value of each own action.
            weight: ``(n_0, .., n_{N-1}, P)`` the reach of each state.
            slots: ``(P,)`` player ``i``'s public slots.
            num_types: ``(n_0, .., n_{N-1})``.
            i: the player.
            count: ``O_i``, its number of observations.

        Returns:
            ``(B, br)``: the best-response value per state (the grid) and the
            best response, one-hot (lowest index on ties).
        """

    @abc.abstractmethod
    def respond(self, values, gains, lift, eye):
        """Player ``i``'s best deviation at one step of a two-player game on
        its matrices (:mod:`marlmeta.games._private_type_matrices`).

        Args:
            values: ``own -> (P, n_0, n_1)``, the deviation value per state of
                an own table ``own`` ``(P, n_i, A_i)``.
            gains: ``() -> (O_i, A_i)``, the reach-weighted deviation values
                summed per observation.
            lift: ``(O_i, A_i) -> (P, n_i, A_i)``, an observation table per
                public part (its ``count`` is ``O_i``).
            eye: the ``(A_i, A_i)`` identity (its rows: the pure actions).

        Returns:
            ``(B, br)`` as :meth:`choose` (``B`` on the ``(P, n_0, n_1)`` grid).
        """


class ObservationDeviations(AbstractDeviations):
    """The deviator sees its observation: one action per observation, the
    maximiser of the reach-weighted deviation values summed over the other
    players' types and the public parts of each slot; ``br`` is ``(O_i,
    A_i)``."""

    def choose(self, dev, weight, slots, num_types, i, count):
        a = dev.shape[-1]
        # Illegal actions have dev = -inf: they stay -inf after pooling (also
        # at observations of zero reach), never 0 * -inf = NaN.
        w = weight[..., None]
        x = jnp.where(dev > -jnp.inf, jnp.where(w > 0, w * dev, 0), -jnp.inf)
        u = pool_types(x.reshape(-1, a), slots, num_types, i, count)
        br = jax.nn.one_hot(jnp.argmax(u, axis=-1), a, dtype=dev.dtype)
        grid = type_table(br, slots, num_types, i)
        return _sum_last(jnp.where(grid > 0, dev, 0)), br

    def respond(self, values, gains, lift, eye):
        del eye
        u = gains()
        br = jax.nn.one_hot(jnp.argmax(u, axis=-1), u.shape[-1], dtype=u.dtype)
        return values(lift(br)), br


class StateDeviations(AbstractDeviations):
    """The deviator sees the state (both types and the public part): the
    maximiser per state; ``br`` is ``(S, A_i)``. The full-state view
    :meth:`PrivateTypePolicy.on_states` (an upper bound of the
    observation deviations)."""

    def choose(self, dev, weight, slots, num_types, i, count):
        del weight, slots, num_types, i, count
        a = dev.shape[-1]
        br = jax.nn.one_hot(jnp.argmax(dev, axis=-1), a, dtype=dev.dtype)
        return _sum_last(jnp.where(br > 0, dev, 0)), br.reshape(-1, a)

    def respond(self, values, gains, lift, eye):
        del gains
        count = lift.count
        dev = [values(lift(jnp.broadcast_to(e, (count, e.shape[0])))) for e in eye]
        best = dev[0]
        for d in dev[1:]:
            best = jnp.maximum(best, d)
        choice = jnp.argmax(jnp.stack(dev, axis=-1), axis=-1)  # (P, n_0, n_1)
        br = jax.nn.one_hot(jnp.moveaxis(choice, 0, -1), len(dev), dtype=eye.dtype)
        return best, br.reshape(-1, len(dev))


def _sum_last(x):
    """Sum over a short last axis by unrolled adds (they fuse with their
    producers on XLA's CPU backend; a reduction over a tiny minor axis does
    not)."""
    out = x[..., 0]
    for k in range(1, x.shape[-1]):
        out = out + x[..., k]
    return out


class PrivateTypePolicy(AbstractObservationPolicy):
    """Per-player observation tables of a public-times-private-types game.

    Attributes:
        tables: player ``i``'s ``(H, O_i, A_i)`` table (``(O_i, A_i)`` after
            :meth:`at`), ``O_i = K_i n_i + 1``.
        slots: player ``i``'s public slots ``(H, P)`` (``(P,)`` after
            :meth:`at`; ``< 0``: nothing to see).
        num_types: ``(n_0, .., n_{N-1})`` (static).
        deviations: what a deviating player sees (:class:`ObservationDeviations`,
            default, or :class:`StateDeviations`: :meth:`on_states`).
    """

    tables: tuple[Float[Array, "*H Oi Ai"], ...] = eqx.field(converter=_tables)
    slots: tuple[Int[Array, "*H P"], ...]
    num_types: tuple[int, ...] = eqx.field(static=True)
    deviations: AbstractDeviations = ObservationDeviations()

    def lift(self) -> ProductPolicy:
        """The product policy on states."""
        return ProductPolicy(
            tuple(
                lift_types(t, k, self.num_types, i)
                for i, (t, k) in enumerate(zip(self.tables, self.slots, strict=True))
            )
        )

    def on_states(self) -> PrivateTypePolicy:
        """The same policy, its deviators seeing the state
        (:class:`StateDeviations`)."""
        return PrivateTypePolicy(
            self.tables, self.slots, self.num_types, StateDeviations()
        )

    def pool(self, i: int, x: Float[Array, "*H S A"]) -> Float[Array, "*H O A"]:
        """Player ``i``'s per-state rows summed per observation."""
        count = self.tables[i].shape[-2]
        return pool_types(x, self.slots[i], self.num_types, i, count)

    def observation(self, i: int, state) -> Int[Array, ""]:
        """Player ``i``'s observation of ``state`` (one step's policy)."""
        num_public = self.slots[i].shape[-1]
        types = jnp.unravel_index(state // num_public, self.num_types)
        k = self.slots[i][state % num_public]
        n = self.num_types[i]
        none = (self.tables[i].shape[-2] - 1) // n * n
        return jnp.where(k < 0, none, k * n + types[i])

    def sample(self, u, state):
        """Player ``i`` draws from its row of its own observation (``u[i]``)."""
        return jnp.stack(
            [draw(u[i], t[self.observation(i, state)]) for i, t in enumerate(self)]
        )

    def deviation_policies(self) -> tuple[PrivateTypePolicy, ...]:
        """Per player ``i``: this policy with ``i`` playing uniformly."""
        return tuple(
            PrivateTypePolicy(
                with_uniform(self.tables, i),
                self.slots,
                self.num_types,
                self.deviations,
            )
            for i in range(len(self.tables))
        )

    def best_choice(self, dev, i: int, weight):
        """Player ``i``'s best deviation at one step (:attr:`deviations`)."""
        num_public = self.slots[i].shape[-1]
        grid = (*self.num_types, num_public)
        b, br = self.deviations.choose(
            dev.reshape(*grid, dev.shape[-1]),
            weight.reshape(grid),
            self.slots[i],
            self.num_types,
            i,
            self.tables[i].shape[-2],
        )
        return b.reshape(-1), br

    def check(self, lead, num_actions, name: str = "policy", *, tol=None):
        self._check_count(num_actions, name, "tables")
        checked = tuple(
            self._check_table(i, lead, num_actions, name, tol)
            for i in range(len(self.tables))
        )
        return PrivateTypePolicy(checked, self.slots, self.num_types, self.deviations)
