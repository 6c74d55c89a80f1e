"""Pessimistic multi-agent PPO with linear critics (off-policy).

Zhao, Yang, Wang, Lee, "Local Optimization Achieves Global Optimality in
Multi-Agent Reinforcement Learning" (ICML 2023), Algorithm 2 (section 5 and
App. C). Policy and critic of agent ``m`` share the features
``phi_m(s, a_{<=m})`` in ``R^d``; ``pi^m ∝ exp(phi_m . theta^m)``.

Each iteration ``k``, for every agent ``m`` from the same iterate:

1. data ``D^m`` from a mu-reset oracle: ``n`` draws ``s ~ mu_s``,
   ``a ~ mu_a`` (uniform over states and joint actions here), the agents after
   ``m`` replaced by ``pi^{m+1:N}(.|s, a_{<=m})``, then ``r = r(s, a)`` and
   ``s' ~ P(.|s, a)``;
2. with ``phi_i = phi_m(s_i, a_i)``, ``phi'_i = E_{a' ~ pi^{1:m}(.|s'_i)}
   phi_m(s'_i, a')`` and ``Sigma = mean phi phi^T``, ``A = mean phi (phi -
   gamma phi')^T``, ``b = mean phi r`` (each plus ``ridge I``, ``b`` excepted),
   the Bellman-consistency error of ``f = phi . w`` is
   ``E(w) = (A w - b)^T Sigma^{-1} (A w - b)``, and the pessimistic critic
   ``w = argmin_w f(rho, pi^{1:m}) + lambda E(w)`` has the closed form
   ``w = A^{-1} b - (2 lambda)^{-1} (A^T Sigma^{-1} A)^{-1} phi(rho, pi^{1:m})``,
   ``phi(rho, pi^{1:m}) = E_{s ~ rho, a ~ pi^{1:m}} phi_m(s, a)`` (the paper's fixed
   ``s_0`` is ``initial``; the constraints ``||w|| <= L`` and
   ``f in [0, 1 / (1 - gamma)]`` are not imposed);
3. ``theta^m <- theta^m + eta w`` with ``eta = (1 - gamma) sqrt(log|A| / K)``
   (:meth:`PessimisticMAPPO.from_horizon`).

Larger ``lambda`` is less pessimistic; as ``lambda, n -> inf`` the critic is
the LSTD solution, ``Q^{1:m}`` itself under realizability (e.g. one-hot
features), and the update that of :class:`~marlmeta.solvers.MultiAgentPPO`.
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from marlmeta._linalg import solve
from marlmeta.evaluation import shared_reward
from marlmeta.solvers._base import check_hyperparameter, hyperparameter
from marlmeta.solvers._ma_ppo_linear import (
    _LogLinear,
    _sample_suffix,
    features_field,
    legal_feature_policy,
    prefix_weights,
)


class ResetData(eqx.Module):
    """One dataset ``D^m`` in features: ``phi_i``, ``phi'_i`` and ``r_i``."""

    phi: Float[Array, "n d"]
    phi_next: Float[Array, "n d"]
    reward: Float[Array, " n"]


class CriticData(eqx.Module):
    """The moments of one dataset ``D^m`` (ridge included)."""

    sigma: Float[Array, "d d"]
    a: Float[Array, "d d"]
    b: Float[Array, " d"]


def moments(data: ResetData, discount, ridge) -> CriticData:
    """``Sigma``, ``A`` (both plus ``ridge I``) and ``b`` of a dataset."""
    n, d = data.phi.shape
    eye = jnp.eye(d, dtype=data.phi.dtype)
    phi = data.phi
    return CriticData(
        sigma=phi.T @ phi / n + ridge * eye,
        a=phi.T @ (phi - discount * data.phi_next) / n + ridge * eye,
        b=phi.T @ data.reward / n,
    )


