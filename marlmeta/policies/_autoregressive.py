"""Constructors of autoregressive policies (one conditional table per agent).

Agent ``m``'s table ``pi^m[.., s, a_0, .., a_{m-1}, a_m]`` is a distribution over
its last axis, conditional on the actions of agents ``0..m-1`` (Zhao, Yang, Wang,
Lee, "Local Optimization Achieves Global Optimality in Multi-Agent
Reinforcement Learning", ICML 2023, eq. 2 with one-hot features). The logits of
the tabular softmax have the same shapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, PRNGKeyArray

from marlmeta.policies._algebra import logits as _logits
from marlmeta.policies._kinds import (
    AbstractPolicy,
    AutoregressivePolicy,
    ProductPolicy,
    _tables,
    check_logits,
)

if TYPE_CHECKING:
    from marlmeta.games import AbstractMarkovGame


def _shapes(game: AbstractMarkovGame, caller: str) -> list[tuple[int, ...]]:
    game.require_one_game(caller)
    a = game.num_actions
    return [(*game.lead_shape, *a[: m + 1]) for m in range(len(a))]


def autoregressive_uniform(
    game: AbstractMarkovGame, dtype=None
) -> AutoregressivePolicy:
    """The uniform autoregressive policy of ``game``: every table uniform over
    the agent's legal actions (an illegal action has probability ``0``)."""
    dtype = dtype or game.rewards.dtype
    zeros = tuple(jnp.zeros(s, dtype) for s in _shapes(game, "autoregressive_uniform"))
    return autoregressive_softmax(game.legal.restrict_autoregressive(zeros))


def random_autoregressive(
    game: AbstractMarkovGame, *, key: PRNGKeyArray, scale: float = 1.0, dtype=None
) -> AutoregressivePolicy:
    """Softmax of Gaussian logits with standard deviation ``scale``, every table
    (over the legal actions)."""
    dtype = dtype or game.rewards.dtype
    shapes = _shapes(game, "random_autoregressive")
    keys = jr.split(key, len(shapes))
    theta = tuple(
        scale * jr.normal(k, s, dtype) for k, s in zip(keys, shapes, strict=True)
    )
    return autoregressive_softmax(game.legal.restrict_autoregressive(theta))


def autoregressive_softmax(theta) -> AutoregressivePolicy:
    """The autoregressive policy of logits ``theta[m]`` ``(.., A_0, .., A_m)``."""
    return AutoregressivePolicy(
        tuple(
            jax.nn.softmax(check_logits(f"theta[{m}]", t), axis=-1)
            for m, t in enumerate(theta)
        )
    )


def autoregressive_logits(policy) -> tuple[Array, ...]:
    """Mean-centred logits of an autoregressive policy (inverse of
    :func:`autoregressive_softmax`; a zero probability is ``-inf``)."""
    return _logits(tuple(as_autoregressive(policy)))


def autoregressive_joint(policy) -> Array:
    """The joint ``(.., S, A_0, .., A_{N-1})``: ``prod_m pi^m(a_m | s, a_{<m})``.

    ``policy``: an :class:`AutoregressivePolicy` or a tuple of its tables.
    """
    return as_autoregressive(policy).joint()


def as_autoregressive(policy, name: str = "policy") -> AutoregressivePolicy:
    """User input as an :class:`AutoregressivePolicy`.

    A tuple or list is taken as the autoregressive tables (any array-likes); a
    :class:`ProductPolicy` becomes the autoregressive policy that ignores the
    prefix (each table broadcast over the earlier agents' actions). Any other
    kind is a ``ValueError`` naming ``name``.
    """
    if isinstance(policy, AutoregressivePolicy):
        return policy
    if isinstance(policy, ProductPolicy):
        return from_product(policy)
    if isinstance(policy, tuple | list):
        return AutoregressivePolicy(policy)
    if isinstance(policy, AbstractPolicy):
        raise ValueError(
            f"{name} is a {type(policy).__name__}; expected an autoregressive "
            "policy (one conditional table per agent) or a product policy"
        )
    raise ValueError(
        f"{name} is an array of shape {tuple(jnp.shape(policy))}; expected an "
        "autoregressive policy (a tuple of per-agent tables)"
    )


def from_product(policy) -> AutoregressivePolicy:
    """The autoregressive form of a product policy (tuple of ``(.., S, A_m)``):
    ``pi^m(a_m | s, a_{<m}) = pi_m(a_m | s)`` for every prefix."""
    tables = _tables(policy)
    sizes = [p.shape[-1] for p in tables]
    out = []
    for m, p in enumerate(tables):
        lead = p.shape[:-1]
        shape = (*lead, *sizes[: m + 1])
        out.append(jnp.broadcast_to(p.reshape(*lead, *([1] * m), sizes[m]), shape))
    return AutoregressivePolicy(tuple(out))
