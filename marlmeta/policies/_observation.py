"""Observation policies: each player acts on its own observation, not the state.

A finite-horizon game may carry observation maps ``obs[i]`` of shape ``(H, S)``
into player ``i``'s ``O_i`` observations (:func:`marlmeta.games.observe`). An
observation policy holds one table ``(H, O_i, A_i)`` per player and is lifted
to states by ``pi_i[h, s] = table_i[h, obs[i][h, s]]``; values are those of the
lifted product policy.

Its deviations are observation policies too: the best response of player
``i`` picks one action per observation, ``a*(o) = argmax_a U_h(o, a)`` with
``U_h(o, a) = sum_{s: obs = o} c_h(s) dev_h(s, a)``, where ``c_h(s)`` is the
reach of ``s`` under the opponents' policies and the uniform policy of player
``i`` (within one observation a positive constant times the counterfactual
reach, under perfect recall) and ``dev_h(s, a)`` the deviation's value backed
up from step ``h + 1``. The resulting ``nash_conv`` is the exploitability of the
imperfect-information game (Mao, Qiu, Zhang, Başar, "Multi-Agent
Meta-Reinforcement Learning", NeurIPS 2023, appendix F.3, where "each agent
simply uses its local observation as the state").
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from marlmeta._checks import concrete
from marlmeta._sampling import draw
from marlmeta.policies._kinds import (
    ProductPolicy,
    _PerPlayerTables,
    _tables,
    check_table,
)

if TYPE_CHECKING:
    from marlmeta.games import FiniteHorizonGame


def lift(table: Float[Array, "*H O A"], obs: Int[Array, "*H S"]) -> Array:
    """``table[.., obs[.., s], :]``: an observation table on states."""
    return jnp.take_along_axis(table, obs[..., None], axis=-2)


def pool(
    x: Float[Array, "*H S A"], obs: Int[Array, "*H S"], num_observations: int
) -> Float[Array, "*H O A"]:
    """``sum_{s: obs[.., s] = o} x[.., s, :]``: per-state rows summed per
    observation (the adjoint of :func:`lift`)."""
    zero = jnp.zeros((*obs.shape[:-1], num_observations, x.shape[-1]), x.dtype)
    (out,) = jax.linear_transpose(lambda t: lift(t, obs), zero)(x)
    return out


def with_uniform(tables: tuple[Array, ...], i: int) -> tuple[Array, ...]:
    """``tables`` with player ``i``'s replaced by the uniform table."""
    return tuple(
        jnp.full_like(t, 1.0 / t.shape[-1]) if j == i else t
        for j, t in enumerate(tables)
    )


class AbstractObservationPolicy(_PerPlayerTables):
    """A policy kind of per-player tables on observations, not states.

    A kind implements :meth:`lift` (its tables on the states) and its
    deviations (:meth:`deviation_policies`, :meth:`best_choice`); the values
    of the policy are those of the lifted product policy, so :meth:`expect`,
    :meth:`expect_others` and :meth:`joint` are the lifted policy's.
    """

    @abc.abstractmethod
    def lift(self) -> ProductPolicy:
        """The product policy on states: ``pi_i[h, s] = table_i[h, o_i(h, s)]``
        (``o_i(h, s)`` player ``i``'s observation of state ``s`` at step
        ``h``)."""

    def _check_table(self, i: int, lead, num_actions, name: str, tol) -> Array:
        """Player ``i``'s table checked (:func:`check_table`): ``(*lead[:-1],
        O_i, A_i)``, rows on the simplex."""
        p = self.tables[i]
        count = p.shape[-2] if p.ndim == len(lead) + 1 else -1
        lead_o = (*lead[:-1], count)
        return check_table(
            f"{name}[{i}]", p, (*lead_o, num_actions[i]), len(lead_o), tol
        )

    def expect(self, q):
        return self.lift().expect(q)

    def expect_others(self, q, i: int):
        return self.lift().expect_others(q, i)

    def joint(self) -> Array:
        return self.lift().joint()


