"""CFR+ on games with observations: regret-matching+ at every observation,
alternating updates, linearly weighted averaging.

Tammelin, Burch, Johanson, Bowling, "Solving Heads-up Limit Texas Hold'em"
(IJCAI 2015), on the counterfactual regret decomposition of Zinkevich,
Johanson, Bowling, Piccione, "Regret Minimization in Games with Incomplete
Information" (NeurIPS 2007). Iteration ``t = 1, 2, ..`` updates the players in
turn, ``i = 0, .., N-1``, each against the others' latest policies:

    U_h(o, a) = sum_{s in o} c_h(s) Qbar_{h,i}(s, a)           (counterfactual values)
    R_h(o, a) <- max(R_h(o, a) + U_h(o, a) - <pi_h(o), U_h(o)>, 0)
    pi_h(o)   <- R_h(o) / sum_a R_h(o, a)   (uniform where the sum is 0)

where a regret within ``64 eps max_a |U_h(o, a)|`` of 0 counts as 0 (at an
exact tie of the values, rounding would otherwise decide between a pure and
the uniform policy, differently for every layout of the same game), and
with ``c_h(s)`` the reach of ``s`` under the others' policies and a uniform
policy of player ``i`` (a positive constant per observation times the
counterfactual reach under perfect recall; regret matching is invariant to
that constant) and ``Qbar_i`` player ``i``'s ``Q`` of the joint policy with the
others' actions averaged out. Before its update, the policy enters the average
with weight ``t w_h(o)``, ``w_h(o)`` its own reach mass (reach under its policy
and uniform opponents); the output is that average, normalised per
observation. No step size: nothing to tune.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from marlmeta.games import AbstractObservedGame
from marlmeta.policies import ProductPolicy
from marlmeta.solvers._base import AbstractSolver
from marlmeta.solvers._observed_omd import mass_per_observation, reach_average


def regret_matching(regret: Array) -> Array:
    """``max(R, 0) / sum_a max(R, 0)`` per row, uniform where that sum is 0."""
    pos = jnp.maximum(regret, 0)
    total = pos.sum(-1, keepdims=True)
    uniform = jnp.full_like(pos, 1.0 / pos.shape[-1])
    return jnp.where(total > 0, pos / jnp.where(total > 0, total, 1), uniform)


def _counterfactual_values(game: AbstractObservedGame, tables, i: int):
    """Player ``i``'s counterfactual values ``U (H, O_i, A_i)`` and own reach
    mass ``w (H, O_i)`` under the observation policy ``tables``."""
    obs_pol = game.observation_policy(tables)
    qbar = game.averaged_q(obs_pol.lift())[i]
    c = game.reach(obs_pol.deviation_policies()[i])
    lifted = obs_pol.lift().tables
    own = ProductPolicy(
        tuple(
            p if j == i else jnp.full_like(p, 1.0 / p.shape[-1])
            for j, p in enumerate(lifted)
        )
    )
    return (
        game.pool(i, c[..., None] * qbar),
        mass_per_observation(game, i, game.reach(own)),
    )


class CFRPlusState(eqx.Module):
    """State of :class:`CFRPlus` (one entry per player, on observations)."""

    t: Array
    regret: tuple[Array, ...]
    policy: tuple[Array, ...]
    total: tuple[Array, ...]
    mass: tuple[Array, ...]


class CFRPlus(AbstractSolver):
    """CFR+ (module text): a converging reference without hyperparameters for
    games with observations and perfect recall
    (:class:`~marlmeta.games.ObservedGame`).

    The initial-policy argument is per player a table ``(H, O_i, A_i)``, the
    first iterate (regrets start at 0). Output: the linearly weighted,
    own-reach-weighted average policy, an
    :class:`~marlmeta.policies.ObservationPolicy`.
    """

    def default_init(self, game: AbstractObservedGame, num_steps: int):
        game.require_observations("CFRPlus")
        del num_steps
        dtype = game.rewards.dtype
        return tuple(
            jnp.full((game.horizon, o, a), 1.0 / a, dtype)
            for o, a in zip(game.num_observations, game.num_actions, strict=True)
        )

    def init(self, game: AbstractObservedGame, init_policy) -> CFRPlusState:
        game.require_observations("CFRPlus")
        dtype = game.rewards.dtype
        pol = tuple(jnp.asarray(p, dtype) for p in init_policy)
        zeros = tuple(jnp.zeros_like(p) for p in pol)
        return CFRPlusState(
            t=jnp.zeros((), jnp.int32),
            regret=zeros,
            policy=pol,
            total=zeros,
            mass=tuple(jnp.zeros(p.shape[:-1], dtype) for p in pol),
        )

    def step(self, game: AbstractObservedGame, state: CFRPlusState) -> CFRPlusState:
        t = state.t + 1
        weight = t.astype(state.policy[0].dtype)
        pol, regret = list(state.policy), list(state.regret)
        total, mass = list(state.total), list(state.mass)
        for i in range(game.num_players):  # alternating updates
            u, w = _counterfactual_values(game, tuple(pol), i)
            total[i] = total[i] + weight * w[..., None] * pol[i]
            mass[i] = mass[i] + weight * w
            new = regret[i] + u - (pol[i] * u).sum(-1, keepdims=True)
            tol = 64 * jnp.finfo(u.dtype).eps * jnp.abs(u).max(-1, keepdims=True)
            regret[i] = jnp.where(new > tol, new, 0)
            pol[i] = regret_matching(regret[i])
        return CFRPlusState(t, tuple(regret), tuple(pol), tuple(total), tuple(mass))

    def output(self, game: AbstractObservedGame, state: CFRPlusState):
        # Where an observation was never reached: the current policy.
        t = jnp.maximum(state.t, 1).astype(state.policy[0].dtype)
        tables = tuple(
            reach_average(s, m, p * t, t)
            for s, m, p in zip(state.total, state.mass, state.policy, strict=True)
        )
        return game.observation_policy(tables)
