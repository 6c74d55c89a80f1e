"""Optimistic OMD with stage-based values for CCE in N-player general-sum games.

Mao, Qiu, Wang et al.'s Algorithm 2: their Algorithm 1 (see
:mod:`._zero_sum_omd`) for ``N`` players, each maximising its own reward.
Player ``i``'s feedback is ``g_i[h,s,:] = E_{a_{-i} ~ pi_{h,-i}} Q_i[h,s,:,a_{-i}]``
of the previous iterate (the opponents' axes are contracted one player at a
time; the joint policy is never formed in the step), with ``+eta`` for every
player; ``vsum_i += E_{a ~ pi_h} Q_i``; at a stage end (schedule, best-response
rule and restart in :mod:`._stages`) the best responses in hindsight are
recorded from each player's accumulated feedback,
``Q_i[h] <- r_i[h] + P[h] (vsum_i[h+1] / L_tau)``, and every player restarts.

**Output (a library choice).** The paper's Algorithm 3 starts from a uniformly
drawn iteration ``t ~ Unif[T]``, and the exact gap of that policy would need a
POMDP. This library outputs instead the *stage-mixture* policy, which is
Algorithm 3 started from the last completed stage: at step ``h`` play the
uniform mixture of the product policies of stage ``tau_h = max(tau_last - h,
0)``, where ``tau_last`` is the last complete stage (0-indexed; or stage 0 as
far as it ran, if none is complete):
``sigma_h(a|s) = (1/L_{tau_h}) sum_{j in stage tau_h} prod_i pi^j_{h,i}(a_i|s)``.
The stage at each step is deterministic and each index is drawn afresh, so
``sigma`` is a Markov correlated policy and its CCE-gap is exact. The iterates
are kept in a buffer so that the output can be formed after any number of
iterations.

References:
    Mao, Qiu, Wang et al. Multi-Agent Meta-Reinforcement Learning: Sharper
    Convergence Rates with Task Similarity. NeurIPS 2023, Algorithms 2 and 3.
"""

from __future__ import annotations

import string

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from marlmeta.games import MarkovGame, stage_q
from marlmeta.policies import expect_others
from marlmeta.solvers._base import hyperparameter
from marlmeta.solvers._stages import (
    AbstractStageOMD,
    StageClock,
    full_stage_lengths,
    omd_step,
    reduce_last,
    renormalise,
)


def _feedback(q, policy):
    """Per player ``E_{a_{-i} ~ pi_{-i}} Q_i``: tuple of ``(H, S, A_i)``."""
    n = len(policy)

    def one_step(q_h, pol_h):
        return tuple(expect_others(q_h[i], pol_h, i) for i in range(n))

    return jax.vmap(one_step, in_axes=(1, 0))(q, policy)


class GeneralSumOMDState(eqx.Module):
    """State of :class:`GeneralSumOMD`; tuples hold one array per player."""

    clock: StageClock
    log_hat: tuple[Float[Array, "H S Ai"], ...]
    policy: tuple[Float[Array, "H S Ai"], ...]
    feedback: tuple[Float[Array, "H S Ai"], ...]
    q: Float[Array, "N H S *A"]
    vsum: Float[Array, "N H S"]
    gsum: tuple[Float[Array, "H S Ai"], ...]
    br: tuple[Float[Array, "K H S Ai"], ...]
    log_init: tuple[Float[Array, "K H S Ai"], ...]
    iterates: tuple[Float[Array, "T H S Ai"], ...]


