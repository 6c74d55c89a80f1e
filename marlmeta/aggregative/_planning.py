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

A planner (:class:`AggreBI`, :class:`Statewise`) is a module holding its slack
rule (:mod:`marlmeta.aggregative._eta`); ``planner.plan(game, grid)`` is one
``lax.scan`` over the steps, pure and traceable, so the caller jits it and
vmaps it over a family of games that share a grid.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from marlmeta._checks import concrete
from marlmeta.aggregative._eta import AbstractEtaRule, TheoryEta
from marlmeta.aggregative._game import AggregativeGame
from marlmeta.aggregative._grid import Grid
from marlmeta.aggregative._metrics import deviations, stage_values, welfare_weights
from marlmeta.aggregative._subroutine import (
    _utilities as _utilities,
    select_and_round,
    stage_lps,
    zeta,
)


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
        exhausted: ``(H, S)`` LPs that ran out of their pivot budget (in
            every trial of the slack rule); nonzero invalidates the plan.
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
    exhausted: Int[Array, "H S"]
    grid: Grid


class AbstractPlanner(eqx.Module):
    """A planner with a known model: the subroutine at every ``(h, s)``, backward.

    Pure and traceable: ``planner.plan(game, grid)`` is one ``lax.scan`` over
    the steps, so it runs under ``jit`` and ``vmap`` over a family of games
    (with one grid from :func:`~marlmeta.aggregative.make_grid` of the batch).
    Infeasible states and LPs out of pivots are flagged in the result
    (``num_feasible == 0``, ``exhausted > 0``); :func:`check_plan` raises.

    Attributes:
        eta: the slack rule (:class:`TheoryEta`, :class:`FixedEta`,
            :class:`SmallestEta`).
        max_lp_iterations: simplex pivot budget (static; ``None`` for
            :func:`~marlmeta.lp.grouped_linprog`'s default).
        batch_size: LPs solved per ``vmap`` batch (static; ``None`` for
            ``min(S G, 4096)``).
    """

    eta: AbstractEtaRule = eqx.field(default_factory=TheoryEta)
    max_lp_iterations: int | None = eqx.field(static=True, default=None)
    batch_size: int | None = eqx.field(static=True, default=None)

    @abc.abstractmethod
    def lipschitz(self, game: AggregativeGame) -> Float[Array, " H"]:
        """``gamma_h``, the Lipschitz constant of the utilities at step ``h``."""

    @abc.abstractmethod
    def drift(self, game: AggregativeGame) -> Float[Array, " H"]:
        """What ignoring continuation values adds to ``eps_h``."""

    @abc.abstractmethod
    def lookahead(self, v_next: Float[Array, "S n"]) -> Float[Array, "S n"]:
        """The continuation values that enter the utilities ``Q``."""

    def plan(self, game: AggregativeGame, grid: Grid, welfare=None) -> PlanningResult:
        """Plan a pure Markov profile with its certificate.

        Args:
            game: one :class:`AggregativeGame`.
            grid: the aggregate grid (:func:`~marlmeta.aggregative.make_grid`);
                its spacing is also the aggregate tolerance ``alpha``.
            welfare: optional ``(H, S, n, m)`` linear welfare weights; the LPs
                then maximise welfare plus continuation welfare (equilibrium
                selection, section 6 of Tang, Tang, Wu).

        Returns:
            A :class:`PlanningResult`.
        """
        points = grid.points()
        num_steps, num_states, n = game.horizon, game.num_states, game.num_players
        m, d = game.num_actions, game.dim
        dtype = game.contributions.dtype
        alpha, delta = grid.alpha, game.delta
        w = jnp.zeros((num_steps, num_states, n, m), dtype)
        if welfare is not None:
            w = welfare_weights(game, welfare)
        gam = self.lipschitz(game)
        theory = gam * (zeta(game) + 2 * alpha + delta)
        batch = self.batch_size or max(1, min(points.shape[0] * num_states, 4096))

        def step(carry, h):
            v_next, w_next = carry

            def solve(eta):
                return stage_lps(
                    game,
                    points,
                    h,
                    self.lookahead(v_next),
                    w_next,
                    w[h],
                    eta,
                    alpha,
                    self.max_lp_iterations,
                    batch,
                )

            eta, lps = self.eta.select(solve, theory, h)
            gidx, actions, score, nf = select_and_round(
                lps.status, lps.p, lps.objective
            )

            def evaluate(s, a):
                x, x_dev = deviations(game, h, s, a)
                v = stage_values(game, h, s, x_dev, v_next)
                v = jnp.take_along_axis(v, a[:, None], 1)[:, 0]
                own = jnp.take_along_axis(w[h, s], a[:, None], 1)
                wel = jnp.sum(own) + game.transitions(h, s, x) @ w_next
                return v, wel, jnp.max(jnp.abs(x - points[gidx[s]]))

            v, wel, err = jax.vmap(evaluate)(jnp.arange(num_states), actions)
            out = (actions, gidx, score, v, wel, err, nf, eta)
            return (v, wel), (*out, lps.iterations, lps.exhausted)

        zero_v = jnp.zeros((num_states, n), dtype)
        zero_w = jnp.zeros((num_states,), dtype)
        _, outs = jax.lax.scan(
            step, (zero_v, zero_w), jnp.arange(num_steps), reverse=True
        )
        actions, gidx, score, v, wel, err, nf, etas, iters, exhausted = outs
        eps = etas + gam * (2 * alpha + 2 * (d * delta) + delta) + self.drift(game)
        return PlanningResult(
            profile=actions,
            eta=etas,
            eps=eps,
            certificate=jnp.sum(eps),
            grid_index=gidx,
            objective=score,
            values=jnp.concatenate([v, zero_v[None]]),
            welfare_to_go=jnp.concatenate([wel, zero_w[None]]),
            num_feasible=nf,
            rounding_error=err,
            lp_iterations=jnp.max(iters),
            exhausted=exhausted,
            grid=grid,
        )


