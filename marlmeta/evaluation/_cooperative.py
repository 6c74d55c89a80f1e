"""Exact quantities of fully cooperative games: localized action values, the
optimal value and the optimality gap.

Zhao, Yang, Wang, Lee, "Local Optimization Achieves Global Optimality in
Multi-Agent Reinforcement Learning" (ICML 2023), for one shared reward ``r``
and an autoregressive policy ``pi(a|s) = prod_m pi^m(a_m | s, a_{<m})``:

- joint action value ``Q(s, a) = r(s, a) + gamma sum_{s'} P(s'|s, a) V(s')``,
  ``V`` from one linear solve of the joint policy;
- localized action value (Def. 3.1, conditional on the prefix)
  ``Q^{1:m}(s, a_{<=m}) = sum_{a_{>m}} prod_{i>m} pi^i(a_i | s, a_{<i}) Q(s, a)``,
  so that ``Q^{1:N} = Q`` and ``sum_{a_m} pi^m Q^{1:m} = Q^{1:m-1}``;
- ``V*`` of the joint-action MDP (policy iteration to an exact fixed point,
  dense solves; matrix-free for games too large for them) and the optimality
  gap ``J* - J(pi)`` with ``J(pi) = w @ V_pi`` for the game's ``initial``
  distribution ``w = rho``, or, as in the paper's section 4, the stationary
  distribution ``nu*`` of the optimal policy found.

Everything is differentiable (through the value solve) and jit/vmap-compatible.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta._linalg import solve
from marlmeta.policies import as_autoregressive, validate

if TYPE_CHECKING:
    from marlmeta.games import DiscountedMarkovGame


def shared_reward(game: DiscountedMarkovGame, caller: str) -> Float[Array, " S *A"]:
    """The reward every agent shares.

    ``ValueError`` for a batch of games, a game that is not discounted, or
    concrete rewards that differ between players (naming the first index).
    Traced rewards (a game under ``vmap`` or ``jit``) cannot raise: a game whose
    players' rewards differ gets an all-NaN shared reward, so everything
    computed from it is NaN for that game alone (the per-game flag, e.g.
    ``Solution.finite``).
    """
    game.require_one_game(caller)
    game.require_discounted(caller)
    r = game.reward_model.shared(1 + game.num_players)
    dense = game.rewards
    if isinstance(dense, jax.core.Tracer):
        r = jnp.where(jnp.all(dense == dense[:1]), r, jnp.nan)
    return r


def joint_q(game: DiscountedMarkovGame, policy, reward) -> Float[Array, " S *A"]:
    """``Q = r + gamma E[V(s')]`` of a policy kind (one value solve)."""
    v = game.evaluate(policy, reward[None]).values[0]
    return reward + game.discount * game.transitions.expectation(0, v)


def localized_q(game: DiscountedMarkovGame, policy) -> tuple[Array, ...]:
    """The localized action values ``Q^{1:m+1}`` of every agent ``m``.

    Args:
        game: a cooperative discounted game (one game; ``vmap`` for batches).
        policy: an :class:`~marlmeta.policies.AutoregressivePolicy`, a tuple of
            its tables ``(S, A_0, .., A_m)``, or a product policy (the
            autoregressive policy that ignores the prefix).

    Returns:
        A tuple whose entry ``m`` has shape ``(S, A_0, .., A_m)``:
        ``E_{a_{>m} ~ pi(.|s, a_{<=m})} Q(s, a)``; the last entry is ``Q``.

    Raises:
        ValueError: players' rewards differ, or the tables have the wrong
            shapes, are off the simplex or are for the wrong number of agents.
    """
    r = shared_reward(game, "localized_q")
    pol = validate(game, as_autoregressive(policy), caller="localized_q")
    return pol.localized(joint_q(game, pol, r))


def occupancy(game: DiscountedMarkovGame, policy) -> Float[Array, " S"]:
    """Discounted state occupancy ``d(s) = (1 - gamma) rho^T (I - gamma P_pi)^{-1}``
    of any policy kind (dense kernels); sums to 1."""
    game.require_discounted("occupancy")
    pol = validate(game, policy, caller="occupancy")
    return game.visitation(pol)


def optimal_value(game: DiscountedMarkovGame) -> Float[Array, " S"]:
    """``V*`` of the joint-action MDP of a cooperative game, per state."""
    return game.optimal_policy(shared_reward(game, "optimal_value")).values


def stationary_distribution(p: Float[Array, "S S"]) -> Float[Array, " S"]:
    """The stationary distribution ``nu = nu P`` of a row-stochastic ``p``.

    ``nu = 1^T (I - P + 1 1^T)^{-1}``; the matrix is singular exactly when the
    stationary distribution is not unique. Then a concrete ``p`` raises
    ``ValueError`` and a traced one gives ``nan``.
    """
    s = p.shape[0]
    m = jnp.eye(s, dtype=p.dtype) - p + 1.0
    sv = jnp.linalg.svd(m, compute_uv=False)
    unique = sv[-1] > s * 1e3 * jnp.finfo(p.dtype).eps * sv[0]
    if not isinstance(unique, jax.core.Tracer) and not bool(unique):
        raise ValueError(
            "the optimal policy's state chain has more than one stationary "
            "distribution (several recurrent classes); use measure='initial'"
        )
    nu = solve(m.T, jnp.ones((s,), p.dtype))
    return jnp.where(unique, nu, jnp.nan)


def _optimal_kernel(game: DiscountedMarkovGame, reward) -> tuple[Array, Array]:
    """``V*`` and the state kernel of the deterministic optimal policy found."""
    opt = game.optimal_policy(reward)
    v, d = opt.values, opt.actions
    nxt = game.next_state_tensor(reward.dtype)  # (S', S, *A)
    flat = nxt.reshape(game.num_states, game.num_states, -1)
    return v, flat[:, jnp.arange(game.num_states), d].T


class AbstractMeasure(eqx.Module):
    """The state weights ``w`` of the optimality gap ``w @ (V* - V_sigma)`` (a
    strategy object)."""

    @abc.abstractmethod
    def gap(self, game: DiscountedMarkovGame, reward, v) -> Float[Array, ""]:
        """``w @ (V* - v)`` for the shared ``reward`` and the values ``v``."""


class InitialMeasure(AbstractMeasure):
    """``w = rho``, the game's initial distribution."""

    def gap(self, game, reward, v):
        return game.initial @ (game.optimal_policy(reward).values - v)


class StationaryMeasure(AbstractMeasure):
    """``w = nu*``, the stationary distribution of the deterministic optimal
    policy that policy iteration finds (the objective of Zhao et al. section 4;
    dense kernels only; it must be unique)."""

    def gap(self, game, reward, v):
        vstar, p_star = _optimal_kernel(game, reward)
        return stationary_distribution(p_star) @ (vstar - v)


#: The measures by the names a config gives them.
MEASURES: dict[str, AbstractMeasure] = {
    "initial": InitialMeasure(),
    "stationary": StationaryMeasure(),
}


def optimality_gap(
    game: DiscountedMarkovGame,
    sigma,
    *,
    measure: AbstractMeasure | str = MEASURES["initial"],
) -> Float[Array, ""]:
    """``J* - J(sigma) = w @ (V* - V_sigma) >= 0`` of a cooperative game.

    Args:
        game: a cooperative discounted game.
        sigma: any policy kind (product, joint, autoregressive).
        measure: the weights ``w``: :class:`InitialMeasure` (default) or
            :class:`StationaryMeasure`, or one of the names of
            :data:`MEASURES` (``"initial"``, ``"stationary"``).
    """
    if isinstance(measure, str):
        if measure not in MEASURES:
            raise ValueError(
                f"measure is {measure!r}; expected one of {sorted(MEASURES)} "
                "or a measure object"
            )
        measure = MEASURES[measure]
    r = shared_reward(game, "optimality_gap")
    pol = validate(game, sigma, name="sigma", caller="optimality_gap")
    return measure.gap(game, r, game.evaluate(pol, r[None]).values[0])