class GeneralSumOMD(AbstractStageOMD):
    """Optimistic OMD with stage-based values for N-player general-sum games.

    The initial-policy argument is per stage and per player: a tuple of
    ``(num_stages, H, S, A_i)`` arrays; :meth:`stats` returns the stage best
    responses in hindsight in the same shapes (so
    :func:`marlmeta.meta.sequential_meta` applies unchanged).
    :meth:`output` is the stage-mixture Markov correlated policy
    ``(H, S, A_0, .., A_{N-1})``.

    Attributes:
        step_size: ``eta > 0`` (an array leaf).

    Example:
        >>> import jax, marlmeta
        >>> games = marlmeta.games.random_general_sum(jax.random.key(0), 1, (2, 2, 2))
        >>> game = jax.tree.map(lambda x: x[0], games)
        >>> sol = marlmeta.solve(marlmeta.solvers.GeneralSumOMD(0.1), game, 100)
        >>> sol.policy.shape
        (5, 2, 2, 2, 2)
    """

    step_size: Float[Array, ""] = hyperparameter("step_size")

    def init(self, game: MarkovGame, init_policy) -> GeneralSumOMDState:
        dtype = game.rewards.dtype
        log_init = tuple(jnp.log(p.astype(dtype)) for p in init_policy)
        policy = tuple(p[0].astype(dtype) for p in init_policy)
        stages = log_init[0].shape[0]
        capacity = sum(full_stage_lengths(game.horizon, stages))
        q = jnp.zeros_like(game.rewards)
        return GeneralSumOMDState(
            clock=StageClock.start(game.horizon),
            log_hat=tuple(x[0] for x in log_init),
            policy=policy,
            feedback=_feedback(q, policy),
            q=q,
            vsum=jnp.zeros(game.rewards.shape[:3], dtype),
            gsum=tuple(jnp.zeros_like(p) for p in policy),
            br=tuple(jnp.full_like(x, 1.0 / x.shape[-1]) for x in log_init),
            log_init=log_init,
            iterates=tuple(jnp.zeros((capacity, *p.shape), dtype) for p in policy),
        )

    def _iterate(self, game: MarkovGame, state: GeneralSumOMDState, eta):
        updates = [
            omd_step(lh, g, eta)
            for lh, g in zip(state.log_hat, state.feedback, strict=True)
        ]
        log_hat = tuple(u[0] for u in updates)
        policy = tuple(u[1] for u in updates)
        feedback = _feedback(state.q, policy)
        value = jnp.stack(
            [reduce_last(jnp.add, p * g) for p, g in zip(policy, feedback, strict=True)]
        )
        iterates = state.iterates
        t = jnp.minimum(state.clock.t, iterates[0].shape[0] - 1)
        return eqx.tree_at(
            lambda s: (s.log_hat, s.policy, s.feedback, s.vsum, s.gsum, s.iterates),
            state,
            (
                log_hat, policy, feedback, state.vsum + value,
                tuple(a + g for a, g in zip(state.gsum, feedback, strict=True)),
                tuple(b.at[t].set(p) for b, p in zip(iterates, policy, strict=True)),
            ),
        )  # fmt: skip

    def _hindsight(self, state: GeneralSumOMDState):
        return state.br, state.gsum

    def _stage_values(self, state: GeneralSumOMDState):
        return tuple(state.vsum)

    def _restart(self, game: MarkovGame, state: GeneralSumOMDState, length, brs, nxt):
        q = jax.vmap(stage_q, in_axes=(None, 0, 0, None))(
            game, game.rewards, state.vsum, length
        )
        policy = tuple(jnp.exp(x[nxt]) for x in state.log_init)
        return eqx.tree_at(
            lambda s: (s.br, s.q, s.vsum, s.gsum, s.log_hat, s.policy, s.feedback),
            state,
            (
                brs,
                q,
                jnp.zeros_like(state.vsum),
                tuple(jnp.zeros_like(g) for g in state.gsum),
                tuple(x[nxt] for x in state.log_init),
                policy,
                _feedback(q, policy),
            ),
        )  # fmt: skip

    def output(self, game: MarkovGame, state: GeneralSumOMDState):
        """The stage-mixture Markov correlated policy ``(H, S, *A)``."""
        H = game.horizon
        capacity = state.iterates[0].shape[0]
        full = full_stage_lengths(H, state.log_init[0].shape[0])
        stage_of = jnp.asarray(np.repeat(np.arange(len(full)), full)[:capacity])
        clock = state.clock
        any_complete = clock.stage > 0
        tau_last = jnp.where(any_complete, clock.stage - 1, 0)
        tau_h = jnp.maximum(tau_last - jnp.arange(H), 0)  # (H,)
        ran = jnp.arange(capacity) < clock.t
        member = (stage_of[None, :] == tau_h[:, None]) & ran[None, :]  # (H, T)
        count = jnp.maximum(jnp.sum(member, axis=1), 1)
        dtype = state.q.dtype
        weights = member.astype(dtype) / count[:, None].astype(dtype)
        n = len(state.iterates)
        letters = string.ascii_letters[:n]
        # sigma[h,s,a0..] = sum_t w[h,t] prod_i pi^t_i[h,s,a_i]
        spec = "ht," + ",".join(f"ths{c}" for c in letters) + "->hs" + letters
        sigma = jnp.einsum(spec, weights, *state.iterates, optimize=True)
        return renormalise(sigma, n)
