"""Bounds of Mao et al.'s Proposition 1 and Theorem 3 (projected Q-descent).

Mao, Qiu, Wang et al., "Multi-Agent Meta-Reinforcement Learning: Sharper
Convergence Rates with Task Similarity" (NeurIPS 2023), Section 4.1, bound the
average NE-gap of independent projected Q-descent (their eq. 7,
:class:`marlmeta.solvers.ProjectedQDescent`) on a discounted Markov potential
game (Proposition 1, their refinement of Ding et al.'s Theorem 1), for
``alpha <= (1-gamma)^4 / (8 kappa^3 N A_max)`` and rewards in ``[0, 1]``:

    (1/T) sum_{t<T} NE-gap(pi^t)
        <= sqrt(kappa (Phi(pi^T) - Phi(pi^0)) / (alpha T (1-gamma)^2)),

with ``kappa = sup_theta ||d_theta / rho||_inf`` the distribution mismatch
coefficient. Over a sequence of ``K`` games learnt with the warm start
``pi^{k,0} = pi^{k-1,T}`` (Theorem 3; :func:`marlmeta.meta.warm_start`), the
proof averages Proposition 1 and telescopes the potential gains
(Cauchy-Schwarz), so that

    (1/(K T)) sum_k sum_{t<T} NE-gap(pi^{k,t})
        <= (1/K) sum_k sqrt(kappa (Phi^k(pi^{k,T}) - Phi^k(pi^{k,0}))
                            / (alpha T (1-gamma)^2))               (value)
        <= sqrt(kappa (2 Phi_max + Delta_Phi) / (alpha (1-gamma)^2 K T)) (printed)

with ``Delta_Phi = sum_k max_pi (Phi^k(pi) - Phi^{k+1}(pi))`` (eq. 8) and
``Phi_max`` the range of the potential (here ``(phi_max - phi_min) /
(1 - gamma)``). Theorem 3 prints only the order
``T = O(N A_max kappa^4 (Phi_max + Delta_Phi) / (K (1-gamma)^6 eps^2))``; the
calculator evaluates the last line of its proof.

Constants: ``kappa`` exactly (:func:`distribution_mismatch`: the largest
visitation of each state is the optimal value of a joint-action MDP, attained
by a deterministic, hence product, policy). The iterates do not change when a
constant is added to the rewards, and scaling the rewards by ``w`` is scaling
``alpha`` by ``w``; the bound's formula is invariant, and the step-size
condition reads ``alpha w <= (1-gamma)^4 / (8 kappa^3 N A_max)`` with ``w``
the largest reward range of a player.

References:
    Mao, Qiu, Wang et al. Multi-Agent Meta-Reinforcement Learning: Sharper
    Convergence Rates with Task Similarity. NeurIPS 2023, eq. (7) and (8),
    Proposition 1, Theorem 3 and its proof (Appendix D.1).

    Ding, Wei, Yang, Wang, Jovanović. Independent Policy Gradient for
    Large-Scale Markov Potential Games. ICML 2022, Theorem 1.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.evaluation import ne_gap, potential
from marlmeta.games import DiscountedMarkovGame
from marlmeta.solvers import ProjectedQDescent
from marlmeta.theory._mao import Bound
from marlmeta.theory._mao_cce import largest_reward_range
from marlmeta.theory._zhang import potential_range, potential_rounding, read_iterates


class PotentialTrajectory(eqx.Module):
    """What Proposition 1 reads along a run, at ``pi^0 .. pi^T``.

    Attributes:
        ne_gap: ``(T+1,)`` ``NE-gap(pi^t) = max_i`` gain.
        potential: ``(T+1,)`` ``Phi(pi^t)``.
    """

    ne_gap: Float[Array, " T1"]
    potential: Float[Array, " T1"]


def distribution_mismatch(game: DiscountedMarkovGame) -> Float[Array, ""]:
    """``kappa = sup_theta max_s d_theta(s) / rho(s)`` (Mao et al., Appendix C),
    exactly; ``inf`` where a state outside the support of ``rho`` is reachable.

    ``d_theta(s)`` is ``(1 - gamma)`` times the value of the reward
    ``1[s' = s]`` from ``rho``; its maximum over policies is the optimal value
    of a joint-action MDP.
    """
    game.require_discounted("distribution_mismatch")
    S = game.num_states
    shape = (S, *game.num_actions)

    def most(s):
        reward = jnp.broadcast_to(
            (jnp.arange(S) == s)
            .astype(game.rewards.dtype)
            .reshape((S,) + (1,) * len(game.num_actions)),
            shape,
        )
        return (1 - game.discount) * (game.initial @ game.optimal_values(reward))

    d_max = jax.vmap(most)(jnp.arange(S))
    rho = game.initial
    ratio = jnp.where(
        rho > 0, d_max / jnp.where(rho > 0, rho, 1.0), jnp.where(d_max > 0, jnp.inf, 0)
    )
    return jnp.max(ratio)


def projected_q_step_size(game: DiscountedMarkovGame) -> Float[Array, ""]:
    """Proposition 1's step size ``alpha = (1-gamma)^4 / (8 kappa^3 N A_max)``
    (divided here by the largest reward range, see the module docstring)."""
    return _step_size(game, distribution_mismatch(game))


def _step_size(game: DiscountedMarkovGame, kappa) -> Float[Array, ""]:
    """:func:`projected_q_step_size` from the game's ``kappa``, computed once by
    a caller that also reads it."""
    n, a = game.num_players, max(game.num_actions)
    return (1 - game.discount) ** 4 / (
        8 * kappa**3 * n * a * largest_reward_range(game)
    )


def _run(solver, game, num_steps: int, state):
    """The final policy and the trajectory of ``num_steps`` steps from ``state``."""

    def read(pol):
        return PotentialTrajectory(
            ne_gap=ne_gap(game, pol), potential=potential(game, pol)
        )

    return read_iterates(lambda pol: solver.step(game, pol), read, state, num_steps)


def _check_steps(num_steps) -> int:
    if int(num_steps) < 1:
        raise ValueError(f"num_steps is {num_steps}; expected >= 1")
    return int(num_steps)


def projected_q_trajectory(
    solver: ProjectedQDescent, game: DiscountedMarkovGame, num_steps: int, init=None
) -> PotentialTrajectory:
    """Run projected Q-descent ``num_steps`` steps and read the NE-gap and the
    potential at every iterate ``pi^0 .. pi^T``."""
    game.require_discounted("projected_q_trajectory")
    game.require_one_game("projected_q_trajectory")
    T = _check_steps(num_steps)
    if init is None:
        init = solver.default_init(game, T)
    state = solver.init(game, tuple(jnp.asarray(x) for x in init))
    return _run(solver, game, T, state)[1]


def warm_start_trajectories(
    solver: ProjectedQDescent, games: DiscountedMarkovGame, num_steps: int, init=None
) -> PotentialTrajectory:
    """Theorem 3's meta-learner: run projected Q-descent on each game of the
    sequence in turn, each started from the previous game's last iterate
    ``pi^{k,0} = pi^{k-1,T}`` (the first from ``init``, default uniform).

    Returns:
        The trajectories with a leading ``K`` axis, ``(K, T+1)`` per field.
    """
    if len(games.batch_shape) != 1:
        raise ValueError(
            f"games has batch shape {games.batch_shape}; expected one sequence "
            "with a leading K axis"
        )
    T = _check_steps(num_steps)
    first = jax.tree.map(lambda x: x[0], games)
    first.require_discounted("warm_start_trajectories")
    if init is None:
        init = solver.default_init(first, T)
    state = solver.init(first, tuple(jnp.asarray(x) for x in init))
    return jax.lax.scan(lambda pol, g: _run(solver, g, T, pol), state, games)[1]


def _per_game(game, step_size, trajectory: PotentialTrajectory):
    T = trajectory.ne_gap.shape[0] - 1
    dtype = trajectory.potential.dtype
    alpha = jnp.asarray(step_size, dtype)
    kappa = distribution_mismatch(game)
    scale = kappa / (alpha * T * (1 - game.discount) ** 2)
    pot = trajectory.potential
    # rounded up: with a large kappa the rule's alpha is tiny (1e-16 at kappa
    # ~ 5000), the true gain is below the rounding of Phi, and the computed
    # difference (0) would give a bound of 0 under a positive NE-gap
    gain = jnp.maximum(pot[-1] - pot[0], 0.0) + potential_rounding(pot)
    applies = alpha <= (1 + 1e-9) * _step_size(game, kappa)
    return scale, gain, applies, kappa


def mao_proposition1(
    game: DiscountedMarkovGame, step_size, trajectory: PotentialTrajectory
) -> Bound:
    """Mao et al. Proposition 1: a bound on the average NE-gap
    ``(1/T) sum_{t<T} NE-gap(pi^t)`` of a projected Q-descent run.

    ``value``: ``sqrt(kappa (Phi(pi^T) - Phi(pi^0)) / (alpha T (1-gamma)^2))``
    (the proposition as stated, with the run's gain rounded up by
    ``64 eps max(1, max_t |Phi|)``, the rounding of the two potentials);
    ``printed``: the gain replaced by its worst case
    ``(phi_max - phi_min) / (1 - gamma)`` (rounded up the same way).
    ``applies``: ``alpha`` at most :func:`projected_q_step_size`.
    """
    scale, gain, applies, _ = _per_game(game, step_size, trajectory)
    width = potential_range(game) / (1 - game.discount) + potential_rounding(
        trajectory.potential
    )
    return Bound(
        value=jnp.sqrt(scale * gain),
        printed=jnp.sqrt(scale * width),
        applies=applies,
    )


def mao_theorem3(
    games: DiscountedMarkovGame,
    step_size,
    trajectories: PotentialTrajectory,
    similarity,
) -> Bound:
    """Mao et al. Theorem 3: a bound on the average NE-gap over ``K`` games
    learnt with the warm start, ``(1/(K T)) sum_k sum_{t<T} NE-gap(pi^{k,t})``.

    Args:
        games: the sequence, discounted potential games with a leading ``K``
            axis.
        step_size: ``alpha``.
        trajectories: :func:`projected_q_trajectory` of every game (leading
            ``K`` axis), each started from the previous game's last iterate.
        similarity: ``Delta_Phi`` of eq. (8).

    Returns:
        A :class:`Bound`: ``value`` the proof's average of Proposition 1 with
        the runs' gains, ``printed`` its last line with ``kappa`` the largest
        over the games and ``Phi_max`` the largest potential range;
        ``applies`` when Proposition 1 applies to every game.
    """
    if len(games.batch_shape) != 1:
        raise ValueError(
            f"games has batch shape {games.batch_shape}; mao_theorem3 needs one "
            "sequence of games with a leading K axis"
        )
    K = games.batch_shape[0]
    T = trajectories.ne_gap.shape[-1] - 1
    scale, gain, applies, kappas = jax.vmap(_per_game, in_axes=(0, None, 0))(
        games, step_size, trajectories
    )
    value = jnp.mean(jnp.sqrt(scale * gain))
    kappa = jnp.max(kappas)
    gamma = games.discount
    gamma = gamma if jnp.ndim(gamma) == 0 else gamma[0]
    phi_max = jnp.max(jax.vmap(potential_range)(games)) / (1 - gamma)
    alpha = jnp.asarray(step_size, trajectories.potential.dtype)
    printed = jnp.sqrt(
        kappa * (2 * phi_max + similarity) / (alpha * (1 - gamma) ** 2 * K * T)
    )
    return Bound(value=value, printed=printed, applies=jnp.all(applies))


def discounted_potential_similarity(games: DiscountedMarkovGame) -> Float[Array, ""]:
    """``Delta_Phi = sum_k max_pi (Phi^k(pi) - Phi^{k+1}(pi))`` (Mao et al.
    eq. 8) for discounted potential games that share their transitions, the
    discount and the initial distribution: the difference of potentials is
    the value of the reward ``phi^k - phi^{k+1}``, whose maximum over policies
    is an MDP's optimal value (the caller ensures the shared kernel)."""
    if len(games.batch_shape) != 1 or games.potential_reward is None:
        raise ValueError(
            "games must be one sequence (leading K axis) of discounted games "
            "with a potential_reward"
        )
    phi = games.potential_reward
    first = jax.tree.map(lambda x: x[0], games)
    diff = phi[:-1] - phi[1:]

    def one(reward):
        return first.initial @ first.optimal_values(reward)

    return jnp.sum(jax.vmap(one)(diff))
