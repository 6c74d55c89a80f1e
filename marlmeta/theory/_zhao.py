"""Bound of Zhao et al.'s Theorem 4.5 (multi-agent PPO, exact tabular form).

Zhao, Yang, Wang, Lee, "Local Optimization Achieves Global Optimality in
Multi-Agent Reinforcement Learning" (ICML 2023), Theorem 4.5, bound the
expected optimality gap of a uniformly drawn iterate of their Algorithm 1
(:class:`marlmeta.solvers.MultiAgentPPO`; every agent ``m`` updates
``theta^m += Q^{1:m} / beta_k`` with ``beta_k = beta sqrt(K)``) on a
cooperative game with ``|Q| <= B``:

    (1/K) sum_{k<K} (J(pi*) - J(pi_k))
        <= O(B sqrt(N) / (1-gamma) sqrt((N log|A| + sum_{m,k} (Delta + delta)) / K)),

with ``beta = sqrt((N B^2 / 2) / (N log|A| + sum (Delta + delta)))``. In the
exact tabular form the projection and policy-evaluation errors vanish
(``Delta = delta = 0``). The proof (their Lemma 4.1 and the one-step descent of
Lemma B.6, summed over agents and iterations) gives the non-asymptotic form for
a constant step ``eta = 1/beta_k``:

    (1/K) sum_{k<K} (J(pi*) - J(pi_k))
        <= (KL(pi* || pi_0) / (eta K) + N eta B^2 / 2) / (1 - gamma),

with ``KL(pi* || uniform) = sum_m log |A_m|`` for a deterministic optimal
``pi*`` (the proof's ``N log|A|``). **Constants (library choices).** The
descent step pays ``<eta Q, pi_{k+1} - pi_k> - ||pi_{k+1} - pi_k||_1^2 / 2 <=
eta^2 ||Q - c||_inf^2 / 2`` for any constant ``c``, so ``value`` takes ``B`` as
half the range of ``Q``, ``(r_max - r_min) / (2 (1 - gamma))``; ``printed``
evaluates the same expression at the paper's ``B = max|r| / (1 - gamma)``
(the bound on ``|Q|`` of its Assumption 4.3) and ``N log max_m |A_m|``. With
the prescribed ``beta`` the right-hand side is
``sqrt(2 N^2 B^2 log|A| / K) / (1 - gamma)``: a rate ``K^(-1/2)``. For a fixed
``eta`` it has the floor ``N eta B^2 / (2 (1 - gamma))``, which for the step
sizes of the experiments is above any possible gap (vacuous).

References:
    Zhao, Yang, Wang, Lee. Local Optimization Achieves Global Optimality in
    Multi-Agent Reinforcement Learning. ICML 2023, Algorithm 1, Lemma 4.1,
    Theorem 4.5 and Lemma B.6.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from marlmeta.evaluation import shared_reward
from marlmeta.games import DiscountedMarkovGame
from marlmeta.theory._mao import Bound


def _q_half_range(game: DiscountedMarkovGame) -> Float[Array, ""]:
    r = shared_reward(game, "zhao_theorem45")
    return (jnp.max(r) - jnp.min(r)) / (2 * (1 - game.discount))


def _q_bound(game: DiscountedMarkovGame) -> Float[Array, ""]:
    r = shared_reward(game, "zhao_theorem45")
    return jnp.max(jnp.abs(r)) / (1 - game.discount)


def zhao_theorem45_beta(game: DiscountedMarkovGame) -> Float[Array, ""]:
    """Theorem 4.5's penalty with exact updates (``Delta = delta = 0``):
    ``beta = sqrt((N B^2 / 2) / (N log|A|)) = B / sqrt(2 log|A|)``, with the
    paper's ``B = max|r| / (1 - gamma)`` and ``|A| = max_m |A_m|``; the step
    of a run of ``K`` iterations is ``1 / (beta sqrt(K))``
    (:meth:`marlmeta.solvers.MultiAgentPPO.from_beta`)."""
    return _q_bound(game) / math.sqrt(2 * math.log(max(game.num_actions)))


def zhao_theorem45(game: DiscountedMarkovGame, step_size, num_steps: int) -> Bound:
    """Zhao et al. Theorem 4.5: a bound on ``(1/K) sum_{k<K} (J* - J(pi_k))``
    of an exact :class:`marlmeta.solvers.MultiAgentPPO` run of ``K`` steps
    from the uniform policy (the expected gap of the paper's output, a
    uniformly drawn iterate; ``J`` from the game's initial distribution).

    Args:
        game: one cooperative discounted game.
        step_size: ``eta = 1 / beta_k``.
        num_steps: ``K >= 1``, or an array of them (the bound at every
            checkpoint of one run; the fields then have its shape).

    Returns:
        A :class:`Bound` (module docstring); ``applies`` is ``eta > 0`` (the
        proof holds for any constant step).
    """
    steps = np.asarray(num_steps)
    if steps.size == 0 or steps.min() < 1:
        raise ValueError(f"num_steps is {num_steps}; expected >= 1")
    n = game.num_players
    dtype = game.rewards.dtype
    K = jnp.asarray(steps, dtype)
    eta = jnp.asarray(step_size, dtype)
    safe = jnp.where(eta > 0, eta, 1.0)
    kl = sum(math.log(a) for a in game.num_actions)
    gamma = game.discount

    def rhs(kl0, b):
        return (kl0 / (safe * K) + n * safe * b**2 / 2) / (1 - gamma)

    value = rhs(kl, _q_half_range(game))
    printed = rhs(n * math.log(max(game.num_actions)), _q_bound(game))
    return Bound(
        value=jnp.where(eta > 0, value, jnp.inf),
        printed=jnp.where(eta > 0, printed, jnp.inf),
        applies=jnp.broadcast_to(eta > 0, K.shape),
    )
