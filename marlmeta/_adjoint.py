"""Adjoint strategies: how :func:`marlmeta.solve` loops, and so how it differentiates.

A run is ``T`` solver steps with the metric observed after the iterations
listed in ``checkpoints``. The iteration counts are static, so the loop can be
written two ways:

- :class:`ForwardOnly` (the default): one ``lax.scan`` over the checkpoint
  segments, each segment a ``lax.fori_loop`` whose trip count is the segment
  length as a traced number. One compiled loop body whatever the schedule, and
  forward-mode differentiation (``jax.jvp``, ``jax.jacfwd``) works; reverse
  mode (``jax.grad``) does not, since JAX cannot transpose a loop of dynamic
  length.
- :class:`RecursiveCheckpointAdjoint`: reverse mode through the iterations.
  Consecutive segments of equal length are one ``lax.scan`` of a fixed length,
  and each segment is a static-length scan of steps nested ``levels`` deep,
  with ``jax.checkpoint`` on every nested block: the backward pass stores the
  state at block boundaries only and recomputes a block's steps when it needs
  them (Griewank, Walther, "Algorithm 799: revolve", ACM TOMS 2000; Chen, Xu,
  Zhang, Guestrin, "Training Deep Nets with Sublinear Memory Cost", 2016).

Both apply the same steps to the same states in the same order.
"""

from __future__ import annotations

import abc
import itertools
import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

Step = Callable[[Any], Any]
Observe = Callable[[Any], Any]


class AbstractAdjoint(eqx.Module):
    """How the driver loops over a run's iterations (and how it differentiates)."""

    @abc.abstractmethod
    def loop(
        self,
        step: Step,
        observe: Observe,
        state,
        num_steps: int,
        checkpoints: tuple[int, ...],
    ) -> tuple[Any, Any]:
        """Apply ``step`` ``num_steps`` times to ``state``.

        Args:
            step: one iteration, ``state -> state``.
            observe: ``state -> pytree``, evaluated after each checkpoint.
            state: the state before the first iteration.
            num_steps: ``T``, static.
            checkpoints: static, strictly increasing iteration counts in
                ``[1, T]`` (may be empty).

        Returns:
            The state after ``T`` steps and the observations at the checkpoints,
            stacked on a leading axis of length ``len(checkpoints)``.
        """


class ForwardOnly(AbstractAdjoint):
    """No reverse mode: a scan over checkpoint segments of ``fori_loop`` steps.

    The segment lengths are traced numbers, so every schedule compiles to one
    loop body; ``jax.jvp`` and ``jax.jacfwd`` work, ``jax.grad`` raises JAX's
    error about loops with dynamic trip counts (use
    :class:`RecursiveCheckpointAdjoint`).
    """

    def loop(self, step, observe, state, num_steps, checkpoints):
        def advance(state, n):
            return jax.lax.fori_loop(0, n, lambda _, s: step(s), state)

        def segment(state, n):
            state = advance(state, n)
            return state, observe(state)

        segments = jnp.diff(jnp.asarray((0, *checkpoints), jnp.int32))
        state, outs = jax.lax.scan(segment, state, segments)
        last = checkpoints[-1] if checkpoints else 0
        return advance(state, num_steps - last), outs


def nested_scan(step: Step, state, length: int, levels: int):
    """``step`` applied ``length`` times, as scans nested ``levels`` deep.

    With ``levels = 1`` one plain ``lax.scan``. Otherwise the outer scan runs
    ``length // b`` checkpointed blocks of ``b = ceil(length^((levels-1)/levels))``
    steps (each itself nested ``levels - 1`` deep) and one checkpointed block
    for the remainder. Reverse mode then keeps about ``levels length^(1/levels)``
    states alive at once, and evaluates each step at most ``levels`` times.

    Args:
        step: ``state -> state``.
        state: the initial state.
        length: static number of steps, ``>= 0``.
        levels: static nesting depth, ``>= 1``.
    """
    if length == 0:
        return state
    if levels == 1 or length == 1:
        return jax.lax.scan(lambda s, _: (step(s), None), state, None, length=length)[0]
    inner = min(length, math.ceil(length ** ((levels - 1) / levels)))
    outer, rest = divmod(length, inner)

    @jax.checkpoint
    def block(s, _):
        return nested_scan(step, s, inner, levels - 1), None

    state = jax.lax.scan(block, state, None, length=outer)[0]
    if rest:
        state = jax.checkpoint(lambda s: nested_scan(step, s, rest, levels - 1))(state)
    return state


def _runs(lengths) -> list[tuple[int, int]]:
    """``(length, count)`` for each run of equal consecutive segment lengths."""
    return [(int(n), len(list(g))) for n, g in itertools.groupby(lengths)]


class RecursiveCheckpointAdjoint(AbstractAdjoint):
    """Reverse mode through the iterations with checkpointed static-length scans.

    The segments between checkpoints have static lengths; each run of equal
    consecutive lengths is one ``lax.scan`` over segments (evenly spaced
    checkpoints are one scan), and a segment of ``L`` steps is
    :func:`nested_scan` ``levels`` deep, with ``jax.checkpoint`` on each
    segment and each nested block. Reverse mode then stores one state per
    checkpoint and about ``levels L^(1/levels)`` states within a segment, and
    recomputes each step at most ``levels + 1`` times: memory grows as
    ``T^(1/levels)``, not ``T``. The forward numbers are those of
    :class:`ForwardOnly`: the same steps in the same order.

    Attributes:
        levels: static nesting depth of a segment's scans, ``>= 1`` (``1``:
            store every step's intermediates of the segment being
            differentiated; ``2``: square-root checkpointing, the default).

    Example:
        >>> import jax, marlmeta
        >>> game = marlmeta.games.zoo.matching_pennies()
        >>> def gap(eta):
        ...     sol = marlmeta.solve(marlmeta.solvers.ZeroSumOMD(eta), game, 20,
        ...                          adjoint=marlmeta.RecursiveCheckpointAdjoint())
        ...     return sol.trace.nash_conv[-1]
        >>> bool(jax.numpy.isfinite(jax.jit(jax.grad(gap))(0.1)))
        True
    """

    levels: int = eqx.field(static=True, default=2)

    def __check_init__(self):
        if isinstance(self.levels, bool) or not isinstance(
            self.levels, int | np.integer
        ):
            raise ValueError(f"levels is {self.levels!r}; expected an int >= 1")
        if self.levels < 1:
            raise ValueError(f"levels is {self.levels}; expected an int >= 1")

    def loop(self, step, observe, state, num_steps, checkpoints):
        outs = []
        for length, count in _runs(np.diff((0, *checkpoints))):

            @jax.checkpoint
            def segment(s, _, length=length):
                s = nested_scan(step, s, length, self.levels)
                return s, observe(s)

            state, out = jax.lax.scan(segment, state, None, length=count)
            outs.append(out)
        if len(outs) > 1:
            outs = [jax.tree.map(lambda *x: jnp.concatenate(x), *outs)]
        last = checkpoints[-1] if checkpoints else 0
        state = nested_scan(step, state, num_steps - last, self.levels)
        if not outs:  # no checkpoint: observations of a zero-length schedule
            outs = [
                jax.lax.scan(lambda s, _: (s, observe(s)), state, None, length=0)[1]
            ]
        return state, outs[0]
