"""Bound of Mao et al.'s Theorem 4 (MAML in Markov potential games).

Mao, Qiu, Wang et al., "Multi-Agent Meta-Reinforcement Learning: Sharper
Convergence Rates with Task Similarity" (NeurIPS 2023), Section 4.2: the inner
stage runs ``T`` steps of softmax policy gradient ``theta <- theta + alpha grad
Phi(theta; G)`` (their eq. 44) and the outer stage full-gradient ascent on the
``T``-step meta-objective ``F_T`` with step ``1 / L_F`` (eq. 47). Theorem 4:

    min_{k<K} ||grad F_T(theta^k)||^2
        <= (1/K) sum_{k<K} ||grad F_T(theta^k)||^2
        <= 2 L_F (F_T(theta^K) - F_T(theta^0)) / K <= 4 N L_F / ((1-gamma) K),

with the smoothness constant of Lemma 14 built from Lemma 13's constants
(rewards in ``[0, 1]``): ``B_G = sqrt(2N) / (1-gamma)^2`` (gradient),
``L_G = 6N / (1-gamma)^3`` (Hessian), ``L_H = 56 N^(3/2) / (1-gamma)^4``
(Hessian Lipschitz). The proof of Lemma 14 shows

    L_F = alpha T B_G L_H (1 + alpha L_G)^(2T-1) + L_G (1 + alpha L_G)^(2T)

and prints its bound ``(alpha T B_G L_H + L_G) 2^(2T)`` for ``alpha <=
1/L_G``. :func:`maml_smoothness` returns the proof's exact expression;
``printed`` uses the printed one. The constant grows like ``4^T``: for the
inner horizons of the experiments the bound is astronomically large
(vacuous), and the calculator says so rather than hiding it.

References:
    Mao, Qiu, Wang et al. Multi-Agent Meta-Reinforcement Learning: Sharper
    Convergence Rates with Task Similarity. NeurIPS 2023, Theorem 4,
    Lemmas 13 and 14, Appendix D.8.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from marlmeta.theory._mao import Bound


def _constants(num_players: int, discount: float) -> tuple[float, float, float]:
    n, g = num_players, float(discount)
    if not 0 <= g < 1:
        raise ValueError(f"discount is {discount}; expected in [0, 1)")
    if n < 1:
        raise ValueError(f"num_players is {num_players}; expected >= 1")
    b_g = math.sqrt(2 * n) / (1 - g) ** 2
    l_g = 6 * n / (1 - g) ** 3
    l_h = 56 * n**1.5 / (1 - g) ** 4
    return b_g, l_g, l_h


def maml_smoothness(
    num_players: int, discount: float, inner_step_size: float, inner_steps: int
) -> float:
    """``L_F`` of Mao et al.'s Lemma 14, the exact expression of its proof:
    ``alpha T B_G L_H (1 + alpha L_G)^(2T-1) + L_G (1 + alpha L_G)^(2T)``."""
    b_g, l_g, l_h = _constants(num_players, discount)
    a, T = float(inner_step_size), int(inner_steps)
    grow = 1 + a * l_g
    return a * T * b_g * l_h * grow ** (2 * T - 1) + l_g * grow ** (2 * T)


def mao_theorem4(
    num_players: int,
    discount: float,
    inner_step_size: float,
    inner_steps: int,
    meta_steps: int,
    outer_step_size: float,
    objective_gain: float | None = None,
) -> Bound:
    """Mao et al. Theorem 4: a bound on ``min_{k<K} ||grad F_T(theta^k)||^2``
    after ``K`` full-gradient MAML steps.

    Args:
        num_players: ``N``.
        discount: ``gamma``.
        inner_step_size: ``alpha`` of the inner policy-gradient steps.
        inner_steps: ``T``.
        meta_steps: ``K``.
        outer_step_size: the outer (meta) step; the theorem takes ``1 / L_F``.
        objective_gain: ``F_T(theta^K) - F_T(theta^0)`` of the run, if known
            (default its worst case ``2N / (1-gamma)``, the proof's
            ``Phi_max``).

    Returns:
        A :class:`Bound`: ``value`` is ``2 L_F gain / K`` with the exact
        ``L_F`` (:func:`maml_smoothness`), ``printed`` is
        ``4 N L_F' / ((1-gamma) K)`` with the printed
        ``L_F' = (alpha T B_G L_H + L_G) 2^(2T)``; ``applies`` when
        ``alpha <= 1/L_G`` and the outer step is at most ``1 / L_F`` (plain
        full-gradient ascent; Adam or minibatches are outside the theorem).
    """
    K = int(meta_steps)
    if K < 1:
        raise ValueError(f"meta_steps is {meta_steps}; expected >= 1")
    n, g = num_players, float(discount)
    b_g, l_g, l_h = _constants(n, g)
    a, T = float(inner_step_size), int(inner_steps)
    exact = maml_smoothness(n, g, a, T)
    printed_lf = (a * T * b_g * l_h + l_g) * 4.0**T
    gain = 2 * n / (1 - g) if objective_gain is None else float(objective_gain)
    applies = a <= 1 / l_g and float(outer_step_size) <= (1 + 1e-9) / exact
    return Bound(
        value=jnp.asarray(2 * exact * gain / K),
        printed=jnp.asarray(4 * n * printed_lf / ((1 - g) * K)),
        applies=jnp.asarray(applies),
    )
