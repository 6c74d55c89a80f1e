"""The normal-form subroutine of the aggregative planners: one LP per grid point.

Cummings, Kearns, Roth, Wu, "Privacy and Truthful Equilibrium Selection for
Aggregative Games" (WINE 2015), as used at every ``(h, s)`` by Tang, Tang, Wu,
"Provably Efficient Reinforcement Learning for Large Aggregative Markov Games":
the utilities ``Q`` at the grid points, the linear program ``LP(x̂)`` of one
grid point (:func:`stage_lp`), all LPs of a step in one batched call
(:func:`stage_lps`), and the selection and vertex rounding of the best feasible
grid point (:func:`select_and_round`). All are pure and traceable.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array

from marlmeta.aggregative._eta import StageLPs
from marlmeta.aggregative._game import AggregativeGame
from marlmeta.aggregative._metrics import stage_values
from marlmeta.lp import Status, grouped_linprog


def zeta(game: AggregativeGame) -> Array:
    """Azrieli and Shmaya's existence term ``delta sqrt(8 n ln(2 m n))``."""
    n, m = game.num_players, game.num_actions
    return game.delta * math.sqrt(8 * n * math.log(2 * m * n))


def stage_lp(q, w, contrib, xhat, eta, alpha, max_iterations: int | None):
    """LP(x̂) of one grid point and its vertex.

    Args:
        q: ``(n, m)`` utilities at ``x̂``.
        w: ``(n, m)`` welfare weights (zeros for the equilibrium LP).
        contrib: ``(n, m, d)`` contributions.
        xhat: ``(d,)`` the grid point.
        eta: the best-response slack.
        alpha: the aggregate tolerance.
        max_iterations: the simplex pivot budget (static; ``None`` for
            :func:`~marlmeta.lp.grouped_linprog`'s default).

    Returns:
        ``(status, p, value, iterations)``: the :class:`~marlmeta.lp.Status`,
        the mixed profile ``p`` ``(n, m)`` (the base actions where infeasible),
        its welfare ``sum w p`` and the pivot count.
    """
    mask = q >= jnp.max(q, 1, keepdims=True) - eta
    base = jnp.argmax(q, 1)
    a_ub = jnp.moveaxis(jnp.concatenate([contrib, -contrib], -1), -1, 0)
    b_ub = jnp.concatenate([xhat + alpha, alpha - xhat])
    res = grouped_linprog(
        -w, mask, a_ub, b_ub, initial=base, max_iterations=max_iterations
    )
    pure = jax.nn.one_hot(base, q.shape[1], dtype=q.dtype)
    p = jnp.where(res.success, res.x, pure)
    return res.status, p, jnp.sum(w * p), res.iterations


def _utilities(game, h, points, v_next):
    """``Q[s, g, i, a] = r_i(a, x̂_g) + P(s, x̂_g) . v_next[:, i]``."""
    n, m = game.num_players, game.num_actions

    def one(s, x):
        xs = jnp.broadcast_to(x, (n, m, x.shape[-1]))
        return stage_values(game, h, s, xs, v_next)

    states = jnp.arange(game.num_states)
    return jax.vmap(lambda s: jax.vmap(lambda x: one(s, x))(points))(states)


def solve_lps(contrib, points, q, weights, eta, alpha, max_iterations, batch_size):
    """LP(x̂) for every state and grid point of one step (traceable).

    Args:
        contrib: ``(S, n, m, d)`` the step's contributions.
        points: ``(G, d)`` grid points.
        q: ``(S, G, n, m)`` utilities at the grid points.
        weights: ``(S, n, m)`` welfare weights.

    Returns:
        ``(status, p, value, iterations)`` shaped ``(S, G, ..)``.
    """
    num_states, num_points = q.shape[:2]

    def one(args):
        s, qq, xhat = args
        return stage_lp(qq, weights[s], contrib[s], xhat, eta, alpha, max_iterations)

    ss = jnp.repeat(jnp.arange(num_states), num_points)
    xs = jnp.tile(points, (num_states, 1))
    flat = (ss, q.reshape(-1, *q.shape[2:]), xs)
    out = jax.lax.map(one, flat, batch_size=batch_size)
    return tuple(a.reshape(num_states, num_points, *a.shape[1:]) for a in out)


def select_and_round(status, p, objective):
    """The best feasible grid point per state (lowest index on ties) and its
    vertex rounded to each player's most likely action.

    Returns:
        ``(grid_index (S,), actions (S, n), score (S,), num_feasible (S,))``;
        ``score`` is ``-inf`` where no grid point is feasible.
    """
    feasible = status == Status.OPTIMAL
    score = jnp.where(feasible, objective, -jnp.inf)
    gidx = jnp.argmax(score, 1)
    states = jnp.arange(status.shape[0])
    actions = jnp.argmax(p[states, gidx], -1).astype(jnp.int32)
    return gidx, actions, score[states, gidx], jnp.sum(feasible, 1)


def stage_lps(
    game, points, h, v_look, w_next, weights, eta, alpha, max_iterations, batch_size
) -> StageLPs:
    """Every LP of step ``h`` at slack ``eta`` (traceable).

    Args:
        game: one :class:`AggregativeGame`.
        points: ``(G, d)`` grid points.
        h: the step.
        v_look: ``(S, n)`` the continuation values in the utilities ``Q``
            (zeros for the state-wise planner).
        w_next: ``(S,)`` the continuation welfare ``W_{h+1}``.
        weights: ``(S, n, m)`` the step's welfare weights.
        eta: the best-response slack.
        alpha: the aggregate tolerance.
        max_iterations: the simplex pivot budget (static).
        batch_size: LPs per ``vmap`` batch (static).

    Returns:
        The :class:`StageLPs`; the objective adds ``P(s, x̂) . W_{h+1}``.
    """
    q = _utilities(game, h, points, v_look)
    cont = jax.vmap(
        lambda s: jax.vmap(lambda x: game.transitions(h, s, x) @ w_next)(points)
    )(jnp.arange(game.num_states))
    status, p, value, iters = solve_lps(
        game.contributions[h],
        points,
        q,
        weights,
        eta,
        alpha,
        max_iterations,
        batch_size,
    )
    return StageLPs(
        status=status,
        p=p,
        objective=value + cont,
        iterations=jnp.max(iters),
        exhausted=jnp.sum(status == Status.ITERATION_LIMIT, 1),
    )
