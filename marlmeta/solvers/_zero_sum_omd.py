"""Seed 000, Algorithm 1: optimistic OMD with stage-based Q updates (zero-sum NE).

``ALGORITHMS.md`` section 2. For every ``(h, s)`` in parallel, with the
feedback of the previous iterate ``g_mu = Q[h,s] nu[h,s]``, ``g_nu = mu[h,s]^T
Q[h,s]``:

    mu_hat <- normalise(mu_hat * exp(eta g_mu)),
        mu <- normalise(mu_hat * exp(eta g_mu))
    nu_hat <- normalise(nu_hat * exp(-eta g_nu)),
        nu <- normalise(nu_hat * exp(-eta g_nu))

(the min-player minimises: the paper's ``+eta`` for ``nu`` is a sign typo). The
stage accumulates ``mu^T Q nu``, ``Q nu`` and ``mu^T Q`` with the new policies;
at the end of stage ``tau`` (schedule in :mod:`._schedule`) the best responses in
hindsight are recorded (uniform over the maximisers), ``Q[h] <- r[h] + P[h]
(vsum[h+1] / L_tau)``, and both players restart from the stage ``tau + 1``
initial policies. Output: the average of all iterates.

References:
    Mao, Qiu, Zhang, Başar. Multi-Agent Meta-Reinforcement Learning: Sharper
    Convergence Rates with Task Similarity. NeurIPS 2023, Algorithm 1.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.games import MarkovGame
from marlmeta.policies import argmax_uniform
from marlmeta.solvers._base import AbstractSolver
from marlmeta.solvers._schedule import StageClock, num_stages

_UNROLL = 8


def _last(op, x, axis=-1):
    """Reduce one axis with ``op`` (``jnp.add`` or ``jnp.maximum``).

    A short action axis (at most ``_UNROLL``) is reduced by unrolled elementwise
    ops on its slices: they fuse with the surrounding update, whereas XLA's CPU
    reduction over a tiny minor axis is several times slower (measured with
    ``benchmarks/zero_sum.py``). Longer axes use the ordinary reduction.
    """
    if x.shape[axis] > _UNROLL:
        return (jnp.sum if op is jnp.add else jnp.max)(x, axis=axis)
    parts = [jnp.take(x, i, axis=axis) for i in range(x.shape[axis])]
    out = parts[0]
    for p in parts[1:]:
        out = op(out, p)
    return out


def _feedback(q, mu, nu):
    """``(Q nu, mu^T Q)`` per ``(h, s)``."""
    return _last(jnp.add, q * nu[..., None, :]), _last(jnp.add, q * mu[..., None], -2)


def _omd(log_hat, g, eta):
    """One optimistic step of one player, in log space.

    ``log_hat`` is the auxiliary policy's log up to a constant per ``(h, s)``
    (only differences matter), kept bounded by subtracting its maximum. Returns
    the new ``log_hat`` and the new policy
    ``normalise(hat * exp(eta g)) = softmax(log_hat + 2 eta g)``.
    """
    x = log_hat + eta * g
    log_hat = x - _last(jnp.maximum, x)[..., None]
    y = log_hat + eta * g
    e = jnp.exp(y - _last(jnp.maximum, y)[..., None])
    return log_hat, e / _last(jnp.add, e)[..., None]


def _end_stage(game: MarkovGame, state: ZeroSumOMDState, length):
    """Record best responses, update Q, restart from the next stage's init."""
    done = state.clock.stage - 1  # the stage that just ended
    nxt = jnp.minimum(state.clock.stage, state.log_init_mu.shape[0] - 1)
    dtype = state.q.dtype
    v_next = jnp.concatenate(
        [state.vsum[1:] / length.astype(dtype), jnp.zeros_like(state.vsum[:1])]
    )
    hs = jnp.arange(game.horizon)
    q = game.rewards[0] + jax.vmap(game.transitions.expectation)(hs, v_next)
    mu, nu = jnp.exp(state.log_init_mu[nxt]), jnp.exp(state.log_init_nu[nxt])
    g_mu, g_nu = _feedback(q, mu, nu)
    return eqx.tree_at(
        lambda s: (
            s.mu_br, s.nu_br, s.q, s.vsum, s.gsum_mu, s.gsum_nu, s.log_mu_hat,
            s.mu, s.log_nu_hat, s.nu, s.g_mu, s.g_nu,
        ),
        state,
        (
            state.mu_br.at[done].set(argmax_uniform(state.gsum_mu)),
            state.nu_br.at[done].set(argmax_uniform(-state.gsum_nu)),
            q,
            jnp.zeros_like(state.vsum),
            jnp.zeros_like(state.gsum_mu),
            jnp.zeros_like(state.gsum_nu),
            state.log_init_mu[nxt], mu, state.log_init_nu[nxt], nu, g_mu, g_nu,
        ),
    )  # fmt: skip


