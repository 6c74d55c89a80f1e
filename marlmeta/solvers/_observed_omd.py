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

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.games import AbstractObservedGame
from marlmeta.solvers._stages import (
    StageClock,
    num_stages,
    omd_step,
    reduce_last,
    renormalise,
    stage_q,
)
from marlmeta.solvers._zero_sum_omd import (
    AbstractZeroSumOMD,
    initial_fields,
    stage_restart,
)


def beliefs(game: AbstractObservedGame, tables) -> list[Float[Array, "H S"]]:
    """Per player ``i``: ``c_h(s)``, the reach under the others' iterates and a
    uniform policy of ``i`` (its belief weights, and for two players the own
    reach of the other player)."""
    return [game.reach(d) for d in game.observation_policy(tables).deviation_policies()]


def belief_average(game: AbstractObservedGame, i: int, x, weight):
    """``sum_{s in o} w(s) x(s, .) / sum_{s in o} w(s)`` over player ``i``'s
    observations (``0`` where the mass is ``0``)."""
    num = game.pool(i, weight[..., None] * x)
    mass = mass_per_observation(game, i, weight)[..., None]
    return jnp.where(mass > 0, num / jnp.where(mass > 0, mass, 1), 0)


def mass_per_observation(game: AbstractObservedGame, i: int, weight):
    """``sum_{s in o} w(s)`` per observation ``(H, O_i)`` of player ``i``."""
    return game.pool(i, weight[..., None])[..., 0]


def reach_average(total, mass, plain, count):
    """``total / mass`` where ``mass > 0``, else the plain average; on the
    simplex to rounding (:func:`~marlmeta.solvers._stages.renormalise`)."""
    safe = jnp.where(mass > 0, mass, 1)[..., None]
    return renormalise(jnp.where(mass[..., None] > 0, total / safe, plain / count))


# ------------------------------------------------- Algorithm 1 on observations


class ObservedOMDState(eqx.Module):
    """State of :class:`ObservedZeroSumOMD`.

    Policies, feedback and stage statistics are per ``(h, o)`` (``O``: the
    player's observations); ``q`` and ``vsum`` are per state.
    """

    clock: StageClock
    log_mu_hat: Float[Array, "H O A"]
    mu: Float[Array, "H O A"]
    log_nu_hat: Float[Array, "H P B"]
    nu: Float[Array, "H P B"]
    g_mu: Float[Array, "H O A"]
    g_nu: Float[Array, "H P B"]
    q: Float[Array, "H S A B"]
    vsum: Float[Array, "H S"]
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


def observed_feedback(game: AbstractObservedGame, q, mu, nu):
    """Belief-weighted feedback of both players, the stage value per state, and
    each player's own-reach mass per observation.

    Returns:
        ``(g_mu, g_nu, value, mass_mu, mass_nu)``.
    """
    mu_s, nu_s = game.observation_policy((mu, nu)).lift().tables
    q_nu = reduce_last(jnp.add, q * nu_s[..., None, :])
    mu_q = reduce_last(jnp.add, q * mu_s[..., None], -2)
    # c0: reach under (uniform, nu), player 0's beliefs and nu's own reach;
    # c1: reach under (mu, uniform), player 1's beliefs and mu's own reach.
    c0, c1 = beliefs(game, (mu, nu))
    g_mu = belief_average(game, 0, q_nu, c0)
    g_nu = belief_average(game, 1, mu_q, c1)
    value = reduce_last(jnp.add, mu_s * q_nu)
    return (
        g_mu,
        g_nu,
        value,
        mass_per_observation(game, 0, c1),
        mass_per_observation(game, 1, c0),
    )


def _observed_init(game: AbstractObservedGame, init_policy) -> ObservedOMDState:
    """The state before the first iteration (``Q = 0``: zero feedback)."""
    dtype, H, (A, B) = game.rewards.dtype, game.horizon, game.num_actions
    Oa, Ob = game.num_observations
    z = lambda *s: jnp.zeros(s, dtype)  # noqa: E731
    return ObservedOMDState(
        **initial_fields(game, init_policy, Oa, Ob),
        mu_mass=z(H, Oa), nu_mass=z(H, Ob),
        mu_plain=z(H, Oa, A), nu_plain=z(H, Ob, B),
    )  # fmt: skip


def _observed_iterate(game: AbstractObservedGame, state: ObservedOMDState, eta):
    """Optimistic steps on ``(h, o)``, then the new feedback and accumulators."""
    log_mu_hat, mu = omd_step(state.log_mu_hat, state.g_mu, eta)
    log_nu_hat, nu = omd_step(state.log_nu_hat, state.g_nu, -eta)
    g_mu, g_nu, value, w_mu, w_nu = observed_feedback(game, state.q, mu, nu)
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
        state, q, brs, nxt, lambda q, mu, nu: observed_feedback(game, q, mu, nu)[:2]
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

    step_size: Float[Array, ""] = eqx.field(converter=jnp.asarray)
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
        q = stage_q(game, game.rewards[0], state.vsum, length)
        return _observed_restart(game, state, q, brs, nxt)

    def output(self, game: AbstractObservedGame, state: ObservedOMDState):
        t = jnp.maximum(state.clock.t, 1).astype(state.mu_sum.dtype)
        tables = (
            self.average(state.mu_sum, state.mu_mass, state.mu_plain, t),
            self.average(state.nu_sum, state.nu_mass, state.nu_plain, t),
        )
        return game.observation_policy(tables)
