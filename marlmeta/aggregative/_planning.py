"""Planning with a known model: the state-wise planner and Aggre-BI.

Both run, for every step ``h`` (backward) and state ``s``, the normal-form
subroutine of Cummings, Kearns, Roth, Wu, "Privacy and Truthful Equilibrium
Selection for Aggregative Games" (WINE 2015) on the utilities
``u_i(a, x) = Q_{h,i}(s, a, x)``, as in Tang, Tang, Wu, "Provably Efficient
Reinforcement Learning for Large Aggregative Markov Games" (Algorithms 1 and 2):

1. approximate best responses at every grid point ``x̂``:
   ``BA_i(x̂) = {a : u_i(a, x̂) >= max_a' u_i(a', x̂) - eta}``;
2. one linear program per grid point (all grid points and states of a step in
   one ``vmap`` of :func:`marlmeta.lp.grouped_linprog`): mixed actions ``p[i]``
   supported on ``BA_i(x̂)`` whose fractional aggregate is within ``alpha`` of
   ``x̂`` in ``||.||_inf``, maximising the linear welfare ``sum w[i, a] p[i, a]``
   (zero without selection); the continuation welfare ``P(s, x̂) . W_{h+1}``
   is added to compare grid points;
3. the feasible grid point with the best objective (lowest index on ties);
4. vertex rounding: the simplex returns a vertex, where at most ``d`` players
   are fractional; each player takes its most likely action, so the realised
   aggregate is within ``alpha + d delta`` of ``x̂`` (``E = d delta``).

The LP has ``n`` convexity rows and ``2 d`` aggregate rows; the simplex with
generalized upper bounding factorises only a ``2d x 2d`` working basis, so a
pivot costs ``O(n m d)`` and a thousand players take milliseconds per LP.
Phase 1 starts from every player's best action ``b_i``.

Certificate (per step, 0-based ``h``): ``eps_h = eta_h + gamma_h (2 alpha + 2 E +
delta)`` with ``gamma_h = L_h = gamma_r + gamma_P R (H - 1 - h)`` for Aggre-BI
(``R`` the reward span); the state-wise planner, which ignores continuation
values (``gamma_h = gamma_r``), adds ``gamma_P delta R (H - 1 - h)``. The
profile's exact NE-gap is at most ``sum_h eps_h``; with the default
``eta_h = gamma_h (zeta + 2 alpha + delta)``, ``zeta = delta sqrt(8 n ln(2 m n))``,
Aggre-BI's certificate is the paper's
``(zeta + 4 alpha + 2 delta + 2 E)(gamma_r H + gamma_P R H (H - 1) / 2)``.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from marlmeta.aggregative._game import AggregativeGame
from marlmeta.aggregative._grid import Grid, make_grid
from marlmeta.aggregative._metrics import _weights, deviations, stage_values
from marlmeta.lp import Status, grouped_linprog


class PlanningResult(eqx.Module):
    """Output of :func:`aggre_bi` and :func:`statewise`.

    Attributes:
        profile: ``(H, S, n)`` the pure Markov profile (action indices).
        eta: ``(H,)`` the best-response slack used at each step.
        eps: ``(H,)`` the per-step bound ``eps_h``.
        certificate: ``sum_h eps_h``, a bound on the profile's exact NE-gap.
        grid_index: ``(H, S)`` the selected grid point.
        objective: ``(H, S)`` its LP objective (welfare plus continuation).
        values: ``(H + 1, S, n)`` the profile's values.
        welfare_to_go: ``(H + 1, S)`` the profile's exact welfare to go
            (zero without weights).
        num_feasible: ``(H, S)`` feasible grid points.
        rounding_error: ``(H, S)`` ``||x(a) - x̂||_inf`` of the output
            (``<= alpha + d delta``).
        lp_iterations: the largest pivot count of any LP solved.
        grid: the :class:`Grid`.
    """

    profile: Int[Array, "H S n"]
    eta: Float[Array, " H"]
    eps: Float[Array, " H"]
    certificate: Float[Array, ""]
    grid_index: Int[Array, "H S"]
    objective: Float[Array, "H S"]
    values: Float[Array, "H1 S n"]
    welfare_to_go: Float[Array, "H1 S"]
    num_feasible: Int[Array, "H S"]
    rounding_error: Float[Array, "H S"]
    lp_iterations: Int[Array, ""]
    grid: Grid


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


@eqx.filter_jit
def _solve_step(
    game,
    points,
    h,
    v_next,
    w_next,
    weights,
    eta,
    alpha,
    lookahead,
    max_iterations,
    batch_size,
):
    """All LPs of step ``h``: statuses, vertices and objectives ``(S, G, ..)``."""
    q = _utilities(game, h, points, jnp.where(lookahead, v_next, 0.0))
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
    return status, p, value + cont, iters


@eqx.filter_jit
def _finish_step(game, points, h, status, p, objective, v_next, w_next, weights):
    """Select a grid point per state, round, and evaluate the rounded profile."""
    gidx, actions, score, num_feasible = select_and_round(status, p, objective)
    states = jnp.arange(game.num_states)

    def evaluate(s, a):
        x, x_dev = deviations(game, h, s, a)
        v = jnp.take_along_axis(stage_values(game, h, s, x_dev, v_next), a[:, None], 1)
        own = jnp.take_along_axis(weights[s], a[:, None], 1)
        wel = jnp.sum(own) + game.transitions(h, s, x) @ w_next
        return v[:, 0], wel, jnp.max(jnp.abs(x - points[gidx[s]]))

    v, wel, err = jax.vmap(evaluate)(states, actions)
    return actions, gidx, score, v, wel, err, num_feasible


def _check_eta(eta, horizon: int) -> np.ndarray:
    e = np.broadcast_to(np.asarray(eta, float), (horizon,)).copy()
    bad = ~np.isfinite(e) | (e < 0)
    if bad.any():
        h = int(np.argmax(bad))
        raise ValueError(f"eta[{h}] is {float(e[h])!r}; expected a finite number >= 0")
    return e


def _plan(
    game,
    alpha,
    eta,
    weights,
    lookahead,
    *,
    bisection_steps=16,
    max_lp_iterations=None,
    batch_size=None,
):
    grid = make_grid(game, alpha)
    points = grid.points()
    num_steps, num_states, n = game.horizon, game.num_states, game.num_players
    m, d = game.num_actions, game.dim
    dtype = game.contributions.dtype
    togo = np.arange(num_steps - 1, -1, -1)
    gamma_r, gamma_p = float(game.gamma_r), float(game.gamma_p)
    span, delta = float(game.reward_span), float(game.delta)
    gam = gamma_r + (gamma_p * span * togo if lookahead else 0.0)
    gam = np.broadcast_to(gam, (num_steps,))
    extra = 0.0 if lookahead else gamma_p * delta * span * togo
    theory = gam * (float(zeta(game)) + 2 * alpha + delta)
    smallest = isinstance(eta, str)
    if smallest and eta != "smallest":
        raise ValueError(f"eta is {eta!r}; expected None, a number, (H,) or 'smallest'")
    etas = theory.copy() if eta is None or smallest else _check_eta(eta, num_steps)
    w = jnp.zeros((num_steps, num_states, n, m), dtype)
    if weights is not None:
        w = _weights(game, weights)
    batch = batch_size or max(1, min(points.shape[0] * num_states, 4096))
    v_next = jnp.zeros((num_states, n), dtype)
    w_next = jnp.zeros((num_states,), dtype)
    out = {k: [None] * num_steps for k in ("a", "g", "obj", "v", "wel", "err", "nf")}
    max_iters = 0

    def solve(h, e):
        nonlocal max_iters
        status, p, obj, iters = _solve_step(
            game,
            points,
            h,
            v_next,
            w_next,
            w[h],
            jnp.asarray(e, dtype),
            jnp.asarray(alpha, dtype),
            lookahead,
            max_lp_iterations,
            batch,
        )
        st = np.asarray(status)
        if (st == Status.ITERATION_LIMIT).any():
            s, g = np.argwhere(st == Status.ITERATION_LIMIT)[0]
            budget = max_lp_iterations
            if budget is None:
                budget = "the default of grouped_linprog"
            raise RuntimeError(
                f"the LP at (h={h}, s={s}, grid point {g}) ran out of its pivot "
                f"budget ({budget}); raise max_lp_iterations"
            )
        max_iters = max(max_iters, int(np.max(iters)))
        return status, p, obj, (st == Status.OPTIMAL).any(1)

    for h in range(num_steps - 1, -1, -1):
        status, p, obj, ok = solve(h, etas[h])
        if smallest and ok.all():
            lo, hi = 0.0, etas[h]
            best = (status, p, obj)
            for _ in range(bisection_steps):
                mid = 0.5 * (lo + hi)
                st, pp, oo, okm = solve(h, mid)
                if okm.all():
                    hi, best = mid, (st, pp, oo)
                else:
                    lo = mid
            etas[h] = hi
            status, p, obj = best
            ok = np.ones(num_states, bool)
        if not ok.all():
            s = int(np.argmin(ok))
            raise ValueError(
                f"no grid point is feasible at (h={h}, s={s}) with eta = "
                f"{etas[h]!r} and alpha = {alpha!r}; increase eta or alpha"
            )
        a, g, o, v, wel, err, nf = _finish_step(
            game, points, h, status, p, obj, v_next, w_next, w[h]
        )
        for k, val in zip(out, (a, g, o, v, wel, err, nf), strict=True):
            out[k][h] = val
        v_next, w_next = v, wel
    big_e = d * delta
    eps = etas + gam * (2 * alpha + 2 * big_e + delta) + extra
    zero_v = jnp.zeros((1, num_states, n), dtype)
    return PlanningResult(
        profile=jnp.stack(out["a"]),
        eta=jnp.asarray(etas, dtype),
        eps=jnp.asarray(eps, dtype),
        certificate=jnp.asarray(np.sum(eps), dtype),
        grid_index=jnp.stack(out["g"]),
        objective=jnp.stack(out["obj"]),
        values=jnp.concatenate([jnp.stack(out["v"]), zero_v]),
        welfare_to_go=jnp.concatenate(
            [jnp.stack(out["wel"]), jnp.zeros((1, num_states), dtype)]
        ),
        num_feasible=jnp.stack(out["nf"]),
        rounding_error=jnp.stack(out["err"]),
        lp_iterations=jnp.asarray(max_iters),
        grid=grid,
    )


def aggre_bi(
    game: AggregativeGame,
    alpha: float,
    *,
    eta=None,
    welfare=None,
    bisection_steps: int = 16,
    max_lp_iterations: int | None = None,
    batch_size: int | None = None,
) -> PlanningResult:
    """Aggre-BI: backward induction with one LP per grid point and state.

    Algorithm 2 of Tang, Tang, Wu, "Provably Efficient Reinforcement Learning
    for Large Aggregative Markov Games": for ``h = H-1 .. 0`` the subroutine
    (module docstring) runs on ``Q_{h,i}(s, a, x) = r_{h,i}(s, a, x) +
    P_h(s, x) . V_{h+1,i}`` with ``L_h = gamma_r + gamma_P R (H - 1 - h)``,
    where ``V_{h+1}`` is the exact value of the profile already chosen for the
    later steps (evaluated at the realised, off-grid aggregates).

    Args:
        game: one concrete :class:`AggregativeGame` (the driver is host-level:
            grid size and errors depend on the data).
        alpha: grid spacing and aggregate tolerance.
        eta: ``None`` for the theory value ``L_h (zeta + 2 alpha + delta)``, a
            number or ``(H,)`` array, or ``"smallest"`` for the smallest slack
            per step that keeps every state feasible (bisection from the theory
            value; feasibility is monotone in ``eta``).
        welfare: optional ``(H, S, n, m)`` linear welfare weights; the LPs then
            maximise welfare plus continuation welfare (equilibrium selection,
            section 6 of the paper).
        bisection_steps: halvings for ``eta="smallest"``.
        max_lp_iterations: simplex pivot budget (default that of
            :func:`marlmeta.lp.grouped_linprog`).
        batch_size: LPs solved per ``vmap`` batch (memory control).

    Returns:
        A :class:`PlanningResult`.

    Raises:
        ValueError: for bad ``alpha``/``eta``/``welfare``, or when no grid point
            is feasible in some ``(h, s)`` (naming it).
    """
    return _plan(
        game,
        alpha,
        eta,
        welfare,
        True,
        bisection_steps=bisection_steps,
        max_lp_iterations=max_lp_iterations,
        batch_size=batch_size,
    )


def statewise(game: AggregativeGame, alpha: float, **options) -> PlanningResult:
    """The state-wise planner: the subroutine on the rewards alone.

    Algorithm 1 of Tang, Tang, Wu: each ``(h, s)`` solves the normal-form game
    ``u_i(a, x) = r_{h,i}(s, a, x)`` with ``gamma = gamma_r``, ignoring
    continuation values. Since a deviation moves ``x`` by at most ``delta``,
    it moves the next-state law by at most ``gamma_P delta`` in total
    variation, which adds ``gamma_P delta R (H - 1 - h)`` to ``eps_h``
    (Theorem 3.1). Arguments (``eta``, ``welfare``, ``bisection_steps``,
    ``max_lp_iterations``, ``batch_size``) as in :func:`aggre_bi`.
    """
    return _plan(
        game,
        alpha,
        options.pop("eta", None),
        options.pop("welfare", None),
        False,
        **options,
    )
