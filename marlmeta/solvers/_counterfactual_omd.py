"""A converging reference for games with observations: optimistic OMD on
counterfactual values.

Optimistic multiplicative weights at every observation on the counterfactual values of
the current iterates, ``U_h(o, a) = sum_{s in o} c_h(s) Qbar_h(s, a)`` (the
regret decomposition of Zinkevich, Johanson, Bowling, Piccione, "Regret
Minimization in Games with Incomplete Information", NeurIPS 2007, with an
optimistic local learner), no stages; its sequence-form average converges to
an equilibrium.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.games import AbstractObservedGame, uniform_rows
from marlmeta.solvers._base import AbstractSolver, check_hyperparameter, hyperparameter
from marlmeta.solvers._observed_omd import reach_average
from marlmeta.solvers._stages import omd_step


class CounterfactualOMDState(eqx.Module):
    """State of :class:`CounterfactualOMD` (one entry per player)."""

    t: Array
    log_hat: tuple[Array, ...]
    policy: tuple[Array, ...]
    feedback: tuple[Array, ...]
    total: tuple[Array, ...]
    mass: tuple[Array, ...]


class CounterfactualOMD(AbstractSolver):
    """Optimistic OMD at every observation on counterfactual values (a reference
    that converges on games with observations and perfect recall).

    Each player ``i`` updates every ``(h, o)`` with
    ``hat <- normalise(hat exp(eta U)), pi <- normalise(hat exp(eta U))``,
    ``U_h(o, a) = sum_{s in o} c_h(s) Qbar_{h,i}(s, a)`` the counterfactual value
    of the previous iterate (``c``: reach under the others' iterates and a
    uniform own policy, a positive constant per observation times the
    counterfactual reach; ``Qbar``: the others' actions averaged out of player
    ``i``'s ``Q`` of the joint iterate). No stages. Output: the sequence-form
    average ``pibar_h(a|o) ∝ sum_t w^t_h(o) pi^t_h(a|o)`` (``w^t``: reach mass of
    ``o`` under the own iterate and uniform opponents).

    Counterfactual values carry the chance reach of their observation, so the
    effective step at ``o`` is ``eta`` times that reach: games with many deals
    need a larger ``eta`` (Kuhn poker: ``eta = 1``; a river endgame with ``n``
    hands per player: about ``10 n``).

    Attributes:
        step_size: ``eta > 0``.
    """

    step_size: Float[Array, ""] = hyperparameter("step_size")

    def __check_init__(self):
        check_hyperparameter("step_size", self.step_size)

    def default_init(self, game: AbstractObservedGame, num_steps: int):
        game.require_observations("CounterfactualOMD")
        del num_steps
        return uniform_rows(game)

    def init(self, game: AbstractObservedGame, init_policy) -> CounterfactualOMDState:
        game.require_observations("CounterfactualOMD")
        dtype = game.rewards.dtype
        pol = tuple(jnp.asarray(p, dtype) for p in init_policy)
        zeros = tuple(jnp.zeros_like(p) for p in pol)
        return CounterfactualOMDState(
            t=jnp.zeros((), jnp.int32),
            log_hat=tuple(jnp.log(p) for p in pol),
            policy=pol,
            feedback=zeros,
            total=zeros,
            mass=tuple(jnp.zeros(p.shape[:-1], dtype) for p in pol),
        )

    def step(self, game: AbstractObservedGame, state: CounterfactualOMDState):
        eta = self.step_size.astype(state.policy[0].dtype)
        steps = [
            omd_step(lh, g, eta)
            for lh, g in zip(state.log_hat, state.feedback, strict=True)
        ]
        pol = tuple(p for _, p in steps)
        feedback, w = game.counterfactual_feedback(pol)
        return CounterfactualOMDState(
            t=state.t + 1,
            log_hat=tuple(lh for lh, _ in steps),
            policy=pol,
            feedback=feedback,
            total=tuple(
                s + m[..., None] * p
                for s, m, p in zip(state.total, w, pol, strict=True)
            ),
            mass=tuple(s + m for s, m in zip(state.mass, w, strict=True)),
        )

    def stats(self, game: AbstractObservedGame, state: CounterfactualOMDState):
        """The output tables (the sequence-form average), shaped like the
        initial policy: a meta-learner starts the next game from them."""
        return tuple(self.output(game, state).tables)

    def output(self, game: AbstractObservedGame, state: CounterfactualOMDState):
        t = jnp.maximum(state.t, 1).astype(state.policy[0].dtype)
        tables = tuple(
            reach_average(s, m, p * t, t)
            for s, m, p in zip(state.total, state.mass, state.policy, strict=True)
        )
        return game.observation_policy(tables)
