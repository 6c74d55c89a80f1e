"""Backward induction of a :class:`~marlmeta.games.PrivateTypeGame` on its
type grid.

The states of a private-type game are ``(t_0, .., t_{N-1}, p)``, so every
per-state array is viewed as the grid ``(n_0, .., n_{N-1}, P)`` (a reshape of
the type-major layout, no copy), and a player's policy at step ``h`` as a
table ``pi_i[t_i, p, a_i]`` broadcast over the other players' types (the
observation ``k n_i + t_i`` of the public slot ``k = slots_i[h, p]``). With
``V_H = 0`` and ``nxt = next_public[h]``,

- ``Q_h(t, p, a) = r_h(t, p, a) + V_{h+1}(t, nxt[p, a])`` (a one-hot
  contraction over the public axis),
- ``V_h(t, p) = sum_a prod_i pi_i(a_i | t_i, p) Q_h(t, p, a)``: one
  multiply-and-add over each short action axis, fused by XLA into a pass over
  the grid (no gather or scatter over the states, no lifted ``(S, A)`` table);
- the best response of player ``i`` over observation policies: its deviation
  values ``dev_i(t, p, a_i) = E_{a_{-i}} [r_h + B_{h+1, i}]``, weighted by the
  reach ``c_{h, i}(t, p)`` of the states under ``(uniform_i, pi_{-i})`` and
  summed over the other players' types and the public parts of each slot
  (:func:`~marlmeta.policies._private_types.pool_types`), give one action per
  observation (lowest index on ties) and ``B_{h, i}(t, p) = dev_i(t, p,
  br_i(t_i, p))``.

The reach is the forward step ``c_{h+1} = P_h^T (c_h pi_h)``, the transpose of
the same contraction. These are the numbers of the generic backward
induction (:mod:`marlmeta.games._backward_induction`) on the same states, computed in
a different order (equal to rounding).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.games._evaluation import Evaluation
from marlmeta.policies import type_table

if TYPE_CHECKING:
    from marlmeta.games._private_types import PrivateTypeGame
    from marlmeta.policies import PrivateTypePolicy


def _sum_axis(x: Array, axis: int) -> Array:
    """Sum over a short axis by unrolled adds (they fuse with the surrounding
    elementwise work; XLA's CPU reduction over a tiny minor axis does not)."""
    parts = [
        jax.lax.index_in_dim(x, k, axis, keepdims=False) for k in range(x.shape[axis])
    ]
    out = parts[0]
    for y in parts[1:]:
        out = out + y
    return out


def _on_axis(table: Array, before: int, after: int) -> Array:
    """``table (.., A)`` reshaped so that ``A`` broadcasts against an axis with
    ``before`` joint axes before it and ``after`` after it."""
    lead, a = table.shape[:-1], table.shape[-1]
    return table.reshape(*lead, *(1,) * before, a, *(1,) * after)


def joint_expect(q: Array, tables) -> Array:
    """``sum_a prod_i pi_i(a_i | ..) q(.., a)`` (``q``: ``(.., A_0, .., A_{N-1})``,
    ``pi_i``: ``(.., A_i)`` broadcastable to the grid)."""
    for j in reversed(range(len(tables))):
        q = _sum_axis(q * _on_axis(tables[j], j, 0), -1)
    return q


def expect_others(q: Array, tables, i: int) -> Array:
    """``sum_{a_{-i}} prod_{j != i} pi_j(a_j | ..) q(.., a)``: ``(.., A_i)``
    (each axis summed where it lies: a transpose would be materialised)."""
    left = list(range(len(tables)))
    for j in reversed(left):
        if j == i:
            continue
        pos = left.index(j)
        after = len(left) - 1 - pos
        q = _sum_axis(q * _on_axis(tables[j], pos, after), -1 - after)
        left.remove(j)
    return q


def next_values(nxt: Array, v: Array) -> Array:
    """``v(.., nxt[p, a])`` ``(.., P, *A)``: a select per next public part
    (the public axis is short; a gather or a one-hot matrix product would
    materialise ``(.., P, *A)`` arrays that XLA's CPU backend does not fuse
    with their consumers). Exact."""
    hot = nxt[..., None] == jnp.arange(nxt.shape[0])
    lead, n = v.shape[:-1], nxt.ndim - 1
    out = jnp.zeros((), v.dtype)
    for k in range(nxt.shape[0]):
        out = out + jnp.where(hot[..., k], v[..., k].reshape(*lead, 1, *(1,) * n), 0)
    return jnp.broadcast_to(out, (*lead, *nxt.shape))


def propagate_public(nxt: Array, mass: Array) -> Array:
    """``c(.., p') = sum_{p, a: nxt[p, a] = p'} mass(.., p, a)`` (the transpose
    of :func:`next_values`), unrolled over the public parts and actions."""
    lead = mass.shape[: mass.ndim - nxt.ndim]
    out = []
    for k in range(nxt.shape[0]):
        total = jnp.zeros(lead, mass.dtype)
        for idx in itertools.product(*(range(x) for x in nxt.shape)):
            total = total + jnp.where(nxt[idx] == k, mass[(..., *idx)], 0)
        out.append(total)
    return jnp.stack(out, axis=-1)


def _step_tables(game: PrivateTypeGame, policy: PrivateTypePolicy, h: int, dtype):
    """Every player's step-``h`` table on the type grid."""
    return [
        type_table(t[h], k[h], game.num_types, i).astype(dtype)
        for i, (t, k) in enumerate(zip(policy.tables, policy.slots, strict=True))
    ]


def type_reach(
    game: PrivateTypeGame, policy: PrivateTypePolicy, deviator: int | None, dtype
) -> list[Array]:
    """Reach ``c_h(t, p)`` (per step ``h``, on the grid) under ``policy``, with
    player ``deviator`` playing uniformly (``None``: nobody):
    ``c_{h+1}(t, p') = sum_{p, a: nxt[p, a] = p'} c_h(t, p) prod_i pi_i(a_i |
    t_i, p)``, each term a product of slices (nothing of size ``S A`` is
    formed)."""
    grid = (*game.num_types, game.num_public)
    c = [game.initial.astype(dtype).reshape(grid)]
    for h in range(game.horizon - 1):
        tables = _step_tables(game, policy, h, dtype)
        if deviator is not None:
            a = game.num_actions[deviator]
            tables[deviator] = jnp.full((game.num_public, a), 1.0 / a, dtype)
        nxt = game.transitions.next_public[h]
        out = []
        for k in range(game.num_public):
            total = jnp.zeros(grid[:-1], dtype)
            for p, *acts in itertools.product(*(range(x) for x in nxt.shape)):
                term = jnp.where(nxt[(p, *acts)] == k, c[-1][..., p], 0)
                for j, a in enumerate(acts):
                    term = term * tables[j][..., p, a]
                total = total + term
            out.append(total)
        c.append(jnp.stack(out, axis=-1))
    return c


def type_backward(
    game: PrivateTypeGame,
    policy: PrivateTypePolicy,
    rewards: Float[Array, "M H S *A"] | None = None,
    *,
    best: bool = False,
):
    """Backward induction on the type grid (module text), the steps unrolled
    (private-type games are short: compile time grows with ``H``).

    Returns:
        An :class:`~marlmeta.games.Evaluation` as
        :func:`marlmeta.games._backward_induction.backward` gives (no averaged
        Q-functions): values ``(M, S)``, best-response values ``(N, S)`` (or
        ``None``) and the best responses, one-hot per observation ``(H, O_i,
        A_i)`` (full-state deviations: ``(H, S, A_i)``) or ``None``.
    """
    rewards = game.rewards if rewards is None else rewards
    m, n = rewards.shape[0], game.num_players
    types, actions = game.num_types, game.num_actions
    grid = (*types, game.num_public)
    num_states = game.num_states
    dtype = jnp.result_type(rewards.dtype, policy.dtype)
    # each player's table sliced before any reshape: XLA then reads the
    # reward model's arrays (a slice of a stacked zero-sum table is a negation)
    # instead of materialising the stack
    r = [rewards[k].reshape(game.horizon, *grid, *actions) for k in range(m)]
    c = [type_reach(game, policy, i, dtype) for i in range(n)] if best else None
    v = [jnp.zeros(grid, dtype)] * m  # per table, per player: no stacked copies
    b = [jnp.zeros(grid, dtype)] * n if best else None
    brs = []
    for h in reversed(range(game.horizon)):
        tables = _step_tables(game, policy, h, dtype)
        nxt_public = game.transitions.next_public[h]
        v = [
            joint_expect(r[k][h] + next_values(nxt_public, v[k]), tables)
            for k in range(m)
        ]
        if b is None:
            continue
        b_h, br = [], []
        for i in range(n):
            q_i = r[i][h] + next_values(nxt_public, b[i])
            dev = expect_others(q_i, tables, i)  # (*grid, A_i)
            # best responses range over legal actions only (-inf elsewhere)
            flat = dev.reshape(num_states, actions[i])
            dev = game.legal.restrict(h, i, flat).reshape(dev.shape)
            best_h, choice = policy.deviations.choose(
                dev,
                c[i][h],
                policy.slots[i][h],
                types,
                i,
                policy.tables[i].shape[-2],
            )
            b_h.append(best_h)
            br.append(choice)
        b = b_h
        brs.append(br)
    v0 = jnp.stack(v).reshape(m, num_states)
    if b is None:
        return Evaluation(values=v0)
    br = tuple(jnp.stack(x[::-1]) for x in zip(*brs, strict=True))
    return Evaluation(
        values=v0, best_values=jnp.stack(b).reshape(n, num_states), best_responses=br
    )
