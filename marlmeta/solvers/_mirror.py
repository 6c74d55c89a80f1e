"""Shared pieces of the optimistic mirror-descent solvers (seed 000 Algorithms 1, 2).

With the negative-entropy regulariser, optimistic OMD is multiplicative weights
with a prediction: from the auxiliary policy ``hat`` and the feedback ``g`` of the
previous iterate,

    hat <- normalise(hat * exp(eta g)),   pi <- normalise(hat * exp(eta g)).

Both are computed in log space without a single ``log``: only differences of
``log hat`` matter, so it is kept bounded by subtracting its maximum.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from marlmeta.policies import argmax_uniform
from marlmeta.solvers._schedule import num_stages

_UNROLL = 8


def reduce_last(op, x, axis=-1):
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


def omd_step(log_hat, g, eta):
    """One optimistic step of one player, in log space.

    ``log_hat`` is the auxiliary policy's log up to a constant per ``(h, s)``
    (only differences matter), kept bounded by subtracting its maximum. Returns
    the new ``log_hat`` and the new policy
    ``normalise(hat * exp(eta g)) = softmax(log_hat + 2 eta g)``.
    """
    x = log_hat + eta * g
    log_hat = x - reduce_last(jnp.maximum, x)[..., None]
    y = log_hat + eta * g
    e = jnp.exp(y - reduce_last(jnp.maximum, y)[..., None])
    return log_hat, e / reduce_last(jnp.add, e)[..., None]


def stage_q(game, reward, vsum, length):
    """Stage-based value update ``Q[h] <- r[h] + P[h] (vsum[h+1] / L)``.

    ``vsum[H] = 0``: the last step has no future.

    Args:
        game: the finite-horizon game (for its transitions).
        reward: one player's reward ``(H, S, *A)``.
        vsum: that player's accumulated stage values ``(H, S)``.
        length: the stage length ``L_tau`` (an integer array).
    """
    v_next = jnp.concatenate(
        [vsum[1:] / length.astype(vsum.dtype), jnp.zeros_like(vsum[:1])]
    )
    hs = jnp.arange(game.horizon)
    return reward + jax.vmap(game.transitions.expectation)(hs, v_next)


def uniform_stage_init(game, num_steps: int):
    """Uniform per-stage initial policies: per player ``(num_stages, H, S, A_i)``."""
    shape = (num_stages(game.horizon, num_steps), game.horizon, game.num_states)
    dtype = game.rewards.dtype
    return tuple(jnp.full((*shape, a), 1.0 / a, dtype) for a in game.num_actions)


def stage_best_responses(clock, brs, gains):
    """Recorded stage best responses, with the current stage's filled in from the
    iterations it had when it is partial (uniform over the maximisers).

    Args:
        clock: the :class:`StageClock`.
        brs: per player ``(K, H, S, A_i)`` best responses of completed stages.
        gains: per player ``(H, S, A_i)`` accumulated feedback of the current
            stage, oriented so that larger is better for that player.
    """
    partial = clock.pos > 0
    tau = jnp.minimum(clock.stage, brs[0].shape[0] - 1)
    return tuple(
        b.at[tau].set(jnp.where(partial, argmax_uniform(g), b[tau]))
        for b, g in zip(brs, gains, strict=True)
    )
