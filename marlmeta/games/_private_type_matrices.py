"""Two-player private-type games as contractions with ``n_0 x n_1`` matrices.

In a :class:`~marlmeta.games.PrivateTypeGame` of two players (a poker deal:
player 0's hand ``t_0``, player 1's hand ``t_1``, and the betting ``p``) the
rewards are few grids over the type pairs times tables over the public part
and the actions (:class:`TypeFactorRewards`),

    r_0(h, (t, p), a, b) = sum_k F_k(t_0, t_1) C_k(h, p, a, b),   r_1 = -r_0

(a river endgame: ``F = (1, showdown)``), the joint type distribution is one
matrix ``w(t_0, t_1)`` (``0`` for hands that share a card) and the public part
moves deterministically (``nxt[h, p, a, b]``). Write every value function as
the grid ``G(p, t_0, t_1)`` (``p`` leading: each public part's grid is one
contiguous matrix) and a policy as the tables ``x(p, t_0, a)``, ``y(p, t_1,
b)``. Then, for ``Q_h(t, p, a, b) = sum_k F_k(t) c_k(p, a, b) + sum_q G(t, q)
[nxt[h, p, a, b] = q]``,

- a value ``sum_ab x y Q`` is one fused pass over each public part's grid
  (:func:`bilinear`: the terms are rank-``B`` outer products times the grids),
- a reach under a uniform own policy is ``w(t)`` times a vector of the other
  player's type (:func:`forward_reach`: two players, a product),
- a belief-weighted sum over the other player's types ``sum_{t_1} w(t) b(p,
  t_1) sum_b y Q`` is a matrix product of ``w F_k`` and ``w G`` with ``(n_1,
  P A)`` columns (:func:`matrix_rows`; :func:`matrix_cols` for player 1).

So exact exploitability (:func:`matrix_evaluate`), Algorithm 1's feedback on
observations (:func:`stage_feedback`) and the counterfactual values
(:func:`counterfactual_feedback`) touch only ``(n_0, n_1)`` matrices, a few
passes each, and ``(P, n_i, A_i)`` tables: never an array over ``(t, p, a,
b)``. The numbers are those of the generic backward induction on the states,
summed in another order (equal to rounding).
The solvers' feedback (Algorithm 1 and counterfactual values) is in
:mod:`marlmeta.games._private_type_feedback`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta._checks import check_values
from marlmeta.games._evaluation import Evaluation
from marlmeta.games._rewards import AbstractRewards, DenseRewards, ZeroSumRewards
from marlmeta.policies import type_table

if TYPE_CHECKING:
    from marlmeta.games._private_types import PrivateTypeGame


class TypeFactorRewards(AbstractRewards):
    """Two-player zero-sum rewards on ``(t_0, t_1, p)`` states, stored factored:
    ``r_0(h, (t, p), a, b) = sum_k factors[k, t_0, t_1] coefficients[k, h, p, a,
    b]``, ``r_1 = -r_0`` (module text).

    Attributes:
        factors: ``(K, n_0, n_1)`` grids over the type pairs.
        coefficients: ``(K, H, P, A, B)`` tables over the public part.
    """

    factors: Float[Array, "K n0 n1"]
    coefficients: Float[Array, "K H P A B"]

    def __check_init__(self):
        check_values("rewards.factors", self.factors)
        check_values("rewards.coefficients", self.coefficients)

    @property
    def num_players(self) -> int:
        return 2

    def reward(self) -> Array:
        """Player 0's dense table ``(.., H, n_0 n_1 P, A, B)`` (type-major
        states)."""
        f, c = self.factors, self.coefficients
        r = jnp.sum(
            f[..., :, None, :, :, None, None, None] * c[..., :, :, None, None, :, :, :],
            axis=-7,
        )  # (.., H, n0, n1, P, A, B)
        return r.reshape(*r.shape[:-6], r.shape[-6], -1, *r.shape[-2:])

    def dense(self, entry_ndim: int) -> Array:
        r = self.reward()
        return jnp.stack([r, -r], axis=r.ndim - entry_ndim)

    def shape(self, entry_ndim: int) -> tuple[int, ...]:
        f, c = self.factors.shape, self.coefficients.shape
        states = f[-2] * f[-1] * c[-3]
        lead = f[:-3]
        cut = len(lead) + 4 - entry_ndim  # entry: (H, S, A, B)
        full = (*lead, c[-4], states, *c[-2:])
        return (*full[:cut], 2, *full[cut:])

    def coupling(self, entry_ndim: int):
        del entry_ndim
        return "zero_sum"

    def perturbed(self, eps, coupling):
        if coupling == "zero_sum":
            return ZeroSumRewards(self.reward() + eps[:, 0])
        return DenseRewards(self.dense(eps.ndim - 2) + eps)


# ------------------------------------------------------------------ helpers


def per_public(game: PrivateTypeGame, i: int, tables, h=None) -> Array:
    """Player ``i``'s observation tables ``(H, O_i, A_i)`` as ``(H, P, n_i,
    A_i)`` (one step's ``(O_i, A_i)`` as ``(P, n_i, A_i)`` with ``h``): the
    row it plays at each public part and own type."""
    slots = game.slots[i] if h is None else game.slots[i][h]
    t = type_table(tables, slots, game.num_types, i)
    lead = t.shape[: t.ndim - len(game.num_types) - 2]
    p, n, a = game.num_public, game.num_types[i], t.shape[-1]
    return jnp.swapaxes(t.reshape(*lead, n, p, a), -3, -2)


def pool_public(game: PrivateTypeGame, i: int, x, h=None) -> Array:
    """``(H, P, n_i, A)`` rows summed into player ``i``'s observations ``(H,
    O_i, A)`` (the transpose of :func:`per_public`; one step's ``(1, P, n_i,
    A)`` into ``(O_i, A)`` with ``h``)."""
    slots, n = game.slots[i], game.num_types[i]
    slots = slots if h is None else slots[h][None]
    k = (game.num_observations[i] - 1) // n
    hot = (slots[..., None] == jnp.arange(k)).astype(x.dtype)  # (H, P, K)
    blocks = jnp.einsum("hpk,hpna->hkna", hot, x)
    none = jnp.einsum("hp,hpna->ha", (slots < 0).astype(x.dtype), x)
    t, a = x.shape[0], x.shape[-1]
    out = jnp.concatenate([blocks.reshape(t, k * n, a), none[:, None]], axis=1)
    return out if h is None else out[0]


def one_hot_next(game: PrivateTypeGame, h: int, dtype) -> Float[Array, "Q P A B"]:
    """``[nxt[h, p, a, b] = q]``, the next public part as coefficients."""
    nxt = game.transitions.next_public
    nxt = nxt[0 if nxt.shape[0] == 1 else h]
    hot = nxt[..., None] == jnp.arange(game.num_public)
    return jnp.moveaxis(hot, -1, 0).astype(dtype)


def type_weights(game: PrivateTypeGame) -> Float[Array, "n0 n1"]:
    """``w(t_0, t_1)``, the joint type distribution (the game starts at public
    part 0)."""
    return game.initial.reshape(*game.num_types, game.num_public)[..., 0]


def forward_reach(game: PrivateTypeGame, table, player: int) -> Float[Array, "H P n"]:
    """The reach factor of ``player``'s types under its ``table`` ``(H, P, n,
    A)`` and a uniform other player: ``rho_0(p) = [p = 0]``,
    ``rho_{h+1}(q, t) = sum_{p, a, b: nxt = q} rho_h(p, t) pi(a_player | p, t)
    / A_other``; the state reach is ``w(t) rho_h(p, t_player)``."""
    dtype, p = table.dtype, game.num_public
    other = game.num_actions[1 - player]
    rho = [jnp.zeros((p, table.shape[2]), dtype).at[0].set(1)]
    spec = "qpab,pn,pna->qn" if player == 0 else "qpab,pn,pnb->qn"
    for h in range(game.horizon - 1):
        hot = one_hot_next(game, h, dtype)
        rho.append(jnp.einsum(spec, hot, rho[-1], table[h]) / other)
    return jnp.stack(rho)


def bilinear(grids, coef, x, y) -> Float[Array, "P n0 n1"]:
    """``sum_j grids[j](t) sum_ab x(p, t_0, a) coef[j, p, a, b] y(p, t_1, b)``:
    one fused pass per public part (rank-``B`` outer products times grids).

    ``grids[j]``: ``(n_0, n_1)`` or ``(P, n_0, n_1)``; ``coef``: ``(J, P, A,
    B)``; ``x``: ``(P, n_0, A)``; ``y``: ``(P, n_1, B)``.
    """
    xc = jnp.einsum("pna,jpab->jpnb", x, coef)
    out = None
    for j, g in enumerate(grids):
        for b in range(y.shape[-1]):
            term = g * (xc[j, :, :, None, b] * y[:, None, :, b])
            out = term if out is None else out + term
    return out


def _columns(coef, z, rho, axis: int) -> Array:
    """``rho(s, p, t) sum_c coef[s, p, .., c, ..] z(s, p, t, c)`` (``c`` the
    action axis ``axis`` of ``coef`` ``(S, P, A, B)``, summed by unrolled
    adds): ``(S, P, A', n)``."""
    zr = z * rho[..., None]  # (S, P, n, C)
    out = 0
    for c in range(z.shape[-1]):
        k = jax.lax.index_in_dim(coef, c, axis, keepdims=False)  # (S, P, A')
        out = out + k[..., None] * zr[..., None, :, c]
    return out


def matrix_rows(matrix, coef, y, rho) -> Float[Array, "S P n0 A"]:
    """``sum_{t_1} M(t_0, t_1) rho(s, p, t_1) sum_b coef[s, p, a, b] y(s, p,
    t_1, b)`` for a stack ``s`` of steps: one product of ``M`` ``(n_0, n_1)``
    with ``S P A`` columns (every use of one matrix in one read of it)."""
    cols = _columns(coef, y, rho, 3)  # (S, P, A, n1)
    s, p, a, n = cols.shape
    out = matrix @ cols.reshape(-1, n).T  # (n0, S P A)
    return jnp.moveaxis(out.reshape(-1, s, p, a), 0, 2)


def matrix_cols(matrix, coef, x, rho) -> Float[Array, "S P n1 B"]:
    """``sum_{t_0} M(t_0, t_1) rho(s, p, t_0) sum_a x(s, p, t_0, a) coef[s, p,
    a, b]``, the transpose of :func:`matrix_rows`: one product ``(S P B, n_0)
    @ M``."""
    rows = _columns(coef, x, rho, 2)  # (S, P, B, n0)
    s, p, b, n = rows.shape
    out = rows.reshape(-1, n) @ matrix  # (S P B, n1)
    return jnp.swapaxes(out.reshape(s, p, b, -1), -1, -2)


#: Player ``i``'s contraction with the other player's types.
CONTRACT = (matrix_rows, matrix_cols)


def contract(i: int, matrices, coef, z, rho) -> Float[Array, "P n A"]:
    """Player ``i``'s ``sum_j`` of one step's contractions (:func:`matrix_rows`
    for player 0, :func:`matrix_cols` for player 1) of the grids ``matrices[j]``
    ``(n_0, n_1)`` with ``coef[j]`` ``(P, A, B)``, the other player's table
    ``z`` ``(P, n, C)`` and reach factor ``rho`` ``(P, n)``."""
    fn = CONTRACT[i]
    return sum(
        fn(m, c[None], z[None], rho[None])[0]
        for m, c in zip(matrices, coef, strict=True)
    )


def step_grids(game: PrivateTypeGame, h: int, scale, factors, nxt, dtype):
    """Step ``h``'s ``Q = scale r_0(h) + nxt(next public part)`` as
    coefficients ``(J, P, A, B)`` and ``J`` grids ``(n_0, n_1)``: the grids
    ``factors`` ``(K, n_0, n_1)`` (the reward factors, or them times ``w``), then
    (unless ``nxt`` is ``None``: no future) the grids ``nxt`` ``(P, n_0, n_1)``
    of the next public parts."""
    c = game.reward_model.coefficients[:, h].astype(dtype) * scale
    if nxt is None:
        return c, list(factors)
    return jnp.concatenate([c, one_hot_next(game, h, dtype)]), [*factors, *nxt]


def _grid_to_states(g: Array) -> Array:
    """``(P, n_0, n_1)`` to the type-major states ``(S,)``."""
    return jnp.moveaxis(g, 0, -1).reshape(-1)


# ------------------------------------------------------------ exploitability


class _Lift:
    """One step's observation table of player ``i`` per public part
    (:func:`per_public`); ``count`` is its number of observations."""

    def __init__(self, game: PrivateTypeGame, i: int, h: int):
        self.game, self.i, self.h = game, i, h
        self.count = game.num_observations[i]

    def __call__(self, table):
        return per_public(self.game, self.i, table, self.h)


def _respond(game: PrivateTypeGame, policy, i: int, h: int, step, x, y, rho):
    """Player ``i``'s best deviation at step ``h`` against the other player's
    table (``y`` for player 0, ``x`` for player 1, ``(P, n, A)``), from its
    own ``Q`` ``step = (coef, grids, w grids)`` (:func:`_step`), weighted by the other
    player's reach factor ``rho`` ``(P, n)``."""
    coef, grids, weighted = step
    if i == 0:
        values = lambda own: bilinear(grids, coef, own, y)  # noqa: E731
    else:
        values = lambda own: bilinear(grids, coef, x, own)  # noqa: E731
    gains = lambda: contract(i, weighted, coef, (y, x)[i], rho)  # noqa: E731
    return policy.deviations.respond(
        values,
        lambda: pool_public(game, i, gains()[None], h),
        _Lift(game, i, h),
        jnp.eye(game.num_actions[i], dtype=x.dtype),
    )


def _backward(game: PrivateTypeGame, policy, best: bool):
    """Step-0 value grid ``(P, n_0, n_1)`` of player 0, and with ``best`` each
    player's best-response value grid and best responses per step."""
    dtype = jnp.result_type(game.initial.dtype, policy.dtype)
    x, y = (per_public(game, i, t.astype(dtype)) for i, t in enumerate(policy.tables))
    w = type_weights(game).astype(dtype)
    rho = (forward_reach(game, y, 1), forward_reach(game, x, 0)) if best else None
    factors = game.reward_model.factors.astype(dtype)
    wf = [w * f for f in factors]  # one array per matrix
    v, b, brs = None, [None, None], ([], [])
    for h in reversed(range(game.horizon)):
        coef, grids = step_grids(game, h, 1, factors, v, dtype)
        v_new = bilinear(grids, coef, x[h], y[h])
        if best:
            new = []
            for i in range(2):
                coef_i, grids_i = step_grids(game, h, 1 - 2 * i, factors, b[i], dtype)
                future = [] if b[i] is None else [w * g for g in b[i]]
                step = (coef_i, grids_i, [*wf, *future])
                b_i, br = _respond(game, policy, i, h, step, x[h], y[h], rho[i][h])
                new.append(b_i)
                brs[i].append(br)
            b = new
        v = v_new
    return v, b, tuple(jnp.stack(t[::-1]) for t in brs) if best else None


def matrix_evaluate(game: PrivateTypeGame, policy, *, best: bool) -> Evaluation:
    """Backward induction of a :class:`~marlmeta.policies.PrivateTypePolicy`
    on the matrices (module text): values ``(2, S)``, and with ``best`` each
    player's best-response values ``(2, S)`` and best responses (its
    ``policy.deviations`` decides what the deviator sees: one action per
    observation, ``(H, O_i, A_i)``, or per state, ``(H, S, A_i)``)."""
    v, b, brs = _backward(game, policy, best)
    v0 = _grid_to_states(v)
    values = jnp.stack([v0, -v0])
    if not best:
        return Evaluation(values=values)
    return Evaluation(
        values=values,
        best_values=jnp.stack([_grid_to_states(g) for g in b]),
        best_responses=brs,
    )


def matrix_initial_values(game: PrivateTypeGame, policy, *, best: bool):
    """``(initial @ V, initial @ B or None, best responses)`` as
    :meth:`~marlmeta.games.AbstractMarkovGame.initial_values`, summed on the
    grid of public part 0 (where ``initial`` lives) instead of the states."""
    v, b, brs = _backward(game, policy, best)
    w = type_weights(game).astype(v.dtype)
    v0 = jnp.sum(w * v[0])
    values = jnp.stack([v0, -v0])
    if not best:
        return values, None, None
    return values, jnp.stack([jnp.sum(w * g[0]) for g in b]), brs
