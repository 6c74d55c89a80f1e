"""Validating constructors: bad input is a ``ValueError`` naming argument, index, value.

Shapes and dtypes are checked always (they are static, also under ``jit``);
values (finite rewards, distributions, the discount's range) when the inputs
are concrete: inside a trace they cannot be inspected and are skipped, so
validation of values is eager only. The compact reward model (zero sum,
identical interest) and the default potential reward of an identical-interest
game are read off concrete rewards; under ``jit`` a game from the same arrays
has dense rewards and no potential reward, and otherwise the same numbers.
NumPy arrays, lists and JAX arrays give the same game. Generators build games
directly; the game Modules check themselves at construction (see
:mod:`marlmeta.games._game`).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from marlmeta._checks import check_values, concrete, real_array, real_scalar
from marlmeta.games._game import DiscountedMarkovGame, FiniteHorizonGame
from marlmeta.games._rewards import (
    AbstractRewards,
    DenseRewards,
    IdenticalRewards,
    ZeroSumRewards,
)
from marlmeta.games._transitions import AbstractTransitions, DenseTransitions


def _transitions(transitions, num_steps, num_states: int, num_actions):
    """Wrap an array as dense transitions (adding the step axis of a
    time-homogeneous ``(S, *A, S)`` array, by its static number of axes) and
    check any representation's shapes."""
    if not isinstance(transitions, AbstractTransitions):
        transitions = DenseTransitions(transitions)
    return transitions.validate(num_steps, num_states, tuple(num_actions))


def _rewards(rewards, lead: int, layout: str, name: str = "rewards"):
    """Validate ``rewards`` ``(N, *lead axes, A_0, ..)`` and read off the
    action counts after ``lead`` axes."""
    r = real_array(name, rewards)
    if r.ndim < lead + 1:
        raise ValueError(f"{name} has shape {r.shape}; expected {layout}")
    axes = ("horizon", "states") if lead == 3 else ("states",)
    for ax, what in enumerate(axes, start=1):
        if r.shape[ax] == 0:
            raise ValueError(
                f"{name} has {what} 0 (axis {ax} of shape {r.shape}); "
                f"expected {layout} with every size >= 1"
            )
    num_actions = tuple(int(a) for a in r.shape[lead:])
    for i, a in enumerate(num_actions):
        if a == 0:
            raise ValueError(
                f"{name} has an empty action set for player {i} (shape {r.shape})"
            )
    if r.shape[0] != len(num_actions):
        raise ValueError(
            f"{name} has shape {r.shape}: {r.shape[0]} players' tables for "
            f"{len(num_actions)} action axes; expected {layout}"
        )
    check_values(name, r)
    return r, num_actions


def _reward_model(rewards) -> AbstractRewards:
    """The compact reward model that fits concrete ``rewards`` exactly:
    identical interest (one table), two-player zero sum (``r_1 = -r_0``), or
    dense."""
    r = concrete(rewards)
    if r is None or r.shape[0] < 2:
        return DenseRewards(rewards)
    if all(np.array_equal(r[0], x) for x in r[1:]):
        return IdenticalRewards(rewards[0], r.shape[0])
    if r.shape[0] == 2 and np.array_equal(r[1], -r[0]):
        return ZeroSumRewards(rewards[0])
    return DenseRewards(rewards)


def _potential(potential_reward, rewards):
    """The potential reward: as given, or the common reward of an
    identical-interest game (every player's rewards equal, concrete inputs)."""
    if potential_reward is None:
        r = concrete(rewards)
        if r is not None and all(np.array_equal(r[0], x) for x in r[1:]):
            return rewards[0]
        return None
    return real_array("potential_reward", potential_reward)


def _finite_game(r, num_actions, transitions, initial, potential_reward, model):
    horizon, num_states = int(r.shape[1]), int(r.shape[2])
    return FiniteHorizonGame(
        reward_model=model,
        transitions=_transitions(transitions, (horizon, 1), num_states, num_actions),
        initial=real_array("initial", initial),
        potential_reward=_potential(potential_reward, r),
        num_actions=num_actions,
        horizon=horizon,
    )


