"""The exact CCE-gap of adaptive OFTRL's own output policy (nested index).

Yorulmaz and Başar's Algorithm 2 outputs a non-Markov correlated policy: a
shared index ``j_1`` is drawn with probability ``alpha^{j}_T`` (the weights
``alpha^j_t = alpha_j prod_{k=j+1}^t (1 - alpha_k)``, ``alpha_t = (H + 1) /
(H + t)``), every player plays its iterate ``pi^{j_1}_1`` at step 1, then
``j_2 ~ alpha^{.}_{j_1}``, ``T >= j_1 >= j_2 >= ..``, and so on. Their Lemma 8
gives its value, their online bound ``cce_gap_ub``
(:class:`marlmeta.solvers.AdaptiveOFTRL` diagnostics) bounds its CCE-gap. This
module computes that CCE-gap exactly, so the paper's own curve can be drawn
beside the gap of the Markov average marlmeta's solver outputs:

- its value by the index recursion ``V[t, h, s] = sum_{j <= t} alpha^j_t
  sum_a sigma^j_h(a|s) (r_h + P_h V[j, h+1])(s, a)``, read at ``t = T``;
- the best deviation of player ``i``, who sees the states and everybody's
  past actions but not the index: a POMDP whose belief over the current index
  is a sufficient statistic. After observing ``a_{-i}`` at ``(h, s)`` the
  belief ``b`` becomes ``(b * pi^._{-i}(a_{-i}|s)) / m @ alpha``, with ``m``
  the mass ``sum_j b_j pi^j_{-i}(a_{-i}|s)``, and

      W_h(s, b) = max_{a_i} sum_{a_{-i}} m(a_{-i})
                  [r_i(s, a) + sum_{s'} P_h(s'|s, a) W_{h+1}(s', b'(a_{-i}))],

  evaluated over the tree of observable histories (``S (|A_{-i}| S)^h`` nodes
  at step ``h``: small games only).

The CCE-gap is ``max_i initial @ (W_{i,0}(., alpha^._T) - V_i[T, 0])``.

References:
    Yorulmaz, Başar. Near Optimal Convergence to Coarse Correlated Equilibrium in
    General-Sum Markov Games. L4DC 2026, Algorithm 2 and Lemma 8.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.games import FiniteHorizonGame
from marlmeta.policies import marginals
from marlmeta.solvers import AdaptiveOFTRL, alpha_tilde
from marlmeta.theory._mao import Bound

#: The largest number of belief entries (history nodes times iterates, summed
#: over steps and players) the exact deviation holds.
MAX_BELIEF_ENTRIES = 200_000_000


class NestedIndexGap(eqx.Module):
    """The exact CCE-gap of the nested-index output policy after ``T`` iterations.

    Attributes:
        cce_gap: ``max_i (deviation_i - values_i)``.
        values: ``(N,)`` each player's value of the policy (Lemma 8).
        deviation: ``(N,)`` the best history-dependent deviation's value.
    """

    cce_gap: Float[Array, ""]
    values: Float[Array, " N"]
    deviation: Float[Array, " N"]


def index_weights(horizon: int, num_steps: int, dtype=jnp.float64) -> Array:
    """``W[t-1, j-1] = alpha^j_t = alpha_j prod_{k=j+1}^t (1 - alpha_k)`` for
    ``j <= t`` (0 above the diagonal), ``alpha_t = (H + 1) / (H + t)``."""
    t = jnp.arange(1, num_steps + 1, dtype=dtype)
    alpha = (horizon + 1) / (horizon + t)
    # C[t] = sum_{k=2}^t log(1 - alpha_k); alpha_1 = 1 never enters a product.
    log_keep = jnp.concatenate([jnp.zeros(1, dtype), jnp.log1p(-alpha[1:])])
    c = jnp.cumsum(log_keep)
    log_w = jnp.log(alpha)[None, :] + c[:, None] - c[None, :]
    lower = t[:, None] >= t[None, :]
    return jnp.where(lower, jnp.exp(jnp.where(lower, log_w, 0.0)), 0.0)


def oftrl_iterates(
    solver: AdaptiveOFTRL, game: FiniteHorizonGame, num_steps: int
) -> tuple[Float[Array, "T H S Ai"], ...]:
    """Run adaptive OFTRL and return every iterate ``pi^t_i``, ``t = 1..T``.

    The solver's state carries the running average ``sigma_t = (1 - alpha_t)
    sigma_{t-1} + alpha_t prod_i pi^t_i``; the iterate's joint policy is
    ``(sigma_t - (1 - alpha_t) sigma_{t-1}) / alpha_t`` and its marginals are
    the players' policies.
    """
    if int(num_steps) < 1:
        raise ValueError(f"num_steps is {num_steps}; expected >= 1")
    game.require_one_game("oftrl_iterates")
    state = solver.init(game, None)
    H, n = game.horizon, game.num_players

    def body(state, _):
        nxt = solver.step(game, state)
        alpha = ((H + 1) / (H + nxt.t)).astype(nxt.sigma.dtype)
        joint = (nxt.sigma - (1 - alpha) * state.sigma) / alpha
        return nxt, marginals(joint, n)

    _, iterates = jax.lax.scan(body, state, None, length=int(num_steps))
    return tuple(jnp.clip(p, 0.0, None) for p in iterates)


def _joint(policies: tuple[Array, ...]) -> Array:
    """Outer product over players of ``(T, S, A_i)`` arrays: ``(T, S, *A)``."""
    out = policies[0]
    for k, p in enumerate(policies[1:], start=1):
        lead = p.shape[:-1] + (1,) * k + p.shape[-1:]
        out = out[..., None] * p.reshape(lead)
    return out


def _values(game, iterates, weights) -> Array:
    """``V[t, i, h, s]`` of the nested-index policy by the index recursion."""
    T, n, H = weights.shape[0], game.num_players, game.horizon
    P = game.transitions.dense()
    v_next = jnp.zeros((T, n, game.num_states), weights.dtype)
    for h in reversed(range(H)):
        sigma = _joint(tuple(p[:, h] for p in iterates))  # (T, S, *A)
        cont = jnp.einsum("s...z,tiz->tis...", P[h], v_next)
        q = game.rewards[None, :, h] + cont  # (T, N, S, *A)
        x = jnp.sum(
            (q * sigma[:, None]).reshape(T, n, game.num_states, -1), axis=-1
        )  # (T, N, S)
        v_next = jnp.einsum("tj,jis->tis", weights, x)
    return v_next  # step 0


def _deviation(game, iterates, weights, i: int) -> Array:
    """Player ``i``'s best history-dependent deviation value, ``initial @ W_0``."""
    S, H, T = game.num_states, game.horizon, weights.shape[0]
    acts = game.num_actions
    others = [k for k in range(game.num_players) if k != i]
    K = math.prod(acts[k] for k in others)
    P = game.transitions.dense()
    # per step: others' joint (T, S, K); rewards (S, A_i, K); kernel (S, A_i, K, S)
    pred, rew, ker = [], [], []
    for h in range(H):
        pol = tuple(iterates[k][:, h] for k in others)
        pred.append(_joint(pol).reshape(T, S, K))
        rew.append(jnp.moveaxis(game.rewards[i, h], 1 + i, 1).reshape(S, acts[i], K))
        ker.append(jnp.moveaxis(P[h], 1 + i, 1).reshape(S, acts[i], K, S))
    # forward: beliefs and states of the history nodes at every step
    beliefs = [jnp.broadcast_to(weights[-1], (S, T))]
    states = [jnp.arange(S)]
    for h in range(H - 1):
        b, s = beliefs[-1], states[-1]
        like = b[:, None, :] * jnp.moveaxis(pred[h][:, s, :], 0, -1)  # (nodes, K, T)
        m = jnp.sum(like, axis=-1)
        nxt = (like / jnp.where(m > 0, m, 1.0)[..., None]) @ weights  # (nodes, K, T)
        beliefs.append(jnp.repeat(nxt.reshape(-1, T), S, axis=0))
        states.append(jnp.tile(jnp.arange(S), nxt.shape[0] * K))
    # backward over the tree: children of node (node, k, s') are contiguous
    w_next = None
    for h in reversed(range(H)):
        b, s = beliefs[h], states[h]
        m = jnp.einsum("nt,tnk->nk", b, pred[h][:, s, :])  # (nodes, K)
        q = rew[h][s]  # (nodes, A_i, K)
        if w_next is not None:
            child = w_next.reshape(-1, K, S)  # (nodes, K, S')
            q = q + jnp.einsum("nakz,nkz->nak", ker[h][s], child)
        w_next = jnp.max(jnp.einsum("nk,nak->na", m, q), axis=-1)
    return game.initial @ w_next


