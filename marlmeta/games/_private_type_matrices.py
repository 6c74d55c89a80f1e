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
  P A)`` columns (:func:`row_contract`; :func:`col_contract` for player 1).

So exact exploitability (:func:`matrix_evaluate`), Algorithm 1's feedback on
observations (:func:`stage_feedback`) and the counterfactual values
(:func:`counterfactual_feedback`) touch only ``(n_0, n_1)`` matrices, a few
passes each, and ``(P, n_i, A_i)`` tables: never an array over ``(t, p, a,
b)``. The numbers are those of the generic backward induction on the states,
summed in another order (equal to rounding).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import equinox as eqx
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


class TypeStageQ(eqx.Module):
    """Algorithm 1's stage ``Q`` of a two-player private-type game, compact:
    ``Q_h = scale r_0(h) + next[h](nxt)`` (``scale`` is ``0`` before the first
    stage end, ``Q = 0``, then ``1``), with the grids ``w F_k`` and ``w next``
    kept for the belief contractions.

    Attributes:
        scale: ``0`` or ``1``.
        next: ``(H, P, n_0, n_1)`` the next step's stage values (``0`` at ``H - 1``).
        weighted: per step ``h`` the grids ``w F_k`` and ``w next[h]`` stacked
            ``(K + P, n_0, n_1)`` (``(K, n_0, n_1)`` at ``H - 1``).
    """

    scale: Float[Array, ""]
    next: Float[Array, "H P n0 n1"]
    weighted: tuple[Float[Array, "J n0 n1"], ...]

    @property
    def dtype(self):
        """The floating dtype."""
        return self.next.dtype


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


def _hot(game: PrivateTypeGame, h: int, dtype) -> Float[Array, "Q P A B"]:
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
        hot = _hot(game, h, dtype)
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
    """``rho(p, t) sum_c coef[j, p, .., c, ..] z(p, t, c)`` (``c`` the action
    axis ``axis`` of ``coef``, summed by unrolled adds): ``(J, P, A', n)``."""
    zr = z * rho[..., None]  # (P, n, C)
    out = 0
    for c in range(z.shape[-1]):
        k = jax.lax.index_in_dim(coef, c, axis, keepdims=False)  # (J, P, A')
        out = out + k[..., None] * zr[None, :, None, :, c]
    return out


def row_contract(wstacks, coef, y, rho) -> Float[Array, "P n0 A"]:
    """``sum_j sum_{t_1} W_j(t_0, t_1) rho(p, t_1) sum_b coef[j, p, a, b]
    y(p, t_1, b)``: batched matrix products over the grids ``W_j``, given as
    consecutive stacks ``wstacks`` ``(J_k, n_0, n_1)``."""
    cols = _columns(coef, y, rho, 3)  # (J, P, A, n1)
    j, p, a, n = cols.shape
    cols, out, start = cols.reshape(j, p * a, n), 0, 0
    for ws in wstacks:
        part = jnp.einsum("jxy,jcy->jxc", ws, cols[start : start + ws.shape[0]])
        out, start = out + jnp.sum(part, axis=0), start + ws.shape[0]
    return jnp.moveaxis(out.reshape(-1, p, a), 0, 1)


def col_contract(wstacks, coef, x, rho) -> Float[Array, "P n1 B"]:
    """``sum_j sum_{t_0} W_j(t_0, t_1) rho(p, t_0) sum_a x(p, t_0, a)
    coef[j, p, a, b]``, the transpose of :func:`row_contract`."""
    rows = _columns(coef, x, rho, 2)  # (J, P, B, n0)
    j, p, b, n = rows.shape
    rows, out, start = rows.reshape(j, p * b, n), 0, 0
    for ws in wstacks:
        part = jnp.einsum("jcx,jxy->jcy", rows[start : start + ws.shape[0]], ws)
        out, start = out + jnp.sum(part, axis=0), start + ws.shape[0]
    return jnp.moveaxis(out.reshape(p, b, -1), 1, 2)


def _step(game: PrivateTypeGame, h: int, scale, nxt, dtype):
    """Step ``h``'s ``Q = scale r_0(h) + nxt(next public part)`` as
    coefficients ``(J, P, A, B)`` and ``J`` grids ``(n_0, n_1)``: the reward
    factors, then (unless ``nxt`` is ``None``: no future) the grids ``nxt``
    ``(P, n_0, n_1)`` of the next public parts."""
    c = game.reward_model.coefficients[:, h].astype(dtype) * scale
    factors = list(game.reward_model.factors.astype(dtype))
    if nxt is None:
        return c, factors
    return jnp.concatenate([c, _hot(game, h, dtype)]), [*factors, *nxt]


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
    own ``Q`` ``step = (coef, grids, w grids)``, weighted by the other
    player's reach factor ``rho`` ``(P, n)``."""
    coef, grids, wstacks = step
    if i == 0:
        values = lambda own: bilinear(grids, coef, own, y)  # noqa: E731
        gains = lambda: row_contract(wstacks, coef, y, rho)  # noqa: E731
    else:
        values = lambda own: bilinear(grids, coef, x, own)  # noqa: E731
        gains = lambda: col_contract(wstacks, coef, x, rho)  # noqa: E731
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
    wf = w * game.reward_model.factors.astype(dtype)  # (K, n_0, n_1)
    v, b, brs = None, [None, None], ([], [])
    for h in reversed(range(game.horizon)):
        coef, grids = _step(game, h, 1, v, dtype)
        v_new = bilinear(grids, coef, x[h], y[h])
        if best:
            new = []
            for i in range(2):
                coef_i, grids_i = _step(game, h, 1 - 2 * i, b[i], dtype)
                future = () if b[i] is None else (w * b[i],)
                step = (coef_i, grids_i, (wf, *future))
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


