"""Exact policy gradients, Hessian-vector products and the softmax diagnostics.

For a product policy ``pi`` of a discounted game (Mao, Qiu, Wang et al.,
"Multi-Agent Meta-Reinforcement Learning: Sharper Convergence Rates with Task
Similarity", NeurIPS 2023, appendices C and D; Zhang, Mei, Dai, Schuurmans, Li,
"On the Global Convergence Rates of Decentralized Softmax Gradient Play in
Markov Potential Games", NeurIPS 2022, section 1):

- averaged Q-function ``Qbar_i(s, a_i) = E_{a_{-i} ~ pi_{-i}(.|s)} Q_i(s, a)`` and
  averaged advantage ``Abar_i = Qbar_i - V_i`` (finite horizon: per step ``h``);
- discounted visitation ``d(s) = (1 - gamma) rho^T (I - gamma P_pi)^{-1}``;
- softmax policy gradient (Mao et al. eq. 45, Zhang et al. eq. 4)
  ``dV_i / dtheta_i(s, a_i) = d(s) pi_i(a_i|s) Abar_i(s, a_i) / (1 - gamma)``;
- ``Phi(theta)`` and ``V_i(theta)`` of softmax logits by one linear solve, so
  ``jax.grad`` is the exact gradient and forward-over-reverse the exact
  Hessian-vector product (Mao et al. Lemma 15);
- the non-uniform Lojasiewicz constant of Zhang et al. Lemma 1,
  ``c(theta) = min_i min_s sum_{a* in argmax Qbar_i(s, .)} pi_i(a*|s)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.evaluation._metrics import (
    _potential,
    _values_and_best,
    potential,
    values,
)
from marlmeta.policies import as_policy, as_product, softmax, validate

if TYPE_CHECKING:
    from marlmeta.games import AbstractMarkovGame, DiscountedMarkovGame, PolicyParts

Logits = tuple[Float[Array, "S Ai"], ...]


def averaged_q(game: AbstractMarkovGame, policy) -> tuple[Array, ...]:
    """``Qbar_i`` of a policy, per player: ``(H, S, A_i)`` or ``(S, A_i)``.

    ``Qbar_i(s, a_i) = E_{a_{-i} ~ pi_{-i}(.|s)} Q_i(s, a_i, a_{-i})``; for a
    Markov correlated policy ``a_{-i}`` follows the marginal of ``sigma(.|s)``.
    """
    return game.averaged_q(validate(game, policy, caller="averaged_q"))


def _parts(game: DiscountedMarkovGame, policy) -> PolicyParts:
    """Values, ``Qbar_i`` and the visitation from one state kernel (dense)."""
    return game.policy_parts(as_policy(policy))


def _checked(game, policy, caller: str):
    """The product policy of a discounted game, validated."""
    game.require_discounted(caller)
    return as_product(validate(game, policy, caller=caller))


def _advantages(parts: PolicyParts) -> tuple[Array, ...]:
    return tuple(q - parts.values[i][:, None] for i, q in enumerate(parts.qbar))


def _gradient(game: DiscountedMarkovGame, policy, parts: PolicyParts):
    scale = parts.visitation[:, None] / (1 - game.discount)
    return tuple(scale * p * a for p, a in zip(policy, _advantages(parts), strict=True))


def visitation(game: DiscountedMarkovGame, policy) -> Float[Array, " S"]:
    """``d(s) = (1 - gamma) E_{s_0 ~ rho} sum_t gamma^t P(s_t = s)`` (sums to 1)."""
    game.require_discounted("visitation")
    return _parts(game, validate(game, policy, caller="visitation")).visitation


def advantages(game: DiscountedMarkovGame, policy) -> tuple[Array, ...]:
    """Averaged advantages ``Abar_i(s, a_i) = Qbar_i(s, a_i) - V_i(s)``."""
    return _advantages(_parts(game, _checked(game, policy, "advantages")))


def policy_gradient(game: DiscountedMarkovGame, policy) -> tuple[Array, ...]:
    """Each player's softmax gradient of its own value, in closed form (eq. 45).

    ``grad_i(s, a_i) = d(s) pi_i(a_i|s) Abar_i(s, a_i) / (1 - gamma)``; in a
    Markov potential game this is ``grad_{theta_i} Phi``.
    """
    policy = _checked(game, policy, "policy_gradient")
    return _gradient(game, policy, _parts(game, policy))


def softmax_potential(game: DiscountedMarkovGame, theta: Logits) -> Float[Array, ""]:
    """``Phi(theta)``: the potential of the softmax policy of ``theta``."""
    return potential(game, softmax(theta))


def softmax_values(game: DiscountedMarkovGame, theta: Logits) -> Float[Array, " N"]:
    """``V_i^rho(theta)`` for every player."""
    return values(game, softmax(theta))


def potential_gradient(game: DiscountedMarkovGame, theta: Logits) -> Logits:
    """``grad Phi(theta)`` by reverse-mode differentiation of the linear solve."""
    return jax.grad(softmax_potential, argnums=1)(game, theta)


def potential_hvp(game: DiscountedMarkovGame, theta: Logits, v: Logits) -> Logits:
    """``Hess Phi(theta) v``, exactly, by forward-over-reverse differentiation."""
    grad = lambda t: potential_gradient(game, t)  # noqa: E731
    return jax.jvp(grad, (theta,), (v,))[1]


def lojasiewicz(
    game: DiscountedMarkovGame, policy, *, first_argmax: bool = False
) -> Float[Array, ""]:
    """``c(theta)`` of Zhang et al.: the least probability on a best reply to ``Qbar``.

    Args:
        game: a discounted game.
        policy: a product policy.
        first_argmax: count only the lowest-index maximiser (the authors' code)
            instead of every action within ``1e-12 (1 + |max|)`` of the maximum.
    """
    policy = _checked(game, policy, "lojasiewicz")
    return _lojasiewicz(policy, _parts(game, policy).qbar, first_argmax)


def _lojasiewicz(policy, qbar, first_argmax: bool) -> Float[Array, ""]:
    worst = []
    for p, q in zip(policy, qbar, strict=True):
        if first_argmax:
            mass = jnp.take_along_axis(p, jnp.argmax(q, -1)[:, None], -1)[:, 0]
        else:
            top = jnp.max(q, axis=-1, keepdims=True)
            mass = jnp.sum(jnp.where(q >= top - 1e-12 * (1 + jnp.abs(top)), p, 0), -1)
        worst.append(jnp.min(mass))
    return jnp.min(jnp.stack(worst))


class SoftmaxReport(eqx.Module):
    """What Zhang et al.'s figures trace, for one product policy.

    Attributes:
        values: ``(N,)`` each player's value.
        gains: ``(N,)`` each player's best-response gain.
        potential: ``Phi(pi)``.
        grad_norm: ``||grad Phi||_2`` over all players' logits (closed form).
        lojasiewicz: ``c(theta)``, first-argmax rule of the authors' code.
    """

    values: Float[Array, " N"]
    gains: Float[Array, " N"]
    potential: Float[Array, ""]
    grad_norm: Float[Array, ""]
    lojasiewicz: Float[Array, ""]

    @property
    def ne_gap(self):
        return jnp.max(self.gains, axis=-1)


def softmax_report(game: DiscountedMarkovGame, policy) -> SoftmaxReport:
    """A :class:`SoftmaxReport` (a checkpoint metric for :func:`marlmeta.solve`).

    Like :func:`~marlmeta.evaluation.report`, it never raises on a non-finite
    result (``Solution.finite`` flags it).
    """
    caller = "softmax_report"
    policy = _checked(game, policy, caller)
    v, b, _ = _values_and_best(game, policy, best=True, caller=caller)
    parts = _parts(game, policy)
    grad = _gradient(game, policy, parts)
    return SoftmaxReport(
        values=v,
        gains=b - v,
        potential=_potential(game, policy, caller),
        grad_norm=jnp.sqrt(sum(jnp.sum(g**2) for g in grad)),
        lojasiewicz=_lojasiewicz(policy, parts.qbar, first_argmax=True),
    )
