"""Fully cooperative discounted Markov games: one reward shared by every agent.

The setting of Zhao, Yang, Wang, Lee, "Local Optimization Achieves Global
Optimality in Multi-Agent Reinforcement Learning" (ICML 2023): agents
``0..N-1`` share ``r[s, a_0, .., a_{N-1}]``, so the team objective
``J(pi) = rho @ V_pi`` is also the potential of the game. A cooperative game is a
:class:`~marlmeta.games.DiscountedMarkovGame` whose reward model is
:class:`~marlmeta.games.IdenticalRewards` (stored once).

:func:`cooperative_reward` is the one place where a game is checked to be
cooperative: compact identical rewards pass as they are; dense rewards are
compared player by player (concrete inputs), and the first index where a
player's reward differs from player 0's is named in the ``ValueError``.
"""

from __future__ import annotations

import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from marlmeta._checks import (
    check_identical,
    count,
    counts,
    float_dtype,
    real_array,
    real_scalar,
)
from marlmeta.games._constructors import discounted_game
from marlmeta.games._game import AbstractMarkovGame, DiscountedMarkovGame
from marlmeta.games._rewards import IdenticalRewards
from marlmeta.games._transitions import DenseTransitions


def cooperative_reward(game: AbstractMarkovGame, caller: str) -> Float[Array, " S *A"]:
    """The shared reward ``r[s, a_0, .., a_{N-1}]`` of a cooperative discounted game.

    Raises:
        ValueError: the game is not discounted, or (concrete rewards) two
            players' rewards differ, naming the first differing index.
    """
    game.require_discounted(caller)
    return game.reward_model.shared(1 + game.num_players)


def cooperative_game(
    reward,
    transitions,
    initial,
    discount,
    *,
    stacked: bool = False,
    linear_solver: str = "auto",
) -> DiscountedMarkovGame:
    """A fully cooperative discounted game, validated.

    Args:
        reward: the shared reward ``(S, A_0, .., A_{N-1})`` (array-like); with
            ``stacked=True``, per-player rewards ``(N, S, A_0, .., A_{N-1})``,
            which must all be equal.
        transitions: ``(S, A_0, .., A_{N-1}, S)`` or an
            :class:`~marlmeta.games.AbstractTransitions`.
        initial: ``(S,)``, the papers' ``rho``.
        discount: ``gamma`` in ``[0, 1)``.
        stacked: whether ``reward`` has a leading player axis.
        linear_solver: as in :func:`marlmeta.games.discounted_game`.

    Returns:
        A :class:`~marlmeta.games.DiscountedMarkovGame` with
        :class:`~marlmeta.games.IdenticalRewards` and the shared reward as its
        potential reward.

    Raises:
        ValueError: naming the argument, index and value of the first problem;
            for a stack of differing rewards, the first differing index.

    Example:
        >>> import numpy as np
        >>> from marlmeta.games import cooperative_game
        >>> g = cooperative_game(np.eye(2)[None], np.ones((1, 2, 2, 1)), [1.0], 0.5)
        >>> g.num_actions, type(g.reward_model).__name__
        ((2, 2), 'IdenticalRewards')
    """
    r = real_array("reward", reward)
    if stacked:
        if r.ndim < 3 or r.ndim != r.shape[0] + 2:
            raise ValueError(
                f"reward has shape {tuple(r.shape)}; with stacked=True expected "
                "(N, S, A_0, .., A_(N-1))"
            )
        check_identical(r, "reward")
        r = r[0]
    if r.ndim < 2:
        raise ValueError(
            f"reward has shape {tuple(r.shape)}; expected (S, A_0, .., A_(N-1))"
        )
    n = r.ndim - 1
    game = discounted_game(
        jnp.broadcast_to(r[None], (n, *r.shape)),
        transitions,
        initial,
        discount,
        potential_reward=r,
        linear_solver=linear_solver,
    )
    return DiscountedMarkovGame(
        reward_model=IdenticalRewards(r, n),
        transitions=game.transitions,
        initial=game.initial,
        potential_reward=r,
        discount=game.discount,
        num_actions=game.num_actions,
        linear_solver=linear_solver,
    )


def _random_cooperative(key, num_games, num_actions, num_states, discount, dtype):
    k_r, k_p, k_0 = jr.split(key, 3)
    shape = (num_games, num_states, *num_actions)
    reward = jr.uniform(k_r, shape, dtype)
    e = jr.exponential(k_p, (num_games, 1, *shape[1:], num_states), dtype)
    probs = e / jnp.sum(e, axis=-1, keepdims=True)
    e0 = jr.exponential(k_0, (num_games, num_states), dtype)
    return DiscountedMarkovGame(
        reward_model=IdenticalRewards(reward, len(num_actions)),
        transitions=DenseTransitions(probs),
        initial=e0 / jnp.sum(e0, axis=-1, keepdims=True),
        potential_reward=reward,
        discount=jnp.full((num_games,), discount, dtype),
        num_actions=num_actions,
    )


def random_cooperative(
    key: PRNGKeyArray,
    num_games: int,
    num_actions: tuple[int, ...] = (2, 2, 2),
    num_states: int = 4,
    discount: float = 0.9,
    *,
    dtype=jnp.float32,
) -> DiscountedMarkovGame:
    """A batch of random fully cooperative discounted games.

    The shared reward is ``U[0, 1]`` per ``(s, a_0, .., a_{N-1})`` (the paper's
    ``r in [0, 1]``); transition rows and the initial distribution are flat
    Dirichlet (normalised ``Exp(1)`` draws). Pure: the caller owns ``jit``
    (every argument but ``key`` is static, so ``eqx.filter_jit`` of this
    function draws in one compiled program).

    Args:
        key: PRNG key.
        num_games: the leading batch axis of every leaf.
        num_actions: per-agent action counts.
        num_states: ``S``.
        discount: ``gamma`` in ``[0, 1)``.
        dtype: floating dtype of the arrays.
    """
    return _random_cooperative(
        key,
        count("num_games", num_games),
        counts("num_actions", num_actions),
        count("num_states", num_states),
        float(real_scalar("discount", discount, 0.0, 1.0, high_open=True)),
        float_dtype(dtype),
    )
