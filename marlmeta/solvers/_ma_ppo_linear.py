"""Multi-agent PPO with log-linear autoregressive policies: full information
and sample-based.

Zhao, Yang, Wang, Lee, "Local Optimization Achieves Global Optimality in
Multi-Agent Reinforcement Learning" (ICML 2023), Algorithm 1 with eq. 2's
policies ``pi^m(a_m | s, a_{<m}) ∝ exp(phi_m(s, a_{<=m}) . theta^m)``,
``||theta^m|| <= R``, features ``phi_m`` of shape ``(S, A_0, .., A_m, d_m)``.
Each iteration projects the ideal mirror-descent step (Proposition 4.2) onto
the class by eq. 4,

``theta^m_{k+1} = argmin_{||theta|| <= R} E_{sigma_k}[((theta - theta^m_k) . phi_m
- eta Q^{1:m}_{pi_k})^2]``, ``eta = 1 / beta_k``,

with ``sigma_k(s, a_{<=m}) = d_k(s) pi_k^{1:m}(a_{<=m} | s)`` and ``d_k`` the
discounted occupancy of ``initial`` (the library's choice; the paper uses the
stationary distribution, which may not be unique). Every agent updates from
the same iterate.

- :class:`LogLinearMAPPO` (full information): eq. 4 solved exactly as a
  ``sigma_k``-weighted least-squares problem; the unconstrained (minimum-norm)
  solution if it lies in the ball, else the boundary solution
  ``(G + lambda I)^{-1} b`` with ``lambda`` found by bisection.
- :class:`SampledMAPPO` (Algorithm 1 + Algorithm 3): ``T`` samples of
  ``(s, a_{<=m})`` from simulated episodes of ``pi_k`` (a step of each drawn
  by a sampling scheme of :mod:`marlmeta.solvers._ma_ppo_sampling`), a critic at
  the samples (the episode's return after the sample, a linear critic fitted
  to those returns, or exact ``Q^{1:m}``), then projected averaged SGD from
  ``theta(0) = 0``:
  ``theta(t+1) = Proj_R(theta(t) - 2 eta_sgd phi [(theta(t) - theta_k) . phi -
  eta Qhat])``, output the mean of ``theta(1..T)``, with
  ``eta_sgd = R / (G sqrt(T))`` and ``G = 2 (2R + B eta)``, ``B = max|r| /
  (1 - gamma)``. Keys are explicit: the solver holds one, the state carries it.

With one-hot features and a large ``R`` both reduce to
:class:`~marlmeta.solvers.MultiAgentPPO` (exactly for the full-information
form, as ``T`` grows for the sample-based one).
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from marlmeta.evaluation import localized_q, occupancy, shared_reward
from marlmeta.games import DiscountedMarkovGame
from marlmeta.policies import AutoregressivePolicy, autoregressive_softmax
from marlmeta.simulation import Truncation, episode
from marlmeta.solvers._base import AbstractSolver, check_hyperparameter, hyperparameter
from marlmeta.solvers._ma_ppo_sampling import (
    AbstractCritic,
    AbstractSampling,
    MonteCarloCritic,
    OccupancySampling,
)

Params = tuple[Float[Array, " d"], ...]

#: Bisection steps for the Lagrange multiplier of the ball constraint.
BISECTION_STEPS = 200


def one_hot_features(game: DiscountedMarkovGame, dtype=None) -> tuple[Array, ...]:
    """Tabular features: ``phi_m(s, a_{<=m}) = e_{(s, a_{<=m})}``, shape
    ``(S, A_0, .., A_m, S A_0 .. A_m)`` (softmax policies, eq. 2)."""
    dtype = dtype or game.rewards.dtype
    out = []
    for m in range(game.num_players):
        shape = (game.num_states, *game.num_actions[: m + 1])
        size = 1
        for x in shape:
            size *= x
        out.append(jnp.eye(size, dtype=dtype).reshape(*shape, size))
    return tuple(out)


def feature_policy(features, theta: Params) -> AutoregressivePolicy:
    """``pi^m ∝ exp(phi_m . theta^m)`` over the last action axis."""
    return AutoregressivePolicy(
        tuple(
            jax.nn.softmax(f @ t, axis=-1) for f, t in zip(features, theta, strict=True)
        )
    )


def legal_feature_policy(game, features, theta: Params) -> AutoregressivePolicy:
    """:func:`feature_policy` over the game's legal actions only:
    ``pi^m(a_m | s, a_{<m}) ∝ m_m(s, a_m) exp(phi_m . theta^m)``."""
    logits = tuple(f @ t for f, t in zip(features, theta, strict=True))
    return autoregressive_softmax(game.legal.restrict_autoregressive(logits))


def prefix_weights(d: Float[Array, " S"], policy: AutoregressivePolicy, m: int):
    """``sigma(s, a_{<=m}) = d(s) pi^{1:m}(a_{<=m} | s)``, shape ``(S, A_0..A_m)``."""
    out = d
    for p in policy.tables[: m + 1]:
        out = out[..., None] * p
    return out


def project_ball(theta, radius):
    """Euclidean projection onto ``{||theta|| <= radius}``."""
    norm = jnp.linalg.norm(theta)
    return theta * jnp.minimum(
        1.0, radius / jnp.maximum(norm, jnp.finfo(theta.dtype).tiny)
    )


def ball_least_squares(phi: Float[Array, "n d"], y, weights, radius):
    """``argmin_{||theta|| <= radius} sum_i w_i (phi_i . theta - y_i)^2``.

    The minimum-norm unconstrained solution when it lies in the ball; else
    ``(G + lambda I)^{-1} b`` on the boundary, ``G = Phi^T W Phi``,
    ``b = Phi^T W y``, ``lambda`` by bisection (``||theta(lambda)||`` falls in
    ``lambda``; ``lambda = ||b|| / radius`` is always inside).
    """
    g = phi.T @ (weights[:, None] * phi)
    b = phi.T @ (weights * y)
    e, v = jnp.linalg.eigh(g)
    c = v.T @ b
    tol = e[-1] * phi.shape[1] * jnp.finfo(phi.dtype).eps * 16
    keep = e > tol
    free = v @ jnp.where(keep, c / jnp.where(keep, e, 1.0), 0.0)

    def norm2(lam):
        return jnp.sum((c / (jnp.maximum(e, 0.0) + lam)) ** 2)

    def bisect(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        inside = norm2(mid) <= radius**2
        return jnp.where(inside, lo, mid), jnp.where(inside, mid, hi)

    hi = jnp.linalg.norm(b) / radius + tol
    _, lam = jax.lax.fori_loop(0, BISECTION_STEPS, bisect, (jnp.zeros_like(hi), hi))
    bound = v @ (c / (jnp.maximum(e, 0.0) + lam))
    return jnp.where(jnp.linalg.norm(free) <= radius, free, bound)


def features_field():
    """The ``features`` field of the MA-PPO variants: ``phi_m`` per agent, as
    a tuple of arrays."""
    return eqx.field(converter=lambda x: tuple(jnp.asarray(f) for f in x))


class _LogLinear(AbstractSolver):
    """Shared protocol: the state holds ``theta^m`` (``(d_m,)`` each); the output
    is the log-linear autoregressive policy."""

    step_size: eqx.AbstractVar[Float[Array, ""]]
    features: eqx.AbstractVar[tuple[Array, ...]]

    def __check_init__(self):
        check_hyperparameter("step_size", self.step_size)
        for m, f in enumerate(self.features):
            if f.ndim != m + 3:
                raise ValueError(
                    f"features[{m}] has shape {tuple(f.shape)}; expected "
                    f"(S, A_0, .., A_{m}, d) with {m + 3} axes"
                )

    def default_init(self, game: DiscountedMarkovGame, num_steps: int) -> Params:
        del num_steps
        return tuple(jnp.zeros(f.shape[-1], game.rewards.dtype) for f in self.features)

    def _check_game(self, game):
        shared_reward(game, type(self).__name__)
        lead = (game.num_states,)
        for m, f in enumerate(self.features):
            want = (*lead, *game.num_actions[: m + 1])
            if tuple(f.shape[:-1]) != want or len(self.features) != game.num_players:
                raise ValueError(
                    f"features[{m}] has shape {tuple(f.shape)}; the game needs "
                    f"{len(game.num_actions)} tables of shape {want} + (d,)"
                )

    def _parameters(self, state):
        return state

    def output(self, game, state) -> AutoregressivePolicy:
        return legal_feature_policy(game, self.features, self._parameters(state))

    def _targets(self, game, theta):
        """Per agent ``(phi flat (n, d), logits flat, eta Q flat, sigma flat)``."""
        eta = self.step_size.astype(theta[0].dtype)
        pol = legal_feature_policy(game, self.features, theta)
        qs = localized_q(game, pol)
        d = occupancy(game, pol)
        out = []
        for m, (f, t, q) in enumerate(zip(self.features, theta, qs, strict=True)):
            phi = f.reshape(-1, f.shape[-1])
            out.append(
                (
                    phi,
                    phi @ t,
                    eta * q.reshape(-1),
                    prefix_weights(d, pol, m).reshape(-1),
                )
            )
        return out


class LogLinearMAPPO(_LogLinear):
    """Full-information log-linear MA-PPO: eq. 4 solved exactly.

    Attributes:
        step_size: ``eta = 1 / beta_k``.
        features: ``phi_m`` per agent, ``(S, A_0, .., A_m, d_m)``, ``||phi|| <= 1``.
        radius: ``R``, the radius of the parameter ball.
    """

    step_size: Float[Array, ""] = hyperparameter("step_size")
    features: tuple[Array, ...] = features_field()
    radius: Float[Array, ""] = hyperparameter("radius", default=1e6)

    def __check_init__(self):
        check_hyperparameter("radius", self.radius)

    def init(self, game, init_policy) -> Params:
        self._check_game(game)
        return tuple(jnp.asarray(t, game.rewards.dtype) for t in init_policy)

    def step(self, game, state: Params) -> Params:
        radius = self.radius.astype(state[0].dtype)
        return tuple(
            ball_least_squares(phi, logit + target, w, radius)
            for phi, logit, target, w in self._targets(game, state)
        )


class SampledMAPPO(_LogLinear):
    """Sample-based MA-PPO: Algorithm 1 with Algorithm 3's projected averaged SGD,
    on simulated trajectories.

    Each iteration simulates ``T = num_samples`` episodes of ``pi_k`` from the
    initial distribution (:func:`marlmeta.simulation.episode`); ``sampling``
    picks one step ``tau`` of each, whose ``(s_tau, a_tau)`` is a sample of
    ``sigma_k`` for every agent (agent ``m`` reads the prefix ``a^{1:m}``), and
    ``critic`` gives ``Qhat^{1:m}`` there (by default from the episode's own
    return after ``tau``). No exact occupancy is computed. Then agent ``m``
    runs Algorithm 3 on its ``T`` samples. The samples used are
    ``T (tau_max + lookahead)`` environment steps per iteration
    (:meth:`samples_per_step`).

    Attributes:
        step_size: ``eta = 1 / beta_k``.
        features: as in :class:`LogLinearMAPPO`.
        key: PRNG key of the run (the state carries its successors).
        radius: ``R``.
        num_samples: ``T``, samples (episodes, SGD steps) per agent and
            iteration.
        rollout_steps: ``L``: the occupancy's truncation and the critic's
            roll-out horizon (bias at most ``gamma^L B``).
        sampling: :class:`~marlmeta.solvers.OccupancySampling` (default: the
            discounted occupancy the exact solvers use) or
            :class:`~marlmeta.solvers.StationarySampling` (the paper's
            ``nu_k``).
        critic: :class:`~marlmeta.solvers.MonteCarloCritic` (default),
            :class:`~marlmeta.solvers.FittedCritic` or
            :class:`~marlmeta.solvers.ExactCritic`.
    """

    step_size: Float[Array, ""] = hyperparameter("step_size")
    features: tuple[Array, ...] = features_field()
    key: PRNGKeyArray
    radius: Float[Array, ""] = hyperparameter("radius", default=1e3)
    num_samples: int = eqx.field(static=True, default=1000)
    rollout_steps: int = eqx.field(static=True, default=100)
    sampling: AbstractSampling = OccupancySampling()
    critic: AbstractCritic = MonteCarloCritic()

    def __check_init__(self):
        check_hyperparameter("radius", self.radius)
        check_hyperparameter("num_samples", self.num_samples)
        check_hyperparameter("rollout_steps", self.rollout_steps)

    @property
    def episode_steps(self) -> int:
        """Steps simulated per episode: ``tau_max + 1 + lookahead - 1``."""
        return self.sampling.last_time(self.rollout_steps) + self.critic.lookahead(
            self.rollout_steps
        )

    def samples_per_step(self) -> int:
        """Environment steps simulated per iteration."""
        return self.num_samples * self.episode_steps

    def init(self, game, init_policy):
        self._check_game(game)
        return tuple(jnp.asarray(t, game.rewards.dtype) for t in init_policy), self.key

    def _parameters(self, state):
        return state[0]

    def step(self, game, state):
        theta, key = state
        key, k_sim, k_tau = jr.split(key, 3)
        dtype = theta[0].dtype
        radius = self.radius.astype(dtype)
        eta = self.step_size.astype(dtype)
        r = shared_reward(game, "SampledMAPPO")
        bound = jnp.max(jnp.abs(r)) / (1 - game.discount)
        lr = radius / (2 * (2 * radius + bound * eta) * jnp.sqrt(self.num_samples))
        pol = legal_feature_policy(game, self.features, theta)
        steps = self.episode_steps
        eps = jax.vmap(lambda k: episode(game, pol, k, steps, Truncation()))(
            jr.split(k_sim, self.num_samples)
        )
        tau = self.sampling.times(
            k_tau, game.discount, self.num_samples, self.rollout_steps
        )
        rows = jnp.arange(self.num_samples)
        states, actions = eps.states[rows, tau], eps.actions[rows, tau]
        returns = eps.returns_to_go()[rows, tau, 0]
        out = []
        for m, (f, t) in enumerate(zip(self.features, theta, strict=True)):
            phi = f[(states, *(actions[:, j] for j in range(m + 1)))]
            q = self.critic.values(game, pol, m, states, actions, returns, phi)
            out.append(averaged_sgd(phi, eta * q, t, radius, lr))
        return tuple(out), key


def averaged_sgd(phi, qhat, theta_k, radius, lr):
    """Algorithm 3: projected SGD on ``((theta - theta_k) . phi - qhat)^2`` from
    ``theta(0) = 0``, one pass over the samples; the mean of ``theta(1..T)``."""

    def body(theta, sample):
        f, q = sample
        grad = 2 * f * ((theta - theta_k) @ f - q)
        theta = project_ball(theta - lr * grad, radius)
        return theta, theta

    _, path = jax.lax.scan(body, jnp.zeros_like(theta_k), (phi, qhat))
    return jnp.mean(path, axis=0)


def _sample_suffix(key, tables, states, prefix):
    """Complete joint actions: agents after the prefix sample from ``pi`` given
    the actions so far."""
    acts = list(prefix)
    for m in range(len(prefix), len(tables)):
        key, sub = jr.split(key)
        probs = tables[m][(states, *acts)]
        acts.append(jr.categorical(sub, jnp.log(probs), axis=-1))
    return acts


def rollout_q(game, policy, m, idx, key, steps: int):
    """Monte-Carlo ``Q^{1:m}`` at flat indices ``idx`` of ``(S, A_0..A_m)``: one
    discounted roll-out of ``steps`` steps per sample."""
    r = game.reward_model.shared(1 + game.num_players)
    probs = jax.vmap(functools.partial(game.transitions.successor_probs, 0))
    shape = (game.num_states, *game.num_actions[: m + 1])
    first = jnp.unravel_index(idx, shape)
    states, prefix = first[0], list(first[1:])

    def body(carry, k):
        s, acts, total, disc = carry
        k1, k2 = jr.split(k)
        full = tuple(acts)
        total = total + disc * r[(s, *full)]
        nxt = jr.categorical(k1, jnp.log(probs(s, jnp.stack(full, -1))), axis=-1)
        acts = _sample_suffix(k2, policy.tables, nxt, [])
        return (nxt, acts, total, disc * game.discount), None

    k0, key = jr.split(key)
    acts = _sample_suffix(k0, policy.tables, states, prefix)
    zero = jnp.zeros(idx.shape, r.dtype)
    carry = (states, acts, zero, jnp.ones((), r.dtype))
    (_, _, total, _), _ = jax.lax.scan(body, carry, jr.split(key, steps))
    return total
