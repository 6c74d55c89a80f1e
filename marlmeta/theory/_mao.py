"""Bounds of Mao et al.'s Theorems 1 and 2 (Algorithm 1, zero-sum NE).

Mao, Qiu, Wang et al., "Multi-Agent Meta-Reinforcement Learning: Sharper
Convergence Rates with Task Similarity" (NeurIPS 2023) bound the NE-gap
(NashConv) of the averaged output of their Algorithm 1
(:class:`marlmeta.solvers.ZeroSumOMD`) by the KL divergences of the per-stage
initial policies ``mu~^tau_h(.|s)`` to the stage best responses in hindsight
``mu^{tau,dagger}_h(.|s)`` (Theorem 1), and, over a sequence of ``K`` games
learnt with the meta-initialisation, by the similarity ``Delta`` (Theorem 2).

Every constant is computed from the game: the horizon ``H``, the action counts
``A, B`` and the **reward range** ``c = max r - min r`` of player 0. The
theorems assume rewards in ``[0, 1]``; Algorithm 1's iterates do not change
when a constant is added to the rewards, and scaling the rewards by ``c``
while dividing ``eta`` by ``c`` scales every gap by ``c``. So the bounds hold
for any reward range with ``eta c`` in place of ``eta`` and a factor ``c``
in front; the step-size condition ``eta <= 1/(8 H^2)`` reads
``eta c <= 1/(8 H^2)``.

**Corrections (library choices, see the docs' choices page).** Following the
paper's own proof (Lemmas 7-11) with exact quantities:

1. *Early stages.* Lemma 9's induction starts from ``delta_H = 0`` and never
   meets stage 1, where ``Q = 0`` and the value error ``delta_h`` is
   ``||Q*_h||_inf``, up to ``H - h`` (steps 0-indexed): the value error of the
   first ``H - h`` stages is not bounded by regrets. The certified bound adds
   it: ``E = (2/T) sum_h sum_{tau <= H-1-h} L_tau (1 + 1/H)^tau (H - h - tau)``
   (times ``c``).
2. *Prior of a stage.* At a restart the first auxiliary step already uses the
   feedback of the restarted policies, so optimistic OMD's regret bound
   (Lemma 8) is relative to ``normalise(init exp(eta Q nu_init))``, not to
   ``init``; its KL is at most ``KL(. || init) + eta c (H - h)`` per player
   (the feedback of step ``h`` spans at most ``c (H - h)``; 0 in stage 0).
3. *Step size.* The printed constant ``192 H^3`` is the proof's
   ``2/eta + 24 H / eta`` at ``eta = 1/(8 H^2)`` exactly; for a smaller
   ``eta`` the bound grows like ``1/eta``. The certified bound keeps ``eta``.
4. *Best response.* Any maximiser of a stage's regret is a valid comparator,
   so ``D_R(mu^dagger, mu~)`` is taken as its minimum over the maximisers,
   ``-log mu~(M)`` with ``M`` the set of maximising actions (for the uniform
   initialisation this equals ``KL(uniform on M || uniform)``).

With these, for ``eta c <= 1/(8 H^2)`` and ``D^tau_h = max_s`` of the two
players' (corrected) divergences, ``L_tau`` the stage lengths and
``eta' = eta c``:

    NE-gap / c <= (2 / T) sum_{tau,h} D^tau_h / eta'
                  + (2 / T) sum_{tau,h} L_tau delta^tau_h,
    delta^0_h = H - h,   delta^tau_{H-1} = 0,
    delta^tau_h = (1 + 1/H) delta^{tau-1}_{h+1}
                  + (1 + 1/(2H)) D^{tau-1}_{h+1} / (eta' L_{tau-1}),

Lemma 7, Lemma 8 (eq. 23) and the recursion (30) of Lemma 9 with exact stage
lengths instead of the final ``(1 + 1/H)^{2H} <= e^2`` steps.

References:
    Mao, Qiu, Wang et al. Multi-Agent Meta-Reinforcement Learning: Sharper
    Convergence Rates with Task Similarity. NeurIPS 2023, Theorems 1 and 2,
    Lemmas 1 and 7-11.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy
from jaxtyping import Array, Bool, Float

from marlmeta.games import FiniteHorizonGame
from marlmeta.solvers import (
    full_stage_lengths,
    num_stages,
    reward_range,
    stage_lengths,
)


class Bound(eqx.Module):
    """A theorem's right-hand side evaluated on one run.

    Attributes:
        value: the bound this library certifies (the paper's proof with exact
            constants and the corrections stated in the calculator's docstring).
        printed: the right-hand side exactly as the paper prints it.
        applies: whether the theorem's hypotheses hold (e.g. the step-size
            condition); where they fail neither number is a bound.
    """

    value: Float[Array, ""]
    printed: Float[Array, ""]
    applies: Bool[Array, ""]


def _check_two_player(game: FiniteHorizonGame, caller: str) -> None:
    game.require_one_game(caller)
    if game.num_players != 2:
        raise ValueError(f"game has {game.num_players} players; {caller} needs 2")


def _face_kl(init: Array, best_response: Array) -> Array:
    """``min_{p on supp(br)} KL(p || init) = -log init(supp br)`` per entry."""
    mass = jnp.sum(jnp.where(best_response > 0, init, 0.0), axis=-1)
    return jnp.maximum(-jnp.log(mass), 0.0)


def _kl(p: Array, q: Array) -> Array:
    """``KL(p || q)`` over the last axis."""
    return jnp.sum(xlogy(p, p) - xlogy(p, q), axis=-1)


def _early_stage_error(horizon: int, num_steps: int) -> float:
    """``(2/T) sum_h sum_{tau <= H-1-h} L_tau (1+1/H)^tau (H-h-tau)``: the
    value error of the stages before the value recursion reaches step ``h``
    (rewards in ``[0, 1]``)."""
    H, lengths = horizon, stage_lengths(horizon, num_steps)
    total = 0.0
    for h in range(H):
        for tau, length in enumerate(lengths):
            if h + tau <= H - 1:
                total += length * (1 + 1 / H) ** tau * (H - h - tau)
    return 2.0 * total / num_steps


def _certified(D: Array, horizon: int, num_steps: int, eta: Array) -> Array:
    """The proof's chain (Lemmas 7-9) on the stage divergences ``D (K, H)``,
    in units of the reward range, with the early-stage value error."""
    H, T = horizon, num_steps
    lengths = [float(x) for x in stage_lengths(H, T)]  # weak: keeps D's dtype
    regret = 2.0 * jnp.sum(D) / (eta * T)
    # delta from the regret terms only (delta^0 = 0 here; its part is E).
    delta = jnp.zeros(H, D.dtype)
    value = jnp.zeros((), D.dtype)
    for tau in range(1, len(lengths)):
        carried = (1 + 1 / H) * delta[1:] + (1 + 1 / (2 * H)) * D[tau - 1, 1:] / (
            eta * lengths[tau - 1]
        )
        delta = jnp.concatenate([carried, jnp.zeros(1, D.dtype)])
        value = value + lengths[tau] * jnp.sum(delta)
    return regret + 2.0 * value / T + _early_stage_error(H, T)


def mao_theorem1(
    game: FiniteHorizonGame, step_size, num_steps: int, init, best_responses
) -> Bound:
    """Mao et al. Theorem 1: the NE-gap of Algorithm 1's output.

    As printed (rewards in ``[0, 1]``, ``eta <= 1/(8 H^2)``)::

        NE-gap(mu_bar, nu_bar) <= (192 H^3 / T) sum_h sum_tau max_s
            (KL(mu^{tau,dagger}_h(.|s) || mu~^tau_h(.|s))
             + KL(nu^{tau,dagger}_h(.|s) || nu~^tau_h(.|s))),

    ``printed`` evaluates this (times the reward range ``c``) with the stage
    best responses the solver recorded (uniform over the maximisers);
    ``value`` is the certified bound of the module docstring (the same proof
    with exact constants and the early-stage and restart corrections).

    Args:
        game: one two-player zero-sum finite-horizon game.
        step_size: ``eta`` of the run.
        num_steps: ``T``.
        init: the per-stage initial policies ``(mu~, nu~)``, ``(K, H, S, A)``
            and ``(K, H, S, B)`` (:meth:`ZeroSumOMD.default_init` for uniform).
        best_responses: the run's stage best responses in hindsight, same
            shapes (``Solution.stats`` of :func:`marlmeta.solve`).

    Returns:
        A :class:`Bound`; ``applies`` is ``eta c <= 1/(8 H^2)``.
    """
    _check_two_player(game, "mao_theorem1")
    H, T = game.horizon, int(num_steps)
    K = num_stages(H, T)
    for name, x in (("init", init), ("best_responses", best_responses)):
        for i, (p, a) in enumerate(zip(x, game.num_actions, strict=True)):
            want = (K, H, game.num_states, a)
            if tuple(p.shape) != want:
                raise ValueError(
                    f"{name}[{i}] has shape {tuple(p.shape)}; expected {want} "
                    f"(K = {K} stages for H = {H}, T = {T})"
                )
    dtype = game.rewards.dtype
    c = reward_range(game)
    eta = jnp.asarray(step_size, dtype) * c
    # the restart correction: eta c (H - h) per player in every stage but the first
    prior = jnp.where(
        jnp.arange(K)[:, None] > 0, 2.0 * eta * (H - jnp.arange(H))[None, :], 0.0
    )
    face = sum(_face_kl(p, b) for p, b in zip(init, best_responses, strict=True))
    D = jnp.max(face, axis=-1) + prior  # (K, H)
    safe = jnp.where(eta > 0, eta, 1.0)
    value = jnp.where(c > 0, c * _certified(D, H, T, safe), 0.0)
    kl = sum(_kl(b, p) for p, b in zip(init, best_responses, strict=True))
    printed = c * 192.0 * H**3 / T * jnp.sum(jnp.max(kl, axis=-1))
    applies = eta <= (1.0 + 1e-9) / (8.0 * H**2)
    return Bound(value=value, printed=printed, applies=applies)


def checkpoint_trace(horizon: int, num_steps: int, checkpoints, bound_at) -> Bound:
    """A bound at every checkpoint of one run of ``T`` iterations, stacked.

    A run of ``t <= T`` iterations is a prefix of the run of ``T`` (the stage
    schedule is static), so the statistics of the stages it has begun are
    the first ``num_stages(H, t)`` of the full run's.

    Args:
        horizon: ``H``.
        num_steps: ``T`` of the run.
        checkpoints: increasing iteration counts in ``[1, T]`` (static).
        bound_at: ``bound_at(t, k) -> Bound`` for ``t`` iterations, which
            begin ``k`` stages.

    Returns:
        A :class:`Bound` whose fields have a leading checkpoint axis ``(C,)``.
    """
    T = int(num_steps)
    out = []
    for t in (int(x) for x in checkpoints):
        if not 1 <= t <= T:
            raise ValueError(f"checkpoints contains {t}; expected in [1, {T}]")
        out.append(bound_at(t, num_stages(horizon, t)))
    return jax.tree.map(lambda *x: jnp.stack(x), *out)


def mao_theorem1_trace(
    game: FiniteHorizonGame,
    step_size,
    num_steps: int,
    checkpoints,
    init,
    best_responses,
) -> Bound:
    """:func:`mao_theorem1` at every checkpoint of one run of ``T`` iterations.

    A run of ``t <= T`` iterations is a prefix of the run of ``T`` (the stage
    schedule is static), so every stage that is complete at ``t`` has the best
    responses the full run recorded (and at ``t = T`` every stage does). A
    stage cut at ``t < T`` has not; there the
    divergence is replaced by its largest possible value,
    ``max_a -log init(a)`` per player (a valid upper bound for any best
    response), so each entry is a bound on the gap at ``t``.

    Args:
        game: one two-player zero-sum finite-horizon game.
        step_size: ``eta``.
        num_steps: ``T`` of the run.
        checkpoints: increasing iteration counts in ``[1, T]`` (static).
        init: the per-stage initial policies of the run, ``(K_T, H, S, .)``.
        best_responses: the run's stage best responses, same shapes.

    Returns:
        A :class:`Bound` whose fields have a leading checkpoint axis ``(C,)``.
    """
    H, T = game.horizon, int(num_steps)

    def bound_at(t, k):
        # a stage cut at t < T has no recorded best responses; at T it has
        cut = t < T and sum(stage_lengths(H, t)) != sum(full_stage_lengths(H, k))
        brs = []
        for p, b in zip(init, best_responses, strict=True):
            b = b[:k]
            if cut:
                worst = jax.nn.one_hot(
                    jnp.argmin(p[k - 1], -1), p.shape[-1], dtype=b.dtype
                )
                b = b.at[k - 1].set(worst)
            brs.append(b)
        return mao_theorem1(game, step_size, t, tuple(p[:k] for p in init), brs)

    return checkpoint_trace(H, T, checkpoints, bound_at)


def mao_theorem1_uniform(horizon: int, num_steps: int, num_actions) -> float:
    """Mao et al. Theorem 1, eq. (4), uniform initialisation, as printed:
    ``768 H^5 log(T) log(A B) / T`` (rewards in ``[0, 1]``).

    The proof bounds the number of stages by ``H log T / log(e/2)`` and every
    divergence by ``log(A B)``; the early-stage value error (correction 1 of
    the module docstring) is far below the slack of those two steps for
    ``T >= 2`` (the tests check it on random games).
    """
    a, b = num_actions
    return 768.0 * horizon**5 * math.log(num_steps) * math.log(a * b) / num_steps


def mao_theorem2(
    games: FiniteHorizonGame,
    step_size,
    num_steps: int,
    similarity,
    alpha=None,
) -> Bound:
    """Mao et al. Theorem 2: the average NE-gap over a sequence of ``K`` games
    learnt with the meta-initialisation
    ``init^{k+1} = (1/k) sum_{k'<=k} [br^{k'}]_alpha``.

    As printed (rewards in ``[0, 1]``, ``alpha = 1/sqrt(K)``)::

        (1/K) sum_k NE-gap_k <= (192 H^5 / T) (Delta / (K H^2)
            + 10 (A + B) log K / (sqrt(K) H^2) + 16 log T log(A B K) / sqrt(K)).

    The proof averages Theorem 1 over the games and bounds the average KL of
    the initialisations by ``Delta / K`` plus the regret of follow-the-leader
    (Lemma 2, ``8 A (1 + ln K) / alpha`` per entry) and the ``alpha``-greedy
    cost (Lemma 1, ``4 alpha ln(A / alpha)`` per entry). Two errors of the
    proof are corrected in ``value``: the follow-the-leader regret is per entry
    ``(tau, h, s)`` (the paper counts it once), and ``8 (1 + ln K) <= 10 ln K``
    fails for ``K < 23``, so the exact ``8 (1 + ln K)`` is kept; ``Delta`` is
    summed over states (:func:`marlmeta.meta.similarity`), which bounds the
    sum over ``K`` games of the maxima over states. On top, Theorem 1's
    corrections (module docstring): the certified chain's coefficient
    ``(2 + 2 kappa (H - 1)) / (eta c T)`` with
    ``kappa = (1 + 1/(2H)) (1 + 1/H)^(2H-3)``, the restart term and the
    early-stage error, and the reward range ``c`` of the family.

    Args:
        games: the sequence, a batch of two-player zero-sum games with a
            leading ``K`` axis; ``c`` is the largest reward range among them.
        step_size: ``eta``.
        num_steps: ``T``.
        similarity: ``Delta`` of the run (``MetaRun.similarity``).
        alpha: the mixing weight (default ``1/sqrt(K)``); Lemma 1 needs
            ``alpha < 1/2``.

    Returns:
        A :class:`Bound`; ``applies`` is ``eta c <= 1/(8 H^2)`` and
        ``alpha < 1/2``.
    """
    if len(games.batch_shape) != 1:
        raise ValueError(
            f"games has batch shape {games.batch_shape}; mao_theorem2 needs one "
            "sequence of games with a leading K axis"
        )
    K, T = games.batch_shape[0], int(num_steps)
    game = jax.tree.map(lambda x: x[0], games)
    _check_two_player(game, "mao_theorem2")
    H, S = game.horizon, game.num_states
    A, B = game.num_actions
    c = jnp.max(jax.vmap(reward_range)(games))
    alpha = 1.0 / math.sqrt(K) if alpha is None else float(alpha)
    stages = num_stages(H, T)
    entries = stages * H * S
    eta = jnp.asarray(step_size, game.rewards.dtype) * c
    avg_kl = jnp.asarray(similarity, game.rewards.dtype) / K
    for d in (A, B):
        avg_kl = avg_kl + entries * (
            8.0 * d * (1.0 + math.log(K)) / (K * alpha)
            + 4.0 * alpha * math.log(d / alpha)
        )
    prior = 2.0 * eta * sum(H - h for h in range(H)) * (stages - 1)
    kappa = (1 + 1 / (2 * H)) * (1 + 1 / H) ** (2 * H - 3)
    safe = jnp.where(eta > 0, eta, 1.0)
    chain = (2.0 + 2.0 * kappa * (H - 1)) * (avg_kl + prior) / (safe * T)
    value = jnp.where(c > 0, c * (chain + _early_stage_error(H, T)), 0.0)
    printed = c * (
        192.0
        * H**5
        / T
        * (
            similarity / (K * H**2)
            + 10.0 * (A + B) * math.log(K) / (math.sqrt(K) * H**2)
            + 16.0 * math.log(T) * math.log(A * B * K) / math.sqrt(K)
        )
    )
    applies = (eta <= (1.0 + 1e-9) / (8.0 * H**2)) & (alpha < 0.5)
    return Bound(value=value, printed=jnp.asarray(printed), applies=applies)
