"""Exact Nash equilibria of two-player zero-sum Markov games (Shapley 1953)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from marlmeta.evaluation import Report, nash_conv, report
from marlmeta.games import AbstractMarkovGame, MarkovGame
from marlmeta.lp import Status, matrix_game

ZERO_SUM_TOL = 1e-9


class ZeroSumEquilibrium(eqx.Module):
    """A Markov-perfect equilibrium of a zero-sum game with its certificate.

    Attributes:
        value: player 0's equilibrium value ``initial @ V_0``.
        state_values: player 0's values ``V_h(s)``, ``(H, S)`` for a
            finite-horizon game, ``V(s)``, ``(S,)`` for a discounted one.
        policy: the equilibrium product policy ``(mu, nu)`` in the library's
            layout, ``(H, S, A)`` and ``(H, S, B)`` (``(S, .)`` if discounted).
        certificate: the exact ``marlmeta.evaluation.nash_conv`` of
            ``policy`` (``V^{dagger, nu} - V^{mu, dagger}``), ``>= 0``.
        converged: every stage LP was solved to optimality and (discounted)
            value iteration met its tolerance. When ``False`` the arrays may be
            NaN and must not be trusted.
        iterations: value-iteration sweeps (``H`` for a finite horizon).
    """

    value: Float[Array, ""]
    state_values: Float[Array, "*HS"]
    policy: tuple[Array, Array]
    certificate: Float[Array, ""]
    converged: Bool[Array, ""]
    iterations: Int[Array, ""]


def _check_zero_sum(game: AbstractMarkovGame) -> None:
    if game.num_players != 2:
        raise ValueError(f"game has {game.num_players} players; a zero-sum game has 2")
    if isinstance(game.rewards, jax.core.Tracer):
        return
    r = np.asarray(game.rewards)
    err = np.abs(r[0] + r[1])
    if (err > ZERO_SUM_TOL).any():
        idx = [
            int(i)
            for i in np.unravel_index(int(np.argmax(err > ZERO_SUM_TOL)), err.shape)
        ]
        raise ValueError(
            f"game is not zero sum: rewards[0]{idx} + rewards[1]{idx} is "
            f"{float(r[0][tuple(idx)] + r[1][tuple(idx)])!r}; expected 0 "
            f"(tolerance {ZERO_SUM_TOL:g})"
        )


def _stage(q, lp_iterations):
    """Solve the matrix games ``q[s]`` of all states at once."""
    sol = jax.vmap(lambda m: matrix_game(m, max_iterations=lp_iterations))(q)
    return sol.value, sol.x, sol.y, jnp.all(sol.status == Status.OPTIMAL)


def _finite(game: MarkovGame, lp_iterations):
    r = game.rewards[0]

    def body(v_next, h):
        q = r[h] + game.transitions.expectation(h, v_next)
        v, x, y, ok = _stage(q, lp_iterations)
        return v, (v, x, y, ok)

    v0 = jnp.zeros(game.num_states, r.dtype)
    _, (v, mu, nu, ok) = jax.lax.scan(body, v0, jnp.arange(game.horizon), reverse=True)
    return v, v[0], (mu, nu), jnp.all(ok), jnp.int32(game.horizon)


def _discounted(game, tol, max_iterations, lp_iterations):
    r = game.rewards[0]

    def bellman(v):
        return _stage(
            r + game.discount * game.transitions.expectation(0, v), lp_iterations
        )

    def cond(carry):
        _, delta, k, ok = carry
        return (delta > tol) & (k < max_iterations) & ok

    def body(carry):
        v, _, k, _ = carry
        v_new, _, _, ok = bellman(v)
        return v_new, jnp.max(jnp.abs(v_new - v)), k + 1, ok

    v0 = jnp.zeros(game.num_states, r.dtype)
    init = (v0, jnp.array(jnp.inf, r.dtype), jnp.int32(0), jnp.array(True))
    v, delta, k, ok = jax.lax.while_loop(cond, body, init)
    v_final, mu, nu, ok_final = bellman(v)
    return v_final, v_final, (mu, nu), ok & ok_final & (delta <= tol), k


def zero_sum_equilibrium(
    game: AbstractMarkovGame,
    *,
    tol: float | None = None,
    max_iterations: int = 10_000,
    lp_iterations: int | None = None,
) -> ZeroSumEquilibrium:
    """A Markov-perfect Nash equilibrium of a two-player zero-sum game, exactly.

    Shapley's method (Shapley 1953, "Stochastic games"): with ``Q(s, a, b) =
    r_0(s, a, b) + sum_{s'} P(s'|s, a, b) V(s')``, the value is ``V(s) =
    val Q(s)``, the value of the matrix game ``Q(s)``, and the optimal
    strategies of those matrix games form the equilibrium.

    - Finite horizon: backward induction from ``V_H = 0``, one matrix game per
      ``(h, s)`` (all states of a step solved at once); the result is exact up
      to rounding.
    - Discounted: Shapley value iteration ``V <- val(r + gamma P V)`` from
      ``V = 0`` until the sup-norm change is ``<= tol`` (at most
      ``max_iterations`` sweeps; a ``lax.while_loop``), then the stationary
      strategies of the last sweep. The value error is at most
      ``gamma tol / (1 - gamma)``.

    Matrix games are solved by :func:`marlmeta.lp.matrix_game` (vertex
    strategies). The returned ``certificate`` is the exact NashConv of the
    returned policy. One game per call; ``vmap`` for batches.

    Args:
        game: a two-player zero-sum :class:`~marlmeta.games.MarkovGame` or
            :class:`~marlmeta.games.DiscountedMarkovGame`.
        tol: value-iteration tolerance (discounted games only); default
            ``1e-12`` in float64, ``1e-5`` in float32.
        max_iterations: value-iteration cap (discounted games only).
        lp_iterations: pivot budget of each matrix game (default that of
            :func:`marlmeta.lp.matrix_game`).

    Returns:
        A :class:`ZeroSumEquilibrium`.

    Raises:
        ValueError: if the game does not have two players, or (when concrete)
            ``rewards[1] != -rewards[0]`` beyond ``1e-9``, naming the first
            offending index.

    Example:
        >>> import jax, marlmeta
        >>> games = marlmeta.games.random_zero_sum(jax.random.key(0), 1, (2, 2), 2, 3)
        >>> eq = marlmeta.exact.zero_sum_equilibrium(marlmeta.games.unstack(games)[0])
        >>> print(bool(eq.converged), bool(eq.certificate < 1e-5))
        True True
    """
    _check_zero_sum(game)
    dtype = game.rewards.dtype
    if tol is None:
        tol = 1e-12 if jnp.finfo(dtype).bits >= 64 else 1e-5
    if isinstance(game, MarkovGame):
        state_values, v0, policy, ok, sweeps = _finite(game, lp_iterations)
    else:
        state_values, v0, policy, ok, sweeps = _discounted(
            game, tol, int(max_iterations), lp_iterations
        )
    return ZeroSumEquilibrium(
        value=game.initial @ v0,
        state_values=state_values,
        policy=policy,
        certificate=nash_conv(game, policy),
        converged=ok,
        iterations=sweeps,
    )


class ExactReport(Report):
    """A checkpoint metric with the ground truth beside the gap: the
    :class:`~marlmeta.evaluation.Report` fields (``values``, ``gains``) and

    Attributes:
        exact_value: ``V*``, player 0's exact equilibrium value from ``initial``.
    """

    exact_value: Float[Array, ""]

    @property
    def value_error(self):
        """``|V - V*|`` of player 0; never above ``nash_conv``."""
        return jnp.abs(self.values[..., 0] - self.exact_value)


def exact_report(game: AbstractMarkovGame, policy) -> ExactReport:
    """Values, gains and the exact value ``V*`` of a two-player zero-sum game.

    A ``metric`` for :func:`marlmeta.solve` and :func:`marlmeta.solve_batch`:
    the trace then reports ``value_error = |V - V*|`` beside ``nash_conv``.
    ``V*`` comes from :func:`zero_sum_equilibrium` of the same game (under
    ``stop_gradient``), recomputed at each checkpoint.
    """
    rep = report(game, policy)
    exact = jax.lax.stop_gradient(zero_sum_equilibrium(game).value)
    return ExactReport(values=rep.values, gains=rep.gains, exact_value=exact)
