"""A family of games as one JaxMARL environment, and ``jaxmarl.make`` for it.

JaxMARL's baseline scripts (Rutherford et al., "JaxMARL: Multi-Agent RL
Environments and Algorithms in JAX", NeurIPS 2024 Datasets and Benchmarks)
build their environment with ``jaxmarl.make(config["ENV_NAME"],
**config["ENV_KWARGS"])``, wrap it (``LogWrapper``) and ``jax.vmap`` its
``reset`` and ``step`` over keys only: every parallel environment is the same
Python object. :class:`FamilyEnv` makes such a script train on a *family* of
games (a batch, e.g. :func:`marlmeta.games.perturb_rewards`): each episode
plays one member, drawn uniformly at ``reset`` from the episode's key and kept
in the state until the episode ends, when the automatic reset draws the next.
The agents never see which member they play (only their observations), so
one policy is learned for the whole family, and :meth:`FamilyEnv.tabulate`
turns it back into one tabular policy per member for the exact metrics.

The scripts stack every agent's observation into one array for a shared
network, so the observation vectors (:class:`MarkovGameEnv`'s encoding) are
padded with zeros to one common length; a shared actor also needs the same
action count for every agent (``action_space(agents[0]).n``).

:func:`register_with_jaxmarl` makes ``jaxmarl.make(name, **kwargs)`` return a
:class:`FamilyEnv` (the keyword arguments ``num_steps`` and ``termination``
go to it); every other name still goes to JaxMARL's own ``make``.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Int, PRNGKeyArray

from marlmeta.games import AbstractMarkovGame, stack
from marlmeta.policies import AbstractPolicy
from marlmeta.simulation._env import Box, EnvState, IdentityHashed, MarkovGameEnv
from marlmeta.simulation._tabulate import PolicyFn, per_agent, tabulate
from marlmeta.simulation._termination import TRUNCATION, AbstractTermination


class FamilyState(eqx.Module):
    """The state of a :class:`FamilyEnv`: which member this episode plays and
    that member's environment state."""

    member: Int[Array, ""]
    env: EnvState


class FamilyEnv(IdentityHashed):
    """A family of games as one JaxMARL-style environment.

    Attributes:
        views: the environment view of the whole batch (leading axis ``B``
            on every leaf of its game).
        width: the common length of the observation vectors (static): the
            longest agent's, the others padded with zeros.
    """

    views: MarkovGameEnv
    width: int = eqx.field(static=True)

    def __init__(
        self,
        games: AbstractMarkovGame,
        num_steps: int | None = None,
        termination: AbstractTermination = TRUNCATION,
    ):
        """``games``: one game (a family of one) or a batch of games with one
        leading axis (every leaf); ``num_steps`` and ``termination`` as for
        :class:`MarkovGameEnv`."""
        if not isinstance(games, AbstractMarkovGame):
            raise ValueError(
                f"games is a {type(games).__name__}; expected a marlmeta game or a "
                "batch of games (marlmeta.games.stack, perturb_rewards, ..)"
            )
        if not games.batch_shape:
            games = stack([games])
        if len(games.batch_shape) != 1:
            raise ValueError(
                f"games has batch shape {games.batch_shape}; expected one game or "
                "one batch axis"
            )
        self.views = MarkovGameEnv(games, num_steps, termination)
        self.width = max(b.shape[0] for b in self.views.observation_spaces.values())

    @property
    def num_games(self) -> int:
        """``B``, the members of the family."""
        return self.views.game.batch_shape[0]

    @property
    def num_agents(self) -> int:
        """``N``."""
        return self.views.num_agents

    @property
    def agents(self) -> list[str]:
        """``["agent_0", .., "agent_{N-1}"]``."""
        return self.views.agents

    @property
    def name(self) -> str:
        """The environment's name."""
        return f"FamilyEnv[{self.views.name} x {self.num_games}]"

    @property
    def num_steps(self) -> int:
        """The steps of an episode."""
        return self.views.num_steps

    @property
    def observation_spaces(self) -> dict[str, Box]:
        """Per agent the box of its (padded) observation vectors."""
        dtype = self.views.game.initial.dtype
        return {a: Box(0.0, 1.0, (self.width,), dtype) for a in self.agents}

    @property
    def action_spaces(self):
        """Per agent its ``A_i`` actions."""
        return self.views.action_spaces

    def observation_space(self, agent: str) -> Box:
        """The observation space of ``agent``."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str):
        """The action space of ``agent``."""
        return self.action_spaces[agent]

    def member(self, k) -> MarkovGameEnv:
        """The environment view of member ``k`` (an integer, traced or not)."""
        return jax.tree.map(lambda x: x[k], self.views)

    def pad(self, x: Float[Array, " D"]) -> Float[Array, " W"]:
        """An observation vector padded with zeros to :attr:`width`."""
        return jnp.pad(x, (0, self.width - x.shape[-1]))

    def get_obs(self, state: FamilyState) -> dict[str, Array]:
        """Every agent's padded observation vector."""
        obs = self.member(state.member).get_obs(state.env)
        return {a: self.pad(x) for a, x in obs.items()}

    def get_avail_actions(self, state: FamilyState) -> dict[str, Array]:
        """Every agent's legal actions (JaxMARL's action masks)."""
        return self.member(state.member).get_avail_actions(state.env)

    def reset(self, key: PRNGKeyArray) -> tuple[dict[str, Array], FamilyState]:
        """Draw a member ``k ~ U{0, .., B - 1}`` and its ``s_0``."""
        k_member, k_env = jr.split(key)
        k = jr.randint(k_member, (), 0, self.num_games)
        _, env = self.member(k).reset(k_env)
        state = FamilyState(k, env)
        return self.get_obs(state), state

    def step_env(self, key: PRNGKeyArray, state: FamilyState, actions: dict):
        """One step of the episode's member (no reset)."""
        obs, env, rewards, dones, infos = self.member(state.member).step_env(
            key, state.env, actions
        )
        return (
            {a: self.pad(x) for a, x in obs.items()},
            FamilyState(state.member, env),
            rewards,
            dones,
            infos,
        )

    def step(self, key: PRNGKeyArray, state: FamilyState, actions: dict):
        """:meth:`step_env`, then, where the episode is done, a reset that
        draws the next member (JaxMARL's ``MultiAgentEnv.step``)."""
        key, key_reset = jr.split(key)
        obs_st, state_st, rewards, dones, infos = self.step_env(key, state, actions)
        obs_re, state_re = self.reset(key_reset)
        pick = lambda x, y: jnp.where(dones["__all__"], x, y)  # noqa: E731
        state = jax.tree.map(pick, state_re, state_st)
        obs = jax.tree.map(pick, obs_re, obs_st)
        return obs, state, rewards, dones, infos

    def tabulate(self, policy_fn: PolicyFn | Sequence[PolicyFn]) -> AbstractPolicy:
        """The tabular policy of ``policy_fn`` (taking padded observation
        vectors, as trained on this environment) on every member: the game's
        policy kind with a leading axis ``B`` (:func:`tabulate` per member;
        the tables are the same for every member but for rows renormalised
        over a member's legal actions, the observation maps are each
        member's). Check the result with the exact metrics' own checks
        (``nash_conv`` and the others validate their policy)."""
        fns = per_agent(policy_fn, self.num_agents)
        padded = [lambda x, f=f: f(self.pad(x)) for f in fns]
        return jax.vmap(lambda view: tabulate(view, padded, check=False))(self.views)


