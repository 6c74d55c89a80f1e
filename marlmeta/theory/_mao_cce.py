"""Bounds of Mao et al.'s Theorem 5 (Algorithm 2, CCE in general-sum games).

Mao, Qiu, Wang et al., "Multi-Agent Meta-Reinforcement Learning: Sharper
Convergence Rates with Task Similarity" (NeurIPS 2023), Theorem 5 bounds the
CCE-gap of the output of their Algorithm 2
(:class:`marlmeta.solvers.GeneralSumOMD`) on an ``N``-player general-sum game
with rewards in ``[0, 1]``, for any ``eta > 0``:

    CCE-gap <= (3 / (eta T)) sum_tau sum_h max_{i, s}
                   KL(pi^{tau,dagger}_{h,i}(.|s) || pi~^tau_{h,i}(.|s))
               + 36 N^2 eta^2 H^4,

and with the uniform initialisation and ``eta = H^(-2/3) T^(-1/3) (N-1)^(-2/3)``
(eq. 11) ``CCE-gap <= 12 N^(2/3) H^(8/3) log T log A_max / T^(2/3)``.

**The output this library bounds (a library choice).** The paper's output
(Algorithm 3) starts from a uniformly drawn iteration; :class:`GeneralSumOMD`
outputs Algorithm 3 started from the last complete stage ``tau_last``: step
``h`` plays the uniform mixture of stage ``max(tau_last - h, 0)``. Its gap has
an exact chain (the argument of the paper's Lemma 19, with exact quantities):
shift each player's rewards to ``[0, c]`` (the iterates and the gap do not
change), let ``reg^tau_h = max_{i,s} reg^tau_{h,i}(s)`` be the stage's
per-state regret (eq. 61, :func:`marlmeta.theory.stage_regrets`), and let
``V^hat`` be the stage value estimates. The best deviation's excess over
``V^hat`` grows by at most ``reg^tau_h`` per step, ``V^hat`` never exceeds
the policy's value (stage 0 estimates 0), and a step that plays stage 0 can
lose at most ``c (H - h)``:

    CCE-gap <= sum_{h < min(tau_last, H)} reg^{tau_last - h}_h
               + c max(H - tau_last, 0)                   (regret chain)

:func:`mao_theorem5_regret_chain` evaluates it on measured regrets;
:func:`mao_theorem5` bounds each regret by Lemma 17,
``reg^tau_{h,i}(s) <= D / (eta L_tau) + 36 (N-1)^2 eta^2 c^3 H^3``, with
``D`` the divergence of the initialisation to the stage's best response
corrected as for Theorem 1 (the least divergence over the maximisers, plus the
restart prior ``eta c (H - h)`` in every stage but the first), and ``c`` the
largest reward range among the players. The printed right-hand side (for the
paper's uniformly started output, not this one) is kept as ``printed``. The
proof's statement prints ``N^2``, its last line ``(N-1)^2``; ``printed``
keeps the statement's ``N^2``.

References:
    Mao, Qiu, Wang et al. Multi-Agent Meta-Reinforcement Learning: Sharper
    Convergence Rates with Task Similarity. NeurIPS 2023, Theorem 5,
    Algorithms 2 and 3, Lemmas 17-19.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.games import FiniteHorizonGame
from marlmeta.solvers import full_stage_lengths, num_stages, stage_lengths
from marlmeta.theory._mao import Bound, _face_kl, _kl, checkpoint_trace
from marlmeta.theory._regret import StageRegrets


def largest_reward_range(game: FiniteHorizonGame) -> Float[Array, ""]:
    """``c = max_i (max r_i - min r_i)``: the largest reward range of a player."""
    r = game.rewards.reshape(game.num_players, -1)
    return jnp.max(jnp.max(r, axis=1) - jnp.min(r, axis=1))


def last_complete_stage(horizon: int, num_steps: int) -> int:
    """``tau_last``: the last stage (0-indexed) that ``num_steps`` iterations
    complete, or 0 when none is complete (the output then plays stage 0)."""
    got = stage_lengths(horizon, num_steps)
    full = full_stage_lengths(horizon, len(got))
    complete = sum(1 for a, b in zip(got, full, strict=True) if a == b)
    return max(complete - 1, 0)


def theorem5_step_size(horizon: int, num_steps: int, num_players: int) -> float:
    """Mao et al. Theorem 5's step size ``eta = H^(-2/3) T^(-1/3) (N-1)^(-2/3)``
    (rewards in ``[0, 1]``; divide by the reward range otherwise)."""
    if num_players < 2:
        raise ValueError(f"num_players is {num_players}; expected >= 2")
    return horizon ** (-2 / 3) * num_steps ** (-1 / 3) * (num_players - 1) ** (-2 / 3)


def mao_theorem5_uniform(
    horizon: int, num_steps: int, num_players: int, max_actions: int
) -> float:
    """Mao et al. Theorem 5, eq. (11), as printed:
    ``12 N^(2/3) H^(8/3) log(T) log(A_max) / T^(2/3)`` (rewards in ``[0, 1]``,
    uniform initialisation, :func:`theorem5_step_size`)."""
    return (
        12.0
        * num_players ** (2 / 3)
        * horizon ** (8 / 3)
        * math.log(num_steps)
        * math.log(max_actions)
        / num_steps ** (2 / 3)
    )


def _chain(per_stage: Array, horizon: int, num_steps: int, c) -> Array:
    """``sum_{h < min(tau_last, H)} x[tau_last - h, h] + c max(H - tau_last, 0)``
    for per-stage, per-step numbers ``x (K, H)``."""
    tau_last = last_complete_stage(horizon, num_steps)
    total = c * max(horizon - tau_last, 0)
    for h in range(min(tau_last, horizon)):
        total = total + per_stage[tau_last - h, h]
    return total


def mao_theorem5_regret_chain(
    game: FiniteHorizonGame, num_steps: int, regrets: StageRegrets
) -> Float[Array, ""]:
    """The regret chain of the module docstring: a bound on the CCE-gap of
    :class:`marlmeta.solvers.GeneralSumOMD`'s output after ``T`` iterations
    from that run's measured per-state regrets.

    Args:
        game: one finite-horizon game.
        num_steps: ``T`` of the run.
        regrets: :func:`marlmeta.theory.stage_regrets` of the run.
    """
    T = int(num_steps)
    worst = jnp.max(jnp.stack([jnp.max(r, axis=-1) for r in regrets.regrets]), 0)
    return _chain(worst, game.horizon, T, largest_reward_range(game))


def mao_theorem5(
    game: FiniteHorizonGame, step_size, num_steps: int, init, best_responses
) -> Bound:
    """Mao et al. Theorem 5: the CCE-gap of Algorithm 2's output.

    ``value`` is the regret chain with Lemma 17's bound in place of every
    stage's regret (module docstring), a bound on the CCE-gap of
    :class:`marlmeta.solvers.GeneralSumOMD`'s output after ``T`` iterations;
    ``printed`` is the theorem's first claim times the reward range ``c``
    (with ``eta c`` in place of ``eta``), evaluated with the recorded stage
    best responses.

    Args:
        game: one ``N``-player finite-horizon game.
        step_size: ``eta`` of the run.
        num_steps: ``T``.
        init: per player the per-stage initial policies ``(K, H, S, A_i)``.
        best_responses: the run's stage best responses (``Solution.stats``),
            same shapes.

    Returns:
        A :class:`Bound`; the theorem holds for every ``eta > 0``.
    """
    game.require_one_game("mao_theorem5")
    H, S, N, T = game.horizon, game.num_states, game.num_players, int(num_steps)
    K = num_stages(H, T)
    for name, x in (("init", init), ("best_responses", best_responses)):
        if len(x) != N:
            raise ValueError(f"{name} has {len(x)} entries; expected {N} players")
        for i, (p, a) in enumerate(zip(x, game.num_actions, strict=True)):
            if tuple(p.shape) != (K, H, S, a):
                raise ValueError(
                    f"{name}[{i}] has shape {tuple(p.shape)}; expected "
                    f"{(K, H, S, a)} (K = {K} stages for H = {H}, T = {T})"
                )
    dtype = game.rewards.dtype
    c = largest_reward_range(game)
    eta = jnp.asarray(step_size, dtype)
    prior = jnp.where(
        jnp.arange(K)[:, None] > 0, eta * c * (H - jnp.arange(H))[None, :], 0.0
    )
    face = jnp.stack(
        [
            jnp.max(_face_kl(p, b), axis=-1)
            for p, b in zip(init, best_responses, strict=True)
        ]
    )
    D = jnp.max(face, axis=0) + prior  # (K, H)
    lengths = jnp.asarray(full_stage_lengths(H, K), dtype)
    safe = jnp.where(eta > 0, eta, 1.0)
    stability = 36.0 * (N - 1) ** 2 * eta**2 * c**3 * H**3
    per_stage = D / (safe * lengths[:, None]) + stability
    value = jnp.where(c > 0, _chain(per_stage, H, T, c), 0.0)
    kl = jnp.stack(
        [jnp.max(_kl(b, p), axis=-1) for p, b in zip(init, best_responses, strict=True)]
    )
    printed = 3.0 / (safe * T) * jnp.sum(jnp.max(kl, axis=0)) + c * (
        36.0 * N**2 * (eta * c) ** 2 * H**4
    )
    return Bound(value=value, printed=printed, applies=eta > 0)


def mao_theorem5_trace(
    game: FiniteHorizonGame,
    step_size,
    num_steps: int,
    checkpoints,
    init,
    best_responses,
) -> Bound:
    """:func:`mao_theorem5` at every checkpoint of one run of ``T`` iterations.

    A run of ``t <= T`` iterations is a prefix of the run of ``T``; the bound
    at ``t`` reads only the stages complete at ``t``, whose best responses the
    full run recorded, so each entry is the bound on the gap at ``t``.

    Args:
        game: one finite-horizon game.
        step_size: ``eta``.
        num_steps: ``T`` of the run.
        checkpoints: increasing iteration counts in ``[1, T]`` (static).
        init: the per-stage initial policies of the run, ``(K_T, H, S, A_i)``.
        best_responses: the run's stage best responses, same shapes.

    Returns:
        A :class:`Bound` whose fields have a leading checkpoint axis ``(C,)``.
    """

    def bound_at(t, k):
        return mao_theorem5(
            game,
            step_size,
            t,
            tuple(p[:k] for p in init),
            tuple(b[:k] for b in best_responses),
        )

    return checkpoint_trace(game.horizon, num_steps, checkpoints, bound_at)
