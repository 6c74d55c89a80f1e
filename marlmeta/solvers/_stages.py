"""Stage-based optimistic mirror descent: what the two OMD solvers share.

Mao, Qiu, Wang et al.'s Algorithms 1 (two-player zero-sum, Nash
equilibrium) and 2 (``N`` players, coarse correlated equilibrium) run the same
loop for every ``(h, s)`` in parallel and differ only in the feedback each
player receives and in the value update. This module holds the common parts:

**Stage schedule.** ``L_0 = H`` and ``L_{tau+1} = floor((1 + 1/H) L_tau)``,
computed in integers as ``((H + 1) L_tau) // H`` (the floating-point form is
wrong for some ``H``: at ``H = 47`` it never grows). Stage ``tau`` covers the
next ``L_tau`` iterations; the last stage is cut at ``T`` (it may be partial).
The schedule depends only on ``H``, so a run of length ``t`` is a prefix of any
longer run and traces at checkpoints come from one run.

**Optimistic step.** With the negative-entropy regulariser, optimistic OMD is
multiplicative weights with a prediction: from the auxiliary policy ``hat`` and
the feedback ``g`` of the previous iterate,

    hat <- normalise(hat * exp(eta g)),   pi <- normalise(hat * exp(eta g)).

Both are computed in log space (no probability ever underflows to an exact 0)
without a single ``log``: only differences of ``log hat`` matter, so it is
kept bounded by subtracting its maximum.

**Stage end.** When an iteration completes stage ``tau`` (a stage cut at ``T``
included) every player's best response in hindsight of the stage is recorded:
the **uniform distribution over the maximisers** of its accumulated feedback
(entries within ``1e-12 (1 + |max|)`` of the maximum tie; a library choice:
in stage 0 every ``Q`` is 0 and a lowest-index rule would feed the
meta-learner a spurious preference for action 0). Then the stage-based value
update ``Q[h] <- r[h] + P[h] (vsum[h+1] / L_tau)`` (``vsum[H] = 0``) runs and
every player restarts from its stage ``tau + 1`` initial policy.

References:
    Mao, Qiu, Wang et al. Multi-Agent Meta-Reinforcement Learning: Sharper
    Convergence Rates with Task Similarity. NeurIPS 2023, Algorithms 1 and 2.
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Iterator
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from marlmeta.games import MarkovGame, restrict_rows, uniform_rows
from marlmeta.policies import argmax_uniform
from marlmeta.solvers._base import AbstractSolver, check_hyperparameter

_UNROLL = 8

# ---------------------------------------------------------------- schedule


def next_length(length, horizon: int):
    """``L_{tau+1} = ((H + 1) L_tau) // H`` (ints or integer arrays)."""
    return ((horizon + 1) * length) // horizon


def _full_lengths(horizon: int) -> Iterator[int]:
    """The uncut stage lengths ``L_0, L_1, ..`` (an endless iterator)."""
    length = horizon
    while True:
        yield length
        length = next_length(length, horizon)


def stage_lengths(horizon: int, num_steps: int) -> list[int]:
    """Lengths of the stages that ``num_steps`` iterations touch (last one cut).

    Example:
        >>> lengths = stage_lengths(10, 1000)
        >>> len(lengths), lengths[:5], lengths[-3:]
        (29, [10, 11, 12, 13, 14], [79, 86, 41])
    """
    if horizon < 1 or num_steps < 1:
        raise ValueError(
            f"horizon is {horizon} and num_steps is {num_steps}; both must be >= 1"
        )
    out, left = [], num_steps
    for length in _full_lengths(horizon):
        if left <= 0:
            return out
        out.append(min(length, left))
        left -= length


def full_stage_lengths(horizon: int, stages: int) -> list[int]:
    """Uncut lengths ``L_0 .. L_{K-1}`` of the first ``stages`` stages."""
    return list(itertools.islice(_full_lengths(horizon), stages))


def num_stages(horizon: int, num_steps: int) -> int:
    """How many stages ``num_steps`` iterations touch."""
    return len(stage_lengths(horizon, num_steps))


class StageClock(eqx.Module):
    """Where an iteration stands in the schedule (game-independent counters).

    Under ``vmap`` over games these stay unbatched, so the stage-end branch is
    a real ``lax.cond`` rather than a select.

    Attributes:
        t: iterations done.
        stage: current stage ``tau`` (0-indexed).
        pos: iterations done in the current stage.
        length: ``L_tau``, the full length of the current stage.
    """

    t: Int[Array, ""]
    stage: Int[Array, ""]
    pos: Int[Array, ""]
    length: Int[Array, ""]

    @classmethod
    def start(cls, horizon: int) -> StageClock:
        zero = jnp.zeros((), jnp.int32)
        return cls(t=zero, stage=zero, pos=zero, length=jnp.asarray(horizon, jnp.int32))

    def tick(self, horizon: int) -> tuple[StageClock, Array]:
        """Advance one iteration; returns the new clock and whether the stage ended.

        On a stage end the returned clock already points at the next stage.
        """
        pos = self.pos + 1
        end = pos == self.length
        clock = StageClock(
            t=self.t + 1,
            stage=jnp.where(end, self.stage + 1, self.stage),
            pos=jnp.where(end, 0, pos),
            length=jnp.where(end, next_length(self.length, horizon), self.length),
        )
        return clock, end


# ---------------------------------------------------------- optimistic step


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


