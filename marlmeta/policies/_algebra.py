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

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from marlmeta._checks import concrete
from marlmeta.policies._kinds import as_policy, check_logits

if TYPE_CHECKING:
    from marlmeta.games import AbstractMarkovGame

#: What a policy argument may be: a tuple of per-player tables (a product
#: policy) or one joint table (a Markov correlated policy).
Policy = tuple[Array, ...] | Array


def uniform(game: AbstractMarkovGame, dtype=None) -> tuple[Array, ...]:
    """The uniform product policy of ``game`` (one game; ``jax.vmap`` it for a
    batch): uniform over the legal actions of every step and state (an illegal
    action has probability ``0``)."""
    game.require_one_game("uniform")
    dtype = dtype or game.rewards.dtype
    return game.legal.uniform(game.lead_shape, game.num_actions, dtype)


def random_policy(
    game: AbstractMarkovGame, *, key: PRNGKeyArray, scale: float = 1.0, dtype=None
) -> tuple[Array, ...]:
    """A random product policy: softmax of Gaussian logits with std ``scale``
    over the legal actions (one game; ``jax.vmap`` it over games and keys for a
    batch)."""
    game.require_one_game("random_policy")
    dtype = dtype or game.rewards.dtype
    lead = game.lead_shape
    keys = jr.split(key, game.num_players)
    legal = game.legal
    return tuple(
        jax.nn.softmax(
            legal.restrict_logits(i, scale * jr.normal(k, (*lead, a), dtype=dtype)),
            axis=-1,
        )
        for i, (k, a) in enumerate(zip(keys, game.num_actions, strict=True))
    )


def softmax(theta: tuple[Array, ...]) -> tuple[Array, ...]:
    """The product policy of per-player logits (softmax over the last axis).

    Logits may be ``-inf`` (a zero probability); a NaN or ``+inf`` logit, or a
    row of ``-inf`` only, has no softmax and is a ``ValueError`` naming
    ``theta[i]``, the index and the value (under ``jit``/``vmap``, a run-time
    ``eqx.error_if`` error).
    """
    return tuple(
        jax.nn.softmax(check_logits(f"theta[{i}]", t), axis=-1)
        for i, t in enumerate(theta)
    )


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

    Works on any pytree of arrays whose last axis is a distribution. ``alpha``
    must be a real number in ``[0, 1]`` (a ``ValueError`` naming it otherwise;
    a traced ``alpha`` is checked at run time by ``eqx.error_if``).
    """
    alpha = _check_alpha(alpha)
    return jax.tree.map(lambda x: (1 - alpha) * x + alpha / x.shape[-1], policy)


def _check_alpha(alpha):
    a = concrete(alpha)
    if a is None:
        bad = ~((alpha >= 0) & (alpha <= 1))  # NaN is bad too
        return eqx.error_if(alpha, jnp.any(bad), "alpha is not in [0, 1]")
    if a.dtype.kind not in "iuf":
        raise ValueError(f"alpha is {alpha!r}; expected a real number in [0, 1]")
    bad = ~((a >= 0) & (a <= 1))
    if bad.any():
        idx = tuple(int(k) for k in np.unravel_index(int(np.argmax(bad)), a.shape))
        where = f"alpha{list(idx)}" if idx else "alpha"
        raise ValueError(f"{where} is {a[idx].tolist()!r}; expected a value in [0, 1]")
    return alpha


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
    game: AbstractMarkovGame,
    policy,
    *,
    tol: float | None = None,
    name: str = "policy",
    caller: str = "validate",
):
    """``policy`` as a policy kind of ``game``, checked, or a ``ValueError``.

    ``game`` must be one game (a batch is a ``ValueError`` that names
    ``caller``: use ``jax.vmap``). Checks the number of players and every
    table's shape (static: also under ``jit``) and values: entries non-negative
    and rows summing to 1 within ``tol`` (default
    :func:`~marlmeta.policies.simplex_tolerance` of the table's dtype:
    ``1e-6`` in float64, ``1e-5`` in float32). Concrete tables must also be
    finite, and a failure is a ``ValueError`` naming ``name``, the player, the
    index and the value; traced tables (under ``jit``/``vmap``) are checked at
    run time by ``eqx.error_if`` (a NaN entry passes and makes results NaN).
    Accepts tuples, lists, NumPy and JAX arrays. Use the returned policy: it
    carries the run-time check.
    """
    game.require_one_game(caller)
    return as_policy(policy).check(game.lead_shape, game.num_actions, name, tol=tol)