def markov_game(
    rewards, transitions, initial, *, potential_reward=None
) -> FiniteHorizonGame:
    """A finite-horizon ``N``-player Markov game, validated.

    Args:
        rewards: ``(N, H, S, A_0, .., A_{N-1})``. Stored compactly when every
            player's table is the same, or for two players with ``r_1 = -r_0``
            (see :mod:`marlmeta.games._rewards`); ``game.rewards`` is dense.
        transitions: an array ``(H, S, A_0, .., A_{N-1}, S)`` (or without the
            ``H`` axis, or with ``1`` there, for a time-homogeneous kernel), or an
            :class:`AbstractTransitions`.
        initial: ``(S,)`` initial-state distribution.
        potential_reward: optional ``(H, S, A_0, .., A_{N-1})`` potential reward;
            when omitted and every player's rewards are equal (an
            identical-interest game), it is set to that common reward.

    Raises:
        ValueError: naming the argument, index and value of the first problem.

    Example:
        >>> import numpy as np
        >>> from marlmeta.games import markov_game
        >>> r = np.zeros((2, 3, 1, 2, 2))  # N=2, H=3, S=1, A=B=2
        >>> p = np.ones((3, 1, 2, 2, 1))
        >>> markov_game(r, p, [1.0]).horizon
        3
    """
    r, num_actions = _rewards(rewards, 3, "(N, H, S, A_0, .., A_(N-1))")
    return _finite_game(
        r, num_actions, transitions, initial, potential_reward, _reward_model(r)
    )


def zero_sum_game(reward, transitions, initial) -> FiniteHorizonGame:
    """A two-player zero-sum finite-horizon game from the max-player's reward.

    Args:
        reward: player 0's reward ``(H, S, A, B)``; player 1 gets its negative.
        transitions: as in :func:`markov_game`.
        initial: ``(S,)``.
    """
    r = real_array("reward", reward)
    if r.ndim != 4:
        raise ValueError(f"reward has shape {r.shape}; expected (H, S, A, B)")
    both, num_actions = _rewards(jnp.stack([r, -r]), 3, "(H, S, A, B)", "reward")
    model = ZeroSumRewards(r)
    return _finite_game(both, num_actions, transitions, initial, None, model)


def discounted_game(
    rewards,
    transitions,
    initial,
    discount,
    *,
    potential_reward=None,
    linear_solver: str = "auto",
) -> DiscountedMarkovGame:
    """An infinite-horizon discounted ``N``-player Markov game, validated.

    Args:
        rewards: ``(N, S, A_0, .., A_{N-1})``.
        transitions: ``(S, A_0, .., A_{N-1}, S)`` (or with a leading axis of 1),
            or an :class:`AbstractTransitions` with one time step.
        initial: ``(S,)``.
        discount: ``gamma`` in ``[0, 1)``.
        potential_reward: optional ``(S, A_0, .., A_{N-1})``; set to the common
            reward when omitted and every player's rewards are equal.
        linear_solver: how values are computed: ``"auto"``, ``"dense"`` or
            ``"iterative"`` (see :class:`DiscountedMarkovGame`).
    """
    r, num_actions = _rewards(rewards, 2, "(N, S, A_0, .., A_(N-1))")
    num_states = int(r.shape[1])
    trans = _transitions(transitions, (1,), num_states, num_actions)
    gamma = jnp.asarray(
        real_scalar("discount", discount, 0.0, 1.0, high_open=True), r.dtype
    )
    return DiscountedMarkovGame(
        reward_model=_reward_model(r),
        transitions=trans,
        initial=real_array("initial", initial),
        potential_reward=_potential(potential_reward, r),
        discount=gamma,
        num_actions=num_actions,
        linear_solver=linear_solver,
    )


def matrix_game(payoffs: Sequence | np.ndarray) -> FiniteHorizonGame:
    """A normal-form game: one state, one step.

    Args:
        payoffs: ``(N, A_0, .., A_{N-1})``, player ``i``'s payoff at ``[i]``.

    Example:
        >>> from marlmeta.games import matrix_game
        >>> mp = matrix_game([[[1, -1], [-1, 1]], [[-1, 1], [1, -1]]])
        >>> mp.num_actions
        (2, 2)
    """
    p = real_array("payoffs", payoffs)
    if p.ndim < 2:
        raise ValueError(f"payoffs has shape {p.shape}; expected (N, A_0, ..)")
    rewards = p[:, None, None]
    num_actions = rewards.shape[3:]
    trans = jnp.ones((1, 1, *num_actions, 1), dtype=p.dtype)
    return markov_game(rewards, trans, jnp.ones((1,), dtype=p.dtype))
