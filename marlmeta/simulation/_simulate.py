"""Simulated episodes of any policy kind on any game kind, and Monte-Carlo values.

An episode starts in ``s_0 ~ initial`` and at each step ``t``: every player sees
its observation (the state, or its own map of it in a game with
observations), the policy of step ``t`` draws the joint action
``a_t ~ pi_t(. | s_t)`` (each kind by its own method: one draw per player, one
per agent in turn, or one from the joint table), every player gets
``r_i(t, s_t, a_t)``, and the kernel draws ``s_{t+1} ~ P_t(. | s_t, a_t)``.
Discounted games weight the rewards by a termination rule
(:mod:`marlmeta.simulation._termination`). The core is written for one episode
of one game and batched with ``jax.vmap``; ``simulate`` is pure, so it can be
jitted and vmapped over games and keys.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from marlmeta._checks import count
from marlmeta._sampling import draw
from marlmeta.games import AbstractMarkovGame
from marlmeta.policies import AbstractPolicy, as_policy
from marlmeta.simulation._termination import TRUNCATION, AbstractTermination


class Episodes(eqx.Module):
    """A batch of simulated episodes (``E`` episodes of ``T`` steps).

    Attributes:
        states: ``s_t``, ``(E, T)``.
        observations: what each player saw, ``(E, T, N)`` (the state when
            players see it).
        actions: ``a_t``, ``(E, T, N)``.
        rewards: ``r_i(t, s_t, a_t)``, ``(E, T, N)``, undiscounted.
        next_states: ``s_{t+1}``, ``(E, T)``.
        continuation: ``c_t``, ``(E, T)``: the next step's weight over this
            one's (``1`` in a finite-horizon game; ``gamma`` or a
            ``Bernoulli(gamma)`` draw in a discounted one).
    """

    states: Int[Array, "E T"]
    observations: Int[Array, "E T N"]
    actions: Int[Array, "E T N"]
    rewards: Float[Array, "E T N"]
    next_states: Int[Array, "E T"]
    continuation: Float[Array, "E T"]

    @property
    def weights(self) -> Float[Array, "E T"]:
        """``w_t = prod_{u < t} c_u``, the weight of step ``t``'s reward."""
        ones = jnp.ones_like(self.continuation[..., :1])
        return jnp.cumprod(
            jnp.concatenate([ones, self.continuation[..., :-1]], axis=-1), axis=-1
        )

    @property
    def alive(self) -> Bool[Array, "E T"]:
        """Whether step ``t`` belongs to the episode (its weight is positive)."""
        return self.weights > 0

    @property
    def dones(self) -> Bool[Array, "E T"]:
        """``True`` at each episode's last step (terminated or cut off)."""
        last = jnp.zeros_like(self.alive).at[..., -1].set(True)
        return self.alive & ((self.continuation == 0) | last)

    @property
    def returns(self) -> Float[Array, "E N"]:
        """Each player's return ``sum_t w_t r_t``: its mean estimates
        :func:`marlmeta.evaluation.values` (up to ``gamma^T`` of the value
        beyond the last step in a discounted game)."""
        return jnp.sum(self.weights[..., None] * self.rewards, axis=-2)

    def returns_to_go(self) -> Float[Array, "E T N"]:
        """``G_t = r_t + c_t G_{t+1}`` (``G_T = 0``): the return from step ``t``
        on, an unbiased estimate of ``Q(s_t, a_t)`` up to the cut at ``T``."""

        def back(g, x):
            r, c = x
            g = r + c[..., None] * g
            return g, g

        xs = (jnp.moveaxis(self.rewards, -2, 0), jnp.moveaxis(self.continuation, -1, 0))
        _, out = jax.lax.scan(back, jnp.zeros_like(xs[0][0]), xs, reverse=True)
        return jnp.moveaxis(out, 0, -2)

    @property
    def num_samples(self) -> Int[Array, ""]:
        """The number of environment steps these episodes used."""
        return jnp.sum(self.alive)


class Estimate(eqx.Module):
    """A Monte-Carlo mean and its standard error (``std / sqrt(n)``, ``ddof=1``)."""

    mean: Array
    stderr: Array

    def zscore(self, exact) -> Array:
        """``(mean - exact) / stderr``, the error in standard errors."""
        return (self.mean - exact) / self.stderr


