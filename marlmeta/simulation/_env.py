"""Any marlmeta game as a JAX multi-agent environment (the JaxMARL convention).

:class:`MarkovGameEnv` follows the interface of JaxMARL's ``MultiAgentEnv``
(Rutherford et al., "JaxMARL: Multi-Agent RL Environments and Algorithms in
JAX", NeurIPS 2024 Datasets and Benchmarks): agents named ``agent_0``..,
``reset(key) -> (obs, state)``, ``step(key, state, actions) -> (obs, state,
rewards, dones, infos)`` with dictionaries keyed by agent (``dones`` also has
``"__all__"``), automatic reset when an episode ends, and per-agent
``observation_space`` (a :class:`Box`) and ``action_space`` (a
:class:`Discrete`). A training script written for that interface runs on it
unchanged.

The environment is an ``eqx.Module`` whose leaves are the game's arrays, so a
whole training run can be ``jax.vmap``-ed over a batch of games: build the
environment from the batch and map over it.

Agent ``i`` observes the one-hot vector of its observation ``o_i`` (the state
when players see it; only its own observation in a game with observations,
never the state) followed, in a finite-horizon game, by the one-hot vector of
the step ``h``: exactly what a tabular policy of the game may depend on, so a
policy function of it can be tabulated back (:func:`tabulate`).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from marlmeta._sampling import draw
from marlmeta.games import AbstractMarkovGame
from marlmeta.simulation._termination import TRUNCATION, AbstractTermination


class Discrete(eqx.Module):
    """``{0, .., n - 1}`` (JaxMARL's ``spaces.Discrete``)."""

    n: int = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True, default=())
    dtype: object = eqx.field(static=True, default=jnp.int32)

    def sample(self, key: PRNGKeyArray) -> Int[Array, ""]:
        """A uniform element."""
        return jr.randint(key, self.shape, 0, self.n).astype(self.dtype)

    def contains(self, x) -> Bool[Array, ""]:
        """Whether ``x`` is in the space."""
        return (x >= 0) & (x < self.n)


class Box(eqx.Module):
    """``[low, high]^shape`` (JaxMARL's ``spaces.Box``)."""

    low: float = eqx.field(static=True)
    high: float = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True)
    dtype: object = eqx.field(static=True, default=jnp.float32)

    def sample(self, key: PRNGKeyArray) -> Float[Array, "..."]:
        """A uniform point."""
        return jr.uniform(key, self.shape, minval=self.low, maxval=self.high).astype(
            self.dtype
        )

    def contains(self, x) -> Bool[Array, ""]:
        """Whether ``x`` is in the box."""
        return jnp.all((x >= self.low) & (x <= self.high))


class EnvState(eqx.Module):
    """The environment's state: the game state, the step and whether the
    episode is over (the agents see only their observations)."""

    state: Int[Array, ""]
    step: Int[Array, ""]
    done: Bool[Array, ""]


class IdentityHashed(eqx.Module):
    """An environment hashed and compared by identity, like JaxMARL's
    environments (plain objects), so that ``jax.jit(env.step)`` works and
    JaxMARL's wrappers can jit their methods with the environment static; as
    a pytree it still maps over games."""

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other


