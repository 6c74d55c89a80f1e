"""The CFR family on games with observations: a local regret minimiser at
every observation on counterfactual values, alternating updates, weighted
averaging; and CFR+ in it.

Zinkevich, Johanson, Bowling, Piccione, "Regret Minimization in Games with
Incomplete Information" (NeurIPS 2007) decompose the regret of a game with
perfect recall into local regrets at its information sets (here:
observations). Iteration ``t = 1, 2, ..`` updates the players in turn,
``i = 0, .., N-1``, each against the others' latest policies:

    U_h(o, a) = sum_{s in o} c_h(s) Qbar_{h,i}(s, a)           (counterfactual values)
    r_h(o, a) = U_h(o, a) - <pi_h(o), U_h(o)>              (instantaneous regret)
    R, m      <- update_t(R, m, r)                         (the variant's rule)
    pi_h(o)   <- [R + m]^+ / sum_a [R + m]^+_a   (uniform on the legal actions if 0)

with ``c_h(s)`` the reach of ``s`` under the others' policies and a uniform
policy of player ``i`` (a positive constant per observation times the
counterfactual reach under perfect recall; regret matching is invariant to
that constant), ``Qbar_i`` player ``i``'s ``Q`` of the joint policy with the
others' actions averaged out, and ``m`` a prediction of the next
instantaneous regret (0 but in predictive variants). Regrets of illegal
actions stay 0, and a regret within ``64 eps max_a |U_h(o, a)|`` of 0 counts
as 0 (at an exact tie of the values, rounding would otherwise decide between a
pure and the uniform policy, differently for every layout of the same game).
Before its update, the policy enters the average with weight
``omega_t w_h(o)``, ``w_h(o)`` its own reach mass (reach under its policy and
uniform opponents) and ``omega_t`` the variant's weight of iteration ``t``;
the output is that average, normalised per observation.

CFR+ (Tammelin, Burch, Johanson, Bowling, "Solving Heads-up Limit Texas
Hold'em", IJCAI 2015) is regret-matching+, ``R <- max(R + r, 0)``, ``m = 0``,
with linear averaging ``omega_t = t``. No step size: nothing to tune.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from marlmeta.games import AbstractObservedGame, mass_per_observation, uniform_rows
from marlmeta.policies import ProductPolicy
from marlmeta.solvers._base import AbstractSolver
from marlmeta.solvers._observed_omd import reach_average


def regret_matching(regret: Array, legal: Array | bool = True) -> Array:
    """``max(R, 0) / sum_a max(R, 0)`` per row over the ``legal`` actions
    (a boolean mask broadcast against ``regret``), uniform over them where
    that sum is 0."""
    legal = jnp.broadcast_to(legal, regret.shape)
    pos = jnp.where(legal, jnp.maximum(regret, 0), 0)
    total = pos.sum(-1, keepdims=True)
    uniform = legal / legal.sum(-1, keepdims=True)
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
    """State of the CFR family (:class:`CFRPlus`,
    :class:`PredictiveCFRPlus`, :class:`DiscountedCFR`), one entry per player,
    on observations: regrets ``R``, predictions ``m`` (0 where the variant has
    none), current policies and the weighted sums of the average."""

    t: Array
    regret: tuple[Array, ...]
    prediction: tuple[Array, ...]
    policy: tuple[Array, ...]
    total: tuple[Array, ...]
    mass: tuple[Array, ...]


class AbstractCFR(AbstractSolver):
    """A CFR variant (module text) on games with observations and perfect
    recall (:class:`~marlmeta.games.ObservedGame`): a variant is its regret
    update :meth:`update` and its averaging weight :meth:`average_weight`.

    The initial-policy argument is per player a table ``(H, O_i, A_i)``, the
    first iterate (regrets start at 0). Output: the weighted,
    own-reach-weighted average policy, an
    :class:`~marlmeta.policies.ObservationPolicy`.
    """

    @abc.abstractmethod
    def update(self, t: Array, regret: Array, prediction: Array, inst: Array):
        """``(R, m)`` after iteration ``t`` from the previous ``(R, m)`` and the
        instantaneous regret ``r`` (``inst``, 0 at illegal actions); the next
        policy is regret matching on ``R + m``."""

    @abc.abstractmethod
    def average_weight(self, t: Array) -> Array:
        """``omega_t``, the weight of iteration ``t``'s policy in the average."""

    def default_init(self, game: AbstractObservedGame, num_steps: int):
        game.require_observations(type(self).__name__)
        del num_steps
        return uniform_rows(game)

    def init(self, game: AbstractObservedGame, init_policy) -> CFRPlusState:
        game.require_observations(type(self).__name__)
        dtype = game.rewards.dtype
        pol = tuple(jnp.asarray(p, dtype) for p in init_policy)
        zeros = tuple(jnp.zeros_like(p) for p in pol)
        return CFRPlusState(
            t=jnp.zeros((), jnp.int32),
            regret=zeros,
            prediction=zeros,
            policy=pol,
            total=zeros,
            mass=tuple(jnp.zeros(p.shape[:-1], dtype) for p in pol),
        )

    def step(self, game: AbstractObservedGame, state: CFRPlusState) -> CFRPlusState:
        t = state.t + 1
        tf = t.astype(state.policy[0].dtype)
        weight = self.average_weight(tf)
        pol, regret = list(state.policy), list(state.regret)
        pred, total, mass = list(state.prediction), list(state.total), list(state.mass)
        for i, legal in enumerate(game.policy_masks()):  # alternating updates
            u, w = _counterfactual_values(game, tuple(pol), i)
            total[i] = total[i] + weight * w[..., None] * pol[i]
            mass[i] = mass[i] + weight * w
            inst = jnp.where(legal, u - (pol[i] * u).sum(-1, keepdims=True), 0)
            regret[i], pred[i] = self.update(tf, regret[i], pred[i], inst)
            tol = 64 * jnp.finfo(u.dtype).eps * jnp.abs(u).max(-1, keepdims=True)
            regret[i] = jnp.where(jnp.abs(regret[i]) > tol, regret[i], 0)
            pol[i] = regret_matching(regret[i] + pred[i], legal)
        return CFRPlusState(
            t, tuple(regret), tuple(pred), tuple(pol), tuple(total), tuple(mass)
        )

    def output(self, game: AbstractObservedGame, state: CFRPlusState):
        # Where an observation was never reached: the current policy.
        t = jnp.maximum(state.t, 1).astype(state.policy[0].dtype)
        tables = tuple(
            reach_average(s, m, p * t, t)
            for s, m, p in zip(state.total, state.mass, state.policy, strict=True)
        )
        return game.observation_policy(tables)


class CFRPlus(AbstractCFR):
    """CFR+ (module text): regret-matching+ ``R <- max(R + r, 0)``, alternating
    updates, linear averaging ``omega_t = t``; a converging reference without
    hyperparameters (Tammelin, Burch, Johanson, Bowling, "Solving Heads-up
    Limit Texas Hold'em", IJCAI 2015).

    The iterates are those of OpenSpiel's ``CFRPlusSolver``.
    """

    def update(self, t, regret, prediction, inst):
        del t
        return jnp.maximum(regret + inst, 0), prediction

    def average_weight(self, t):
        return t
