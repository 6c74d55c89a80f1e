"""Where sample-based MA-PPO gets its samples and critic values: simulated
trajectories.

Zhao, Yang, Wang, Lee, "Local Optimization Achieves Global Optimality in
Multi-Agent Reinforcement Learning" (ICML 2023), Algorithm 1 draws
``(s, a^{1:m}) ~ sigma_k = nu_k pi_k^{1:m}`` and asks an oracle (Assumption 4.3:
"DNN, roll-outs, anything") for ``Qhat^{1:m}``. Here each sample is one
simulated episode of ``pi_k`` from the initial distribution
(:func:`marlmeta.simulation.episode`): a **sampling scheme** picks the step
``tau`` of the episode whose ``(s_tau, a_tau)`` is the sample, and a **critic**
turns the episode into ``Qhat^{1:m}(s_tau, a_tau^{1:m})``:

- :class:`OccupancySampling`: ``tau`` with probability proportional to
  ``gamma^t`` on ``t < L``, so ``s_tau`` is drawn from the discounted occupancy
  ``d_k`` of the initial distribution (what the exact solvers weight by; off by
  the mass ``gamma^L`` beyond ``L``);
- :class:`StationarySampling`: ``tau = burn_in``, a draw from the chain's
  distribution after ``burn_in`` steps, which tends to the stationary ``nu_k``
  the paper samples from (for an aperiodic chain with one recurrent class);
- :class:`MonteCarloCritic`: ``G_tau = sum_{u >= tau} gamma^{u - tau} r_u``, the
  episode's return from ``tau`` on (``L`` steps ahead): its later agents'
  actions were drawn from ``pi_k`` given the prefix, so ``E[G_tau | s, a^{1:m}] =
  Q^{1:m}(s, a^{1:m})`` up to ``gamma^L B``;
- :class:`FittedCritic`: a linear critic ``phi_m . w`` fitted to those returns by
  ridge regression over the iteration's samples (the paper's section 5 uses
  the policy's features for the critic too; with one-hot features it is the
  per-cell mean return);
- :class:`ExactCritic`: the exact ``Q^{1:m}`` at the sampled points (isolates the
  sampling error; needs the model).
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Int, PRNGKeyArray

from marlmeta._linalg import solve
from marlmeta.evaluation import localized_q
from marlmeta.solvers._base import hyperparameter


class AbstractSampling(eqx.Module):
    """Which step of a simulated episode is the sample."""

    @abc.abstractmethod
    def last_time(self, horizon: int) -> int:
        """The latest step ``tau`` can be (static), given the roll-out
        horizon ``L``."""

    @abc.abstractmethod
    def times(
        self, key: PRNGKeyArray, discount, count: int, horizon: int
    ) -> Int[Array, " n"]:
        """``count`` independent sample steps ``tau``."""


class OccupancySampling(AbstractSampling):
    """``P(tau = t) ∝ gamma^t`` on ``t < L``: ``s_tau ~ d_k``, the discounted
    occupancy of the initial distribution (truncated at ``L``)."""

    def last_time(self, horizon):
        return horizon - 1

    def times(self, key, discount, count, horizon):
        t = jnp.arange(horizon)
        logits = t * jnp.log(jnp.maximum(discount, jnp.finfo(discount.dtype).tiny))
        return jr.categorical(key, logits, shape=(count,)).astype(jnp.int32)


class StationarySampling(AbstractSampling):
    """``tau = burn_in``: the state after ``burn_in`` steps, approximately a
    draw from the stationary distribution ``nu_k`` (the paper's ``sigma_k``)."""

    burn_in: int = eqx.field(static=True, default=50)

    def __check_init__(self):
        if isinstance(self.burn_in, bool) or int(self.burn_in) < 0:
            raise ValueError(f"burn_in is {self.burn_in!r}; expected an int >= 0")

    def last_time(self, horizon):
        del horizon
        return self.burn_in

    def times(self, key, discount, count, horizon):
        del key, discount, horizon
        return jnp.full((count,), self.burn_in, jnp.int32)


class AbstractCritic(eqx.Module):
    """``Qhat^{1:m}`` at the samples, from the episodes they were taken from."""

    @abc.abstractmethod
    def lookahead(self, horizon: int) -> int:
        """How many steps the episode must run from ``tau`` on (static)."""

    @abc.abstractmethod
    def values(
        self,
        game,
        policy,
        m: int,
        states: Int[Array, " n"],
        actions: Int[Array, "n N"],
        returns: Float[Array, " n"],
        phi: Float[Array, "n d"],
    ) -> Float[Array, " n"]:
        """``Qhat^{1:m}(s, a^{1:m})`` per sample, given the returns from the
        sample on and the samples' features ``phi_m``."""


class MonteCarloCritic(AbstractCritic):
    """Each sample's own discounted return from ``tau`` on (``L`` steps)."""

    def lookahead(self, horizon):
        return horizon

    def values(self, game, policy, m, states, actions, returns, phi):
        del game, policy, m, states, actions, phi
        return returns


class FittedCritic(AbstractCritic):
    """A linear critic ``phi_m . w``, ``w = argmin sum (phi . w - G)^2 + ridge
    |w|^2`` over the iteration's samples of returns ``G``."""

    ridge: Float[Array, ""] = hyperparameter("ridge", default=1e-6)

    def lookahead(self, horizon):
        return horizon

    def values(self, game, policy, m, states, actions, returns, phi):
        del game, policy, m, states, actions
        gram = phi.T @ phi + self.ridge.astype(phi.dtype) * jnp.eye(phi.shape[1])
        w = solve(gram, phi.T @ returns)
        return phi @ w


class ExactCritic(AbstractCritic):
    """The exact ``Q^{1:m}`` at the sampled ``(s, a^{1:m})`` (uses the model)."""

    def lookahead(self, horizon):
        del horizon
        return 1

    def values(self, game, policy, m, states, actions, returns, phi):
        del returns, phi
        q = localized_q(game, policy)[m]
        return q[(states, *(actions[:, j] for j in range(m + 1)))]