def nested_index_cce_gap(
    game: FiniteHorizonGame, iterates: tuple[Float[Array, "T H S Ai"], ...]
) -> NestedIndexGap:
    """The exact CCE-gap of Yorulmaz and Başar's nested-index output policy.

    Args:
        game: one finite-horizon general-sum game (dense transitions).
        iterates: per player, the iterates ``pi^1..pi^T`` of adaptive OFTRL,
            ``(T, H, S, A_i)`` (:func:`oftrl_iterates`).

    Returns:
        A :class:`NestedIndexGap`.

    Raises:
        ValueError: when the beliefs over the history tree would exceed
            :data:`MAX_BELIEF_ENTRIES` entries (naming the size), or the
            iterates' shapes do not fit the game.
    """
    game.require_one_game("nested_index_cce_gap")
    S, H = game.num_states, game.horizon
    T = iterates[0].shape[0]
    for k, (p, a) in enumerate(zip(iterates, game.num_actions, strict=True)):
        if tuple(p.shape[1:]) != (H, S, a):
            raise ValueError(
                f"iterates[{k}] has shape {tuple(p.shape)}; expected (T, {H}, {S}, {a})"
            )
    nodes = 0
    for i in range(game.num_players):
        K = math.prod(a for k, a in enumerate(game.num_actions) if k != i)
        nodes += sum(S * (K * S) ** h for h in range(H))
    if nodes * T > MAX_BELIEF_ENTRIES:
        raise ValueError(
            f"game's history tree has {nodes} nodes and iterates has T = {T}: "
            f"{nodes * T} belief entries; nested_index_cce_gap handles at most "
            f"{MAX_BELIEF_ENTRIES}"
        )
    dtype = game.rewards.dtype
    weights = index_weights(H, T, dtype)
    values = _values(game, iterates, weights)[-1] @ game.initial  # (N,), t = T
    deviation = jnp.stack(
        [_deviation(game, iterates, weights, i) for i in range(game.num_players)]
    )
    return NestedIndexGap(
        cce_gap=jnp.max(deviation - values), values=values, deviation=deviation
    )


