"""Adaptive OFTRL (MG-DLRC-OMWU with V-updates) for CCE in general-sum games.

Yorulmaz and Başar's Algorithm 1. Every player ``i`` runs, for every
``(h, s)`` in parallel, with ``d = A_i``, ``alpha_t = (H + 1)/(H + t)`` and the
normalised regret ``U``:

    R = eta (U + g_prev)
    lambda = argmax_{l in (0, 1]} (alpha~ - 1) log l + log sum_a exp(l R_a)
    pi = softmax(lambda R)
    (backward over h, with the new V_{h+1})
    V_h <- (1 - alpha_t) V_h + alpha_t [(r_h + P_h V_{h+1}) pi_h]
    nu = [(r_h + P_h V_{h+1}) pi_{-i,h}],   g = nu - <nu, pi_i> 1
    U <- t / (t + H) (U + g),   g_prev <- g

Choices of this library where the paper leaves room:

- **Stable weights.** The paper accumulates ``w_t``-weighted regrets with
  ``w_t = binom(H + t - 1, H)`` and step ``eta / w_t``; ``w_t`` grows like
  ``t^H / H!`` and overflows. Dividing by ``w_t`` gives the same iterates with
  ``U = (sum_j w_j g_j) / w_t``, i.e. the recursion ``U <- t/(t+H) (U + g)``
  above (``w_t / w_{t+1} = t / (t + H)``).
- **Baseline.** The algorithm box subtracts the smoothed value ``V`` from
  ``nu``; the paper's analysis (its Lemma 2 and Algorithm 3) uses the
  instantaneous ``<nu, pi_i>``, which is the default here
  (``smoothed_baseline=True`` gives the box's form). Softmax is
  shift-invariant, so the two differ only through ``lambda``.
- **lambda.** The objective is strictly concave when ``alpha~ > 1 + log^2 d``
  (the paper's Lemma 14), so ``lambda = 1`` exactly when its derivative
  ``<softmax(R), R> + alpha~ - 1`` is ``>= 0``; otherwise ``lambda`` is the root
  in ``(0, 1)`` of the (decreasing) derivative, found by bisection with a fixed
  number of halvings (``bisection_steps``).
- **alpha~** ``= beta log^2 d + 2 log d + 2`` (natural logs) with each
  player's own ``d = A_i``, where Theorem 4 writes ``|A_max|``.

Output: the Markov average-joint policy ``sigma_h = sum_j alpha^j_t prod_i
pi^j_{h,i}`` with the algorithm's weights (``alpha^j_t = alpha_j prod_{k>j}
(1 - alpha_k)``), accumulated as ``sigma <- (1 - alpha_t) sigma + alpha_t
prod_i pi^t_i``, so that its CCE-gap is exact. Diagnostics: the paper's
online bound ``cce_gap_ub`` (the recursion ``M <- (1 - alpha_t) M + alpha_t
[(r + P B_{h+1}) pi_{-i}]``, ``B = max_a M``, reported as
``max_i initial @ (B_{i,0} - V_{i,0})``) and how many ``(i, h, s)`` took
``lambda < 1`` at the last iteration.

What the bound bounds: ``V`` is the exact value of the paper's own output,
the non-Markov policy of its Algorithm 2 whose players share a nested index
``T >= j_1 >= j_2 >= ..`` (its Lemma 8), and ``B`` is the value of a deviator
who even sees that index; so ``cce_gap_ub`` is never below that policy's exact
CCE-gap (tested against an exact history-dependent best response in
``tests/``). The Markov average-joint ``sigma`` above is a different policy,
and its exact CCE-gap can exceed ``cce_gap_ub`` (by up to 1e-3 on the paper's
random 2-player, 2-state, 2-action, ``H = 2`` games).

References:
    Yorulmaz, Başar. Near Optimal Convergence to Coarse Correlated Equilibrium in
    General-Sum Markov Games. L4DC 2026, Algorithms 1-3, Lemma 14 and Theorem 4.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from marlmeta.games import MarkovGame
from marlmeta.policies import expect, expect_others, product_to_joint
from marlmeta.solvers._base import (
    AbstractSolver,
    as_hyperparameter,
    check_hyperparameter,
)
from marlmeta.solvers._stages import renormalise


def alpha_tilde(num_actions: int, beta: float) -> float:
    """``alpha~ = beta log^2 d + 2 log d + 2`` (natural logs) for ``d`` actions."""
    log_d = math.log(num_actions)
    return beta * log_d**2 + 2 * log_d + 2


def select_lambda(r: Float[Array, "... d"], alpha_t: float, iterations: int):
    """``argmax_{l in (0, 1]} (alpha~ - 1) log l + logsumexp(l r)`` per row.

    The objective is strictly concave when ``alpha~ > 1 + log^2 d`` (Yorulmaz
    and Başar, Lemma 14), so ``l = 1`` iff its derivative
    ``<softmax(l r), r> + (alpha~-1)/l`` is ``>= 0`` at 1; otherwise the root
    in ``(0, 1)`` is bracketed and found by ``iterations`` bisection steps
    (jit/vmap friendly; skipped entirely when no row needs it).
    """

    def slope(lam):
        p = jax.nn.softmax(lam[..., None] * r, axis=-1)
        # Illegal actions (r = -inf) have p = 0 and add nothing.
        pr = jnp.where(jnp.isneginf(r), 0.0, p * r)
        return jnp.sum(pr, axis=-1) + (alpha_t - 1.0) / lam

    one = jnp.ones(r.shape[:-1], r.dtype)
    interior = slope(one) < 0

    def halve(c):
        k, lo, hi = c
        mid = 0.5 * (lo + hi)
        up = slope(mid) > 0  # the root lies above mid
        return k + 1, jnp.where(up, mid, lo), jnp.where(up, hi, mid)

    def more(c):  # no halving at all when every lambda is 1 (the common case)
        return (c[0] < iterations) & jnp.any(interior)

    start = (jnp.zeros((), jnp.int32), jnp.zeros_like(one), one)
    _, lo, hi = jax.lax.while_loop(more, halve, start)
    return jnp.where(interior, 0.5 * (lo + hi), one), interior


class AdaptiveOFTRLState(eqx.Module):
    """State of :class:`AdaptiveOFTRL`; tuples hold one array per player."""

    t: Int[Array, ""]
    regret: tuple[Float[Array, "H S Ai"], ...]  # normalised U
    last: tuple[Float[Array, "H S Ai"], ...]  # g of the previous iteration
    values: Float[Array, "N H S"]  # smoothed V
    bound: tuple[Float[Array, "H S Ai"], ...]  # M of the cce_gap_ub recursion
    sigma: Float[Array, "H S *A"]
    triggers: Int[Array, ""]


class OFTRLDiagnostics(eqx.Module):
    """``cce_gap_ub`` (the paper's online upper bound) and the lambda < 1 count."""

    cce_gap_ub: Float[Array, ""]
    lambda_triggers: Int[Array, ""]


class AdaptiveOFTRL(AbstractSolver):
    """Adaptive OFTRL / DLRC-OMWU for CCE in N-player general-sum games.

    Attributes:
        step_size: ``eta > 0``; ``None`` uses Theorem 4's ``1 / (24 H^{3/2} N)``.
        beta: the regulariser constant (Theorem 4 needs ``beta >= 70``).
        bisection_steps: fixed number of halvings for ``lambda``.
        smoothed_baseline: use ``V`` instead of ``<nu, pi_i>`` as the baseline
            (the algorithm box's variant; the analysis uses the instantaneous one).

    Example:
        >>> import jax, marlmeta
        >>> games = marlmeta.games.random_general_sum(jax.random.key(0), 1, horizon=2)
        >>> game = jax.tree.map(lambda x: x[0], games)
        >>> sol = marlmeta.solve(marlmeta.solvers.AdaptiveOFTRL(0.1), game, 500)
        >>> bool(sol.trace.cce_gap[-1] < sol.trace.cce_gap[0] + 1e-6)
        True
    """

    step_size: Float[Array, ""] | None = eqx.field(
        default=None,
        converter=lambda x: None if x is None else as_hyperparameter("step_size", x),
    )
    beta: float = eqx.field(default=70.0, static=True)
    bisection_steps: int = eqx.field(default=60, static=True)
    smoothed_baseline: bool = eqx.field(default=False, static=True)

    def __check_init__(self):
        check_hyperparameter("step_size", self.step_size)
        check_hyperparameter("beta", self.beta)
        check_hyperparameter("bisection_steps", self.bisection_steps)

    def eta(self, game: MarkovGame):
        if self.step_size is None:
            return 1.0 / (24 * game.horizon**1.5 * game.num_players)
        return jnp.asarray(self.step_size)

    def default_init(self, game: MarkovGame, num_steps: int):
        del num_steps
        return None  # the algorithm starts from zero regret (uniform play)

    def init(self, game: MarkovGame, init_policy) -> AdaptiveOFTRLState:
        del init_policy
        dtype = game.rewards.dtype
        shape = (game.horizon, game.num_states)
        zeros = tuple(jnp.zeros((*shape, a), dtype) for a in game.num_actions)
        return AdaptiveOFTRLState(
            t=jnp.zeros((), jnp.int32),
            regret=zeros,
            last=zeros,
            values=jnp.zeros(game.rewards.shape[:3], dtype),
            bound=zeros,
            sigma=jnp.zeros((*shape, *game.num_actions), dtype),
            triggers=jnp.zeros((), jnp.int32),
        )

    def step(self, game: MarkovGame, state: AdaptiveOFTRLState) -> AdaptiveOFTRLState:
        dtype = state.values.dtype
        H, n = game.horizon, game.num_players
        t = state.t + 1
        alpha = ((H + 1) / (H + t)).astype(dtype)
        eta = jnp.asarray(self.eta(game), dtype)
        policy, triggers = [], jnp.zeros((), jnp.int32)
        for i, a in enumerate(game.num_actions):
            # Illegal actions: -inf, so softmax gives them probability 0.
            r = game.legal.restrict_logits(i, eta * (state.regret[i] + state.last[i]))
            lam, inner = select_lambda(
                r, alpha_tilde(a, self.beta), self.bisection_steps
            )
            policy.append(jax.nn.softmax(lam[..., None] * r, axis=-1))
            triggers = triggers + jnp.sum(inner, dtype=jnp.int32)
        policy = tuple(policy)
        expectation = jax.vmap(game.transitions.expectation, in_axes=(None, 0))

        def backward(carry, h):
            v_next, b_next = carry
            pol = tuple(p[h] for p in policy)
            ev = expectation(h, jnp.concatenate([v_next, b_next]))
            q = game.rewards[:, h] + ev[:n]
            qb = game.rewards[:, h] + ev[n:]
            v = jnp.stack([expect(q[i], pol) for i in range(n)])
            v = (1 - alpha) * state.values[:, h] + alpha * v
            gs, ms = [], []
            for i in range(n):
                nu = expect_others(q[i], pol, i)
                base = v[i] if self.smoothed_baseline else jnp.sum(nu * pol[i], axis=-1)
                gs.append(nu - base[:, None])
                dev = expect_others(qb[i], pol, i)
                ms.append((1 - alpha) * state.bound[i][h] + alpha * dev)
            b = jnp.stack(
                [
                    jnp.max(game.legal.restrict(h, i, m), axis=-1)
                    for i, m in enumerate(ms)
                ]
            )
            return (v, b), (v, tuple(gs), tuple(ms))

        zero = jnp.zeros((n, game.num_states), dtype)
        hs = jnp.arange(H)
        _, (values, last, bound) = jax.lax.scan(
            backward, (zero, zero), hs, reverse=True
        )
        shrink = (t / (t + H)).astype(dtype)
        return AdaptiveOFTRLState(
            t=t,
            regret=tuple(
                shrink * (u + g) for u, g in zip(state.regret, last, strict=True)
            ),
            last=last,
            values=jnp.moveaxis(values, 0, 1),
            bound=bound,
            sigma=(1 - alpha) * state.sigma + alpha * product_to_joint(policy),
            triggers=triggers,
        )

    def output(self, game: MarkovGame, state: AdaptiveOFTRLState):
        """The Markov average-joint policy ``sigma`` ``(H, S, *A)`` (divided by
        its sum, so that it is on the simplex to rounding after any ``T``)."""
        return renormalise(state.sigma, game.num_players)

    def diagnostics(self, game: MarkovGame, state: AdaptiveOFTRLState):
        b0 = jnp.stack(
            [
                jnp.max(game.legal.restrict(0, i, m[0]), axis=-1)
                for i, m in enumerate(state.bound)
            ]
        )
        gap = jnp.max((b0 - state.values[:, 0]) @ game.initial)
        return OFTRLDiagnostics(cce_gap_ub=gap, lambda_triggers=state.triggers)
