"""Sequential meta-initialisation over a sequence of games.

Mao, Qiu, Wang et al., "Multi-Agent Meta-Reinforcement Learning: Sharper
Convergence Rates with Task Similarity", NeurIPS 2023, Theorems 2, 3 and 6.
Games ``G^1..G^K`` arrive in order and
``alpha = 1/sqrt(K)``:

    init^1 = uniform,    init^{k+1} = (1/k) sum_{k' <= k} [br^{k'}]_alpha,

elementwise per ``(tau, h, s)`` and player, where ``br^k`` are the solver's
meta statistics on game ``k`` (for Algorithm 1, the stage best responses in
hindsight). The "individual learning" baseline starts every game from uniform.
The similarity of Theorem 2 is ``Delta = sum_k KL(br^k || mean_k br^k)``,
summed over ``(tau, h, s)`` and players.

For Markov potential games (Theorem 3) the meta-update is the warm start
``pi^{k,0} = pi^{k-1,T}`` (:func:`warm_start`), and the similarity is
``Delta_Phi = sum_k max_pi (Phi(pi; G^k) - Phi(pi; G^{k+1}))`` (eq. 8).

Everything here is pure: ``vmap`` over independent sequences (seeds) of games.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy
from jaxtyping import Array, Float

from marlmeta._solve import Solution, checkpoint_steps, run_solver
from marlmeta.evaluation import report
from marlmeta.games import AbstractMarkovGame, FiniteHorizonGame
from marlmeta.policies import alpha_greedy
from marlmeta.solvers import AbstractSolver


class MetaRun(eqx.Module):
    """Results over a sequence of ``K`` games.

    Attributes:
        solutions: one :class:`marlmeta.Solution` per game (leading ``K`` axis).
        inits: the initial-policy argument each game started from.
        similarity: ``Delta`` of the statistics the runs delivered.
    """

    solutions: Solution
    inits: Any
    similarity: Float[Array, ""]


def similarity(stats) -> Float[Array, ""]:
    """``Delta = sum_k KL(br^k || mean_k br^k)`` over all leaves of ``stats``.

    Args:
        stats: a pytree of distributions (last axis) with a leading ``K`` axis.
    """

    def leaf(br):
        mean = jnp.mean(br, axis=0, keepdims=True)
        return jnp.sum(xlogy(br, br) - xlogy(br, jnp.broadcast_to(mean, br.shape)))

    return sum(leaf(x) for x in jax.tree.leaves(stats))


def _sequence_args(solver, games, num_steps, checkpoints):
    """The checked arguments every learner on a sequence shares:
    ``(checkpoints, num_steps, uniform)``, ``uniform`` the solver's uniform
    initial-policy argument for one game of the sequence."""
    cps, num_steps = checkpoint_steps(num_steps, checkpoints), int(num_steps)
    first = jax.tree.map(lambda x: x[0], games)
    return cps, num_steps, solver.default_init(first, num_steps)


def sequential_meta(
    solver: AbstractSolver,
    games: AbstractMarkovGame,
    num_steps: int,
    *,
    alpha: float | None = None,
    checkpoints: Sequence[int] | None = None,
    metric: Callable = report,
) -> MetaRun:
    """Meta-learning: each game starts from the averaged ``alpha``-greedy
    statistics of the games before it.

    Args:
        solver: a solver whose ``stats`` are shaped like its initial-policy
            argument (e.g. :class:`marlmeta.solvers.ZeroSumOMD`).
        games: the sequence, a batch with leading axis ``K`` (in arrival order).
        num_steps: iterations per game.
        alpha: mixing weight of ``[x]_alpha`` (default ``1/sqrt(K)``).
        checkpoints: as in :func:`marlmeta.solve`.
        metric: as in :func:`marlmeta.solve`.
    """
    cps, num_steps, uniform = _sequence_args(solver, games, num_steps, checkpoints)
    size = jax.tree.leaves(games)[0].shape[0]
    alpha = 1.0 / jnp.sqrt(size) if alpha is None else alpha

    def body(carry, game):
        acc, k = carry
        init = jax.tree.map(
            lambda u, a: jnp.where(k > 0, a / jnp.maximum(k, 1), u), uniform, acc
        )
        sol = run_solver(solver, game, init, num_steps, cps, metric)
        acc = jax.tree.map(jnp.add, acc, alpha_greedy(sol.stats, alpha))
        return (acc, k + 1), (sol, init)

    acc0 = jax.tree.map(jnp.zeros_like, uniform)
    _, (sols, inits) = jax.lax.scan(body, (acc0, jnp.zeros((), jnp.int32)), games)
    return MetaRun(solutions=sols, inits=inits, similarity=similarity(sols.stats))


def individual(
    solver: AbstractSolver,
    games: AbstractMarkovGame,
    num_steps: int,
    *,
    checkpoints: Sequence[int] | None = None,
    metric: Callable = report,
) -> MetaRun:
    """The baseline: every game of the sequence starts from uniform play.

    The games are independent, so they run side by side under ``vmap``.
    """
    cps, num_steps, uniform = _sequence_args(solver, games, num_steps, checkpoints)
    sols = jax.vmap(lambda g: run_solver(solver, g, uniform, num_steps, cps, metric))(
        games
    )
    size = jax.tree.leaves(games)[0].shape[0]
    inits = jax.tree.map(lambda u: jnp.broadcast_to(u, (size, *u.shape)), uniform)
    return MetaRun(solutions=sols, inits=inits, similarity=similarity(sols.stats))


def potential_similarity(games: FiniteHorizonGame) -> Float[Array, ""]:
    """``Delta_Phi = sum_{k<K} max_pi (Phi(pi; G^k) - Phi(pi; G^{k+1}))`` (eq. 8).

    For games that share their transitions (a reward-perturbed family) the
    difference of potentials is the value of the reward ``phi^k - phi^{k+1}``,
    and its maximum over product policies is attained by a deterministic joint
    policy: the optimal value of that MDP over joint actions, by backward
    induction. The transitions of ``G^k`` are used.

    Args:
        games: finite-horizon potential games with a leading ``K`` axis.
    """
    needs = "finite-horizon games with a potential_reward"
    games.require_finite_horizon("potential_similarity", needs)
    if games.potential_reward is None:
        raise ValueError(f"potential_similarity needs {needs}; games have none")
    phi = games.potential_reward

    def optimal(game, reward):
        return game.initial @ game.optimal_values(reward)

    head = jax.tree.map(lambda x: x[:-1], games)
    return jnp.sum(jax.vmap(optimal)(head, phi[:-1] - phi[1:]))


def warm_start(
    solver: AbstractSolver,
    games: AbstractMarkovGame,
    num_steps: int,
    *,
    checkpoints: Sequence[int] | None = None,
    metric: Callable = report,
) -> MetaRun:
    """Warm-start meta-learning (Mao et al. Theorem 3): ``pi^{k,0} = pi^{k-1,T}``.

    Game 1 starts from uniform play; each later game from the output policy of
    the game before it. ``similarity`` is ``Delta_Phi`` (:func:`potential_similarity`)
    for finite-horizon potential games and ``nan`` otherwise.

    Args:
        solver: a solver whose output policy is a valid initial-policy argument
            (e.g. :class:`marlmeta.solvers.ProjectedQDescent`).
        games: as in :func:`sequential_meta`.
        num_steps: as in :func:`sequential_meta`.
        checkpoints: as in :func:`sequential_meta`.
        metric: as in :func:`sequential_meta`.
    """
    cps, num_steps, uniform = _sequence_args(solver, games, num_steps, checkpoints)

    def body(init, game):
        sol = run_solver(solver, game, init, num_steps, cps, metric)
        return sol.policy, (sol, init)

    _, (sols, inits) = jax.lax.scan(body, uniform, games)
    dtype = jax.tree.leaves(sols.policy)[0].dtype
    return MetaRun(solutions=sols, inits=inits, similarity=_similarity(games, dtype))


@functools.singledispatch
def _similarity(games: AbstractMarkovGame, dtype) -> Float[Array, ""]:
    """The warm start's ``Delta_Phi``: ``nan`` unless the games are a family of
    finite-horizon potential games (dispatched on the game kind)."""
    return jnp.asarray(jnp.nan, dtype)


@_similarity.register
def _(games: FiniteHorizonGame, dtype) -> Float[Array, ""]:
    if games.potential_reward is None:
        return jnp.asarray(jnp.nan, dtype)
    return potential_similarity(games)
