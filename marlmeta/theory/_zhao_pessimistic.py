"""Bound of Zhao et al.'s Theorem 5.5 (pessimistic MA-PPO, linear features).

Zhao, Yang, Wang, Lee, "Local Optimization Achieves Global Optimality in
Multi-Agent Reinforcement Learning" (ICML 2023), Theorem 5.5, bound the
optimality gap of a uniformly drawn iterate of their Algorithm 2
(:class:`marlmeta.solvers.PessimisticMAPPO`: every agent ``m`` updates
``theta^m += eta w^m_k``, ``f^m_k = phi_m . w^m_k`` the pessimistic linear
critic) on a cooperative game, with probability ``1 - delta``, by
``O(N sqrt(log|A|) / ((1-gamma)^2 sqrt(K)) + C term (d log(nLR/delta) / n)^(1/3))``.

**The printed statement, reconstructed (library choices).** The available
text of the statement is partly illegible; its proof (their Appendix C) gives
every piece but the statistical constant:

- Term I (Lemma C.6, general ``eta``):
  ``N (log|A| / (eta K) + 2 eta / (1-gamma)^2) / (1-gamma)``, which at the
  proof's ``eta = (1-gamma) sqrt(log|A| / (2K))`` is the statement's
  ``2 N sqrt(2 log|A|) / ((1-gamma)^2 sqrt(K))``;
- Term II (Lemmas C.2 and C.7, ``E(f_k, pi_k) <= eps_r + 1/(lambda (1-gamma))``):
  ``sqrt(C) / (1-gamma) (sqrt(eps_r) + sqrt(eps_r + 1/(lambda (1-gamma))))
  + lambda eps_r``, with ``lambda = eps_r^(-2/3) / (1-gamma)``
  (:func:`zhao_theorem55_pessimism`) the statement's ``eps_r^(1/3)`` rate.

``eps_r`` is Lemma C.1's statistical error ``O(d log(nLR/delta) / ((1-gamma)^2
n))``; its constant is not given, and :func:`zhao_statistical_error` takes it
as 1 with ``d`` the largest feature dimension and ``L``, ``R`` the largest
critic and parameter norms of the run (at least 1). The concentrability ``C``
of their Definition 5.4 (a ratio of Bellman-error norms over ``d_{pi*}`` and
the data) is replaced by the density ratio that bounds it,
``max_{m, s, a_{<=m}} d_{pi*}(s, a_{<=m}) / mu(s, a_{<=m}) = S |A| max_s
d_{pi*}(s)`` for the solver's uniform ``mu``. With these ``printed`` is the
statement's right-hand side; it is not a certificate (a probability-``1 -
delta`` statement with a constant taken as 1).

**The certified bound (``value``).** The proof's Term I applies the
performance difference lemma in an auxiliary game ``M_k`` whose localized
values are the critics of *every* agent at once, which the critics of
different agents need not be. The library re-derives the bound on the true
game, with exact quantities. By the multi-agent performance difference lemma
(their Lemma 4.1, with any deterministic optimal ``pi*`` and its discounted
occupancy ``d*`` from the game's ``initial`` distribution),

    J* - J(pi_k) = (1/(1-gamma)) sum_m E_{s ~ d*, a_{<m} = a*_{<m}(s)}
                   <pi*^m - pi^m_k, f^m_k + (Q^{1:m}_{pi_k} - f^m_k)>.

The log-linear update is exponential weights on ``f^m_k`` at every
``(s, a_{<m})`` (``pi^m_{k+1} ∝ pi^m_k exp(eta f^m_k)``), so Hoeffding's
lemma bounds the first part summed over ``k < K`` by ``KL(pi*^m || pi^m_0) /
eta + (eta / 8) sum_k osc(f^m_k)^2``, and the critic error's inner product is
at most its oscillation ``osc(Q^{1:m}_{pi_k} - f^m_k)`` (``osc = max - min``
over ``a_m``). Hence, deterministically for every run,

    (1/K) sum_{k<K} (J* - J(pi_k)) <= (1/(1-gamma)) sum_m E_{d*, a*_{<m}} [
        KL(pi*^m || pi^m_0) / (eta K) + (eta / (8K)) sum_k osc(f^m_k)^2
        + (1/K) sum_k osc(Q^{1:m}_{pi_k} - f^m_k) ],

the optimisation term (the paper's Term I with the run's critic ranges in
place of ``1 / (1-gamma)``, which the solver does not impose) plus the critic
error on ``d*`` (what the paper's Term II bounds through concentrability and
pessimism). With one-hot features and exact critics the last term vanishes.

References:
    Zhao, Yang, Wang, Lee. Local Optimization Achieves Global Optimality in
    Multi-Agent Reinforcement Learning. ICML 2023, Algorithm 2, Lemmas 4.1
    and C.1-C.7, Theorem 5.5.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float

from marlmeta.evaluation import localized_q, shared_reward
from marlmeta.games import DiscountedMarkovGame
from marlmeta.policies import AutoregressivePolicy
from marlmeta.solvers import PessimisticMAPPO, feature_policy
from marlmeta.theory._mao import Bound


class PessimisticTrajectory(eqx.Module):
    """The quantities of a :class:`~marlmeta.solvers.PessimisticMAPPO` run that
    Theorem 5.5's bound reads, per iteration ``k < K``.

    Attributes:
        gap: ``J* - J(pi_k)`` (``J`` from the game's ``initial``), ``(K,)``.
        hedge: ``sum_m E_{d*, a*_{<m}} osc(f^m_k)^2``, ``(K,)``.
        critic_error: ``sum_m E_{d*, a*_{<m}} osc(Q^{1:m}_{pi_k} - f^m_k)``, ``(K,)``.
        critic_norm: ``max_m ||w^m_k||``, ``(K,)``.
        theta_norm: ``max_m ||theta^m_k||``, ``(K,)``.
        initial_kl: ``sum_m E_{d*, a*_{<m}} KL(pi*^m || pi^m_0)``.
        optimal_occupancy: ``max_s d*(s)``.
    """

    gap: Float[Array, " K"]
    hedge: Float[Array, " K"]
    critic_error: Float[Array, " K"]
    critic_norm: Float[Array, " K"]
    theta_norm: Float[Array, " K"]
    initial_kl: Float[Array, ""]
    optimal_occupancy: Float[Array, ""]


def _optimal_prefix(game: DiscountedMarkovGame, reward):
    """``V*``, the per-agent optimal actions ``a*_m(s)`` and ``d*``."""
    opt = game.optimal_policy(reward)
    acts = jnp.unravel_index(opt.actions, game.num_actions)
    tables = []
    for m, a in enumerate(game.num_actions):
        hot = jax.nn.one_hot(acts[m], a, dtype=reward.dtype)  # (S, A_m)
        shape = (game.num_states,) + (1,) * m + (a,)
        full = (game.num_states, *game.num_actions[: m + 1])
        tables.append(jnp.broadcast_to(hot.reshape(shape), full))
    d_star = game.visitation(AutoregressivePolicy(tuple(tables)))
    return opt.values, acts, d_star


def _osc(x):
    return jnp.max(x, -1) - jnp.min(x, -1)


def pessimistic_trajectory(
    solver: PessimisticMAPPO, game: DiscountedMarkovGame, num_steps: int, init=None
) -> PessimisticTrajectory:
    """Replay a :class:`~marlmeta.solvers.PessimisticMAPPO` run of ``K``
    iterations (the same keys, hence the same critics and iterates as
    :func:`marlmeta.solve`) and record what Theorem 5.5 reads.

    Args:
        solver: the run's solver (features, step size, key, pessimism, ``n``).
        game: one cooperative discounted game.
        num_steps: ``K >= 1`` (static).
        init: the initial parameters ``theta_0`` (default zeros: uniform).

    Returns:
        A :class:`PessimisticTrajectory`.
    """
    K = int(num_steps)
    if K < 1:
        raise ValueError(f"num_steps is {num_steps}; expected >= 1")
    r = shared_reward(game, "pessimistic_trajectory")
    init = solver.default_init(game, K) if init is None else init
    theta0, key0 = solver.init(game, init)
    v_star, acts, d_star = _optimal_prefix(game, r)
    j_star = game.initial @ v_star
    idx = jnp.arange(game.num_states)

    def at_prefix(x, m):
        """``x[s, a*_0(s), .., a*_{m-1}(s), ...]``."""
        return x[(idx, *acts[:m])]

    pol0 = feature_policy(solver.features, theta0)
    initial_kl = sum(
        d_star @ -jnp.log(at_prefix(t, m)[idx, acts[m]])
        for m, t in enumerate(pol0.tables)
    )

    def body(state, _):
        theta, key = state
        key, sub = jr.split(key)
        ws = solver.critics(game, theta, sub)
        pol = feature_policy(solver.features, theta)
        qs = localized_q(game, pol)
        value = game.evaluate(pol, r[None]).values[0]
        hedge = jnp.zeros((), r.dtype)
        error = jnp.zeros((), r.dtype)
        for m, (f, w, q) in enumerate(zip(solver.features, ws, qs, strict=True)):
            crit = at_prefix(f, m) @ w  # (S, A_m)
            hedge = hedge + d_star @ _osc(crit) ** 2
            error = error + d_star @ _osc(at_prefix(q, m) - crit)
        eta = solver.step_size.astype(r.dtype)
        out = (
            j_star - game.initial @ value,
            hedge,
            error,
            jnp.max(jnp.stack([jnp.linalg.norm(w) for w in ws])),
            jnp.max(jnp.stack([jnp.linalg.norm(t) for t in theta])),
        )
        nxt = tuple(t + eta * w for t, w in zip(theta, ws, strict=True))
        return (nxt, key), out

    _, (gap, hedge, error, wn, tn) = jax.lax.scan(body, (theta0, key0), length=K)
    return PessimisticTrajectory(
        gap=gap,
        hedge=hedge,
        critic_error=error,
        critic_norm=wn,
        theta_norm=tn,
        initial_kl=initial_kl,
        optimal_occupancy=jnp.max(d_star),
    )


def zhao_statistical_error(
    dimension: int, num_samples: int, discount: float, norm_w, norm_theta, delta
):
    """Lemma C.1's ``eps_r = d log(n L R / delta) / ((1-gamma)^2 n)`` with its
    ``O(.)`` constant taken as 1 (``L``, ``R`` clipped below at 1)."""
    if not 0 < float(delta) < 1:
        raise ValueError(f"delta is {delta}; expected in (0, 1)")
    lr = jnp.maximum(norm_w, 1.0) * jnp.maximum(norm_theta, 1.0)
    n = num_samples
    return dimension * jnp.log(n * lr / delta) / ((1 - discount) ** 2 * n)


def zhao_theorem55_pessimism(statistical_error, discount: float):
    """Theorem 5.5's ``lambda = eps_r^(-2/3) / (1-gamma)``."""
    return jnp.asarray(statistical_error) ** (-2.0 / 3.0) / (1 - discount)


def zhao_theorem55(
    game: DiscountedMarkovGame,
    solver: PessimisticMAPPO,
    num_steps,
    *,
    delta: float = 0.05,
    trajectory: PessimisticTrajectory | None = None,
) -> Bound:
    """Zhao et al. Theorem 5.5: a bound on ``(1/K) sum_{k<K} (J* - J(pi_k))``,
    the expected gap of Algorithm 2's output (a uniformly drawn iterate) on a
    run of :class:`marlmeta.solvers.PessimisticMAPPO` from ``theta_0 = 0``.

    Args:
        game: one cooperative discounted game.
        solver: the run's solver.
        num_steps: ``K >= 1``, or an increasing array of them (the bound at
            every checkpoint of one run of ``max K`` iterations; a run of
            ``k`` iterations is a prefix of it). Static.
        delta: the failure probability of ``printed``, in ``(0, 1)``.
        trajectory: :func:`pessimistic_trajectory` of the run of ``max K``
            iterations, if already computed.

    Returns:
        A :class:`Bound` (module docstring): ``value`` the certified bound,
        ``printed`` the reconstructed statement at the solver's ``eta`` and
        ``lambda``; ``applies`` is ``True`` (``value`` holds for every run;
        ``printed`` is an order with a constant taken as 1).
    """
    steps = np.asarray(num_steps, dtype=int)
    if steps.size == 0 or steps.min() < 1:
        raise ValueError(f"num_steps is {num_steps}; expected >= 1")
    if not 0 < float(delta) < 1:
        raise ValueError(f"delta is {delta}; expected in (0, 1)")
    last = int(steps.max())
    traj = (
        pessimistic_trajectory(solver, game, last) if trajectory is None else trajectory
    )
    if traj.gap.shape[0] < last:
        raise ValueError(
            f"trajectory has {traj.gap.shape[0]} iterations; num_steps needs {last}"
        )
    dtype = traj.gap.dtype
    gamma = game.discount
    eta = solver.step_size.astype(dtype)
    K = jnp.asarray(steps, dtype)
    take = jnp.asarray(steps - 1)
    hedge = jnp.cumsum(traj.hedge)[take]
    error = jnp.cumsum(traj.critic_error)[take]
    value = (traj.initial_kl / (eta * K) + eta * hedge / (8 * K) + error / K) / (
        1 - gamma
    )
    n_agents = game.num_players
    log_a = math.log(max(game.num_actions))
    term1 = n_agents * (log_a / (eta * K) + 2 * eta / (1 - gamma) ** 2) / (1 - gamma)
    dim = max(f.shape[-1] for f in solver.features)
    eps = zhao_statistical_error(
        dim,
        solver.num_samples,
        gamma,
        jnp.max(traj.critic_norm[:last]),
        jnp.max(traj.theta_norm[:last]),
        delta,
    )
    conc = game.num_states * math.prod(game.num_actions) * traj.optimal_occupancy
    lam = solver.pessimism.astype(dtype)
    term2 = (
        jnp.sqrt(conc)
        / (1 - gamma)
        * (jnp.sqrt(eps) + jnp.sqrt(eps + 1 / (lam * (1 - gamma))))
        + lam * eps
    )
    shape = steps.shape
    return Bound(
        value=value.reshape(shape),
        printed=(term1 + term2).reshape(shape),
        applies=jnp.ones(shape, bool),
    )
