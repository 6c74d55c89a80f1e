"""Optimistic OMD with stage-based Q updates for two-player zero-sum games (NE).

Mao, Qiu, Wang et al.'s Algorithm 1. For every ``(h, s)`` in parallel,
with the feedback of the previous iterate ``g_mu = Q[h,s] nu[h,s]``,
``g_nu = mu[h,s]^T Q[h,s]`` (``Q`` is player 0's):

    mu_hat <- normalise(mu_hat * exp(eta g_mu)),
        mu <- normalise(mu_hat * exp(eta g_mu))
    nu_hat <- normalise(nu_hat * exp(-eta g_nu)),
        nu <- normalise(nu_hat * exp(-eta g_nu))

The min-player minimises: the paper's ``+eta`` for ``nu`` is a sign typo, and
this library uses ``-eta``. The stage accumulates ``mu^T Q nu``, ``Q nu`` and
``mu^T Q`` with the new policies and the current ``Q``; at the end of stage
``tau`` (schedule, best-response rule and restart in :mod:`._stages`) the best
responses in hindsight are recorded (``nu``'s over the maximisers of
``-mu^T Q``), ``Q[h] <- r_0[h] + P[h] (vsum[h+1] / L_tau)``, and both players
restart from the stage ``tau + 1`` initial policies. Output: the average of all
iterates of the policy update (never the restarted policies).

References:
    Mao, Qiu, Wang et al. Multi-Agent Meta-Reinforcement Learning: Sharper
    Convergence Rates with Task Similarity. NeurIPS 2023, Algorithm 1 and
    Theorem 1.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from marlmeta.games import AbstractMarkovGame, MarkovGame, stage_q
from marlmeta.solvers._base import hyperparameter
from marlmeta.solvers._stages import (
    AbstractStageOMD,
    StageClock,
    omd_step,
    reduce_last,
    renormalise,
    theorem1_step_size,
)


def zero_sum_flag(game: MarkovGame, caller: str):
    """Whether ``game`` is two-player zero-sum (``r_1 = -r_0`` up to
    ``64 eps (1 + max |r_0|)``).

    Concrete rewards: ``True``, or a ``ValueError`` naming the first index where
    ``r_1 != -r_0``. Traced rewards (under ``vmap``/``jit``): a boolean array,
    the per-game flag (the caller makes that game's results NaN).
    """
    r = game.rewards
    tol = 64 * jnp.finfo(r.dtype).eps * (1 + jnp.max(jnp.abs(r[0])))
    off = jnp.abs(r[0] + r[1]) > tol
    if isinstance(off, jax.core.Tracer):
        return ~jnp.any(off)
    off = np.asarray(off)
    if off.any():
        idx = tuple(int(k) for k in np.unravel_index(int(np.argmax(off)), off.shape))
        at = ", ".join(map(str, idx))
        raise ValueError(
            f"game.rewards[1, {at}] is {float(r[1][idx])!r} but game.rewards[0, {at}] "
            f"is {float(r[0][idx])!r}; {caller} needs a zero-sum game (r_1 = -r_0)"
        )
    return True


def _feedback(q, mu, nu):
    """``(Q nu, mu^T Q)`` per ``(h, s)``."""
    return reduce_last(jnp.add, q * nu[..., None, :]), reduce_last(
        jnp.add, q * mu[..., None], -2
    )


class ZeroSumOMDState(eqx.Module):
    """State of :class:`ZeroSumOMD` (player 0 = ``mu``, player 1 = ``nu``)."""

    clock: StageClock
    log_mu_hat: Float[Array, "H S A"]
    mu: Float[Array, "H S A"]
    log_nu_hat: Float[Array, "H S B"]
    nu: Float[Array, "H S B"]
    g_mu: Float[Array, "H S A"]
    g_nu: Float[Array, "H S B"]
    q: Float[Array, "H S A B"]
    vsum: Float[Array, "H S"]
    gsum_mu: Float[Array, "H S A"]
    gsum_nu: Float[Array, "H S B"]
    mu_sum: Float[Array, "H S A"]
    nu_sum: Float[Array, "H S B"]
    mu_br: Float[Array, "K H S A"]
    nu_br: Float[Array, "K H S B"]
    log_init_mu: Float[Array, "K H S A"]
    log_init_nu: Float[Array, "K H S B"]


def initial_fields(game, init_policy, rows_mu: int, rows_nu: int) -> dict:
    """The fields that Algorithm 1 on states and on observations share, before
    the first iteration (``Q = 0``: zero feedback); each player's tables have
    ``rows_mu`` (``rows_nu``) rows per step: the states, or its observations."""
    mu0, nu0 = init_policy
    dtype = game.rewards.dtype
    log_mu0, log_nu0 = jnp.log(mu0.astype(dtype)), jnp.log(nu0.astype(dtype))
    H, S, (A, B) = game.horizon, game.num_states, game.num_actions
    z = lambda *s: jnp.zeros(s, dtype)  # noqa: E731
    return dict(
        clock=StageClock.start(H),
        log_mu_hat=log_mu0[0], mu=mu0[0].astype(dtype),
        log_nu_hat=log_nu0[0], nu=nu0[0].astype(dtype),
        g_mu=z(H, rows_mu, A), g_nu=z(H, rows_nu, B), q=z(H, S, A, B), vsum=z(H, S),
        gsum_mu=z(H, rows_mu, A), gsum_nu=z(H, rows_nu, B),
        mu_sum=z(H, rows_mu, A), nu_sum=z(H, rows_nu, B),
        mu_br=jnp.full(mu0.shape, 1.0 / A, dtype),
        nu_br=jnp.full(nu0.shape, 1.0 / B, dtype),
        log_init_mu=log_mu0, log_init_nu=log_nu0,
    )  # fmt: skip


def stage_restart(state, q, brs, nxt, feedback):
    """Stage end of Algorithm 1 on states or on observations: record the stage
    best responses ``brs`` and the new ``Q`` (``q``), zero the stage sums, and
    restart both players from stage ``nxt``'s initial policies with the
    feedback ``feedback(q, mu, nu) -> (g_mu, g_nu)`` of those policies."""
    mu, nu = jnp.exp(state.log_init_mu[nxt]), jnp.exp(state.log_init_nu[nxt])
    g_mu, g_nu = feedback(q, mu, nu)
    return eqx.tree_at(
        lambda s: (
            s.mu_br, s.nu_br, s.q, s.vsum, s.gsum_mu, s.gsum_nu, s.log_mu_hat,
            s.mu, s.log_nu_hat, s.nu, s.g_mu, s.g_nu,
        ),
        state,
        (
            *brs, q, jnp.zeros_like(state.vsum), jnp.zeros_like(state.gsum_mu),
            jnp.zeros_like(state.gsum_nu), state.log_init_mu[nxt], mu,
            state.log_init_nu[nxt], nu, g_mu, g_nu,
        ),
    )  # fmt: skip


class AbstractZeroSumOMD(AbstractStageOMD):
    """Algorithm 1 of Mao et al. (two-player zero-sum, stage-based ``Q``): what
    its variant on states (:class:`ZeroSumOMD`) and on observations
    (:class:`~marlmeta.solvers.ObservedZeroSumOMD`) share.

    A variant's state has the fields ``mu_br``, ``nu_br``, ``gsum_mu``,
    ``gsum_nu`` (stage best responses and accumulated feedback) and ``vsum``
    (the stage's accumulated values of player 0).
    """

    @classmethod
    def from_theorem(cls, game: AbstractMarkovGame, **kwargs):
        """The step size of Mao et al.'s Theorem 1, ``eta = 1/(8 H^2 c)`` with
        ``c`` player 0's reward range
        (:func:`marlmeta.theory.theorem1_step_size`)."""
        return cls(theorem1_step_size(game), **kwargs)

    def _zero_sum_init(self, game: AbstractMarkovGame, init_policy, name: str):
        """``init_policy``, checked for a two-player zero-sum game (NaN for a
        traced general-sum one)."""
        if game.num_players != 2:
            raise ValueError(f"game has {game.num_players} players; {name} needs 2")
        zero_sum = zero_sum_flag(game, name)
        if zero_sum is not True:  # traced: a general-sum game runs on NaN
            nan = lambda p: jnp.where(zero_sum, p, jnp.nan)  # noqa: E731
            init_policy = jax.tree.map(nan, init_policy)
        return init_policy

    def _hindsight(self, state):
        return (state.mu_br, state.nu_br), (state.gsum_mu, -state.gsum_nu)

    def _stage_values(self, state):
        return state.vsum, -state.vsum


class ZeroSumOMD(AbstractZeroSumOMD):
    """Optimistic OMD with stage-based values for two-player zero-sum games.

    The initial-policy argument is per stage: a pair ``(mu_init, nu_init)`` of
    shapes ``(num_stages, H, S, A)`` and ``(num_stages, H, S, B)``; the meta
    statistics (:meth:`stats`) are the stage best responses in hindsight, of the
    same shapes. Policies live on states; on a game with observations
    (:class:`~marlmeta.games.ObservedGame`) Algorithm 1 is
    :class:`~marlmeta.solvers.ObservedZeroSumOMD`.

    Needs a two-player zero-sum game: general-sum rewards are a ``ValueError``
    for a concrete game, and under ``vmap``/``jit`` make that game's output and
    trace NaN (``Solution.finite`` is ``False`` for it alone).

    Attributes:
        step_size: ``eta > 0`` (an array leaf, or one per game for
            ``solve_batch(..., batch_solver=True)``; Theorem 1 takes
            ``eta <= 1/(8 H^2)``).

    Example:
        >>> import marlmeta
        >>> from marlmeta.games import zoo
        >>> game = zoo.mao2023_zero_sum()
        >>> sol = marlmeta.solve(marlmeta.solvers.ZeroSumOMD(0.02), game, 200)
        >>> uniform = marlmeta.policies.uniform(game)
        >>> bool(sol.trace.nash_conv[-1] < marlmeta.evaluation.nash_conv(game, uniform))
        True
    """

    step_size: Float[Array, ""] = hyperparameter("step_size")

    def init(self, game: MarkovGame, init_policy) -> ZeroSumOMDState:
        game.require_state_policies("ZeroSumOMD")
        init_policy = self._zero_sum_init(game, init_policy, "ZeroSumOMD")
        S = game.num_states
        return ZeroSumOMDState(**initial_fields(game, init_policy, S, S))

    def _iterate(self, game: MarkovGame, state: ZeroSumOMDState, eta):
        # g_mu = Q nu, g_nu = mu^T Q of the previous iterate, carried in the state.
        log_mu_hat, mu = omd_step(state.log_mu_hat, state.g_mu, eta)
        log_nu_hat, nu = omd_step(state.log_nu_hat, state.g_nu, -eta)
        q_nu, mu_q = _feedback(state.q, mu, nu)
        return eqx.tree_at(
            lambda s: (
                s.log_mu_hat, s.mu, s.log_nu_hat, s.nu, s.g_mu, s.g_nu, s.vsum,
                s.gsum_mu, s.gsum_nu, s.mu_sum, s.nu_sum,
            ),
            state,
            (
                log_mu_hat, mu, log_nu_hat, nu, q_nu, mu_q,
                state.vsum + reduce_last(jnp.add, mu * q_nu),
                state.gsum_mu + q_nu, state.gsum_nu + mu_q,
                state.mu_sum + mu, state.nu_sum + nu,
            ),
        )  # fmt: skip

    def _restart(self, game: MarkovGame, state: ZeroSumOMDState, length, brs, nxt):
        q = stage_q(game, game.rewards[0], state.vsum, length)
        return stage_restart(state, q, brs, nxt, _feedback)

    def output(self, game: MarkovGame, state: ZeroSumOMDState):
        t = jnp.maximum(state.clock.t, 1).astype(state.mu_sum.dtype)
        return renormalise(state.mu_sum / t), renormalise(state.nu_sum / t)
