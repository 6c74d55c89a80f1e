"""The stage schedule of seed 000's Algorithms 1 and 2 (``ALGORITHMS.md`` section 2).

``L_0 = H`` and ``L_{tau+1} = floor((1 + 1/H) L_tau)``, computed in integers as
``((H + 1) L_tau) // H`` (the floating-point form never grows at ``H = 47``).
Stage ``tau`` covers the next ``L_tau`` iterations; the last stage is cut at
``T``. The schedule depends only on ``H``, so a run of length ``t`` is a prefix of
any longer run.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Int


def next_length(length, horizon: int):
    """``L_{tau+1} = ((H + 1) L_tau) // H`` (ints or integer arrays)."""
    return ((horizon + 1) * length) // horizon


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
    out, length, left = [], horizon, num_steps
    while left > 0:
        out.append(min(length, left))
        left -= length
        length = next_length(length, horizon)
    return out


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