# ------------------------------------------------------------ solver feedback


def _own_mass(game: PrivateTypeGame, i: int, rho, w) -> Array:
    """Player ``i``'s own-reach mass per observation ``(H, O_i)``: ``w`` summed
    over the other player's types times its reach factor ``rho`` ``(H, P,
    n_i)``."""
    marginal = jnp.sum(w, axis=1 - i)
    return pool_public(game, i, (rho * marginal)[..., None])[..., 0]


def _belief_sums(game: PrivateTypeGame, x, y, steps, dtype):
    """Per player the belief-weighted ``Q`` per observation (unnormalised),
    the belief mass per observation, each player's own-reach mass, and the
    value grids ``sum_ab x y Q_h`` ``(H, P, n_0, n_1)``, for ``Q_h`` given by
    ``steps[h] = (coef, grids, w grids)`` (:func:`_step`)."""
    w = type_weights(game).astype(dtype)
    beta, alpha = forward_reach(game, y, 1), forward_reach(game, x, 0)
    u0, u1, values = [], [], []
    for h, (coef, grids, wstacks) in enumerate(steps):
        u0.append(row_contract(wstacks, coef, y[h], beta[h]))
        u1.append(col_contract(wstacks, coef, x[h], alpha[h]))
        values.append(bilinear(grids, coef, x[h], y[h]))
    belief0 = jnp.einsum("xy,hpy->hpx", w, beta)  # sum_{t_1} w beta
    belief1 = jnp.einsum("xy,hpx->hpy", w, alpha)
    return (
        (pool_public(game, 0, jnp.stack(u0)), pool_public(game, 1, jnp.stack(u1))),
        (
            pool_public(game, 0, belief0[..., None])[..., 0],
            pool_public(game, 1, belief1[..., None])[..., 0],
        ),
        (_own_mass(game, 0, alpha, w), _own_mass(game, 1, beta, w)),
        jnp.stack(values),
    )


def _stage(game: PrivateTypeGame, scale, nxt) -> TypeStageQ:
    """The compact stage ``Q`` of the next values ``nxt`` ``(H, P, n_0,
    n_1)`` (the last step's are ``0``: not stored in ``weighted``)."""
    w = type_weights(game).astype(nxt.dtype)
    factors = game.reward_model.factors.astype(nxt.dtype)
    last = game.horizon - 1
    weighted = tuple(
        w * (factors if h == last else jnp.concatenate([factors, nxt[h]]))
        for h in range(game.horizon)
    )
    return TypeStageQ(jnp.asarray(scale, nxt.dtype), nxt, weighted)


def zero_stage(game: PrivateTypeGame, dtype) -> tuple[TypeStageQ, Array]:
    """Algorithm 1's state before the first iteration: ``Q = 0`` and zero
    stage values ``(H, P, n_0, n_1)``."""
    z = jnp.zeros((game.horizon, game.num_public, *game.num_types), dtype)
    return _stage(game, 0, z), z


def stage_q(game: PrivateTypeGame, vsum, length) -> TypeStageQ:
    """``Q_h = r_0(h) + (vsum[h + 1] / L)(nxt)`` (``vsum[H] = 0``), compact."""
    nxt = jnp.concatenate(
        [vsum[1:] / length.astype(vsum.dtype), jnp.zeros_like(vsum[:1])]
    )
    return _stage(game, 1, nxt)


def stage_feedback(game: PrivateTypeGame, q: TypeStageQ, mu, nu):
    """Algorithm 1's feedback on observations (belief averages of ``Q nu`` and
    ``mu^T Q``), the value grids and the own-reach masses, as
    :meth:`~marlmeta.games.AbstractObservedGame.stage_feedback`."""
    dtype = q.dtype
    x, y = per_public(game, 0, mu.astype(dtype)), per_public(game, 1, nu.astype(dtype))
    last = game.horizon - 1  # Q_{H-1} has no future (next[H - 1] = 0)
    steps = [
        (*_step(game, h, q.scale, None if h == last else q.next[h], dtype), (wq,))
        for h, wq in enumerate(q.weighted)
    ]
    (u0, u1), (m0, m1), own, values = _belief_sums(game, x, y, steps, dtype)

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
    wf = w * game.reward_model.factors.astype(dtype)
    v, steps = None, [None] * game.horizon
    for h in reversed(range(game.horizon)):  # values of the joint policy
        coef, grids = _step(game, h, 1, v, dtype)
        steps[h] = (coef, grids, (wf,) if v is None else (wf, w * v))
        v = bilinear(grids, coef, x[h], y[h])
    (u0, u1), _, own, _ = _belief_sums(game, x, y, steps, dtype)
    return (u0, -u1), own