def estimate(samples: Float[Array, "n ..."]) -> Estimate:
    """Mean and standard error over the leading axis of ``samples``."""
    n = samples.shape[0]
    std = jnp.std(samples, axis=0, ddof=1)
    return Estimate(jnp.mean(samples, axis=0), std / math.sqrt(n))


def episode(
    game: AbstractMarkovGame,
    policy: AbstractPolicy,
    key: PRNGKeyArray,
    num_steps: int,
    termination: AbstractTermination,
) -> Episodes:
    """One episode of ``num_steps`` steps (the pure core, no checks; the
    result has no leading episode axis)."""
    gamma = game.step_discount
    n = game.num_players
    # Every uniform of the episode in one call: per step N for the actions, N
    # for the transition and one for the termination rule; one for s_0.
    u = jr.uniform(key, (num_steps * (2 * n + 1) + 1,), gamma.dtype)
    steps = u[1:].reshape(num_steps, 2 * n + 1)

    def body(s, xs):
        h, v = xs
        a = game.step_policy(policy, h).sample(v[:n], s)
        r = game.step_rewards(h, s, a)
        nxt = game.transitions.sample(v[n : 2 * n], h, s, a)
        c = termination.continuation(v[2 * n], gamma)
        return nxt, (s, game.player_observations(h, s), a, r, nxt, c)

    s0 = draw(u[0], game.initial)
    _, out = jax.lax.scan(body, s0, (jnp.arange(num_steps), steps))
    return Episodes(*out)


def simulate(
    game: AbstractMarkovGame,
    policy,
    key: PRNGKeyArray,
    num_episodes: int,
    *,
    termination: AbstractTermination = TRUNCATION,
    num_steps: int | None = None,
) -> Episodes:
    """Simulate ``num_episodes`` independent episodes of ``policy`` on ``game``.

    A public convenience entry point: the episodes run as one compiled
    program (``eqx.filter_jit``). It is pure, so it can also be called inside
    the caller's ``jax.jit`` (``num_episodes`` and ``num_steps`` static) or
    ``jax.vmap`` over games and keys.

    Args:
        game: one game of any kind (finite horizon or discounted; dense,
            sparse or factored transitions; with observations).
        policy: any policy kind the game takes (product, correlated,
            autoregressive, observation), or a tuple of tables (product) or one
            joint array (correlated).
        key: PRNG key.
        num_episodes: ``E``.
        termination: for discounted games, :class:`Truncation` (default) or
            :class:`GeometricTermination`.
        num_steps: for discounted games, the steps of an episode (default: the
            least ``T`` with ``gamma^T <= 1e-6``, which needs a concrete
            discount); finite-horizon episodes run the horizon.

    Returns:
        :class:`Episodes` with leading axis ``E``; ``.returns`` is
        ``(E, N)`` and its mean estimates ``marlmeta.evaluation.values``.

    Raises:
        ValueError: a batch of games, a policy of the wrong shape or off the
            simplex or with probability on an illegal action (naming the
            player and index), a bad ``num_episodes`` or ``num_steps``.
    """
    game.require_one_game("simulate")
    policy = as_policy(policy)
    policy.check(game.lead_shape, game.num_actions)
    policy = game.legal.check_policy(policy, "simulate")
    steps = game.episode_steps(num_steps)
    return _batch(
        game, policy, key, count("num_episodes", num_episodes), steps, termination
    )


@eqx.filter_jit
def _batch(game, policy, key, count: int, steps: int, termination) -> Episodes:
    keys = jr.split(key, count)
    return jax.vmap(lambda k: episode(game, policy, k, steps, termination))(keys)


def monte_carlo_values(
    game: AbstractMarkovGame, policy, key: PRNGKeyArray, num_episodes: int, **kwargs
) -> Estimate:
    """Monte-Carlo estimate of every player's value ``rho @ V_i`` with its
    standard error, from :func:`simulate` (same arguments)."""
    return estimate(simulate(game, policy, key, num_episodes, **kwargs).returns)
