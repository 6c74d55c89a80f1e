"""Bounds of Zhang et al.'s Theorems 6 and 7 (log-barrier gradient play).

Zhang, Mei, Dai, Schuurmans and Li, "On the Global Convergence Rates of
Decentralized Softmax Gradient Play in Markov Potential Games" (NeurIPS 2022)
regularise every player's objective with the log barrier
``lambda sum_{s, a_i} log pi_i(a_i|s)`` (their eq. 14; ``Phi~`` is the
potential plus the barriers) and prove, under Assumption 1 only
(``M = sup_theta max_s 1/d_theta(s) < inf``), from the uniform policy
``theta^0 = 0``:

- **Theorem 6** (log-barrier gradient play, eq. 15, ``eta = 1/beta`` with
  ``beta = 6 n / (1-gamma)^3 + 2 lambda max_i |A_i|``): ``Phi~`` ascends by at
  least ``(eta/2) ||grad Phi~(theta^t)||^2`` per step, so
  ``min_{t<T} ||grad Phi~(theta^t)||^2 <= 2 (Phi~(theta^T) - Phi~(theta^0)) /
  (eta T)``, and Lemma 22 (``||grad_i J~_i|| <= lambda`` implies
  ``NE-gap_i <= lambda M |A_i|``) gives ``min_{t<T} NE-gap(theta^t) <= lambda M
  max_i |A_i|`` once that right-hand side is at most ``lambda^2``. The printed
  condition bounds the gain by ``(phi_max - phi_min) / (1 - gamma)``:
  ``T >= 2 (phi_max - phi_min) / ((1 - gamma) eta lambda^2)``. (The proof
  prints ``min ||grad|| <=`` where ``min ||grad||^2 <=`` is meant.)
- **Theorem 7** (log-barrier natural gradient play, eq. 17, no clip), for
  ``eta <= min{1 / (15 (1/(1-gamma)^2 + lambda max_i |A_i| M)),
  1 / (4 (4 lambda max_i |A_i| M^2 + 4 M/(1-gamma)^2 + 3 n M/(1-gamma)^3))}``:

      (1/T) sum_{t<T} NE-gap(theta^t)
          <= 9 (Phi~(theta^T) - Phi~(theta^0)) / (eta lambda T)
             + lambda max_i |A_i| M.

The theorems take rewards in ``[0, 1]`` (advantages bounded by
``1/(1-gamma)``); both updates see only advantages, so ``applies`` asks for
every player's reward range to be at most 1. Constants: ``M`` exactly
(:func:`marlmeta.theory.mismatch_coefficient`); the smoothness constant is
read for a potential spanning ``phi_max - phi_min``
(``6 n (phi_max - phi_min) / (1-gamma)^3``), as for Theorem 5. ``value`` uses
the run's own gain ``Phi~(theta^T) - Phi~(theta^0)``, ``printed`` its worst
case ``(phi_max - phi_min) / (1 - gamma)`` (the barrier is largest at
``theta^0 = 0``). Before Theorem 6's threshold is met the theorem says
nothing: both numbers are ``inf`` there.

References:
    Zhang, Mei, Dai, Schuurmans, Li. On the Global Convergence Rates of
    Decentralized Softmax Gradient Play in Markov Potential Games. NeurIPS
    2022, Theorems 6 and 7, Lemmas 22, 26-28 and 30.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.games import DiscountedMarkovGame
from marlmeta.theory._mao import Bound
from marlmeta.theory._zhang import (
    SoftmaxTrajectory,
    mismatch_coefficient,
    potential_range,
)


def barrier_potential(trajectory: SoftmaxTrajectory, barrier) -> Float[Array, " T1"]:
    """``Phi~(theta^t) = Phi(theta^t) + lambda sum_i sum_{s,a} log pi_i^t``."""
    if trajectory.log_barrier is None:
        raise ValueError(
            "trajectory has no log_barrier; build it with softmax_trajectory"
        )
    lam = jnp.asarray(barrier, trajectory.potential.dtype)
    return trajectory.potential + lam * trajectory.log_barrier


def mean_gap(trajectory: SoftmaxTrajectory) -> Float[Array, ""]:
    """``(1/T) sum_{t<T} NE-gap(theta^t)``, what Theorem 7 bounds."""
    return jnp.mean(trajectory.ne_gap[:-1])


def min_gap(trajectory: SoftmaxTrajectory) -> Float[Array, ""]:
    """``min_{t<T} NE-gap(theta^t)``, what Theorem 6 bounds."""
    return jnp.min(trajectory.ne_gap[:-1])


def _reward_range_at_most_one(game: DiscountedMarkovGame) -> Array:
    r = game.rewards.reshape(game.num_players, -1)
    return jnp.all(jnp.max(r, axis=1) - jnp.min(r, axis=1) <= 1.0 + 1e-9)


def barrier_gradient_play_step_size(
    game: DiscountedMarkovGame, barrier
) -> Float[Array, ""]:
    """Zhang et al. Theorem 6's step size ``eta = 1/beta``,
    ``beta = 6 n (phi_max - phi_min) / (1-gamma)^3 + 2 lambda max_i |A_i|``."""
    gamma, n = game.discount, game.num_players
    beta = 6 * n * potential_range(game) / (1 - gamma) ** 3 + 2 * jnp.asarray(
        barrier
    ) * max(game.num_actions)
    return 1.0 / beta


def barrier_natural_gradient_play_step_size(
    game: DiscountedMarkovGame, barrier
) -> Float[Array, ""]:
    """Zhang et al. Theorem 7's step size: the minimum of
    ``1 / (15 (1/(1-gamma)^2 + lambda A M))`` and
    ``1 / (4 (4 lambda A M^2 + 4 M/(1-gamma)^2 + 3 n M/(1-gamma)^3))``, with
    ``A = max_i |A_i|`` and ``M`` exact."""
    gamma, n = game.discount, game.num_players
    lam, a, m = jnp.asarray(barrier), max(game.num_actions), mismatch_coefficient(game)
    first = 1.0 / (15 * (1 / (1 - gamma) ** 2 + lam * a * m))
    second = 1.0 / (
        4
        * (4 * lam * a * m**2 + 4 * m / (1 - gamma) ** 2 + 3 * n * m / (1 - gamma) ** 3)
    )
    return jnp.minimum(first, second)


def zhang_theorem6(
    game: DiscountedMarkovGame, step_size, barrier, trajectory: SoftmaxTrajectory
) -> Bound:
    """Zhang et al. Theorem 6: a bound on :func:`min_gap` of a log-barrier
    :class:`marlmeta.solvers.GradientPlay` run from the uniform policy.

    ``value`` is ``lambda M max_i |A_i|`` when the run's own
    ``2 (Phi~(theta^T) - Phi~(theta^0)) / (eta T) <= lambda^2``, and ``inf``
    before; ``printed`` the same with the worst-case gain
    ``(phi_max - phi_min) / (1 - gamma)``. ``applies``: ``lambda > 0``,
    ``eta <= 1/beta`` (:func:`barrier_gradient_play_step_size`) and reward
    ranges at most 1.
    """
    T = trajectory.ne_gap.shape[0] - 1
    dtype = trajectory.potential.dtype
    eta, lam = jnp.asarray(step_size, dtype), jnp.asarray(barrier, dtype)
    width, gamma = potential_range(game), game.discount
    target = lam * mismatch_coefficient(game) * max(game.num_actions)
    tilde = barrier_potential(trajectory, lam)
    reached = 2 * (tilde[-1] - tilde[0]) / (eta * T) <= lam**2
    printed_reached = 2 * width / ((1 - gamma) * eta * T) <= lam**2
    applies = (
        (lam > 0)
        & (eta <= (1 + 1e-9) * barrier_gradient_play_step_size(game, lam))
        & _reward_range_at_most_one(game)
    )
    return Bound(
        value=jnp.where(reached, target, jnp.inf),
        printed=jnp.where(printed_reached, target, jnp.inf),
        applies=applies,
    )


def zhang_theorem7(
    game: DiscountedMarkovGame, step_size, barrier, trajectory: SoftmaxTrajectory
) -> Bound:
    """Zhang et al. Theorem 7: a bound on :func:`mean_gap` of a log-barrier
    :class:`marlmeta.solvers.NaturalGradientPlay` run (no clip) from the
    uniform policy.

    ``value``: ``9 (Phi~(theta^T) - Phi~(theta^0)) / (eta lambda T) + lambda
    max_i |A_i| M`` (the theorem as stated, with the run's gain); ``printed``:
    the gain replaced by ``(phi_max - phi_min) / (1 - gamma)``. ``applies``:
    ``lambda > 0``, ``eta`` at most
    :func:`barrier_natural_gradient_play_step_size` and reward ranges at most 1.
    """
    T = trajectory.ne_gap.shape[0] - 1
    dtype = trajectory.potential.dtype
    eta, lam = jnp.asarray(step_size, dtype), jnp.asarray(barrier, dtype)
    width, gamma = potential_range(game), game.discount
    bias = lam * max(game.num_actions) * mismatch_coefficient(game)
    tilde = barrier_potential(trajectory, lam)
    safe = jnp.where(lam > 0, lam, 1.0)
    value = 9 * (tilde[-1] - tilde[0]) / (eta * safe * T) + bias
    printed = 9 * width / ((1 - gamma) * eta * safe * T) + bias
    applies = (
        (lam > 0)
        & (eta <= (1 + 1e-9) * barrier_natural_gradient_play_step_size(game, lam))
        & _reward_range_at_most_one(game)
    )
    return Bound(
        value=jnp.where(lam > 0, value, jnp.inf),
        printed=jnp.where(lam > 0, printed, jnp.inf),
        applies=applies,
    )
