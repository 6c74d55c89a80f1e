"""Exact Nash equilibria of two-player zero-sum Markov games (Shapley 1953)."""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from marlmeta._checks import numpy_to_jax
from marlmeta.evaluation import AbstractUnilateralReport, nash_conv, report
from marlmeta.games import AbstractMarkovGame, DiscountedMarkovGame, FiniteHorizonGame
from marlmeta.lp import (
    Status,
    certificate_tolerance,
    check_budget,
    check_tolerance,
    default_tolerance,
    power_of_two,
    solve_matrix_game,
)

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
        converged: the answer is certified: the game is zero sum
            (``valid``), every stage matrix game was solved and certified,
            (discounted) value iteration met its tolerance, and
            ``certificate <= tau R T``, with ``R`` the power of two nearest
            ``max |r_0|``, ``T = H`` (finite horizon) or ``1 / (1 - gamma)``
            (discounted) and ``tau`` the
            :func:`marlmeta.lp.certificate_tolerance` of the dtype's default
            pivot tolerance (``1e-8`` in float64, ``1e-4`` in float32). When
            ``False`` the arrays may be NaN and must not be trusted.
        valid: the precondition ``max |r_0 + r_1| <= 1e-9 max |r|`` holds.
            Checked (and raised on) before solving when the rewards are
            concrete; under ``jit`` / ``vmap`` a game that violates it gets
            ``valid = converged = False`` and NaN in every other field.
        iterations: value-iteration sweeps (``H`` for a finite horizon).
    """

    value: Float[Array, ""]
    state_values: Float[Array, "*HS"]
    policy: tuple[Array, Array]
    certificate: Float[Array, ""]
    converged: Bool[Array, ""]
    valid: Bool[Array, ""]
    iterations: Int[Array, ""]


def _zero_sum_error(game: AbstractMarkovGame) -> tuple[Array, Array]:
    """``|r_0 + r_1|`` entrywise and the reward scale ``max |r|``."""
    r = game.rewards
    return jnp.abs(r[0] + r[1]), jnp.max(jnp.abs(r))


def _check_zero_sum(game: AbstractMarkovGame) -> Array:
    """The zero-sum precondition: raise (concrete rewards) or return the
    traced flag ``max |r_0 + r_1| <= ZERO_SUM_TOL max |r|``."""
    if game.num_players != 2:
        raise ValueError(f"game has {game.num_players} players; a zero-sum game has 2")
    err, scale = _zero_sum_error(game)
    allowed = ZERO_SUM_TOL * scale
    if isinstance(err, jax.core.Tracer):
        return jnp.all(err <= allowed)
    err, allowed = np.asarray(err), float(allowed)
    if (err > allowed).any():
        r = np.asarray(game.rewards)
        idx = [
            int(i) for i in np.unravel_index(int(np.argmax(err > allowed)), err.shape)
        ]
        raise ValueError(
            f"game is not zero sum: rewards[0]{idx} + rewards[1]{idx} is "
            f"{float(r[0][tuple(idx)] + r[1][tuple(idx)])!r}; expected 0 "
            f"(tolerance {ZERO_SUM_TOL:g} max |rewards| = {allowed:g})"
        )
    return jnp.array(True)


def _stage(q, lp_iterations):
    """Solve the matrix games ``q[s]`` of all states at once."""
    sol = jax.vmap(lambda m: solve_matrix_game(m, max_iterations=lp_iterations))(q)
    return sol.value, sol.x, sol.y, jnp.all(sol.status == Status.OPTIMAL)


@functools.singledispatch
def _shapley(game: AbstractMarkovGame, r, tol, max_iterations, lp_iterations):
    """Shapley's method for the game's kind: ``(state values, values at the
    start, policy, ok, sweeps, span)`` with ``span`` the largest total weight
    of one reward (``H``, or ``1 / (1 - gamma)``)."""
    raise ValueError(
        f"game is a {type(game).__name__}; zero_sum_equilibrium takes a "
        "FiniteHorizonGame or a DiscountedMarkovGame"
    )


@_shapley.register
def _finite(game: FiniteHorizonGame, r, tol, max_iterations, lp_iterations):
    del tol, max_iterations  # backward induction is exact

    def body(v_next, h):
        q = r[h] + game.transitions.expectation(h, v_next)
        v, x, y, ok = _stage(q, lp_iterations)
        return v, (v, x, y, ok)

    v0 = jnp.zeros(game.num_states, r.dtype)
    _, (v, mu, nu, ok) = jax.lax.scan(body, v0, jnp.arange(game.horizon), reverse=True)
    span = jnp.asarray(game.horizon, r.dtype)
    return v, v[0], (mu, nu), jnp.all(ok), jnp.int32(game.horizon), span


@_shapley.register
def _discounted(game: DiscountedMarkovGame, r, tol, max_iterations, lp_iterations):

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
    ok = ok & ok_final & (delta <= tol)
    return v_final, v_final, (mu, nu), ok, k, 1 / (1 - game.discount)


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
      ``V = 0`` until the sup-norm change is ``<= tol R`` (``R`` the power
      of two nearest ``max |r_0|``; at most ``max_iterations`` sweeps, a
      ``lax.while_loop``), then the stationary strategies of the last sweep.
      The value error is at most ``gamma tol R / (1 - gamma)``.

    The rewards are first scaled by a power of two to a largest entry of
    about 1 (exactly; the strategies are unchanged and the values scale back),
    so the result does not depend on the units of the rewards. Matrix games
    are solved by :func:`marlmeta.lp.solve_matrix_game` (vertex strategies, each
    certified by its duality gap). The returned ``certificate`` is the exact
    NashConv of the returned policy, and ``converged`` holds only when it is
    within the tolerance stated in :class:`ZeroSumEquilibrium`. One game per
    call; ``vmap`` for batches.

    Args:
        game: a two-player zero-sum :class:`~marlmeta.games.MarkovGame` or
            :class:`~marlmeta.games.DiscountedMarkovGame`.
        tol: value-iteration tolerance in ``(0, 0.01]``, relative to
            ``max |r_0|`` (discounted games only); default ``1e-12`` in
            float64, ``1e-5`` in float32.
        max_iterations: value-iteration cap, a positive int (discounted games
            only).
        lp_iterations: pivot budget of each matrix game, a non-negative int
            (default that of :func:`marlmeta.lp.solve_matrix_game`).

    Returns:
        A :class:`ZeroSumEquilibrium`.

    Raises:
        ValueError: if ``game`` is a batch (one message: use ``jax.vmap``),
            if the game does not have two players, ``tol``,
            ``max_iterations`` or ``lp_iterations`` is invalid, or (when
            concrete) ``|rewards[0] + rewards[1]|`` exceeds ``1e-9 max
            |rewards|``, naming the first offending index. Under tracing the
            last gives ``valid = False`` instead.

    Example:
        >>> import jax, marlmeta
        >>> games = marlmeta.games.random_zero_sum(jax.random.key(0), 1, (2, 2), 2, 3)
        >>> eq = marlmeta.exact.zero_sum_equilibrium(marlmeta.games.unstack(games)[0])
        >>> print(bool(eq.converged), bool(eq.certificate < 1e-5))
        True True
    """
    game.require_one_game("zero_sum_equilibrium")  # before the zero-sum check
    game = numpy_to_jax(game)  # the stage loop closes over it
    valid = _check_zero_sum(game)
    dtype = game.rewards.dtype
    tol = check_tolerance("tol", tol, 1e-12 if jnp.finfo(dtype).bits >= 64 else 1e-5)
    max_iterations = check_budget("max_iterations", max_iterations)
    if lp_iterations is not None:
        lp_iterations = check_budget("lp_iterations", lp_iterations, 0)
    # Solve the game with rewards scaled (by a power of two, exactly) to a
    # largest entry of about 1; values scale back, strategies do not change.
    rho = power_of_two(jnp.max(jnp.abs(game.rewards[0])))
    r = game.rewards[0] / rho
    state_values, v0, policy, ok, sweeps, span = _shapley(
        game, r, tol, max_iterations, lp_iterations
    )
    certificate = nash_conv(game, policy)
    scale = rho * span
    certified = certificate <= certificate_tolerance(default_tolerance(dtype)) * scale
    nan = jnp.array(jnp.nan, dtype)
    return ZeroSumEquilibrium(
        value=jnp.where(valid, game.initial @ v0 * rho, nan),
        state_values=jnp.where(valid, state_values * rho, nan),
        policy=jax.tree.map(lambda p: jnp.where(valid, p, nan), policy),
        certificate=jnp.where(valid, certificate, nan),
        converged=ok & valid & certified,
        valid=valid,
        iterations=sweeps,
    )


class ExactReport(AbstractUnilateralReport):
    """A checkpoint metric with the ground truth beside the gap: the
    :class:`~marlmeta.evaluation.Report` fields and the exact value.

    Attributes:
        values: ``(N,)`` each player's value.
        gains: ``(N,)`` each player's best-deviation gain.
        exact_value: ``V*``, player 0's exact equilibrium value from ``initial``.
    """

    values: Float[Array, " N"]
    gains: Float[Array, " N"]
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