class MarkovGameEnv(IdentityHashed):
    """A game as a JaxMARL-style multi-agent environment.

    Attributes:
        game: one game of any kind (or, to ``jax.vmap`` a run over games, a
            batch whose leaves are mapped).
        num_steps: the steps of an episode (static): the horizon of a
            finite-horizon game; for a discounted game the truncation
            (default: the least ``T`` with ``gamma^T <= 1e-6``).
        termination: for discounted games, :class:`Truncation` (the episode is
            cut at ``num_steps``; a learner discounts by ``gamma`` itself) or
            :class:`GeometricTermination` (it also ends after each step with
            probability ``1 - gamma``).
    """

    game: AbstractMarkovGame
    num_steps: int = eqx.field(static=True)
    termination: AbstractTermination

    def __init__(
        self,
        game: AbstractMarkovGame,
        num_steps: int | None = None,
        termination: AbstractTermination = TRUNCATION,
    ):
        self.game = game
        self.num_steps = _steps(game, num_steps)
        self.termination = termination

    # --- JaxMARL's attributes -------------------------------------------------

    @property
    def num_agents(self) -> int:
        """``N``."""
        return self.game.num_players

    @property
    def agents(self) -> list[str]:
        """``["agent_0", .., "agent_{N-1}"]``."""
        return [f"agent_{i}" for i in range(self.num_agents)]

    @property
    def name(self) -> str:
        """The environment's name."""
        return type(self.game).__name__

    @property
    def agent_classes(self) -> dict[str, list[str]]:
        """Every agent in its own class (no roles)."""
        return {a: [a] for a in self.agents}

    @property
    def stages(self) -> tuple[int, ...]:
        """The step axis of the game's policies: ``(H,)``, or ``()`` when the
        game is stationary (discounted)."""
        return tuple(self.game.lead_shape[:-1])

    @property
    def observation_spaces(self) -> dict[str, Box]:
        """Per agent the box of its observation vectors."""
        counts = self.game.observation_counts
        size = sum(self.stages)
        return {
            a: Box(0.0, 1.0, (o + size,), self.game.initial.dtype)
            for a, o in zip(self.agents, counts, strict=True)
        }

    @property
    def action_spaces(self) -> dict[str, Discrete]:
        """Per agent its ``A_i`` actions."""
        return {
            a: Discrete(n)
            for a, n in zip(self.agents, self.game.num_actions, strict=True)
        }

    def observation_space(self, agent: str) -> Box:
        """The observation space of ``agent``."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> Discrete:
        """The action space of ``agent``."""
        return self.action_spaces[agent]

    # --- observations -----------------------------------------------------------

    def encode(self, i: int, h, observation) -> Float[Array, " D"]:
        """Agent ``i``'s observation vector at step ``h``: one-hot of its
        observation, then (finite horizon) one-hot of the step."""
        count = self.game.observation_counts[i]
        dtype = self.game.initial.dtype
        parts = [jax.nn.one_hot(observation, count, dtype=dtype)]
        parts += [jax.nn.one_hot(h, n, dtype=dtype) for n in self.stages]
        return jnp.concatenate(parts)

    def get_obs(self, state: EnvState) -> dict[str, Array]:
        """Every agent's observation vector (its own observation only)."""
        stage = jnp.minimum(state.step, self.num_steps - 1)
        obs = self.game.player_observations(stage, state.state)
        return {a: self.encode(i, stage, obs[i]) for i, a in enumerate(self.agents)}

    def get_avail_actions(self, state: EnvState) -> dict[str, Array]:
        """Every agent's legal actions at the state (JaxMARL's action masks;
        all ``True`` in a game without legal-action masks)."""
        stage = jnp.minimum(state.step, self.num_steps - 1)
        legal = self.game.step_legal(stage, state.state)
        return dict(zip(self.agents, legal, strict=True))

    # --- dynamics ----------------------------------------------------------------

    def reset(self, key: PRNGKeyArray) -> tuple[dict[str, Array], EnvState]:
        """``s_0 ~ initial``; returns the observations and the state."""
        u = jr.uniform(key, (), self.game.initial.dtype)
        state = EnvState(
            draw(u, self.game.initial), jnp.zeros((), jnp.int32), jnp.zeros((), bool)
        )
        return self.get_obs(state), state

    def step_env(self, key: PRNGKeyArray, state: EnvState, actions: dict):
        """One step without automatic reset: ``r(h, s, a)``, ``s' ~ P_h(.|s, a)``;
        the episode is done after ``num_steps`` steps or when the termination
        rule stops it. An illegal action (see :meth:`get_avail_actions`) is
        played as the agent's first legal action there, as OpenSpiel-converted
        games do; a policy that never plays one is unaffected."""
        n = self.num_agents
        u = jr.uniform(key, (n + 1,), self.game.initial.dtype)
        # One action per agent (JaxMARL scripts may send shape (1,)).
        a = jnp.stack([jnp.reshape(actions[name], ()) for name in self.agents])
        h = state.step
        legal = self.game.step_legal(h, state.state)
        a = jnp.stack(
            [jnp.where(m[x], x, jnp.argmax(m)) for m, x in zip(legal, a, strict=True)]
        ).astype(jnp.int32)
        r = self.game.step_rewards(h, state.state, a)
        nxt = self.game.transitions.sample(u[:n], h, state.state, a)
        stop = self.termination.continuation(u[n], self.game.step_discount) == 0
        done = stop | (h + 1 >= self.num_steps)
        new = EnvState(nxt, h + 1, done)
        rewards = {name: r[i] for i, name in enumerate(self.agents)}
        dones = {name: done for name in self.agents} | {"__all__": done}
        return self.get_obs(new), new, rewards, dones, {}

    def step(
        self,
        key: PRNGKeyArray,
        state: EnvState,
        actions: dict,
        reset_state: EnvState | None = None,
    ):
        """:meth:`step_env`, then a reset where the episode is done (from
        ``reset_state`` if given), as JaxMARL's ``MultiAgentEnv.step``."""
        key, key_reset = jr.split(key)
        obs_st, state_st, rewards, dones, infos = self.step_env(key, state, actions)
        if reset_state is None:
            obs_re, state_re = self.reset(key_reset)
        else:
            state_re, obs_re = reset_state, self.get_obs(reset_state)
        pick = lambda x, y: jnp.where(dones["__all__"], x, y)  # noqa: E731
        state = jax.tree.map(pick, state_re, state_st)
        obs = jax.tree.map(pick, obs_re, obs_st)
        return obs, state, rewards, dones, infos


def _steps(game: AbstractMarkovGame, num_steps) -> int:
    # A batch of games (vmapped training runs) shares one episode length.
    one = jax.tree.map(lambda x: x[(0,) * len(game.batch_shape)], game)
    return one.episode_steps(num_steps)


def observation_table(env: MarkovGameEnv, i: int) -> Float[Array, "*stages O D"]:
    """Agent ``i``'s every observation vector, ``(*stages, O_i, D_i)``: entry
    ``[h, o]`` is :meth:`MarkovGameEnv.encode` of ``(i, h, o)``."""
    count = env.game.observation_counts[i]
    stages = math.prod(env.stages)
    h = jnp.repeat(jnp.arange(stages), count)
    o = jnp.tile(jnp.arange(count), stages)
    flat = jax.vmap(lambda h, o: env.encode(i, h, o))(h, o)
    return flat.reshape(*env.stages, count, flat.shape[-1])
