"""How an episode of a discounted game ends: geometric termination or truncation.

A discounted value ``V(s) = E[sum_t gamma^t r_t]`` can be simulated two ways.
Both write the return as ``sum_t w_t r_t`` with weights ``w_0 = 1``,
``w_{t+1} = w_t c_t`` and a continuation factor ``c_t`` of mean ``gamma``, so
``E[w_t] = gamma^t`` and the mean return is ``V`` up to the mass ``gamma^T``
beyond the last simulated step ``T``:

- :class:`Truncation`: ``c_t = gamma``, every episode runs ``T`` steps and its
  return is the discounted sum (least variance; bias at most
  ``gamma^T max|r| / (1 - gamma)``);
- :class:`GeometricTermination`: ``c_t ~ Bernoulli(gamma)``, the episode ends
  after each step with probability ``1 - gamma`` and its return is the
  undiscounted sum of the rewards up to then (what an agent sees in an
  environment that stops at random; cut at ``T`` steps as well).

In a finite-horizon game ``gamma = 1`` and both give ``c_t = 1``: every episode
runs the horizon.
"""

from __future__ import annotations

import abc

import equinox as eqx
from jaxtyping import Array, Float


class AbstractTermination(eqx.Module):
    """How a simulated episode continues from one step to the next."""

    @abc.abstractmethod
    def continuation(
        self, u: Float[Array, ""], discount: Float[Array, ""]
    ) -> Float[Array, ""]:
        """``c_t``, the factor from this step's weight to the next one's
        (mean ``discount``; ``0`` ends the episode), given a uniform ``u`` in
        ``[0, 1)``."""


class Truncation(AbstractTermination):
    """Every episode runs its ``T`` steps; rewards are discounted by ``gamma^t``."""

    def continuation(self, u, discount):
        del u
        return discount


class GeometricTermination(AbstractTermination):
    """The episode ends after each step with probability ``1 - gamma``; rewards
    are summed undiscounted up to the end."""

    def continuation(self, u, discount):
        return (u < discount).astype(discount.dtype)


#: The default termination rule (a module-level instance).
TRUNCATION = Truncation()