class ObservationPolicy(AbstractObservationPolicy):
    """Per-player observation tables, lifted to states.

    Attributes:
        tables: player ``i``'s ``(H, O_i, A_i)`` table (``(O_i, A_i)`` after
            :meth:`at`).
        observations: player ``i``'s map ``(H, S)`` into ``[0, O_i)``, the
            game's :attr:`~marlmeta.games.ObservedGame.observations`.
    """

    tables: tuple[Float[Array, "*H Oi Ai"], ...] = eqx.field(converter=_tables)
    observations: tuple[Int[Array, "*H S"], ...] = eqx.field(
        converter=lambda maps: tuple(jnp.asarray(o) for o in maps)
    )

    def lift(self) -> ProductPolicy:
        """The product policy on states: ``pi_i[h, s] = table_i[h, obs_i[h, s]]``."""
        return ProductPolicy(
            tuple(
                lift(t, o) for t, o in zip(self.tables, self.observations, strict=True)
            )
        )

    on_states = lift

    def sample(self, u, state):
        """Player ``i`` draws from ``tables[i][observations[i][state]]`` (with
        ``u[i]``): its own observation, never the state."""
        pairs = zip(self.tables, self.observations, strict=True)
        return jnp.stack([draw(u[i], t[o[state]]) for i, (t, o) in enumerate(pairs)])

    def deviation_policies(self) -> tuple[ProductPolicy, ...]:
        """Per player ``i``: the lifted policy with ``i`` playing uniformly."""
        lifted = self.lift().tables
        return tuple(ProductPolicy(with_uniform(lifted, i)) for i in range(len(lifted)))

    def best_choice(self, dev, i: int, weight):
        obs, table = self.observations[i], self.tables[i]
        # Illegal actions have dev = -inf: they stay -inf after pooling (also at
        # observations of zero reach), never 0 * -inf = NaN.
        w = weight[:, None]
        finite = jnp.where(w > 0, w * jnp.where(dev > -jnp.inf, dev, 0), 0)
        barred = jnp.where(dev > -jnp.inf, 0, -jnp.inf).astype(dev.dtype)
        u = pool(finite, obs, table.shape[-2]) + pool(barred, obs, table.shape[-2])
        action = jnp.argmax(u, axis=-1)  # lowest index on ties
        value = jnp.take_along_axis(dev, action[obs][:, None], axis=-1)[:, 0]
        return value, jax.nn.one_hot(action, dev.shape[-1], dtype=dev.dtype)

    def check(self, lead, num_actions, name: str = "policy", *, tol=None):
        if len(self.tables) != len(num_actions) or len(self.observations) != len(
            num_actions
        ):
            raise ValueError(
                f"{name} has {len(self.tables)} tables and {len(self.observations)} "
                f"observation maps; the game has {len(num_actions)} players"
            )
        checked = []
        for i, o in enumerate(self.observations):
            if tuple(o.shape) != tuple(lead):
                raise ValueError(
                    f"{name}.observations[{i}] has shape {tuple(o.shape)}; "
                    f"expected {tuple(lead)}"
                )
            checked.append(self._check_table(i, lead, num_actions, name, tol))
            count = checked[-1].shape[-2]
            c = concrete(o)
            if c is not None and c.size and (c.min() < 0 or c.max() >= count):
                raise ValueError(
                    f"{name}.observations[{i}] has entries in "
                    f"[{int(c.min())}, {int(c.max())}]; {name}[{i}] has {count} rows"
                )
        return ObservationPolicy(tuple(checked), self.observations)


def observation_uniform(game: FiniteHorizonGame, dtype=None) -> ObservationPolicy:
    """The uniform observation policy of a game with observations: uniform
    over each observation's legal actions (illegal ones get probability ``0``)."""
    game.require_one_game("observation_uniform")
    game.require_observations("observation_uniform")
    dtype = dtype or game.rewards.dtype
    tables = game.legal.observation_uniform(
        game.lead_shape,
        game.num_actions,
        game.observations,
        game.num_observations,
        dtype,
    )
    return game.observation_policy(tables)


def observation_policy(game: FiniteHorizonGame, tables) -> ObservationPolicy:
    """An observation policy of ``game`` from per-player tables ``(H, O_i, A_i)``
    (any array-likes), checked (``ValueError`` naming player, index, value)."""
    game.require_observations("observation_policy")
    game.require_one_game("observation_policy")
    out = game.observation_policy(tables)
    out = out.check(game.lead_shape, game.num_actions)
    for i, (t, o) in enumerate(zip(out.tables, game.num_observations, strict=True)):
        if t.shape[-2] != o:
            raise ValueError(
                f"policy[{i}] has shape {tuple(t.shape)}; expected "
                f"{(game.horizon, o, game.num_actions[i])}"
            )
    return out
