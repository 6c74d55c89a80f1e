"""What Zhang et al.'s Theorem 4 (asymptotic convergence to a NE) lets one check.

Zhang, Mei, Dai, Schuurmans and Li, "On the Global Convergence Rates of
Decentralized Softmax Gradient Play in Markov Potential Games" (NeurIPS 2022),
Theorem 4: if every state is visited (their Assumption 1, ``M < inf``) and
the stationary policies are isolated, gradient play (eq. 8) with
``eta <= (1-gamma)^3 / (6 n)`` and natural gradient play (eq. 10) with
``eta <= (1-gamma)^2 / (2 n (phi_max - phi_min))`` converge,
``theta^t -> theta^inf``, and ``theta^inf`` is a NE.

There is no rate, so there is no bound to draw. What a finite run can show:

- the step-size condition (:func:`zhang_theorem4_step_size`; gradient play's
  rule read for a potential spanning ``phi_max - phi_min``, as for Theorem 5,
  since the smoothness constant ``6 n / (1-gamma)^3`` is for a unit range);
- the potential is monotone, ``Phi(theta^{t+1}) >= Phi(theta^t)``: the
  ascent step of the proof (their Lemma 14 for gradient play,
  ``Phi(theta^{t+1}) - Phi(theta^t) >= (eta / 2) ||grad Phi(theta^t)||^2``;
  Lemma 20 for natural gradient play);
- the limit is a NE: the NE-gap of the last iterates tends to 0, and
  ``c(theta^t) -> 1`` (their Lemma 2: a stationary point is a NE exactly
  when ``c = 1``).

:func:`zhang_theorem4` reads these from the traces of a run (every iterate or
checkpoints of one).

References:
    Zhang, Mei, Dai, Schuurmans, Li. On the Global Convergence Rates of
    Decentralized Softmax Gradient Play in Markov Potential Games. NeurIPS
    2022, Lemma 2, Theorem 4 and Lemmas 14 and 20.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from marlmeta.games import DiscountedMarkovGame
from marlmeta.theory._zhang import (
    gradient_play_step_size,
    mismatch_coefficient,
    natural_gradient_play_step_size,
    potential_rounding,
)


class Theorem4StepSizes(eqx.Module):
    """The largest steps of Zhang et al.'s Theorem 4.

    Attributes:
        gradient_play: ``(1-gamma)^3 / (6 n (phi_max - phi_min))``.
        natural_gradient_play: ``(1-gamma)^2 / (2 n (phi_max - phi_min))``.
        visits_every_state: their Assumption 1, ``M < inf``
            (:func:`marlmeta.theory.mismatch_coefficient`).
    """

    gradient_play: Float[Array, ""]
    natural_gradient_play: Float[Array, ""]
    visits_every_state: Bool[Array, ""]


def zhang_theorem4_step_size(game: DiscountedMarkovGame) -> Theorem4StepSizes:
    """Zhang et al. Theorem 4's step-size conditions on one potential game
    (the same rules as Theorem 5's) and its Assumption 1."""
    return Theorem4StepSizes(
        gradient_play=gradient_play_step_size(game),
        natural_gradient_play=natural_gradient_play_step_size(game),
        visits_every_state=jnp.isfinite(mismatch_coefficient(game)),
    )


class Theorem4Check(eqx.Module):
    """Zhang et al. Theorem 4's checkable claims on one run.

    Attributes:
        applies: the step size is within the theorem's rule.
        potential_monotone: ``Phi`` never decreases along the traced iterates
            (up to rounding: ``64 eps max(1, max |Phi|)``).
        min_potential_increase: the least ``Phi(theta^{t+1}) - Phi(theta^t)``
            between consecutive traced iterates.
        last_ne_gap: the NE-gap of the last traced iterate (tends to 0).
        tail_ne_gap: the largest NE-gap over the last quarter of the traced
            iterates.
        last_lojasiewicz: ``c(theta)`` of the last traced iterate (tends to 1).
    """

    applies: Bool[Array, ""]
    potential_monotone: Bool[Array, ""]
    min_potential_increase: Float[Array, ""]
    last_ne_gap: Float[Array, ""]
    tail_ne_gap: Float[Array, ""]
    last_lojasiewicz: Float[Array, ""]


def zhang_theorem4(
    ne_gap, potential, lojasiewicz, step_size, rule_step_size
) -> Theorem4Check:
    """Zhang et al. Theorem 4's checkable claims from the traces of one run.

    Args:
        ne_gap: ``NE-gap(theta^t)`` at increasing iterates ``(C,)``, ``C >= 2``
            (every iterate, e.g. a :class:`marlmeta.theory.SoftmaxTrajectory`'s
            fields, or checkpoints).
        potential: ``Phi(theta^t)`` at the same iterates.
        lojasiewicz: ``c(theta^t)`` at the same iterates.
        step_size: ``eta`` of the run.
        rule_step_size: the theorem's largest step for the solver
            (a field of :func:`zhang_theorem4_step_size`).

    Returns:
        A :class:`Theorem4Check`.
    """
    gap, phi, c = (jnp.asarray(x) for x in (ne_gap, potential, lojasiewicz))
    if gap.ndim != 1 or gap.shape[0] < 2:
        raise ValueError(f"ne_gap has shape {gap.shape}; expected (C,) with C >= 2")
    for name, x in (("potential", phi), ("lojasiewicz", c)):
        if x.shape != gap.shape:
            raise ValueError(
                f"{name} has shape {x.shape}; expected {gap.shape} like ne_gap"
            )
    rise = jnp.diff(phi)
    tol = potential_rounding(phi)
    tail = max(1, gap.shape[0] // 4)
    eta = jnp.asarray(step_size, phi.dtype)
    return Theorem4Check(
        applies=eta <= (1 + 1e-9) * jnp.asarray(rule_step_size, phi.dtype),
        potential_monotone=jnp.all(rise >= -tol),
        min_potential_increase=jnp.min(rise),
        last_ne_gap=gap[-1],
        tail_ne_gap=jnp.max(gap[-tail:]),
        last_lojasiewicz=c[-1],
    )