class AggreBI(AbstractPlanner):
    """Aggre-BI: backward induction with one LP per grid point and state.

    Algorithm 2 of Tang, Tang, Wu, "Provably Efficient Reinforcement Learning
    for Large Aggregative Markov Games": for ``h = H-1 .. 0`` the subroutine
    (module docstring) runs on ``Q_{h,i}(s, a, x) = r_{h,i}(s, a, x) +
    P_h(s, x) . V_{h+1,i}`` with ``L_h = gamma_r + gamma_P R (H - 1 - h)``,
    where ``V_{h+1}`` is the exact value of the profile already chosen for the
    later steps (evaluated at the realised, off-grid aggregates). Attributes as
    in :class:`AbstractPlanner`.
    """

    def lipschitz(self, game):
        """``L_h = gamma_r + gamma_P R (H - 1 - h)``."""
        return game.lipschitz_steps()

    def drift(self, game):
        """Zero: the continuation values are planned for."""
        return jnp.zeros((game.horizon,), game.contributions.dtype)

    def lookahead(self, v_next):
        """``V_{h+1}``, the values of the profile chosen for the later steps."""
        return v_next


class Statewise(AbstractPlanner):
    """The state-wise planner: the subroutine on the rewards alone.

    Algorithm 1 of Tang, Tang, Wu: each ``(h, s)`` solves the normal-form game
    ``u_i(a, x) = r_{h,i}(s, a, x)`` with ``gamma = gamma_r``, ignoring
    continuation values. Since a deviation moves ``x`` by at most ``delta``,
    it moves the next-state law by at most ``gamma_P delta`` in total
    variation, which adds ``gamma_P delta R (H - 1 - h)`` to ``eps_h``
    (Theorem 3.1). Attributes as in :class:`AbstractPlanner`.
    """

    def lipschitz(self, game):
        """``gamma_r`` at every step."""
        return jnp.broadcast_to(game.gamma_r, (game.horizon,))

    def drift(self, game):
        """``gamma_P delta R (H - 1 - h)``."""
        togo = jnp.arange(game.horizon - 1, -1, -1)
        return game.gamma_p * game.delta * game.reward_span * togo

    def lookahead(self, v_next):
        """Zeros: the continuation values are ignored."""
        return jnp.zeros_like(v_next)


