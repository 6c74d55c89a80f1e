"""Exact Markov coarse correlated and correlated equilibria by one LP per state.

Backward induction on the Q-game of the correlated policy's own continuation
values: at step ``h`` and state ``s``, with ``Q_i(s, a) = r_i(s, a) + sum_{s'}
P(s'|s, a) V^sigma_{h+1, i}(s')``, ``sigma_h(.|s)`` is a stage (coarse)
correlated equilibrium of the normal-form game ``Q(s)`` (Aumann 1974,
"Subjectivity and correlation in randomized strategies"; Hannan 1957 /
Moulin and Vial 1978, "Strategically zero-sum games" for the coarse version)
that maximises the weighted welfare ``sum_i w_i E_sigma Q_i(s, a)``. Then
``V^sigma_h = E_sigma Q`` and, by induction over ``h``, no Markov deviation of
the matching kind gains anything: the exact CCE-gap (CE-gap) of the result is
zero up to the LP tolerance (the construction behind e.g. Liu, Wang and Jin
2021, "A sharp analysis of model-based reinforcement learning with
self-play", for Markov CCE).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from marlmeta._checks import numpy_to_jax
from marlmeta.evaluation import ce_gap, report
from marlmeta.games import MarkovGame
from marlmeta.lp import (
    Status,
    certificate_tolerance,
    check_budget,
    default_tolerance,
    linprog,
    power_of_two,
)
from marlmeta.policies import CorrelatedPolicy


class CorrelatedEquilibrium(eqx.Module):
    """A Markov (coarse) correlated equilibrium with its certificate.

    Attributes:
        policy: the Markov correlated policy ``(H, S, A_0, .., A_{N-1})``.
        values: ``(N,)`` each player's value ``initial @ V_0``.
        state_values: ``(N, H, S)`` each player's ``V^sigma_h(s)``.
        welfare: ``weights @ values``, the objective.
        certificate: the exact gap of ``policy``: ``marlmeta.evaluation.cce_gap``
            for :func:`markov_cce`, ``marlmeta.evaluation.ce_gap`` for
            :func:`markov_ce` (the CCE-gap can be negative).
        converged: the answer is certified: every stage LP reached
            (certified) :attr:`marlmeta.lp.Status.OPTIMAL` and ``certificate
            <= tau R H``, ``R`` the power of two nearest ``max |r|`` and
            ``tau`` the :func:`marlmeta.lp.certificate_tolerance` of the
            dtype's default pivot tolerance (``1e-8`` in float64, ``1e-4`` in
            float32). When ``False`` the arrays may be NaN and must not be
            trusted.
    """

    policy: Float[Array, "H S *A"]
    values: Float[Array, " N"]
    state_values: Float[Array, "N H S"]
    welfare: Float[Array, ""]
    certificate: Float[Array, ""]
    converged: Bool[Array, ""]


def _cce_rows(q: Float[Array, " N *A"]) -> Float[Array, "R K"]:
    """``sum_a sigma(a) [Q_i(a_i', a_{-i}) - Q_i(a)] <= 0`` for every ``i, a_i'``."""
    rows = []
    for i, qi in enumerate(q):
        for b in range(qi.shape[i]):
            dev = jnp.broadcast_to(jnp.take(qi, jnp.array([b]), axis=i), qi.shape)
            rows.append((dev - qi).reshape(-1))
    return jnp.stack(rows)


def _ce_rows(q: Float[Array, " N *A"]) -> Float[Array, "R K"]:
    """Swap rows: ``E_sigma[(Q_i(b, a_{-i}) - Q_i(a)) 1{a_i = c}] <= 0``, ``b != c``."""
    rows = []
    for i, qi in enumerate(q):
        own = jnp.arange(qi.shape[i]).reshape(
            [-1 if ax == i else 1 for ax in range(qi.ndim)]
        )
        for a in range(qi.shape[i]):
            for b in range(qi.shape[i]):
                if a == b:
                    continue
                dev = jnp.broadcast_to(jnp.take(qi, jnp.array([b]), axis=i), qi.shape)
                rows.append(jnp.where(own == a, dev - qi, 0).reshape(-1))
    return jnp.stack(rows)


def _weights(game: MarkovGame, welfare) -> Array:
    n = game.num_players
    dtype = game.rewards.dtype
    if welfare is None:
        return jnp.ones(n, dtype)
    w = jnp.asarray(welfare, dtype)
    if w.shape != (n,):
        raise ValueError(f"welfare has shape {w.shape}; expected ({n},)")
    if not isinstance(w, jax.core.Tracer) and not np.isfinite(np.asarray(w)).all():
        raise ValueError(f"welfare is {np.asarray(w).tolist()!r}; expected finite")
    return w


def _cce_certificate(game: MarkovGame, sigma) -> Float[Array, ""]:
    """The exact CCE-gap of ``sigma``; NaN (not an error) when the stage LPs
    left NaN in it, so that ``converged`` is then ``False``."""
    return report(game, CorrelatedPolicy(sigma)).cce_gap


def _solve(game: MarkovGame, rows_fn, gap_fn, welfare, lp_iterations):
    """Backward induction with one stage LP (constraints ``rows_fn``) per state;
    the certificate is ``gap_fn`` of the resulting policy."""
    game.require_finite_horizon("markov_cce and markov_ce")
    game = numpy_to_jax(game)  # the stage loop closes over it
    n, acts = game.num_players, game.num_actions
    size = math.prod(acts)
    w = _weights(game, welfare)
    dtype = game.rewards.dtype
    expectation = jax.vmap(game.transitions.expectation, in_axes=(None, 0))

    num_rows = rows_fn(jnp.zeros((n, *acts), dtype)).shape[0]
    if lp_iterations is None:
        # Measured worst case on random stage games: under 2 (K + R) pivots.
        lp_iterations = 4 * (size + num_rows) + 10
    lp_iterations = check_budget("lp_iterations", lp_iterations, 0)
    # Rewards scaled (by a power of two, exactly) to a largest entry of about
    # 1: the policy does not depend on it, and the values scale back.
    rho = power_of_two(jnp.max(jnp.abs(game.rewards)))

    def stage(q):  # q: (N, *A) at one state
        a_ub = rows_fn(q)
        res = linprog(
            -(w @ q.reshape(n, size)),
            a_ub,
            jnp.zeros(a_ub.shape[0], dtype),
            jnp.ones((1, size), dtype),
            jnp.ones(1, dtype),
            max_iterations=lp_iterations,
        )
        # A vertex may carry rounding-level negative entries: clip, renormalise.
        sigma = jnp.maximum(res.x, 0)
        return (sigma / jnp.sum(sigma)).reshape(acts), res.status == Status.OPTIMAL

    def body(v_next, h):
        q = game.rewards[:, h] / rho + expectation(h, v_next)  # (N, S, *A)
        sigma, ok = jax.vmap(stage, in_axes=1)(q)
        axes = tuple(range(2, q.ndim))
        v = jnp.sum(q * sigma[None], axis=axes)
        return v, (sigma, v, jnp.all(ok))

    v0 = jnp.zeros((n, game.num_states), dtype)
    _, (sigma, v, ok) = jax.lax.scan(body, v0, jnp.arange(game.horizon), reverse=True)
    values = v[0] @ game.initial * rho
    certificate = gap_fn(game, sigma)
    tau = certificate_tolerance(default_tolerance(dtype))
    return CorrelatedEquilibrium(
        policy=sigma,
        values=values,
        state_values=jnp.moveaxis(v, 0, 1) * rho,
        welfare=w @ values,
        certificate=certificate,
        converged=jnp.all(ok) & (certificate <= tau * rho * game.horizon),
    )


def markov_cce(
    game: MarkovGame, welfare=None, *, lp_iterations: int | None = None
) -> CorrelatedEquilibrium:
    """A welfare-maximising Markov coarse correlated equilibrium, exactly.

    Per ``(h, s)``, backward in ``h``: the LP over joint distributions
    ``sigma`` on ``A_0 x .. x A_{N-1}`` with the ``sum_i A_i`` CCE constraints
    ``E_sigma [Q_i(a_i', a_{-i}) - Q_i(a)] <= 0`` and ``sum sigma = 1``,
    maximising ``sum_i w_i E_sigma Q_i`` (see the module docstring). The
    exact CCE-gap of the result is ``<= 0`` up to the LP tolerance. The
    welfare is maximised greedily stage by stage (given the continuation),
    which is the LP's objective, not a global optimum over Markov CCEs. The
    rewards are scaled by a power of two to a largest entry of about 1 before
    solving (exactly), so the result does not depend on their units; each
    stage LP is certified by :func:`marlmeta.lp.linprog`, and ``converged``
    also requires the exact CCE-gap to be within the tolerance stated in
    :class:`CorrelatedEquilibrium`.

    Args:
        game: an ``N``-player finite-horizon game.
        welfare: optional ``(N,)`` player weights ``w`` (default all ones:
            social welfare).
        lp_iterations: pivot budget of each stage LP (static, a non-negative
            int); default ``4 (K + R) + 10`` for ``K = prod_i A_i`` joint
            actions and ``R``
            constraint rows (about twice the worst case measured on random
            games). Exhausting it clears ``converged``.

    Returns:
        A :class:`CorrelatedEquilibrium` whose ``certificate`` is the exact
        ``marlmeta.evaluation.cce_gap``.

    Example:
        >>> import jax, marlmeta
        >>> key = jax.random.key(0)
        >>> games = marlmeta.games.random_general_sum(key, 1, (2, 2, 2), 2, 3)
        >>> eq = marlmeta.exact.markov_cce(marlmeta.games.unstack(games)[0])
        >>> print(eq.policy.shape, bool(eq.converged), bool(eq.certificate < 1e-5))
        (3, 2, 2, 2, 2) True True
    """
    return _solve(game, _cce_rows, _cce_certificate, welfare, lp_iterations)


def markov_ce(
    game: MarkovGame, welfare=None, *, lp_iterations: int | None = None
) -> CorrelatedEquilibrium:
    """A welfare-maximising Markov correlated equilibrium, exactly.

    As :func:`markov_cce` with the ``sum_i A_i (A_i - 1)`` swap constraints
    ``sum_{a_{-i}} sigma(a_i, a_{-i}) [Q_i(b, a_{-i}) - Q_i(a_i, a_{-i})] <= 0``
    for every player ``i`` and pair ``a_i != b``: no player gains by remapping
    a recommended action. The exact CE-gap
    (:func:`marlmeta.evaluation.ce_gap`) of the result is zero up to the LP
    tolerance.

    Args:
        game: an ``N``-player finite-horizon game.
        welfare: optional ``(N,)`` player weights (default all ones).
        lp_iterations: pivot budget of each stage LP (default as
            :func:`markov_cce`).

    Returns:
        A :class:`CorrelatedEquilibrium` whose ``certificate`` is the exact
        ``marlmeta.evaluation.ce_gap``.
    """
    return _solve(game, _ce_rows, ce_gap, welfare, lp_iterations)
