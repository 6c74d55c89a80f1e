"""The typed result of exact policy evaluation, shared by every game kind."""

from __future__ import annotations

import equinox as eqx
from jaxtyping import Array, Float


class Evaluation(eqx.Module):
    """What a game kind's evaluation engine returns for one policy.

    Attributes:
        values: ``V_i`` at step 0 of each evaluated reward table, ``(M, S)``.
        best_values: each player's best-response values ``(N, S)``, or ``None``
            when best responses were not asked for.
        best_responses: the deterministic best responses found, one one-hot
            table per player (shaped like that player's policy table), or
            ``None``.
        averaged_q: ``Qbar_i`` per player (shaped like player ``i``'s policy
            table), or ``None`` when not asked for.
    """

    values: Float[Array, "M S"]
    best_values: Float[Array, "N S"] | None = None
    best_responses: tuple[Array, ...] | None = None
    averaged_q: tuple[Array, ...] | None = None
