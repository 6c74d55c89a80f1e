"""The aggregative paper's Theorem 4.2 (welfare of equilibrium selection).

Tang, Tang, Wu, "Provably Efficient Reinforcement Learning for Large
Aggregative Markov Games", Theorem 4.2: Aggre-BI with linear welfare
selection (:class:`marlmeta.aggregative.AggreBI` with ``welfare`` weights)
achieves welfare at least

    OPT(zeta) - alpha gamma_P H (H - 1) / 2 l_max - H E,

with ``OPT(zeta)`` the best welfare of a policy that is a
``zeta (gamma_r + gamma_P (H - h))``-approximate PNE in every step's Q-game,
``zeta = delta sqrt(8 n ln(2 m n))``, and ``E = O(sqrt(n) delta polylog)`` the
welfare the LP's rounding loses. The proof's last line (their C.2) is
``alpha gamma_P H (H - 1) l_max + H E``, twice the statement's discretisation
term; for one step (``H = 1``) both vanish and the theorem reads
``welfare >= OPT(zeta) - E``.

**What is computed, exactly (library choices).** 0-based steps ``h``,
``L_h = gamma_r + gamma_P R (H - 1 - h)``
(:meth:`marlmeta.aggregative.AggregativeGame.lipschitz_steps`).

- ``OPT(zeta)``: by backward induction over the ``m^n`` pure profiles of every
  ``(h, s)`` (:func:`approximate_pne_welfare`): those whose exact gain in the
  step's Q-game ``r_h + P_h . V_{h+1}`` (``V_{h+1}`` the values Aggre-BI
  planned with, every player's best deviation at the aggregate the deviation
  produces) is at most ``zeta L_h``, the best welfare plus continuation
  welfare among them, weighted by ``initial``. The paper's policies may mix;
  the LP's pure vertices are what the planner outputs, and the pure
  candidates are the finite set whose optimum is exact.
- ``E_h``: vertex rounding moves at most ``d`` players (a vertex of the LP has
  at most ``d`` fractional players), each losing at most its welfare range, so
  ``E_h = d max_{s,i} (max_a w_h - min_a w_h)`` (the paper's randomized
  rounding has ``O(sqrt(n) delta polylog)``).
- The recursion of the proof, redone for this planner: ``W^pi_h(s) >=
  W^OPT_h(s) - theta_h`` with ``theta_H = 0`` and ``theta_h = theta_{h+1} +
  E_h + gamma_P (2 alpha + d delta) span(W^pi_{h+1})``, where ``W^pi_{h+1}`` is
  the planner's exact welfare to go
  (:attr:`marlmeta.aggregative.PlanningResult.welfare_to_go`).
  The LP compares grid points by ``P_h(s, x̂) . W^pi_{h+1}``; the optimal
  policy's aggregate is within ``alpha`` of its grid point and the rounded
  output's within ``alpha + d delta`` of the selected one (the proof has
  ``alpha`` for both), and ``P_h`` moves by ``gamma_P`` in total variation per
  unit of aggregate. ``value = initial . W^OPT_0 - theta_0``; ``printed`` is the
  statement with ``l_max`` the largest one-step welfare range
  ``max_{h,s} sum_i (max_a w - min_a w)`` and ``E = max_h E_h``.
- Why ``OPT``'s actions are in the LP: with the theory slack ``eta_h = L_h
  (zeta + 2 alpha + delta)`` (:class:`marlmeta.aggregative.TheoryEta`), every
  action of a ``zeta L_h``-approximate PNE of the Q-game is an ``eta_h``-best
  response at the grid point nearest its aggregate (within ``alpha``: a switch
  moves the aggregate by at most ``delta``, the grid point by at most
  ``alpha``, and the Q-values are ``L_h``-Lipschitz), so the profile is
  feasible for that grid point's LP, whose objective is at least its welfare
  plus ``P_h(s, x̂) . W^pi_{h+1}``. ``applies`` checks the slack at every step.

References:
    Tang, Tang, Wu. Provably Efficient Reinforcement Learning for Large
    Aggregative Markov Games. Theorem 4.2 and Appendix C.2.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from marlmeta.aggregative import (
    AggregativeGame,
    PlanningResult,
    deviations,
    stage_values,
    welfare_weights,
    zeta,
)
from marlmeta.theory._mao import Bound

#: The most pure profiles per state the brute force enumerates.
MAX_PROFILES = 2**16


def _profiles(n: int, m: int) -> np.ndarray:
    if m**n > MAX_PROFILES:
        raise ValueError(
            f"game has m^n = {m}^{n} = {m**n} pure profiles; the brute force of "
            f"OPT(zeta) enumerates at most {MAX_PROFILES}"
        )
    return np.array(list(itertools.product(range(m), repeat=n)), np.int32)


def approximate_pne_welfare(
    game: AggregativeGame, welfare, tolerance, values=None
) -> jax.Array:
    """``OPT``: the best welfare of a pure Markov policy that is a
    ``tolerance[h]``-approximate PNE of every step's Q-game, per initial state
    ``(S,)`` (``-inf`` everywhere when some ``(h, s)`` has no such profile),
    by backward induction over the ``m^n`` profiles of each state:

        W_h(s) = max {w_h(s, a) + P_h(s, x(a)) . W_{h+1} : gain_h(s, a) <= tol_h},

    with ``gain_h(s, a)`` the largest gain of a unilateral deviation in the
    Q-game ``r_{h,i}(s, a_i, x) + P_h(s, x) . values[h + 1, :, i]`` (the
    deviation's own aggregate). Feasibility at ``(h, s)`` does not depend on
    the later choices, so the maximum over policies is this recursion.

    Args:
        game: one :class:`~marlmeta.aggregative.AggregativeGame` with
            ``m^n <= MAX_PROFILES``.
        welfare: ``(H, S, n, m)`` welfare weights.
        tolerance: ``()`` or ``(H,)`` the gain allowed at each step.
        values: ``(H + 1, S, n)`` the continuation values of the Q-games (the
            planner's :attr:`~marlmeta.aggregative.PlanningResult.values`);
            optional for one step (zero continuation).
    """
    num_steps, num_states = game.horizon, game.num_states
    if values is None:
        if num_steps != 1:
            raise ValueError(
                f"game has horizon {num_steps}; beyond one step "
                "approximate_pne_welfare needs the Q-games' values ((H + 1, S, n))"
            )
        values = jnp.zeros((2, num_states, game.num_players))
    w = welfare_weights(game, welfare)  # (H, S, n, m)
    values = jnp.asarray(values, w.dtype)
    shape = (num_steps + 1, num_states, game.num_players)
    if values.shape != shape:
        raise ValueError(f"values has shape {values.shape}; expected {shape}")
    tol = jnp.broadcast_to(jnp.asarray(tolerance, w.dtype), (num_steps,))
    profiles = jnp.asarray(_profiles(game.num_players, game.num_actions))

    def one(h, s, a, w_next):
        x, x_dev = deviations(game, h, s, a)
        v = stage_values(game, h, s, x_dev, values[h + 1])  # (n, m)
        own = jnp.take_along_axis(v, a[:, None], 1)[:, 0]
        gain = jnp.max(jnp.max(v, 1) - own)
        wel = jnp.sum(jnp.take_along_axis(w[h, s], a[:, None], 1))
        wel = wel + game.transitions(h, s, x) @ w_next
        return jnp.where(gain <= tol[h], wel, -jnp.inf)

    def step(w_next, h):
        def state(s):
            return jnp.max(jax.vmap(lambda a: one(h, s, a, w_next))(profiles))

        best = jax.vmap(state)(jnp.arange(num_states))
        # A state with no approximate PNE leaves no policy in the class.
        return jnp.where(jnp.all(jnp.isfinite(best)), best, -jnp.inf), None

    zero = jnp.zeros((num_states,), w.dtype)
    last, _ = jax.lax.scan(step, zero, jnp.arange(num_steps), reverse=True)
    return last


def aggregative_theorem42(
    game: AggregativeGame, welfare, result: PlanningResult
) -> Bound:
    """The aggregative paper's Theorem 4.2: a lower bound on the welfare of
    Aggre-BI's selected profile (module docstring).

    Args:
        game: one :class:`~marlmeta.aggregative.AggregativeGame` with
            ``m^n <= MAX_PROFILES``.
        welfare: the ``(H, S, n, m)`` welfare weights the planner selected with.
        result: :class:`~marlmeta.aggregative.AggreBI`'s
            :class:`~marlmeta.aggregative.PlanningResult` with those weights.

    Returns:
        A :class:`Bound` whose fields bound the welfare from *below*:
        ``value = OPT(zeta) - theta_0`` (module docstring), ``printed`` the
        statement's ``OPT(zeta) - alpha gamma_P H (H - 1) / 2 l_max - H E``
        (equal for one step); ``applies`` when the planner's slack is at
        least ``L_h (zeta + 2 alpha + delta)`` at every step and the class of
        ``zeta L_h``-approximate PNE policies is not empty.
    """
    w = welfare_weights(game, welfare)
    lip = game.lipschitz_steps()
    z = zeta(game)
    alpha = result.grid.alpha
    opt = approximate_pne_welfare(game, w, z * lip * (1 + 1e-9), result.values)
    spread = jnp.max(jnp.max(w, -1) - jnp.min(w, -1), axis=(1, 2))  # (H,)
    e = game.dim * spread
    future = result.welfare_to_go[1:]  # W^pi_{h+1}, (H, S)
    span = jnp.max(future, 1) - jnp.min(future, 1)
    drift = game.gamma_p * (2 * alpha + game.dim * game.delta) * span
    value = game.initial @ opt - jnp.sum(e + drift)
    step_span = jnp.sum(jnp.max(w, -1) - jnp.min(w, -1), -1)  # (H, S)
    l_max = jnp.max(step_span)
    num_steps = game.horizon
    printed = (
        game.initial @ opt
        - alpha * game.gamma_p * num_steps * (num_steps - 1) / 2 * l_max
        - num_steps * jnp.max(e)
    )
    need = lip * (z + 2 * alpha + game.delta)
    applies = jnp.all(result.eta >= need * (1 - 1e-9)) & jnp.all(jnp.isfinite(opt))
    return Bound(value=value, printed=printed, applies=applies)
