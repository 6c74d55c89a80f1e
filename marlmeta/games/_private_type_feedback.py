"""The solvers' feedback on two-player private-type games, as contractions
with the ``n_0 x n_1`` matrices of :mod:`marlmeta.games._private_type_matrices`:
Algorithm 1's stage ``Q`` and belief-averaged feedback on observations (Mao,
Qiu, Wang, Franke, Kalbarczyk, Iyer, Başar, "Multi-Agent Meta-Reinforcement
Learning: Sharper Convergence Rates with Task Similarity", NeurIPS 2023), and
the counterfactual values of the counterfactual OMD reference.

The solvers' feedback reads each matrix as few times as it can, since on a
CPU a pass over a ``1081 x 1081`` matrix costs more than its arithmetic: each
``w F_k`` is multiplied once per player with the columns of every step
stacked, each matrix is its own array (a slice of a stack is copied before a
product), ``w`` and ``w F_k`` are computed once per run (:func:`zero_stage`)
and kept by every stage ``Q`` (:func:`stage_q`), and Algorithm 1's stage
values are kept as the ``w``-weighted grids of steps ``h >= 1`` only (what the
next ``Q`` reads), computed from the weighted grids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.games._private_type_matrices import (
    CONTRACT,
    bilinear,
    contract,
    forward_reach,
    one_hot_next,
    per_public,
    pool_public,
    step_grids,
    type_weights,
)

if TYPE_CHECKING:
    from marlmeta.games._private_types import PrivateTypeGame


class TypeStageQ(eqx.Module):
    """Algorithm 1's stage ``Q`` of a two-player private-type game, compact:
    ``Q_h = scale r_0(h) + next[h](nxt)`` (``scale`` is ``0`` before the first
    stage end, ``Q = 0``, then ``1``), kept as the grids that the belief
    contractions multiply: the reward factors and the next step's stage values,
    both times the type weights ``w``, one array per matrix (a matrix product
    reads its operand in place; a slice of a stack would be copied at every
    iteration).

    Attributes:
        scale: ``0`` or ``1``.
        weights: ``w`` ``(n_0, n_1)``, the joint type distribution.
        factors: the ``K`` grids ``w F_k`` ``(n_0, n_1)``, shared by every step.
        next: per step ``h < H - 1`` the ``P`` grids ``w next[h, q]`` ``(n_0,
            n_1)`` (``next[H - 1] = 0`` is not stored).
    """

    scale: Float[Array, ""]
    weights: Float[Array, "n0 n1"]
    factors: tuple[Float[Array, "n0 n1"], ...]
    next: tuple[tuple[Float[Array, "n0 n1"], ...], ...]

    @property
    def dtype(self):
        """The floating dtype."""
        return self.weights.dtype


def _own_mass(game: PrivateTypeGame, i: int, rho, marginal) -> Array:
    """Player ``i``'s own-reach mass per observation ``(H, O_i)``: its reach
    factor ``rho`` ``(H, P, n_i)`` times the ``marginal`` ``sum_{t_{1-i}} w``
    ``(n_i,)``."""
    return pool_public(game, i, (rho * marginal)[..., None])[..., 0]


def _type_sums(w, beta, alpha):
    """``sum_{t_1} w beta`` ``(H, P, n_0)``, ``sum_{t_0} w alpha`` ``(H, P,
    n_1)`` and the marginals of ``w`` (a column of ones beside): one product
    with ``w`` per player."""
    h, p, n1 = beta.shape
    ones = jnp.ones((1, n1), w.dtype)
    b0 = w @ jnp.concatenate([beta.reshape(-1, n1), ones]).T  # (n0, H P + 1)
    ones = jnp.ones((1, alpha.shape[-1]), w.dtype)
    b1 = jnp.concatenate([alpha.reshape(h * p, -1), ones]) @ w  # (H P + 1, n1)
    belief0 = jnp.moveaxis(b0[:, :-1].reshape(-1, h, p), 0, -1)
    return belief0, b1[:-1].reshape(h, p, -1), b0[:, -1], b1[-1]


def _grid_stack(game: PrivateTypeGame, grids, dtype) -> Float[Array, "J P n0 n1"]:
    """``grids`` (a list of ``(P, n_0, n_1)``, maybe empty) stacked."""
    empty = jnp.zeros((0, game.num_public, *game.num_types), dtype)
    return jnp.stack(grids) if grids else empty


def _belief_sums(game: PrivateTypeGame, x, y, scale, w, factors, nxt):
    """Per player the belief-weighted ``Q`` per observation (unnormalised),
    the belief mass per observation, each player's own-reach mass, and the
    ``w``-weighted value grids ``sum_ab x y Q_h`` of steps ``h >= 1`` ``(H - 1,
    P, n_0, n_1)``, for ``Q_h = scale r_0(h) + next[h](nxt)`` given as the
    grids ``factors`` ``w F_k`` and ``nxt[h]`` ``w next[h]`` ``(P, n_0, n_1)``
    (``h < H - 1``), ``w`` the type weights.

    Each ``w F_k`` is multiplied once per player for all steps (the steps'
    columns stacked), each ``w next[h]`` once per player."""
    dtype, horizon = x.dtype, game.horizon
    beta, alpha = forward_reach(game, y, 1), forward_reach(game, x, 0)
    coef = game.reward_model.coefficients.astype(dtype) * scale  # (K, H, P, A, B)
    hots = [one_hot_next(game, h, dtype) for h in range(horizon - 1)]
    u = []
    for i, (z, rho) in enumerate(((y, beta), (x, alpha))):
        shared = sum(
            CONTRACT[i](f, c, z, rho) for f, c in zip(factors, coef, strict=True)
        )  # (H, P, n_i, A_i)
        future = [
            contract(i, nxt[h], hots[h], z[h], rho[h]) for h in range(horizon - 1)
        ]
        u.append(shared + jnp.stack([*future, jnp.zeros_like(shared[-1])]))
    values = []
    for h in range(1, horizon):
        future = nxt[h] if h < horizon - 1 else None
        coef_h, grids = step_grids(game, h, scale, factors, future, dtype)
        values.append(bilinear(grids, coef_h, x[h], y[h]))
    belief0, belief1, marginal0, marginal1 = _type_sums(w, beta, alpha)
    return (
        (pool_public(game, 0, u[0]), pool_public(game, 1, u[1])),
        (
            pool_public(game, 0, belief0[..., None])[..., 0],
            pool_public(game, 1, belief1[..., None])[..., 0],
        ),
        (_own_mass(game, 0, alpha, marginal0), _own_mass(game, 1, beta, marginal1)),
        _grid_stack(game, values, dtype),
    )


def zero_stage(game: PrivateTypeGame, dtype) -> tuple[TypeStageQ, Array]:
    """Algorithm 1's state before the first iteration: ``Q = 0`` and zero
    stage values ``(H - 1, P, n_0, n_1)`` (the compact form of the stage values:
    those of steps ``h >= 1`` times ``w``, all that the next ``Q`` needs)."""
    z = jnp.zeros((game.horizon - 1, game.num_public, *game.num_types), dtype)
    w = type_weights(game).astype(dtype)
    factors = tuple(w * f for f in game.reward_model.factors.astype(dtype))
    q = TypeStageQ(jnp.asarray(0, dtype), w, factors, tuple(tuple(g) for g in z))
    return q, z


def stage_q(q: TypeStageQ, vsum, length) -> TypeStageQ:
    """``Q_h = r_0(h) + (vsum[h + 1] / L)(nxt)``, compact, after the stage of
    ``q`` (whose ``w`` and ``w F_k`` it keeps: no stage changes them): ``vsum``
    is the compact ``(H - 1, P, n_0, n_1)`` (:func:`zero_stage`), already times
    ``w``."""
    nxt = vsum / length.astype(vsum.dtype)
    one = jnp.asarray(1, q.dtype)
    return TypeStageQ(one, q.weights, q.factors, tuple(tuple(g) for g in nxt))


def stage_feedback(game: PrivateTypeGame, q: TypeStageQ, mu, nu):
    """Algorithm 1's feedback on observations (belief averages of ``Q nu`` and
    ``mu^T Q``), the compact stage values (:func:`zero_stage`) and the
    own-reach masses, as
    :meth:`~marlmeta.games.AbstractObservedGame.stage_feedback`."""
    dtype = q.dtype
    x, y = per_public(game, 0, mu.astype(dtype)), per_public(game, 1, nu.astype(dtype))
    sums = _belief_sums(game, x, y, q.scale, q.weights, q.factors, q.next)
    (u0, u1), (m0, m1), own, values = sums

    def average(u, m):
        m = m[..., None]
        return jnp.where(m > 0, u / jnp.where(m > 0, m, 1), 0)

    return average(u0, m0), average(u1, m1), values, own[0], own[1]


def counterfactual_feedback(game: PrivateTypeGame, tables):
    """The counterfactual values ``U_i(h, o, a_i)`` of the joint policy
    ``tables`` and each player's own-reach mass per observation, as
    :meth:`~marlmeta.games.AbstractObservedGame.counterfactual_feedback`."""
    dtype = jnp.result_type(*tables)
    x, y = (per_public(game, i, t.astype(dtype)) for i, t in enumerate(tables))
    w = type_weights(game).astype(dtype)
    wf = [w * f for f in game.reward_model.factors.astype(dtype)]
    v, nxt = None, []
    for h in reversed(range(1, game.horizon)):  # w times the joint policy's values
        coef, grids = step_grids(game, h, 1, wf, v, dtype)
        v = bilinear(grids, coef, x[h], y[h])
        nxt.insert(0, v)
    one = jnp.asarray(1, dtype)
    (u0, u1), _, own, _ = _belief_sums(game, x, y, one, w, wf, nxt)
    return (u0, -u1), own
