"""Exact CE-gap of a Markov correlated policy (swap deviations).

A correlated-equilibrium deviation of player ``i`` (Aumann 1974, "Subjectivity
and correlation in randomized strategies") sees its recommendation ``a_i`` and
replaces it by ``phi_{h,s}(a_i)``, for any swap map ``phi_{h,s}: A_i -> A_i``
per step and state; the other players follow ``sigma``. Because ``sigma`` is
Markov, the best such deviation solves an MDP by backward induction with
``B_{H,i} = 0``:

    B_{h,i}(s) = sum_{a_i} max_{b} sum_{a_{-i}} sigma_h(a_i, a_{-i} | s)
                 [r_{h,i}(s, b, a_{-i}) + sum_{s'} P_h(s'|s, b, a_{-i}) B_{h+1,i}(s')]

(the maximisation over ``phi`` splits over the recommended actions). With
``V^sigma`` the policy's values, ``ce_gain_i = initial @ (B_{0,i} - V_{0,i})``
is ``>= 0`` (the identity swap is allowed) and at least the CCE gain (constant
swaps), and ``ce_gap = max_i ce_gain_i``. For a product policy the
recommendation carries no information about the others and the CE-gap equals
the NE-gap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.policies import CorrelatedPolicy, validate

if TYPE_CHECKING:
    from marlmeta.games import AbstractMarkovGame


def _swap_value(qb: Float[Array, " S *A"], sigma: Float[Array, " S *A"], i: int):
    """``sum_{a_i} max_b sum_{a_{-i}} sigma(s, a_i, a_{-i}) qb(s, b, a_{-i})``."""
    s, a = sigma.shape[0], sigma.shape[1 + i]
    sig = jnp.moveaxis(sigma, 1 + i, 1).reshape(s, a, -1)
    q = jnp.moveaxis(qb, 1 + i, 1).reshape(s, a, -1)
    gain = jnp.einsum("sar,sbr->sab", sig, q)
    return jnp.sum(jnp.max(gain, axis=-1), axis=-1)


def ce_gains(game: AbstractMarkovGame, sigma: Float[Array, "H S *A"]) -> Array:
    """Each player's best swap-deviation gain ``(N,)`` against ``sigma``.

    Args:
        game: a finite-horizon game.
        sigma: a Markov correlated policy ``(H, S, A_0, .., A_{N-1})``.

    Returns:
        ``initial @ (B_0 - V_0)`` per player, ``>= 0``.
    """
    game.require_finite_horizon("ce_gains")
    sigma = CorrelatedPolicy(
        validate(game, sigma, name="sigma", caller="ce_gains").joint()
    ).table
    n, s = game.num_players, game.num_states
    dtype = jnp.result_type(game.rewards.dtype, sigma.dtype)
    expectation = jax.vmap(game.transitions.expectation, in_axes=(None, 0))
    axes = tuple(range(2, 2 + n))

    def body(carry, h):
        v_next, b_next = carry
        sig = sigma[h]
        r = game.rewards[:, h]
        ev = expectation(h, jnp.concatenate([v_next, b_next]))
        v = jnp.sum((r + ev[:n]) * sig[None], axis=axes)
        qb = r + ev[n:]
        b = jnp.stack([_swap_value(qb[i], sig, i) for i in range(n)])
        return (v, b), None

    init = (jnp.zeros((n, s), dtype), jnp.zeros((n, s), dtype))
    (v0, b0), _ = jax.lax.scan(body, init, jnp.arange(game.horizon), reverse=True)
    return (b0 - v0) @ game.initial


def ce_gap(game: AbstractMarkovGame, sigma: Float[Array, "H S *A"]) -> Array:
    """CE-gap ``max_i ce_gain_i`` of a Markov correlated policy (swap deviations).

    Exact, by backward induction over the deviator's swap maps per ``(h, s)``
    (see the module docstring). ``ce_gap >= max(cce_gap, 0)``; for the joint
    policy of a product policy it equals the NE-gap. Finite-horizon games only;
    one game per call, ``vmap`` for batches.

    Example:
        >>> import jax, marlmeta
        >>> g = marlmeta.games.matrix_game([[[1.0, 0.0], [0.0, 1.0]]] * 2)
        >>> sigma = jax.numpy.array([[[[0.5, 0.0], [0.0, 0.5]]]])  # coordinate
        >>> print(float(marlmeta.evaluation.ce_gap(g, sigma)))
        0.0
    """
    return jnp.max(ce_gains(game, sigma))