def _keep(game, state, length):
    del game, length
    return state


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


class ZeroSumOMD(AbstractSolver):
    """Optimistic OMD with stage-based values for two-player zero-sum games.

    The initial-policy argument is per stage: a pair ``(mu_init, nu_init)`` of
    shapes ``(num_stages, H, S, A)`` and ``(num_stages, H, S, B)``; the meta
    statistics (:meth:`stats`) are the stage best responses in hindsight, of the
    same shapes.

    Attributes:
        step_size: ``eta`` (an array leaf; Theorem 1 takes ``eta <= 1/(8 H^2)``).

    Example:
        >>> import marlmeta
        >>> from marlmeta.games import zoo
        >>> game = zoo.seed000_zero_sum()
        >>> sol = marlmeta.solve(marlmeta.solvers.ZeroSumOMD(0.02), game, 200)
        >>> bool(sol.trace.nash_conv[-1] < 1.0)
        True
    """

    step_size: Float[Array, ""] = eqx.field(converter=jnp.asarray)

    def default_init(self, game: MarkovGame, num_steps: int):
        k = num_stages(game.horizon, num_steps)
        shape = (k, game.horizon, game.num_states)
        dtype = game.rewards.dtype
        return tuple(jnp.full((*shape, a), 1.0 / a, dtype) for a in game.num_actions)

    def init(self, game: MarkovGame, init_policy) -> ZeroSumOMDState:
        if game.num_players != 2:
            raise ValueError(f"game has {game.num_players} players; ZeroSumOMD needs 2")
        mu0, nu0 = init_policy
        dtype = game.rewards.dtype
        log_mu0, log_nu0 = jnp.log(mu0.astype(dtype)), jnp.log(nu0.astype(dtype))
        H, S, (A, B) = game.horizon, game.num_states, game.num_actions
        z = lambda *s: jnp.zeros(s, dtype)  # noqa: E731
        return ZeroSumOMDState(
            clock=StageClock.start(H),
            log_mu_hat=log_mu0[0],
            mu=mu0[0].astype(dtype),
            log_nu_hat=log_nu0[0],
            nu=nu0[0].astype(dtype),
            g_mu=z(H, S, A),  # Q starts at 0
            g_nu=z(H, S, B),
            q=z(H, S, A, B),
            vsum=z(H, S),
            gsum_mu=z(H, S, A),
            gsum_nu=z(H, S, B),
            mu_sum=z(H, S, A),
            nu_sum=z(H, S, B),
            mu_br=jnp.full(mu0.shape, 1.0 / A, dtype),
            nu_br=jnp.full(nu0.shape, 1.0 / B, dtype),
            log_init_mu=log_mu0,
            log_init_nu=log_nu0,
        )

    def step(self, game: MarkovGame, state: ZeroSumOMDState) -> ZeroSumOMDState:
        eta = self.step_size.astype(state.q.dtype)
        # g_mu = Q nu, g_nu = mu^T Q of the previous iterate, carried in the state.
        log_mu_hat, mu = _omd(state.log_mu_hat, state.g_mu, eta)
        log_nu_hat, nu = _omd(state.log_nu_hat, state.g_nu, -eta)
        q_nu, mu_q = _feedback(state.q, mu, nu)
        state = eqx.tree_at(
            lambda s: (
                s.log_mu_hat, s.mu, s.log_nu_hat, s.nu, s.g_mu, s.g_nu, s.vsum,
                s.gsum_mu, s.gsum_nu, s.mu_sum, s.nu_sum,
            ),
            state,
            (
                log_mu_hat, mu, log_nu_hat, nu, q_nu, mu_q,
                state.vsum + _last(jnp.add, mu * q_nu),
                state.gsum_mu + q_nu, state.gsum_nu + mu_q,
                state.mu_sum + mu, state.nu_sum + nu,
            ),
        )  # fmt: skip
        length = state.clock.length
        clock, end = state.clock.tick(game.horizon)
        state = eqx.tree_at(lambda s: s.clock, state, clock)
        return jax.lax.cond(end, _end_stage, _keep, game, state, length)

    def output(self, game: MarkovGame, state: ZeroSumOMDState):
        t = jnp.maximum(state.clock.t, 1).astype(state.mu_sum.dtype)
        return state.mu_sum / t, state.nu_sum / t

    def stats(self, game: MarkovGame, state: ZeroSumOMDState):
        """Stage best responses; a partial current stage uses the iterations it had."""
        partial = state.clock.pos > 0
        tau = jnp.minimum(state.clock.stage, state.mu_br.shape[0] - 1)
        mu_br = state.mu_br.at[tau].set(
            jnp.where(partial, argmax_uniform(state.gsum_mu), state.mu_br[tau])
        )
        nu_br = state.nu_br.at[tau].set(
            jnp.where(partial, argmax_uniform(-state.gsum_nu), state.nu_br[tau])
        )
        return mu_br, nu_br
