"""Bound of Mao et al.'s Theorem 6 (meta-learning for Algorithm 2, CCE).

Mao, Qiu, Wang et al., "Multi-Agent Meta-Reinforcement Learning: Sharper
Convergence Rates with Task Similarity" (NeurIPS 2023), Theorem 6: on a
sequence of ``K`` general-sum games learnt by Algorithm 2
(:class:`marlmeta.solvers.GeneralSumOMD`) from the meta-initialisation
``init^k = (1/(k-1)) sum_{k'<k} [br^{k'}]_alpha`` (uniform for ``k = 1``;
:func:`marlmeta.meta.sequential_meta`), ``alpha = 1/sqrt(K)``,

    T = O~(H N / eps^(3/2) (Delta_pi^(3/2) / K^(5/4) + (A_max^(3/2) + H^3) / K^(1/2)))

iterations on average give an ``eps``-CCE, with the similarity
``Delta_pi = sum_k sum_i KL(br^k_i || mean_k br^k_i)`` (summed over every
stage, step and state: :func:`marlmeta.meta.similarity`).

**What the statement leaves as ``O~(.)`` and what is chosen.** The proof
(their Appendix E.4) averages Theorem 5 over the games (eq. 71) and bounds the
average divergence of the initialisations by three terms per entry
``(tau, h, s)`` and player ``i``: the similarity, follow-the-leader's regret
``8 A_i (1 + ln K) / (K alpha)`` (their Lemma 2, per entry) and the
``alpha``-greedy cost ``4 alpha ln(A_i / alpha)`` (their Lemma 1, ``alpha <
1/2``). Its general-``eta`` line (``printed`` here, in units of the reward
range ``c`` as for Theorem 5) is

    (3 / (eta K T)) (Delta_pi + 8 A_max (1 + ln K) / alpha
                     + 4 K H tau_bar alpha ln(A_max / alpha)) + 36 N^2 eta^2 H^4,

with ``tau_bar`` the number of stages. Its last line (:func:`mao_theorem6_rate`,
at ``eta = K^(-1/6) H^(-2/3) T^(-1/3) N^(-2/3)``,
:func:`theorem6_step_size`) drops the factor 3 of the first term and replaces
``8 (1 + ln K)`` by ``10 ln K`` (false for ``K < 23``); ``printed`` keeps the
general line.

**The certified bound (``value``).** Theorem 5's certified form (the regret
chain with Lemma 17's bound per stage, :func:`marlmeta.theory.mao_theorem5`)
is linear in the stage divergences ``D^{k,tau}_h = max_{i,s}`` of the
corrected divergences, and each is at most ``sum_{i,s} KL(br^k || init^k)``
at its ``(tau, h)``. Averaging over the games and applying the two lemmas per
entry gives, with ``Delta^tau_h`` the similarity of the entries of stage
``tau`` and step ``h`` (so ``sum_{tau,h} Delta^tau_h = Delta_pi``),

    Dbar^tau_h = Delta^tau_h / K + S sum_i (8 A_i (1 + ln K) / (K alpha)
                 + 4 alpha ln(A_i / alpha)) + eta c (H - h) [tau > 0],

and ``value`` is Theorem 5's chain on ``Dbar`` with ``c`` the largest reward
range of a player in the family (every term grows with ``c``). It bounds the
average over the games of Theorem 5's certified bound with the measured
initialisations, hence the average CCE-gap of the stage-mixture outputs.

References:
    Mao, Qiu, Wang et al. Multi-Agent Meta-Reinforcement Learning: Sharper
    Convergence Rates with Task Similarity. NeurIPS 2023, Theorems 5 and 6,
    Lemmas 1, 2 and 17-19, Appendix E.4.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from marlmeta.games import FiniteHorizonGame
from marlmeta.solvers import full_stage_lengths, num_stages
from marlmeta.theory._mao import Bound, _kl, checkpoint_trace
from marlmeta.theory._mao_cce import _chain, largest_reward_range


def theorem6_step_size(
    num_games: int, horizon: int, num_steps: int, num_players: int
) -> float:
    """The step of Mao et al.'s proof of Theorem 6,
    ``eta = K^(-1/6) H^(-2/3) T^(-1/3) N^(-2/3)`` (rewards in ``[0, 1]``)."""
    return (
        num_games ** (-1 / 6)
        * horizon ** (-2 / 3)
        * num_steps ** (-1 / 3)
        * num_players ** (-2 / 3)
    )


def mao_theorem6_rate(
    num_games: int,
    horizon: int,
    num_steps: int,
    num_players: int,
    max_actions: int,
    similarity: float,
) -> float:
    """The last line of Mao et al.'s proof of Theorem 6, as printed:
    ``(H N / T)^(2/3) (Delta / K^(5/6) + 10 A_max ln K / K^(1/3)
    + 52 H^2 ln T log(A_max K) / K^(1/3))`` (rewards in ``[0, 1]``,
    ``alpha = 1/sqrt(K)``, :func:`theorem6_step_size`)."""
    K, H, T = num_games, horizon, num_steps
    return (H * num_players / T) ** (2 / 3) * (
        similarity / K ** (5 / 6)
        + 10 * max_actions * math.log(K) / K ** (1 / 3)
        + 52 * H**2 * math.log(T) * math.log(max_actions * K) / K ** (1 / 3)
    )


def mao_theorem6(
    games: FiniteHorizonGame, step_size, num_steps: int, best_responses, alpha=None
) -> Bound:
    """Mao et al. Theorem 6: the average CCE-gap over a sequence of ``K``
    games learnt by Algorithm 2 with the meta-initialisation.

    Args:
        games: the sequence, a batch of ``N``-player finite-horizon games with
            a leading ``K`` axis.
        step_size: ``eta`` of every run.
        num_steps: ``T`` of every run.
        best_responses: the runs' stage best responses
            (``MetaRun.solutions.stats``): per player ``(K, K_T, H, S, A_i)``.
        alpha: the mixing weight of the meta-update (default ``1/sqrt(K)``).

    Returns:
        A :class:`Bound` (module docstring); ``applies`` is ``eta > 0`` and
        ``alpha < 1/2`` (their Lemma 1).
    """
    if len(games.batch_shape) != 1:
        raise ValueError(
            f"games has batch shape {games.batch_shape}; mao_theorem6 needs one "
            "sequence of games with a leading K axis"
        )
    K, T = games.batch_shape[0], int(num_steps)
    game = jax.tree.map(lambda x: x[0], games)
    H, S, N = game.horizon, game.num_states, game.num_players
    stages = num_stages(H, T)
    if len(best_responses) != N:
        raise ValueError(
            f"best_responses has {len(best_responses)} entries; expected {N} players"
        )
    for i, (b, a) in enumerate(zip(best_responses, game.num_actions, strict=True)):
        if tuple(b.shape) != (K, stages, H, S, a):
            raise ValueError(
                f"best_responses[{i}] has shape {tuple(b.shape)}; expected "
                f"{(K, stages, H, S, a)} (K = {K} games, {stages} stages for "
                f"H = {H}, T = {T})"
            )
    alpha = 1.0 / math.sqrt(K) if alpha is None else float(alpha)
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha is {alpha}; expected in (0, 1]")
    dtype = game.rewards.dtype
    c = jnp.max(jax.vmap(largest_reward_range)(games))
    eta = jnp.asarray(step_size, dtype)
    safe = jnp.where(eta > 0, eta, 1.0)
    # Delta^tau_h: the similarity of the entries of stage tau, step h
    delta = sum(
        jnp.sum(_kl(b, jnp.mean(b, axis=0, keepdims=True)), axis=(0, 3))
        for b in best_responses
    )  # (K_T, H)
    meta = S * sum(
        8.0 * a * (1.0 + math.log(K)) / (K * alpha) + 4.0 * alpha * math.log(a / alpha)
        for a in game.num_actions
    )
    prior = jnp.where(
        jnp.arange(stages)[:, None] > 0, eta * c * (H - jnp.arange(H))[None, :], 0.0
    )
    d_bar = delta / K + meta + prior
    lengths = jnp.asarray(full_stage_lengths(H, stages), dtype)
    stability = 36.0 * (N - 1) ** 2 * eta**2 * c**3 * H**3
    per_stage = d_bar / (safe * lengths[:, None]) + stability
    value = jnp.where(c > 0, _chain(per_stage, H, T, c), 0.0)
    a_max = max(game.num_actions)
    printed = (
        3.0
        / (safe * K * T)
        * (
            jnp.sum(delta)
            + 8.0 * a_max * (1.0 + math.log(K)) / alpha
            + 4.0 * K * H * stages * alpha * math.log(a_max / alpha)
        )
        + c * 36.0 * N**2 * (eta * c) ** 2 * H**4
    )
    return Bound(value=value, printed=printed, applies=(eta > 0) & (alpha < 0.5))


def mao_theorem6_trace(
    games: FiniteHorizonGame,
    step_size,
    num_steps: int,
    checkpoints,
    best_responses,
    alpha=None,
) -> Bound:
    """:func:`mao_theorem6` at every checkpoint of the runs of ``T`` iterations
    (each run of ``t`` iterations is a prefix; the initialisations are those
    of the runs of ``T``, and the bound at ``t`` reads only the stages complete
    at ``t``).

    Args:
        games: the sequence of ``K`` games.
        step_size: ``eta``.
        num_steps: ``T`` of the runs.
        checkpoints: increasing iteration counts in ``[1, T]`` (static).
        best_responses: per player ``(K, K_T, H, S, A_i)``.
        alpha: as :func:`mao_theorem6`.

    Returns:
        A :class:`Bound` whose fields have a leading checkpoint axis ``(C,)``.
    """

    def bound_at(t, k):
        brs = tuple(b[:, :k] for b in best_responses)
        return mao_theorem6(games, step_size, t, brs, alpha)

    return checkpoint_trace(games.horizon, num_steps, checkpoints, bound_at)