def check_plan(result: PlanningResult) -> PlanningResult:
    """``result`` unchanged, or an error naming the first failing ``(h, s)``
    in planning order (``h = H-1 .. 0``).

    Call it on concrete results (outside ``jit``; :func:`aggre_bi` and
    :func:`statewise` call it themselves when they run eagerly).

    Raises:
        RuntimeError: when an LP of ``(h, s)`` ran out of its pivot budget
            (raise ``max_lp_iterations``).
        ValueError: when no grid point is feasible at ``(h, s)`` with the slack
            used (increase ``eta`` or ``alpha``).
    """
    exhausted = np.asarray(result.exhausted)
    feasible = np.asarray(result.num_feasible) > 0
    if exhausted.ndim != 2:
        raise ValueError(
            f"check_plan takes one result; got exhausted of shape {exhausted.shape}"
        )
    for h in range(exhausted.shape[0] - 1, -1, -1):
        if exhausted[h].any():
            s = int(np.argmax(exhausted[h] > 0))
            raise RuntimeError(
                f"an LP at (h={h}, s={s}) ran out of its pivot budget; raise "
                "max_lp_iterations"
            )
        if not feasible[h].all():
            s = int(np.argmin(feasible[h]))
            raise ValueError(
                f"no grid point is feasible at (h={h}, s={s}) with eta = "
                f"{float(result.eta[h])!r} and alpha = {float(result.grid.alpha)!r}; "
                "increase eta or alpha"
            )
    return result


#: The default slack rule of :func:`aggre_bi` and :func:`statewise`.
_THEORY = TheoryEta()


def _checked(result: PlanningResult) -> PlanningResult:
    if concrete(result.num_feasible) is None:
        return result
    return check_plan(result)


def _entry_point(planner_class, name: str, doc: str):
    """The public function that runs ``planner_class`` on one game."""

    def plan(
        game: AggregativeGame,
        grid: Grid,
        *,
        eta: AbstractEtaRule = _THEORY,
        welfare=None,
        max_lp_iterations: int | None = None,
        batch_size: int | None = None,
    ) -> PlanningResult:
        planner = planner_class(eta, max_lp_iterations, batch_size)
        return _checked(planner.plan(game, grid, welfare))

    plan.__name__ = plan.__qualname__ = name
    plan.__doc__ = doc
    return plan


aggre_bi = _entry_point(
    AggreBI,
    "aggre_bi",
    """Aggre-BI (:class:`AggreBI`) on one game: ``AggreBI(...).plan(game, grid)``.

    Pure and traceable; the caller owns ``jit`` and ``vmap`` (over a batch of
    games with one grid: ``jax.vmap(lambda g: aggre_bi(g, grid))(games)``).
    Run eagerly, it raises as :func:`check_plan`.

    Args:
        game: one :class:`AggregativeGame`.
        grid: :func:`~marlmeta.aggregative.make_grid` ``(game, alpha)``; ``alpha``
            is both the grid spacing and the aggregate tolerance.
        eta: the slack rule (default :class:`TheoryEta`).
        welfare: optional ``(H, S, n, m)`` linear welfare weights (equilibrium
            selection, section 6 of Tang, Tang, Wu).
        max_lp_iterations: simplex pivot budget (default that of
            :func:`marlmeta.lp.grouped_linprog`).
        batch_size: LPs solved per ``vmap`` batch (memory control).

    Returns:
        A :class:`PlanningResult`.
    """,
)

statewise = _entry_point(
    Statewise,
    "statewise",
    """The state-wise planner (:class:`Statewise`) on one game; arguments,
    tracing and errors as in :func:`aggre_bi`.""",
)