def oftrl_weighted_regret(
    solver: AdaptiveOFTRL, game: FiniteHorizonGame, state
) -> tuple[Float[Array, "H S"], ...]:
    """The per-state weighted regret of adaptive OFTRL after ``t`` iterations
    (Yorulmaz and Başar, eq. 3), per player ``(H, S)``:

        reg^t_{i,h}(s) = max_a sum_{j <= t} alpha^j_t
                         (nu^j_{i,h}(s, a) - <pi^j_{i,h}, nu^j_{i,h}>(s)),

    ``nu^j = [Q^{(j)}_{i,h} pi^j_{-i,h}]`` the utility of iteration ``j``. The
    solver keeps ``U = (sum_j w_j g_j) / w_{t+1}`` with ``w_j = binom(H + j - 1,
    H)`` and ``alpha^j_t = alpha^1_t w_j``, so the regret is
    ``alpha^1_t w_{t+1} max_a U = (H + 1) / t max_a U``.

    Args:
        solver: the :class:`marlmeta.solvers.AdaptiveOFTRL` that ran (with the
            analysis' instantaneous baseline, ``smoothed_baseline=False``).
        game: the game.
        state: its state after ``t >= 1`` iterations.

    Raises:
        ValueError: for ``smoothed_baseline=True`` (its ``U`` is not eq. 3's).
    """
    if solver.smoothed_baseline:
        raise ValueError(
            "solver has smoothed_baseline=True; the weighted regret of eq. 3 "
            "needs the instantaneous baseline"
        )
    del game
    dtype = state.values.dtype
    horizon = state.values.shape[1]
    scale = (horizon + 1) / jnp.maximum(state.t, 1).astype(dtype)
    return tuple(scale * jnp.max(u, axis=-1) for u in state.regret)


def _tail(game: FiniteHorizonGame, num_steps: int, beta: float) -> float:
    """``alpha~ log T + 2 log |A_max| + 2``."""
    if int(num_steps) < 1:
        raise ValueError(f"num_steps is {num_steps}; expected >= 1")
    a_max = max(game.num_actions)
    return alpha_tilde(a_max, beta) * math.log(num_steps) + 2 * math.log(a_max) + 2


def oftrl_theorem4(
    game: FiniteHorizonGame, num_steps: int, beta: float = 70.0, step_size=None
) -> Bound:
    """Yorulmaz and Başar Theorem 4: the CCE-gap of the nested-index output
    after ``T`` iterations (rewards in ``[0, 1]``, ``beta >= 70``,
    ``eta = 1 / (24 H^{3/2} N)``):

        CCE-gap <= 864 H^{7/2} N (alpha~ log T + 2 log |A_max| + 2) / T,

    ``alpha~ = beta log^2 |A_max| + 2 log |A_max| + 2``. ``value`` is the
    printed bound (the proof is not re-derived here; the tests check it
    against :func:`nested_index_cce_gap`, the exact gap of the output it
    bounds). ``applies``: ``beta >= 70``, rewards in ``[0, 1]`` and the
    theorem's ``eta`` (``step_size=None``, the solver's default, or equal).
    """
    H, N = game.horizon, game.num_players
    value = jnp.asarray(
        864 * H**3.5 * N * _tail(game, num_steps, beta) / num_steps, game.rewards.dtype
    )
    ok = beta >= 70
    if step_size is not None:
        theory_eta = 1.0 / (24 * H**1.5 * N)
        ok = ok and abs(float(step_size) - theory_eta) <= 1e-9 * theory_eta
    r = game.rewards
    applies = jnp.asarray(ok) & (jnp.min(r) >= 0) & (jnp.max(r) <= 1)
    return Bound(value=value, printed=value, applies=applies)


def oftrl_regret_bound(
    game: FiniteHorizonGame, num_steps: int, beta: float = 70.0
) -> float:
    """Yorulmaz and Başar eqs. (50-52): every per-state weighted regret
    (:func:`oftrl_weighted_regret`) after ``t`` iterations is at most
    ``96 H^{5/2} N (alpha~ log t + 2 log |A_max| + 2) / t`` (same hypotheses
    as :func:`oftrl_theorem4`)."""
    H, N = game.horizon, game.num_players
    return 96 * H**2.5 * N * _tail(game, num_steps, beta) / num_steps
