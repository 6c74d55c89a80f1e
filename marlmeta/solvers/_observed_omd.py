"""Algorithm 1 with local observations: optimistic OMD on observations with
state-level stage values (the converging reference is in
:mod:`marlmeta.solvers._counterfactual_omd`).

**Algorithm 1 with local observations** (Mao, Qiu, Zhang, Başar, "Multi-Agent
Meta-Reinforcement Learning", NeurIPS 2023, appendix F.3: "each agent simply
uses its local observation as the state"), :class:`ObservedZeroSumOMD`, on an
:class:`~marlmeta.games.AbstractObservedGame`: the policies live on ``(h, o)``, the
stage values ``vsum`` and ``Q`` stay on states, and each player's feedback is
averaged over its belief,

    g_mu(h, o, a) = sum_{s in o} c^nu_h(s) (Q_h(s) nu_h(s))_a / sum_{s in o} c^nu_h(s)

(``0`` where the mass is ``0``), with ``c^nu`` the reach of ``s`` under the
opponent's iterate and a uniform own policy; symmetrically for ``nu``. Stage
best responses in hindsight are per ``(h, o)``, so the meta-learner works
unchanged. Output: the own-reach-weighted (sequence-form) average
``pibar_h(a|o) ∝ sum_t w^t_h(o) pi^t_h(a|o)``, ``w^t_h(o)`` the reach mass of
``o`` under (own iterate ``t``, uniform opponents) (:class:`ReachAverage`);
:class:`PlainAverage` gives the plain average. The stage values are not
counterfactual, so this dynamic need not converge to an equilibrium of the
imperfect-information game.
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.games import (
    AbstractObservedGame,
)
from marlmeta.solvers._base import hyperparameter
from marlmeta.solvers._stages import (
    StageClock,
    num_stages,
    omd_step,
    renormalise,
)
from marlmeta.solvers._zero_sum_omd import (
    AbstractZeroSumOMD,
    initial_fields,
    stage_restart,
)


def reach_average(total, mass, plain, count):
    """``total / mass`` where ``mass > 0``, else the plain average; on the
    simplex to rounding (:func:`~marlmeta.solvers._stages.renormalise`)."""
    safe = jnp.where(mass > 0, mass, 1)[..., None]
    return renormalise(jnp.where(mass[..., None] > 0, total / safe, plain / count))


# ------------------------------------------------- Algorithm 1 on observations


class ObservedOMDState(eqx.Module):
    """State of :class:`ObservedZeroSumOMD`.

    Policies, feedback and stage statistics are per ``(h, o)`` (``O``: the
    player's observations); ``q`` and ``vsum`` are the game's stage ``Q`` and
    stage values (:meth:`~marlmeta.games.AbstractObservedGame.zero_stage`: per
    state, ``(H, S, A, B)`` and ``(H, S)``, or a kind's compact form).
    """

    clock: StageClock
    log_mu_hat: Float[Array, "H O A"]
    mu: Float[Array, "H O A"]
    log_nu_hat: Float[Array, "H P B"]
    nu: Float[Array, "H P B"]
    g_mu: Float[Array, "H O A"]
    g_nu: Float[Array, "H P B"]
    q: Any
    vsum: Array
    gsum_mu: Float[Array, "H O A"]
    gsum_nu: Float[Array, "H P B"]
    mu_sum: Float[Array, "H O A"]
    nu_sum: Float[Array, "H P B"]
    mu_mass: Float[Array, "H O"]
    nu_mass: Float[Array, "H P"]
    mu_plain: Float[Array, "H O A"]
    nu_plain: Float[Array, "H P B"]
    mu_br: Float[Array, "K H O A"]
    nu_br: Float[Array, "K H P B"]
    log_init_mu: Float[Array, "K H O A"]
    log_init_nu: Float[Array, "K H P B"]


def _observed_init(game: AbstractObservedGame, init_policy) -> ObservedOMDState:
    """The state before the first iteration (``Q = 0``: zero feedback)."""
    dtype, H, (A, B) = game.rewards.dtype, game.horizon, game.num_actions
    Oa, Ob = game.num_observations
    z = lambda *s: jnp.zeros(s, dtype)  # noqa: E731
    fields = initial_fields(game, init_policy, Oa, Ob)
    fields["q"], fields["vsum"] = game.zero_stage(dtype)
    return ObservedOMDState(
        **fields,
        mu_mass=z(H, Oa), nu_mass=z(H, Ob),
        mu_plain=z(H, Oa, A), nu_plain=z(H, Ob, B),
    )  # fmt: skip


def _observed_iterate(game: AbstractObservedGame, state: ObservedOMDState, eta):
    """Optimistic steps on ``(h, o)``, then the new feedback and accumulators."""
    log_mu_hat, mu = omd_step(state.log_mu_hat, state.g_mu, eta)
    log_nu_hat, nu = omd_step(state.log_nu_hat, state.g_nu, -eta)
    g_mu, g_nu, value, w_mu, w_nu = game.stage_feedback(state.q, mu, nu)
    return eqx.tree_at(
        lambda s: (
            s.log_mu_hat, s.mu, s.log_nu_hat, s.nu, s.g_mu, s.g_nu, s.vsum,
            s.gsum_mu, s.gsum_nu, s.mu_sum, s.nu_sum, s.mu_mass, s.nu_mass,
            s.mu_plain, s.nu_plain,
        ),
        state,
        (
            log_mu_hat, mu, log_nu_hat, nu, g_mu, g_nu, state.vsum + value,
            state.gsum_mu + g_mu, state.gsum_nu + g_nu,
            state.mu_sum + w_mu[..., None] * mu, state.nu_sum + w_nu[..., None] * nu,
            state.mu_mass + w_mu, state.nu_mass + w_nu,
            state.mu_plain + mu, state.nu_plain + nu,
        ),
    )  # fmt: skip


def _observed_restart(game, state: ObservedOMDState, q, brs, nxt):
    """Stage end: new ``Q``, recorded best responses, restart from stage ``nxt``."""
    return stage_restart(
        state, q, brs, nxt, lambda q, mu, nu: game.stage_feedback(q, mu, nu)[:2]
    )


class AbstractAverage(eqx.Module):
    """How :class:`ObservedZeroSumOMD` averages its iterates into its output."""

    @abc.abstractmethod
    def __call__(self, total, mass, plain, t) -> Array:
        """The output table from the reach-weighted sum ``total``, the reach
        ``mass``, the plain sum ``plain`` of the iterates and their number ``t``."""


class ReachAverage(AbstractAverage):
    """The own-reach-weighted (sequence-form) average
    ``pibar_h(a|o) ∝ sum_t w^t_h(o) pi^t_h(a|o)``, the plain average where the
    reach mass is ``0``."""

    def __call__(self, total, mass, plain, t):
        return reach_average(total, mass, plain, t)


class PlainAverage(AbstractAverage):
    """The plain average ``(1/T) sum_t pi^t``."""

    def __call__(self, total, mass, plain, t):
        del total, mass
        return plain / t


#: The averaging rules by the names a config gives them.
AVERAGES: dict[str, AbstractAverage] = {
    "reach": ReachAverage(),
    "plain": PlainAverage(),
}


class ObservedZeroSumOMD(AbstractZeroSumOMD):
    """Algorithm 1 of Mao et al. with local observations (module text).

    The initial-policy argument is per stage: a pair of ``(num_stages, H, O_i,
    A_i)`` tables; the meta statistics (:meth:`stats`) are the stage best
    responses in hindsight per observation, of the same shapes. The output is an
    :class:`~marlmeta.policies.ObservationPolicy`.

    Needs a two-player zero-sum :class:`~marlmeta.games.AbstractObservedGame`
    (general-sum rewards: as :class:`~marlmeta.solvers.ZeroSumOMD`).

    Attributes:
        step_size: ``eta > 0`` (an array leaf).
        average: the averaging rule of the output (:class:`ReachAverage`,
            default, or :class:`PlainAverage`).
    """

    step_size: Float[Array, ""] = hyperparameter("step_size")
    average: AbstractAverage = ReachAverage()

    def __check_init__(self):
        if not isinstance(self.average, AbstractAverage):
            raise ValueError(
                f"average is {self.average!r}; expected an averaging rule "
                "(ReachAverage() or PlainAverage())"
            )

    def default_init(self, game: AbstractObservedGame, num_steps: int):
        game.require_observations("ObservedZeroSumOMD")
        k, dtype = num_stages(game.horizon, num_steps), game.rewards.dtype
        return tuple(
            jnp.full((k, game.horizon, o, a), 1.0 / a, dtype)
            for o, a in zip(game.num_observations, game.num_actions, strict=True)
        )

    def init(self, game: AbstractObservedGame, init_policy) -> ObservedOMDState:
        game.require_observations("ObservedZeroSumOMD")
        init_policy = self._zero_sum_init(game, init_policy, "ObservedZeroSumOMD")
        return _observed_init(game, init_policy)

    def _iterate(self, game: AbstractObservedGame, state: ObservedOMDState, eta):
        return _observed_iterate(game, state, eta)

    def _restart(
        self, game: AbstractObservedGame, state: ObservedOMDState, length, brs, nxt
    ):
        q = game.observed_stage_q(state.q, state.vsum, length)
        return _observed_restart(game, state, q, brs, nxt)

    def output(self, game: AbstractObservedGame, state: ObservedOMDState):
        t = jnp.maximum(state.clock.t, 1).astype(state.mu_sum.dtype)
        tables = (
            self.average(state.mu_sum, state.mu_mass, state.mu_plain, t),
            self.average(state.nu_sum, state.nu_mass, state.nu_plain, t),
        )
        return game.observation_policy(tables)