def reset_data(key, game, policy, features, m: int, num_samples: int) -> ResetData:
    """Step 1 for agent ``m``: ``n`` mu-reset queries, in features."""
    r = game.reward_model.shared(1 + game.num_players)
    k_s, k_a, k_suffix, k_next = jr.split(key, 4)
    s = jr.randint(k_s, (num_samples,), 0, game.num_states)
    prefix = [
        jr.randint(k, (num_samples,), 0, game.num_actions[i])
        for i, k in enumerate(jr.split(k_a, m + 1))
    ]
    acts = _sample_suffix(k_suffix, policy.tables, s, prefix)
    probs = jax.vmap(functools.partial(game.transitions.successor_probs, 0))
    nxt = jr.categorical(k_next, jnp.log(probs(s, jnp.stack(acts, -1))), axis=-1)
    f = features[m]
    return ResetData(
        phi=f[(s, *prefix)], phi_next=_phibar(policy, f, m)[nxt], reward=r[(s, *acts)]
    )


def _phibar(policy, f, m: int):
    """``phi(s, pi^{1:m}) = E_{a ~ pi^{1:m}(.|s)} phi_m(s, a)``, ``(S, d)``."""
    w = prefix_weights(jnp.ones(f.shape[0], f.dtype), policy, m)
    return jnp.sum(w[..., None] * f, axis=tuple(range(1, m + 2)))


def bellman_error(data: CriticData, w):
    """``E(w) = (A w - b)^T Sigma^{-1} (A w - b)``."""
    res = data.a @ w - data.b
    return res @ solve(data.sigma, res)


def pessimistic_critic(data: CriticData, phi0, pessimism):
    """``argmin_w phi0 . w + lambda E(w)`` in closed form."""
    lstd = solve(data.a, data.b)
    h = data.a.T @ solve(data.sigma, data.a)
    return lstd - solve(h, phi0) / (2 * pessimism)


class PessimisticMAPPO(_LogLinear):
    """Pessimistic MA-PPO with linear critics (Zhao et al. Algorithm 2).

    Attributes:
        step_size: ``eta`` (see :meth:`from_horizon`).
        features: ``phi_m`` per agent, ``(S, A_0, .., A_m, d_m)``, shared by
            policy and critic.
        key: PRNG key of the run (the state carries its successors).
        pessimism: ``lambda > 0`` (larger: less pessimistic).
        num_samples: ``n``, oracle queries per agent and iteration.
        ridge: added to ``Sigma`` and ``A`` (default ``1e-8``).
    """

    step_size: Float[Array, ""] = hyperparameter("step_size")
    features: tuple[Array, ...] = features_field()
    key: PRNGKeyArray
    pessimism: Float[Array, ""] = hyperparameter("pessimism", default=1e3)
    num_samples: int = eqx.field(static=True, default=1000)
    ridge: Float[Array, ""] = hyperparameter("ridge", default=1e-8)

    def __check_init__(self):
        check_hyperparameter("pessimism", self.pessimism)
        check_hyperparameter("num_samples", self.num_samples)
        check_hyperparameter("ridge", self.ridge, allow_zero=True)

    @classmethod
    def from_horizon(cls, discount, num_actions: int, num_steps: int, **kwargs):
        """``eta = (1 - gamma) sqrt(log|A| / K)`` (Theorem 5.5)."""
        eta = (1 - discount) * math.sqrt(math.log(num_actions) / num_steps)
        return cls(eta, **kwargs)

    def init(self, game, init_policy):
        self._check_game(game)
        return tuple(jnp.asarray(t, game.rewards.dtype) for t in init_policy), self.key

    def _parameters(self, state):
        return state[0]

    def critics(self, game, theta, key):
        """Every agent's pessimistic ``w`` at ``theta`` from fresh data."""
        shared_reward(game, "PessimisticMAPPO")
        dtype = theta[0].dtype
        pol = legal_feature_policy(game, self.features, theta)
        out = []
        for m, k in enumerate(jr.split(key, len(theta))):
            raw = reset_data(k, game, pol, self.features, m, self.num_samples)
            data = moments(raw, game.discount, self.ridge.astype(dtype))
            phi0 = game.initial @ _phibar(pol, self.features[m], m)
            out.append(pessimistic_critic(data, phi0, self.pessimism.astype(dtype)))
        return tuple(out)

    def step(self, game, state):
        theta, key = state
        key, sub = jr.split(key)
        eta = self.step_size.astype(theta[0].dtype)
        ws = self.critics(game, theta, sub)
        return tuple(t + eta * w for t, w in zip(theta, ws, strict=True)), key
