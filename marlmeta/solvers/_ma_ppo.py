"""Multi-agent PPO with autoregressive policies, exact tabular form.

Zhao, Yang, Wang, Lee, "Local Optimization Achieves Global Optimality in
Multi-Agent Reinforcement Learning" (ICML 2023), Algorithm 1 with one-hot
features and exact critics. Agent ``m`` plays the softmax of logits
``theta^m[s, a_0, .., a_m]``, conditional on the actions of agents ``0..m-1``;
every agent updates at once from the same iterate ``theta_k``
(Proposition 4.2, the closed form of the KL-penalised local objective, eq. 3):

``theta^m_{k+1} = theta^m_k + eta Q^{1:m}_{pi_{theta_k}}``, with
``eta = 1 / beta_k = 1 / (beta sqrt(K))`` and ``theta_0 = 0`` (uniform),

``Q^{1:m}`` the localized action value of
:func:`marlmeta.evaluation.localized_q`. There is no ratio clipping: "PPO" is
the mirror-descent step with ``KL(pi_new || pi_old)``. The paper's output is a
uniformly drawn iterate; its expected optimality gap is the mean of the traced
gaps (:func:`marlmeta.evaluation.optimality_gap` as the metric of
:func:`marlmeta.solve`).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.evaluation import localized_q, shared_reward
from marlmeta.games import DiscountedMarkovGame
from marlmeta.policies import (
    AutoregressivePolicy,
    autoregressive_logits,
    autoregressive_softmax,
    autoregressive_uniform,
)
from marlmeta.solvers._base import AbstractSolver, check_hyperparameter, hyperparameter

Logits = tuple[Float[Array, "S ..."], ...]


def beta_step_size(beta, num_steps: int):
    """``1 / (beta sqrt(K))``: the paper's step for a run of ``K`` iterations."""
    check_hyperparameter("beta", beta)
    if isinstance(num_steps, bool) or int(num_steps) < 1:
        raise ValueError(f"num_steps is {num_steps!r}; expected a positive int")
    return 1.0 / (jnp.asarray(beta) * math.sqrt(int(num_steps)))


class _AutoregressiveSoftmax(AbstractSolver):
    """Shared protocol: the state is the autoregressive logits, the output
    their softmax (an :class:`~marlmeta.policies.AutoregressivePolicy`)."""

    def default_init(self, game: DiscountedMarkovGame, num_steps: int):
        del num_steps
        return autoregressive_uniform(game)

    def init(self, game: DiscountedMarkovGame, init_policy) -> Logits:
        """Logits of ``init_policy`` (an autoregressive policy or its tables);
        a game whose players' rewards differ is a ``ValueError``."""
        shared_reward(game, type(self).__name__)
        dtype = game.rewards.dtype
        return tuple(t.astype(dtype) for t in autoregressive_logits(init_policy))

    def output(self, game: DiscountedMarkovGame, state: Logits) -> AutoregressivePolicy:
        del game
        return autoregressive_softmax(state)


class MultiAgentPPO(_AutoregressiveSoftmax):
    """Exact tabular multi-agent PPO (Zhao et al. Algorithm 1, Proposition 4.2).

    ``theta^m += step_size * Q^{1:m}_{pi_theta}`` for every agent ``m`` from the
    same iterate.

    Attributes:
        step_size: ``eta = 1 / beta_k > 0`` (see :meth:`from_beta`).

    Example:
        >>> import jax, marlmeta
        >>> game = marlmeta.games.zoo.ratio_game()
        >>> sol = marlmeta.solve(marlmeta.solvers.MultiAgentPPO(1.0), game, 50,
        ...                      metric=marlmeta.evaluation.optimality_gap)
        >>> bool(sol.trace[-1] < 1e-3)
        True
    """

    step_size: Float[Array, ""] = hyperparameter("step_size")

    def __check_init__(self):
        check_hyperparameter("step_size", self.step_size)

    @classmethod
    def from_beta(cls, beta, num_steps: int) -> MultiAgentPPO:
        """The paper's parametrisation: ``step_size = 1 / (beta sqrt(K))`` for a
        run of ``K = num_steps`` iterations."""
        return cls(beta_step_size(beta, num_steps))

    def step(self, game: DiscountedMarkovGame, state: Logits) -> Logits:
        eta = self.step_size.astype(state[0].dtype)
        qs = localized_q(game, autoregressive_softmax(state))
        return tuple(t + eta * q for t, q in zip(state, qs, strict=True))
