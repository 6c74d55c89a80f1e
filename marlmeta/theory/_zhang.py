"""Bounds of Zhang et al.'s Theorem 5 (softmax gradient play in potential games).

Zhang, Mei, Dai, Schuurmans and Li, "On the Global Convergence Rates of
Decentralized Softmax Gradient Play in Markov Potential Games" (NeurIPS 2022),
Theorem 5 bounds the average squared NE-gap of the iterates of gradient play
(their eq. 8, :class:`marlmeta.solvers.GradientPlay` with ``barrier = 0``) and
natural gradient play (eq. 10, :class:`marlmeta.solvers.NaturalGradientPlay`,
no barrier, no clip) on a Markov potential game:

    GP,  eta = (1-gamma)^3 / (6 n):
        (1/T) sum_{t<T} NE-gap(theta^t)^2 <= 2 max_i |A_i| M^2 (phi_max - phi_min)
                                             / ((1 - gamma) c^2 eta T),
    NGP, eta = (1-gamma)^2 / (2 n (phi_max - phi_min)):
        (1/T) sum_{t<T} NE-gap(theta^t)^2 <= 3 M (phi_max - phi_min)
                                             / ((1 - gamma) c eta T),

with ``M = sup_theta max_s 1/d_theta(s)`` (eq. 5; ``d`` the discounted
visitation of the initial distribution), ``c = inf_t c(theta^t)`` the
trajectory's non-uniform Lojasiewicz constant (eq. 11) and ``phi`` the
potential reward.

Constants from the game: ``M`` is computed exactly: ``min_theta d_theta(s)``
is the optimal value of the joint-action MDP with reward ``-1[s' = s]``, and a
deterministic joint policy is a product policy (:func:`mismatch_coefficient`).
``c(theta)`` sums the policy over *every* maximiser of ``Qbar_i`` (the
definition of eq. 7, which the proof of Lemma 1 needs), not the first one.

**Certified form (library choice).** The proofs telescope a per-step ascent:
``Phi(theta^{t+1}) - Phi(theta^t) >= (eta/2) ||grad Phi(theta^t)||^2`` for
gradient play (``beta``-smoothness, ``eta <= 1/beta``) and
``>= (c(theta^t) eta / (3 M)) NE-gap(theta^t)^2`` for natural gradient play
(Lemmas 20 and 21), with Lemma 1,
``NE-gap_i <= sqrt(|A_i|) M(theta) / c(theta) ||grad_i J_i||``. ``value``
keeps the trajectory's own numbers where the printed bound takes their worst
case: the potential gain ``Phi(theta^T) - Phi(theta^0)`` instead of
``(phi_max - phi_min) / (1 - gamma)``, and the worst ratio over the iterates of
``M(theta^t)^2 / c(theta^t)^2`` (gradient play) or ``M(theta^{t+1}) /
c(theta^t)`` (natural gradient play) instead of ``M^2 / c^2`` and ``M / c``.
The step-size conditions are read for a potential spanning
``phi_max - phi_min`` (the smoothness constant ``6 n / (1 - gamma)^3`` is for a
unit range): ``eta (phi_max - phi_min) <= (1-gamma)^3 / (6 n)`` for gradient
play and the printed ``eta <= (1-gamma)^2 / (2 n (phi_max - phi_min))`` for
natural gradient play.

References:
    Zhang, Mei, Dai, Schuurmans, Li. On the Global Convergence Rates of
    Decentralized Softmax Gradient Play in Markov Potential Games. NeurIPS
    2022, Lemma 1, Theorem 5 and Lemmas 20, 21 and 29.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.evaluation import lojasiewicz, ne_gap, potential, visitation
from marlmeta.games import DiscountedMarkovGame
from marlmeta.policies import softmax
from marlmeta.solvers import AbstractSoftmaxPlay
from marlmeta.theory._mao import Bound


class SoftmaxTrajectory(eqx.Module):
    """What Theorem 5's proofs read along a run, for ``theta^0 .. theta^T``.

    Attributes:
        ne_gap: ``(T+1,)`` ``NE-gap(theta^t) = max_i`` gain.
        potential: ``(T+1,)`` ``Phi(theta^t)``.
        lojasiewicz: ``(T+1,)`` ``c(theta^t)``, every maximiser counted.
        mismatch: ``(T+1,)`` ``M(theta^t) = max_s 1/d_theta^t(s)``.
        log_barrier: ``(T+1,)`` ``sum_i sum_{s, a_i} log pi_i^t(a_i|s)``, the
            log barrier of Zhang et al.'s eq. (14) without its weight
            ``lambda`` (0 at the uniform policy, its maximum); ``None`` for a
            trajectory built without it (Theorems 6 and 7 need it).
    """

    ne_gap: Float[Array, " T1"]
    potential: Float[Array, " T1"]
    lojasiewicz: Float[Array, " T1"]
    mismatch: Float[Array, " T1"]
    log_barrier: Float[Array, " T1"] | None = None


def potential_range(game: DiscountedMarkovGame) -> Float[Array, ""]:
    """``phi_max - phi_min`` of the potential reward."""
    if game.potential_reward is None:
        raise ValueError("game has no potential_reward; it is not a potential game")
    return jnp.max(game.potential_reward) - jnp.min(game.potential_reward)


def potential_rounding(potential: Array) -> Float[Array, ""]:
    """``64 eps max(1, max |Phi|)``: the rounding error allowed on a difference
    of two computed potentials ``Phi`` (``potential``, any shape)."""
    eps = jnp.finfo(potential.dtype).eps
    return 64 * eps * jnp.maximum(1.0, jnp.max(jnp.abs(potential)))


def mismatch_coefficient(game: DiscountedMarkovGame) -> Float[Array, ""]:
    """``M = sup_theta max_s 1 / d_theta(s)`` of Zhang et al. (eq. 5), exactly.

    ``d_theta(s) = (1 - gamma) rho^T (I - gamma P_pi)^{-1} e_s`` is the value of
    the reward ``1[s' = s]``; its minimum over policies is attained by a
    deterministic joint policy (an MDP), which is a product policy. ``inf``
    where some state is unreachable (Assumption 1 fails).
    """
    game.require_discounted("mismatch_coefficient")
    S = game.num_states
    shape = (S, *game.num_actions)

    def least(s):
        reward = -jnp.broadcast_to(
            (jnp.arange(S) == s)
            .astype(game.rewards.dtype)
            .reshape((S,) + (1,) * len(game.num_actions)),
            shape,
        )
        return -(1 - game.discount) * (game.initial @ game.optimal_values(reward))

    d_min = jax.vmap(least)(jnp.arange(S))
    return jnp.max(1.0 / jnp.maximum(d_min, 0.0))


def gradient_play_step_size(game: DiscountedMarkovGame) -> Float[Array, ""]:
    """Zhang et al. Theorem 5's step size of gradient play,
    ``(1 - gamma)^3 / (6 n)`` for a potential of unit range (divided here by
    ``phi_max - phi_min``, see the module docstring)."""
    n = game.num_players
    return (1 - game.discount) ** 3 / (6 * n * potential_range(game))


def natural_gradient_play_step_size(game: DiscountedMarkovGame) -> Float[Array, ""]:
    """Zhang et al. Theorem 5's step size of natural gradient play,
    ``(1 - gamma)^2 / (2 n (phi_max - phi_min))``."""
    n = game.num_players
    return (1 - game.discount) ** 2 / (2 * n * potential_range(game))


def softmax_trajectory(
    solver: AbstractSoftmaxPlay, game: DiscountedMarkovGame, num_steps: int, init=None
) -> SoftmaxTrajectory:
    """Run a softmax solver ``num_steps`` steps and read Theorem 5's quantities
    at every iterate ``theta^0 .. theta^T`` (the initial policy included).

    Args:
        solver: :class:`marlmeta.solvers.GradientPlay` or
            :class:`marlmeta.solvers.NaturalGradientPlay`.
        game: one discounted potential game.
        num_steps: ``T >= 1``.
        init: the initial product policy (default uniform).
    """
    game.require_discounted("softmax_trajectory")
    game.require_one_game("softmax_trajectory")
    if int(num_steps) < 1:
        raise ValueError(f"num_steps is {num_steps}; expected >= 1")
    if init is None:
        init = solver.default_init(game, num_steps)
    theta = solver.init(game, tuple(jnp.asarray(x) for x in init))

    def read(theta):
        pol = softmax(theta)
        return SoftmaxTrajectory(
            ne_gap=ne_gap(game, pol),
            potential=potential(game, pol),
            lojasiewicz=lojasiewicz(game, pol),
            mismatch=jnp.max(1.0 / visitation(game, pol)),
            log_barrier=sum(jnp.sum(jax.nn.log_softmax(x, axis=-1)) for x in theta),
        )

    return read_iterates(lambda th: solver.step(game, th), read, theta, num_steps)[1]


def read_iterates(step, read, state, num_steps: int):
    """``(x^T, read(x^0) .. read(x^T))`` of ``x^{t+1} = step(x^t)``, stacked
    along a leading ``T+1`` axis.

    One ``lax.scan`` of ``T+1`` iterations reads ``x^t`` and then steps; the
    step after ``x^T`` is computed but not kept. ``read`` is traced once (not
    once for ``x^0`` and once for the rest): the reads (exact NE-gaps, best
    responses) are most of the compiled program.
    """

    def body(x, t):
        nxt = step(x)
        keep = jax.tree.map(lambda a, b: jnp.where(t < num_steps, a, b), nxt, x)
        return keep, read(x)

    return jax.lax.scan(body, state, jnp.arange(int(num_steps) + 1))


def mean_squared_gap(trajectory: SoftmaxTrajectory) -> Float[Array, ""]:
    """``(1/T) sum_{t<T} NE-gap(theta^t)^2``, what Theorem 5 bounds."""
    return jnp.mean(trajectory.ne_gap[:-1] ** 2)


def _vacuous_if_infinite(worst, value):
    """``inf`` where some iterate has ``c(theta) = 0`` (Lemma 1 says nothing
    there), so that ``inf * 0`` never yields a NaN bound."""
    return jnp.where(jnp.isfinite(worst), value, jnp.inf)


def zhang_theorem5_gradient_play(
    game: DiscountedMarkovGame, step_size, trajectory: SoftmaxTrajectory
) -> Bound:
    """Zhang et al. Theorem 5, gradient play: a bound on
    :func:`mean_squared_gap` of a :class:`marlmeta.solvers.GradientPlay` run
    (``barrier = 0``).

    ``printed`` is ``2 max_i |A_i| M^2 (phi_max - phi_min) / ((1 - gamma) c^2
    eta T)`` with the exact ``M`` (:func:`mismatch_coefficient`) and ``c`` the
    least ``c(theta^t)``, ``t < T``; ``value`` is the certified trajectory
    form of the module docstring. ``applies``:
    ``eta (phi_max - phi_min) <= (1 - gamma)^3 / (6 n)``.
    """
    T = trajectory.ne_gap.shape[0] - 1
    eta = jnp.asarray(step_size, game.rewards.dtype)
    a_max = max(game.num_actions)
    width = potential_range(game)
    gamma = game.discount
    c = jnp.min(trajectory.lojasiewicz[:-1])
    printed = (
        2 * a_max * mismatch_coefficient(game) ** 2 * width
        / ((1 - gamma) * c**2 * eta * T)
    )  # fmt: skip
    worst = jnp.max(trajectory.mismatch[:-1] ** 2 / trajectory.lojasiewicz[:-1] ** 2)
    gain = trajectory.potential[-1] - trajectory.potential[0]
    value = _vacuous_if_infinite(worst, 2 * a_max * worst * gain / (eta * T))
    applies = eta * width <= (1 + 1e-9) * (1 - gamma) ** 3 / (6 * game.num_players)
    return Bound(value=value, printed=printed, applies=applies)


def zhang_theorem5_natural_gradient_play(
    game: DiscountedMarkovGame, step_size, trajectory: SoftmaxTrajectory
) -> Bound:
    """Zhang et al. Theorem 5, natural gradient play: a bound on
    :func:`mean_squared_gap` of a :class:`marlmeta.solvers.NaturalGradientPlay`
    run (no barrier, no clip).

    ``printed`` is ``3 M (phi_max - phi_min) / ((1 - gamma) c eta T)``;
    ``value`` the certified trajectory form (module docstring). ``applies``:
    ``eta <= (1 - gamma)^2 / (2 n (phi_max - phi_min))`` (Lemma 20).
    """
    T = trajectory.ne_gap.shape[0] - 1
    eta = jnp.asarray(step_size, game.rewards.dtype)
    width = potential_range(game)
    gamma = game.discount
    c = jnp.min(trajectory.lojasiewicz[:-1])
    printed = 3 * mismatch_coefficient(game) * width / ((1 - gamma) * c * eta * T)
    worst = jnp.max(trajectory.mismatch[1:] / trajectory.lojasiewicz[:-1])
    gain = trajectory.potential[-1] - trajectory.potential[0]
    value = _vacuous_if_infinite(worst, 3 * worst * gain / (eta * T))
    applies = eta * width <= (1 + 1e-9) * (1 - gamma) ** 2 / (2 * game.num_players)
    return Bound(value=value, printed=printed, applies=applies)