# --- jaxmarl.make -------------------------------------------------------------
# The impure shell: a registry of names and JaxMARL's own ``make`` while ours
# stands in for it.

_REGISTERED: dict[str, tuple[AbstractMarkovGame, dict]] = {}
_JAXMARL_MAKE: list = []


def _jaxmarl():
    try:
        import jaxmarl
    except ImportError as err:  # pragma: no cover - the optional extra
        raise ImportError(
            "register_with_jaxmarl needs JaxMARL: pip install 'marlmeta[jaxmarl]'"
        ) from err
    return jaxmarl


def _make(env_id: str, **env_kwargs):
    """``jaxmarl.make`` while marlmeta games are registered: a registered name
    gives a :class:`FamilyEnv` (``env_kwargs`` over the registered defaults);
    any other goes to JaxMARL's ``make``."""
    if env_id in _REGISTERED:
        games, defaults = _REGISTERED[env_id]
        return FamilyEnv(games, **(defaults | env_kwargs))
    return _JAXMARL_MAKE[0](env_id, **env_kwargs)


def register_with_jaxmarl(
    name: str, games: AbstractMarkovGame, **defaults
) -> FamilyEnv:
    """Make ``jaxmarl.make(name, **kwargs)`` return ``FamilyEnv(games,
    **defaults, **kwargs)``, so a JaxMARL training script runs unchanged on a
    marlmeta game or family of games.

    Replaces ``jaxmarl.make`` (and ``jaxmarl.registration.make``) by a
    dispatcher that passes every other name to JaxMARL's own, and adds
    ``name`` to ``jaxmarl.registered_envs``; :func:`unregister_from_jaxmarl`
    undoes it. Registering a name again replaces its games.

    Args:
        name: the environment name a script's config gives (``ENV_NAME``).
        games: one game or a batch of games (a family).
        **defaults: ``num_steps`` and ``termination`` of :class:`FamilyEnv`
            (a script's ``ENV_KWARGS`` override them).

    Returns:
        The environment ``jaxmarl.make(name)`` builds (checked now).

    Raises:
        ValueError: ``name`` is one of JaxMARL's own environments, or the games
            or defaults are invalid.
        ImportError: JaxMARL is not installed.
    """
    jaxmarl = _jaxmarl()
    if not _JAXMARL_MAKE:
        _JAXMARL_MAKE.append(jaxmarl.make)
    if name in jaxmarl.registered_envs and name not in _REGISTERED:
        raise ValueError(f"name is {name!r}, one of JaxMARL's own environments")
    env = FamilyEnv(games, **defaults)
    _REGISTERED[name] = (games, dict(defaults))
    if name not in jaxmarl.registered_envs:
        jaxmarl.registered_envs.append(name)
    jaxmarl.make = jaxmarl.registration.make = _make
    return env


def unregister_from_jaxmarl(name: str) -> None:
    """Remove ``name`` (registered by :func:`register_with_jaxmarl`); with no
    name left, ``jaxmarl.make`` is JaxMARL's own again."""
    if name not in _REGISTERED:
        raise ValueError(f"name is {name!r}; registered: {sorted(_REGISTERED)}")
    jaxmarl = _jaxmarl()
    del _REGISTERED[name]
    jaxmarl.registered_envs.remove(name)
    if not _REGISTERED:
        jaxmarl.make = jaxmarl.registration.make = _JAXMARL_MAKE.pop()