def renormalise(x: Array, num_axes: int = 1) -> Array:
    """An average of distributions over the last ``num_axes`` axes, divided by
    its own sum (rows summing to 0 stay 0).

    ``sum_t pi_t / T`` sums to 1 only up to the rounding of ``T`` additions: in
    float32, thousands of iterates drift off the simplex by more than
    :func:`marlmeta.policies.simplex_tolerance`. Dividing by the sum puts every
    output back on it to a few ulps, after any number of iterations.
    """
    axes = tuple(range(x.ndim - num_axes, x.ndim))
    total = jnp.sum(x, axis=axes, keepdims=True)
    return jnp.where(total > 0, x / jnp.where(total > 0, total, 1), x)


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


# ---------------------------------------------------------------- stage end


def _keep(solver, game, state, length):
    del solver, game, length
    return state


class AbstractStageOMD(AbstractSolver):
    """Optimistic OMD with stage-based values: the loop, the clock, the stats.

    A subclass holds ``step_size`` and implements the per-iteration update
    (:meth:`_iterate`), where each player's accumulated stage feedback and
    recorded best responses live in its state (:meth:`_hindsight`), and the
    value update and restart at a stage end (:meth:`_restart`). Its state has a
    ``clock`` (:class:`StageClock`) and a ``q`` array (which fixes the dtype).

    The initial-policy argument is per stage and per player: a tuple of
    ``(num_stages, H, S, A_i)`` arrays; :meth:`stats` returns the stage best
    responses in hindsight in the same shapes, so that a meta-update turns
    them into the next game's initialisation.
    """

    step_size: eqx.AbstractVar[Float[Array, ""]]

    def __check_init__(self):
        check_hyperparameter("step_size", self.step_size)

    @abc.abstractmethod
    def _iterate(self, game: MarkovGame, state, eta) -> Any:
        """One iteration before the clock ticks: optimistic steps of every
        player and accumulation of the stage sums."""

    @abc.abstractmethod
    def _hindsight(self, state) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
        """Per player, the recorded best responses ``(K, H, S, A_i)`` and the
        current stage's accumulated feedback ``(H, S, A_i)``, oriented so that
        larger is better for that player."""

    @abc.abstractmethod
    def _stage_values(self, state) -> tuple[Array, ...]:
        """Per player, the accumulated values ``(H, S)`` of the current stage's
        iterates (``sum_j <pi^j, g^j>``), oriented as :meth:`_hindsight`."""

    @abc.abstractmethod
    def _restart(self, game: MarkovGame, state, length, best_responses, nxt) -> Any:
        """At a stage end of length ``length``: store ``best_responses``, update
        ``Q``, reset the stage sums and restart from the initial policies of
        stage ``nxt``."""

    def default_init(self, game: MarkovGame, num_steps: int):
        """Uniform per-stage initial policies over the legal actions: per player
        ``(K, H, S, A_i)`` (``(K, H, O_i, A_i)`` with observations)."""
        k = num_stages(game.horizon, num_steps)
        return tuple(jnp.broadcast_to(u, (k, *u.shape)) for u in uniform_rows(game))

    def step(self, game: MarkovGame, state):
        state = self._iterate(game, state, self.step_size.astype(state.q.dtype))
        return self._advance(game, state)

    def _advance(self, game: MarkovGame, state):
        """Tick the clock after :meth:`_iterate`; at a stage end, record the
        best responses, update ``Q`` and restart."""
        length = state.clock.length
        clock, end = state.clock.tick(game.horizon)
        state = eqx.tree_at(lambda s: s.clock, state, clock)
        # The solver is an operand, not a closure: lax.cond hashes its branch
        # functions, and a solver with array leaves is not hashable.
        end_stage = type(self)._end_stage
        return jax.lax.cond(end, end_stage, _keep, self, game, state, length)

    def _end_stage(self, game: MarkovGame, state, length):
        """Record the best responses in hindsight of the stage that just ended."""
        brs, gains = self._hindsight(state)
        gains = restrict_rows(game, gains)  # best responses are legal
        done = state.clock.stage - 1  # the clock already points at the next stage
        nxt = jnp.minimum(state.clock.stage, brs[0].shape[0] - 1)
        brs = tuple(
            b.at[done].set(argmax_uniform(g)) for b, g in zip(brs, gains, strict=True)
        )
        return self._restart(game, state, length, brs, nxt)

    def stats(self, game: MarkovGame, state):
        """Stage best responses; a partial current stage uses the iterations it
        had (uniform over the maximisers of its accumulated feedback)."""
        brs, gains = self._hindsight(state)
        gains = restrict_rows(game, gains)
        partial = state.clock.pos > 0
        tau = jnp.minimum(state.clock.stage, brs[0].shape[0] - 1)
        return tuple(
            b.at[tau].set(jnp.where(partial, argmax_uniform(g), b[tau]))
            for b, g in zip(brs, gains, strict=True)
        )


def reward_range(game: MarkovGame) -> Float[Array, ""]:
    """``c = max r_0 - min r_0``: player 0's reward range over all entries."""
    r = game.rewards[0]
    return jnp.max(r) - jnp.min(r)


def theorem1_step_size(game: MarkovGame) -> float:
    """Mao et al. Theorem 1's step size ``eta = 1/(8 H^2 c)``.

    The theorem takes ``eta <= 1/(8 H^2)`` for rewards in ``[0, 1]``; with the
    reward range ``c`` (:func:`reward_range`) this is ``1/(8 H^2 c)``, the
    largest step size the theorem covers (its printed constant assumes
    equality). The paper's own experiments use ``eta = 0.02`` at ``H = 10``,
    outside the theorem.

    Args:
        game: one two-player zero-sum finite-horizon game (concrete arrays).

    Raises:
        ValueError: when the rewards are constant (``c = 0``: every policy is
            an equilibrium and no step size is prescribed).
    """
    c = float(reward_range(game))
    if not c > 0:
        raise ValueError(f"game's reward range is {c}; expected > 0")
    return 1.0 / (8 * game.horizon**2 * c)
