"""Tabular Markov games as pytrees (``ALGORITHMS.md`` section 0).

A game is an ``eqx.Module``: array leaves (rewards, transition arrays, the
initial distribution, the discount) and static structure (horizon, action
counts). A batch of games is the same pytree with a leading axis on every
leaf; core functions take one game and are batched with ``jax.vmap``.
"""

from __future__ import annotations

import equinox as eqx
from jaxtyping import Array, Float

from marlmeta.games._transitions import AbstractTransitions


class AbstractMarkovGame(eqx.Module):
    """Common interface of finite-horizon and discounted games.

    Attributes:
        rewards: ``rewards[i, (h,) s, a_0, .., a_{N-1}]``, player ``i``'s reward.
        transitions: the kernel, used only through ``expectation(h, V)``.
        initial: initial-state distribution ``(S,)``.
        potential_reward: for potential games, the reward ``phi`` whose value
            is the (Markov) potential, shaped like one player's rewards; ``None``
            otherwise.
        num_actions: per-player action counts (static).
    """

    rewards: eqx.AbstractVar[Array]
    transitions: eqx.AbstractVar[AbstractTransitions]
    initial: eqx.AbstractVar[Float[Array, " S"]]
    potential_reward: eqx.AbstractVar[Array | None]
    num_actions: eqx.AbstractVar[tuple[int, ...]]

    @property
    def num_players(self) -> int:
        return len(self.num_actions)

    @property
    def num_states(self) -> int:
        return self.transitions.num_states


class MarkovGame(AbstractMarkovGame):
    """Finite-horizon ``N``-player Markov game.

    Build with :func:`marlmeta.games.markov_game` (validating) or a generator.

    Attributes:
        rewards: ``(N, H, S, A_0, .., A_{N-1})``.
        transitions: kernel with a time axis of length ``H`` or ``1``.
        initial: ``(S,)``.
        potential_reward: ``(H, S, A_0, .., A_{N-1})`` or ``None``.
        num_actions: ``(A_0, .., A_{N-1})``.
        horizon: ``H``.
    """

    rewards: Float[Array, "N H S *A"]
    transitions: AbstractTransitions
    initial: Float[Array, " S"]
    potential_reward: Float[Array, "H S *A"] | None
    num_actions: tuple[int, ...] = eqx.field(static=True)
    horizon: int = eqx.field(static=True)


class DiscountedMarkovGame(AbstractMarkovGame):
    """Infinite-horizon discounted ``N``-player Markov game.

    Attributes:
        rewards: ``(N, S, A_0, .., A_{N-1})``.
        transitions: time-homogeneous kernel (time axis of length 1).
        initial: ``(S,)`` (the papers' ``rho``).
        potential_reward: ``(S, A_0, .., A_{N-1})`` or ``None``.
        discount: ``gamma`` in ``[0, 1)``, an array leaf (vmappable,
            differentiable).
        num_actions: ``(A_0, .., A_{N-1})``.
    """

    rewards: Float[Array, "N S *A"]
    transitions: AbstractTransitions
    initial: Float[Array, " S"]
    potential_reward: Float[Array, " S *A"] | None
    discount: Float[Array, ""]
    num_actions: tuple[int, ...] = eqx.field(static=True)
