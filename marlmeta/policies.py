"""Policies: product (Markov) and joint (Markov correlated), and their algebra.

A *product policy* is a tuple of ``N`` arrays, player ``i``'s of shape
``(H, S, A_i)`` (finite horizon) or ``(S, A_i)`` (discounted). A *Markov
correlated policy* is one array ``(H, S, A_0, .., A_{N-1})`` (or ``(S, ..)``),
a joint action distribution per state. ``ALGORITHMS.md`` section 0.

The contraction helpers (:func:`expect`, :func:`expect_others`) work on one step:
``q`` of shape ``(S, A_0, .., A_{N-1})`` and a policy slice with a leading state
axis. They contract one player axis at a time and never form the joint policy
of a product policy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from marlmeta.games import AbstractMarkovGame, MarkovGame

Policy = tuple[Array, ...] | Array


def _state_shape(game: AbstractMarkovGame) -> tuple[int, ...]:
    if isinstance(game, MarkovGame):
        return (game.horizon, game.num_states)
    return (game.num_states,)


def uniform(game: AbstractMarkovGame, dtype=None) -> tuple[Array, ...]:
    """The uniform product policy of ``game``."""
    dtype = dtype or game.rewards.dtype
    lead = _state_shape(game)
    return tuple(jnp.full((*lead, a), 1.0 / a, dtype=dtype) for a in game.num_actions)


def random_policy(
    game: AbstractMarkovGame, *, key: PRNGKeyArray, scale: float = 1.0, dtype=None
) -> tuple[Array, ...]:
    """A random product policy: softmax of Gaussian logits with std ``scale``."""
    dtype = dtype or game.rewards.dtype
    lead = _state_shape(game)
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
    (``ALGORITHMS.md`` section 0: the best response in hindsight).
    """
    m = jnp.max(x, axis=-1, keepdims=True)
    ties = (x >= m - 1e-12 * (1 + jnp.abs(m))).astype(x.dtype)
    return ties / jnp.sum(ties, axis=-1, keepdims=True)


def product_to_joint(policy: tuple[Array, ...]) -> Array:
    """The joint (Markov correlated) policy of a product policy.

    ``sigma[.., s, a_0, .., a_{N-1}] = prod_i pi_i[.., s, a_i]``.
    """
    out = policy[0]
    for p in policy[1:]:
        ones = (1,) * (out.ndim - p.ndim + 1)
        out = out[..., None] * p.reshape(p.shape[:-1] + ones + p.shape[-1:])
    return out


def marginals(joint: Array, num_players: int) -> tuple[Array, ...]:
    """Per-player marginals of a joint policy over its last ``num_players`` axes."""
    lead = joint.ndim - num_players
    axes = range(lead, joint.ndim)
    return tuple(
        jnp.sum(joint, axis=tuple(a for a in axes if a != lead + i))
        for i in range(num_players)
    )


def _contract(q: Array, p: Array, axis: int) -> Array:
    """Sum ``q`` over ``axis`` (an action axis) weighted by ``p[s, a]``."""
    shape = [1] * q.ndim
    shape[0], shape[axis] = p.shape
    return jnp.sum(q * p.reshape(shape), axis=axis)


def expect(q: Float[Array, " S *A"], policy) -> Float[Array, " S"]:
    """``E_{a ~ pi(.|s)} q(s, a)`` for a product (tuple) or joint policy slice."""
    if isinstance(policy, tuple):
        # Contracting in reverse order never moves the axes still to come.
        for j in reversed(range(len(policy))):
            q = _contract(q, policy[j], 1 + j)
        return q
    return jnp.sum(q * policy, axis=tuple(range(1, q.ndim)))


def expect_others(q: Float[Array, " S *A"], policy, i: int) -> Float[Array, "S Ai"]:
    """``E_{a_{-i}} q(s, a_i, a_{-i})``: every player but ``i`` contracted.

    For a joint policy the opponents' actions come from the marginal of
    ``sigma(.|s)`` over ``a_{-i}`` (the CCE deviation of ``ALGORITHMS.md``
    section 1).
    """
    if isinstance(policy, tuple):
        for j in reversed(range(len(policy))):
            if j != i:
                q = _contract(q, policy[j], 1 + j)
        return q
    m = jnp.sum(policy, axis=1 + i, keepdims=True)
    axes = tuple(a for a in range(1, q.ndim) if a != 1 + i)
    return jnp.sum(q * m, axis=axes)


def validate(game: AbstractMarkovGame, policy, *, tol: float = 1e-6) -> None:
    """Raise ``ValueError`` if ``policy`` is not a policy of ``game``.

    Checks shapes, finiteness, non-negativity and rows summing to 1 (``tol``);
    the message names the player, the index and the value.
    """
    lead = _state_shape(game)
    if isinstance(policy, tuple):
        if len(policy) != game.num_players:
            raise ValueError(
                f"policy has {len(policy)} players; the game has {game.num_players}"
            )
        items = [
            (f"policy[{i}]", p, (*lead, a))
            for i, (p, a) in enumerate(zip(policy, game.num_actions, strict=True))
        ]
    else:
        items = [("policy", policy, (*lead, *game.num_actions))]
    for name, p, shape in items:
        p = np.asarray(p)
        if p.shape != shape:
            raise ValueError(f"{name} has shape {p.shape}; expected {shape}")
        bad = ~np.isfinite(p) | (p < -tol)
        if bad.any():
            idx = tuple(int(k) for k in np.unravel_index(np.argmax(bad), p.shape))
            raise ValueError(
                f"{name}{list(idx)} is {p[idx].tolist()!r}; expected a probability"
            )
        sums = p.reshape(*lead, -1).sum(-1)
        off = np.abs(sums - 1) > tol
        if off.any():
            idx = tuple(int(k) for k in np.unravel_index(np.argmax(off), sums.shape))
            raise ValueError(
                f"{name}{list(idx)} sums to {sums[idx].tolist()!r}; expected 1"
            )
