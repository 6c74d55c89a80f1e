"""Policy constructors and algebra: uniform, softmax, mixtures, product <-> joint.

A *product policy* is a tuple of ``N`` arrays (or a
:class:`~marlmeta.policies.ProductPolicy`), player ``i``'s of shape
``(H, S, A_i)`` (finite horizon) or ``(S, A_i)`` (discounted). A *Markov
correlated policy* is one array ``(H, S, A_0, .., A_{N-1})`` (or ``(S, ..)``,
or a :class:`~marlmeta.policies.CorrelatedPolicy`), a joint action distribution
per state.

The contraction helpers (:func:`expect`, :func:`expect_others`) work on one step:
``q`` of shape ``(S, A_0, .., A_{N-1})`` and a policy slice with a leading state
axis. They contract one player axis at a time and never form the joint policy
of a product policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from marlmeta.policies._kinds import PROB_TOL, as_policy

if TYPE_CHECKING:
    from marlmeta.games import AbstractMarkovGame

#: What a policy argument may be: a tuple of per-player tables (a product
#: policy) or one joint table (a Markov correlated policy).
Policy = tuple[Array, ...] | Array


def uniform(game: AbstractMarkovGame, dtype=None) -> tuple[Array, ...]:
    """The uniform product policy of ``game``."""
    dtype = dtype or game.rewards.dtype
    lead = game.lead_shape
    return tuple(jnp.full((*lead, a), 1.0 / a, dtype=dtype) for a in game.num_actions)


def random_policy(
    game: AbstractMarkovGame, *, key: PRNGKeyArray, scale: float = 1.0, dtype=None
) -> tuple[Array, ...]:
    """A random product policy: softmax of Gaussian logits with std ``scale``."""
    dtype = dtype or game.rewards.dtype
    lead = game.lead_shape
    keys = jr.split(key, game.num_players)
    return tuple(
        jax.nn.softmax(scale * jr.normal(k, (*lead, a), dtype=dtype), axis=-1)
        for k, a in zip(keys, game.num_actions, strict=True)
    )


def softmax(theta: tuple[Array, ...]) -> tuple[Array, ...]:
    """The product policy of per-player logits (softmax over the last axis)."""
    return tuple(jax.nn.softmax(t, axis=-1) for t in theta)


def logits(policy: tuple[Array, ...]) -> tuple[Array, ...]:
    """Mean-centred logits of a product policy (inverse of :func:`softmax`).

    A zero probability becomes a logit of ``-inf``.
    """

    def one(p):
        t = jnp.log(p)
        finite = jnp.isfinite(t)
        count = jnp.maximum(jnp.sum(finite, axis=-1, keepdims=True), 1)
        mean = jnp.sum(jnp.where(finite, t, 0), axis=-1, keepdims=True) / count
        return t - mean

    return tuple(one(p) for p in policy)


def alpha_greedy(policy, alpha):
    """``[x]_alpha = (1 - alpha) x + alpha / d`` on every distribution's last axis.

    Works on any pytree of arrays whose last axis is a distribution.
    """
    return jax.tree.map(lambda x: (1 - alpha) * x + alpha / x.shape[-1], policy)


def argmax_uniform(x: Float[Array, "... A"]) -> Float[Array, "... A"]:
    """Uniform distribution over the maximisers of ``x`` along the last axis.

    Entries within ``1e-12 * (1 + |max|)`` of the maximum tie
    (the best response in hindsight of the stage-based solvers).
    """
    m = jnp.max(x, axis=-1, keepdims=True)
    ties = (x >= m - 1e-12 * (1 + jnp.abs(m))).astype(x.dtype)
    return ties / jnp.sum(ties, axis=-1, keepdims=True)


def product_to_joint(policy: tuple[Array, ...]) -> Array:
    """The joint (Markov correlated) policy of a product policy.

    ``sigma[.., s, a_0, .., a_{N-1}] = prod_i pi_i[.., s, a_i]``.
    """
    return as_policy(tuple(policy)).joint()


def marginals(joint: Array, num_players: int) -> tuple[Array, ...]:
    """Per-player marginals of a joint policy over its last ``num_players`` axes."""
    lead = joint.ndim - num_players
    axes = range(lead, joint.ndim)
    return tuple(
        jnp.sum(joint, axis=tuple(a for a in axes if a != lead + i))
        for i in range(num_players)
    )


def expect(q: Float[Array, " S *A"], policy) -> Float[Array, " S"]:
    """``E_{a ~ pi(.|s)} q(s, a)`` for a product (tuple) or joint policy slice."""
    return as_policy(policy).expect(q)


def expect_others(q: Float[Array, " S *A"], policy, i: int) -> Float[Array, "S Ai"]:
    """``E_{a_{-i}} q(s, a_i, a_{-i})``: every player but ``i`` contracted.

    For a joint policy the opponents' actions come from the marginal of
    ``sigma(.|s)`` over ``a_{-i}`` (the coarse-correlated deviation).
    """
    return as_policy(policy).expect_others(q, i)


def validate(
    game: AbstractMarkovGame, policy, *, tol: float = PROB_TOL, name: str = "policy"
):
    """``policy`` as a policy kind of ``game``, or a ``ValueError``.

    Checks the number of players and every table's shape (static: also under
    ``jit``) and, for concrete arrays, that entries are finite and non-negative
    and rows sum to 1 within ``tol``; the message names ``name``, the player,
    the index and the value. Accepts tuples, lists, NumPy and JAX arrays.
    """
    out = as_policy(policy)
    out.check(game.lead_shape, game.num_actions, name, tol=tol)
    return out
