"""Validating constructors: bad input is a ``ValueError`` naming argument, index, value.

The checks run on concrete inputs (NumPy); inside a trace they are skipped,
since a traced value cannot be inspected. Generators build games directly and
are valid by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from marlmeta.games._checks import (
    _check_distributions,
    _check_finite,
    _check_shape,
    _concrete,
    _fmt,
)
from marlmeta.games._game import DiscountedMarkovGame, FiniteHorizonGame
from marlmeta.games._rewards import (
    AbstractRewards,
    DenseRewards,
    IdenticalRewards,
    ZeroSumRewards,
)
from marlmeta.games._transitions import AbstractTransitions, DenseTransitions


def _transitions(transitions, num_steps, num_states: int, num_actions):
    """Wrap an array as dense transitions and validate any representation."""
    if not isinstance(transitions, AbstractTransitions):
        transitions = DenseTransitions(jnp.asarray(transitions))
    return transitions.validate(num_steps, num_states, tuple(num_actions))


def _rewards_and_actions(rewards, lead: int, name: str = "rewards"):
    """Validate ``rewards`` and read off the action counts after ``lead`` axes."""
    r = jnp.asarray(rewards)
    if not jnp.issubdtype(r.dtype, jnp.floating):
        r = r.astype(jnp.result_type(float))
    c = _concrete(r)
    if c is not None:
        _check_finite(name, c)
    if r.ndim < lead + 1:
        raise ValueError(f"{name} has shape {r.shape}; too few axes")
    num_actions = tuple(int(a) for a in r.shape[lead:])
    for i, a in enumerate(num_actions):
        if a == 0:
            raise ValueError(
                f"{name} has an empty action set for player {i} (shape {r.shape})"
            )
    return r, num_actions


def _initial(initial, num_states: int):
    init = jnp.asarray(initial)
    if not jnp.issubdtype(init.dtype, jnp.floating):
        init = init.astype(jnp.result_type(float))
    c = _concrete(init)
    if c is not None:
        _check_shape("initial", c.shape, (num_states,))
        _check_distributions("initial", c)
    return init


def _reward_model(rewards) -> AbstractRewards:
    """The compact reward model that fits concrete ``rewards`` exactly:
    identical interest (one table), two-player zero sum (``r_1 = -r_0``), or
    dense."""
    r = _concrete(rewards)
    if r is None or r.shape[0] < 2:
        return DenseRewards(rewards)
    if all(np.array_equal(r[0], x) for x in r[1:]):
        return IdenticalRewards(rewards[0], r.shape[0])
    if r.shape[0] == 2 and np.array_equal(r[1], -r[0]):
        return ZeroSumRewards(rewards[0])
    return DenseRewards(rewards)


def _potential(potential_reward, shape, rewards):
    """The potential reward: as given, or the common reward of an
    identical-interest game (every player's rewards equal, concrete inputs)."""
    if potential_reward is None:
        r = _concrete(rewards)
        if r is not None and all(np.array_equal(r[0], x) for x in r[1:]):
            return rewards[0]
        return None
    phi = jnp.asarray(potential_reward)
    c = _concrete(phi)
    if c is not None:
        _check_shape("potential_reward", c.shape, shape)
        _check_finite("potential_reward", c)
    return phi


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
    r = jnp.asarray(rewards)
    if r.ndim < 4:
        raise ValueError(
            f"rewards has shape {r.shape}; expected (N, H, S, A_0, .., A_(N-1))"
        )
    if r.shape[1] == 0:
        raise ValueError(f"rewards has horizon 0 (axis 1 of shape {r.shape})")
    if r.shape[2] == 0:
        raise ValueError(f"rewards has no states (axis 2 of shape {r.shape})")
    r, num_actions = _rewards_and_actions(r, 3)
    _check_shape("rewards", r.shape[:1], (len(num_actions),))
    horizon, num_states = int(r.shape[1]), int(r.shape[2])
    trans = _transitions(transitions, (horizon, 1), num_states, num_actions)
    return FiniteHorizonGame(
        reward_model=_reward_model(r),
        transitions=trans,
        initial=_initial(initial, num_states),
        potential_reward=_potential(potential_reward, r.shape[1:], r),
        num_actions=num_actions,
        horizon=horizon,
    )


def zero_sum_game(reward, transitions, initial) -> FiniteHorizonGame:
    """A two-player zero-sum finite-horizon game from the max-player's reward.

    Args:
        reward: player 0's reward ``(H, S, A, B)``; player 1 gets its negative.
        transitions: as in :func:`markov_game`.
        initial: ``(S,)``.
    """
    r = jnp.asarray(reward)
    if r.ndim != 4:
        raise ValueError(f"reward has shape {r.shape}; expected (H, S, A, B)")
    return markov_game(jnp.stack([r, -r]), transitions, initial)


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
    r = jnp.asarray(rewards)
    if r.ndim < 3:
        raise ValueError(f"rewards has shape {r.shape}; expected (N, S, A_0, ..)")
    if r.shape[1] == 0:
        raise ValueError(f"rewards has no states (axis 1 of shape {r.shape})")
    r, num_actions = _rewards_and_actions(r, 2)
    _check_shape("rewards", r.shape[:1], (len(num_actions),))
    num_states = int(r.shape[1])
    trans = _transitions(transitions, (1,), num_states, num_actions)
    gamma = jnp.asarray(discount, dtype=r.dtype)
    g = _concrete(gamma)
    if g is not None and not (g.shape == () and 0.0 <= float(g) < 1.0):
        raise ValueError(f"discount is {_fmt(g)}; expected a scalar in [0, 1)")
    return DiscountedMarkovGame(
        reward_model=_reward_model(r),
        transitions=trans,
        initial=_initial(initial, num_states),
        potential_reward=_potential(potential_reward, r.shape[1:], r),
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
    p = jnp.asarray(payoffs)
    if not jnp.issubdtype(p.dtype, jnp.floating):
        p = p.astype(jnp.result_type(float))
    if p.ndim < 2:
        raise ValueError(f"payoffs has shape {p.shape}; expected (N, A_0, ..)")
    rewards = p[:, None, None]
    num_actions = rewards.shape[3:]
    trans = jnp.ones((1, 1, *num_actions, 1), dtype=p.dtype)
    return markov_game(rewards, trans, jnp.ones((1,), dtype=p.dtype))
