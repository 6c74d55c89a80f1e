"""Random games with sparse transitions: a fixed fan-out ``K`` per ``(h, s, a)``.

With ``K`` successors per state and joint action the kernel takes
``O(H S prod(A) K)`` memory (:class:`~marlmeta.games.SparseTransitions`), so a
finite-horizon game with a million states fits in a few hundred megabytes and
every metric and solver runs on it unchanged (they see the kernel only through
``expectation(h, V)``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import PRNGKeyArray

from marlmeta._checks import count, counts, float_dtype
from marlmeta.games._game import FiniteHorizonGame
from marlmeta.games._rewards import ZeroSumRewards
from marlmeta.games._transitions import SparseTransitions


@functools.cache
def _step_draws(kernel: tuple[int, ...], num_states: int, dtype):
    """The draws of one step's kernel: successors and flat-Dirichlet
    probabilities over the ``K`` of each row. One function per structure, so
    that an eager ``lax.scan`` over the steps is traced and compiled once."""

    def step(carry, keys):
        nxt = jr.randint(keys[0], kernel, 0, num_states, jnp.int32)
        e = jr.exponential(keys[1], kernel, dtype)
        return carry, (nxt, e / jnp.sum(e, axis=-1, keepdims=True))

    return step


def _sparse(
    key, num_games, num_actions, num_states, horizon, fan_out, steps, zero_sum, dtype
):
    k_r, k_n, k_p, k_0 = jr.split(key, 4)
    n = len(num_actions)
    lead = (num_games, horizon, num_states, *num_actions)
    if zero_sum:
        rewards = ZeroSumRewards(jr.uniform(k_r, lead, dtype))
    else:
        rewards = jr.uniform(k_r, (num_games, n, *lead[1:]), dtype)
    kernel = (num_games, num_states, *num_actions, fan_out)
    keys = jnp.stack([jr.split(k_n, steps), jr.split(k_p, steps)], axis=1)
    # One step's kernel at a time: the random draws' scratch stays at one
    # step's size (a million-state game is built in about its own memory).
    _, (nxt, prob) = jax.lax.scan(_step_draws(kernel, num_states, dtype), None, keys)
    trans = SparseTransitions(
        jnp.moveaxis(nxt, 0, 1), jnp.moveaxis(prob, 0, 1), num_states
    )
    e0 = jr.exponential(k_0, (num_games, num_states), dtype)
    return FiniteHorizonGame(
        reward_model=rewards,
        transitions=trans,
        initial=e0 / jnp.sum(e0, axis=-1, keepdims=True),
        potential_reward=None,
        num_actions=num_actions,
        horizon=horizon,
    )


def _random_sparse(zero_sum: bool):
    def generate(
        key: PRNGKeyArray,
        num_games: int,
        num_actions: tuple[int, ...] = (2, 2),
        num_states: int = 1000,
        horizon: int = 10,
        fan_out: int = 4,
        *,
        time_homogeneous: bool = False,
        dtype=jnp.float32,
    ) -> FiniteHorizonGame:
        num_actions = counts("num_actions", num_actions)
        if zero_sum and len(num_actions) != 2:
            raise ValueError(
                f"num_actions is {num_actions}; a zero-sum game has 2 players"
            )
        horizon = count("horizon", horizon)
        return _sparse(
            key,
            count("num_games", num_games),
            num_actions,
            count("num_states", num_states),
            horizon,
            count("fan_out", fan_out),
            1 if time_homogeneous else horizon,
            zero_sum,
            float_dtype(dtype),
        )

    return generate


_ARGS = """

    Every ``(h, s, a)`` has ``fan_out`` successors drawn uniformly from the
    states (repeats allowed; they add up) with flat-Dirichlet probabilities;
    the initial distribution is flat Dirichlet too. Pure: the caller owns
    ``jit`` (every argument but ``key`` is static, so ``eqx.filter_jit`` of
    the generator draws in one compiled program).

    Args:
        key: PRNG key.
        num_games: size of the batch (the leading axis of every leaf).
        num_actions: per-player action counts.
        num_states: ``S``.
        horizon: ``H``.
        fan_out: ``K``, successors per state and joint action.
        time_homogeneous: one kernel for all steps (``H`` times less memory).
        dtype: floating dtype of the arrays.

    Returns:
        A batch of :class:`FiniteHorizonGame` with
        :class:`~marlmeta.games.SparseTransitions`.
    """

random_sparse_zero_sum = _random_sparse(True)
random_sparse_zero_sum.__name__ = "random_sparse_zero_sum"
random_sparse_zero_sum.__doc__ = (
    "Random two-player zero-sum games with sparse transitions: ``r_0 ~ U[0, 1]``,"
    " ``r_1 = -r_0``." + _ARGS
)
random_sparse_general_sum = _random_sparse(False)
random_sparse_general_sum.__name__ = "random_sparse_general_sum"
random_sparse_general_sum.__doc__ = (
    "Random general-sum games with sparse transitions: rewards ``U[0, 1]``." + _ARGS
)
