"""The aggregative paper's Theorem 4.2 (welfare of equilibrium selection), one step.

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

**What is computed, exactly (library choices).** One-step games only
(``congestion_welfare``); for ``H > 1`` the continuation welfare moves with the
rounded aggregate, ``alpha + d delta`` from its grid point here rather than the
proof's ``alpha``, and the recursion is not re-derived.

- ``OPT(zeta)``: a brute force over the ``m^n`` pure profiles of every state:
  those whose exact gain in the stage game is at most ``zeta gamma_0`` (every
  player's best deviation, with the aggregate the deviation produces), the
  best welfare among them, weighted by ``initial``. The paper's policies may
  mix; the LP's pure vertices are what the planner outputs, and the pure
  candidates are the finite set whose optimum is exact.
- ``E``: vertex rounding moves at most ``d`` players (a vertex of the LP has at
  most ``d`` fractional players), each losing at most its welfare range, so
  ``E = d max_i (max_a w_i - min_a w_i)`` (the paper's randomized rounding
  has ``O(sqrt(n) delta polylog)``).
- Why it holds: with the theory slack ``eta = gamma_0 (zeta + 2 alpha +
  delta)`` (:class:`marlmeta.aggregative.TheoryEta`), every action of a
  ``zeta gamma_0``-approximate PNE is an ``eta``-best response at the grid
  point nearest its aggregate (within ``alpha``: a switch moves the aggregate
  by at most ``delta``, the grid point by at most ``alpha``, and the utilities
  are ``gamma_0``-Lipschitz), so the profile is feasible for that grid point's
  LP, whose objective is at least its welfare; the selected LP's objective is
  the largest, and rounding loses at most ``E``. ``applies`` checks the slack.

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


def approximate_pne_welfare(game: AggregativeGame, welfare, tolerance) -> jax.Array:
    """``OPT``: the best welfare among the pure profiles whose exact gain in
    the one-step game is at most ``tolerance``, per state ``(S,)`` (``-inf``
    where none is), by brute force over the ``m^n`` profiles."""
    if game.horizon != 1:
        raise ValueError(
            f"game has horizon {game.horizon}; Theorem 4.2 is computed for one step"
        )
    w = welfare_weights(game, welfare)[0]  # (S, n, m)
    profiles = jnp.asarray(_profiles(game.num_players, game.num_actions))
    zero = jnp.zeros((game.num_states, game.num_players), w.dtype)

    def one(s, a):
        _, x_dev = deviations(game, 0, s, a)
        v = stage_values(game, 0, s, x_dev, zero)  # (n, m)
        own = jnp.take_along_axis(v, a[:, None], 1)[:, 0]
        gain = jnp.max(jnp.max(v, 1) - own)
        wel = jnp.sum(jnp.take_along_axis(w[s], a[:, None], 1))
        return jnp.where(gain <= tolerance, wel, -jnp.inf)

    def state(s):
        return jnp.max(jax.vmap(lambda a: one(s, a))(profiles))

    return jax.vmap(state)(jnp.arange(game.num_states))


def aggregative_theorem42(
    game: AggregativeGame, welfare, result: PlanningResult
) -> Bound:
    """The aggregative paper's Theorem 4.2 on a one-step game: a lower bound on
    the welfare of Aggre-BI's selected profile (module docstring).

    Args:
        game: one :class:`~marlmeta.aggregative.AggregativeGame` with
            ``horizon == 1``; ``m^n <= MAX_PROFILES``.
        welfare: the ``(1, S, n, m)`` welfare weights the planner selected with.
        result: :class:`~marlmeta.aggregative.AggreBI`'s
            :class:`~marlmeta.aggregative.PlanningResult` with those weights.

    Returns:
        A :class:`Bound` whose fields bound the welfare from *below*:
        ``value = printed = OPT(zeta) - E`` (for one step the statement and
        the proof's last line agree); ``applies`` when the planner's slack is
        at least ``gamma_0 (zeta + 2 alpha + delta)`` and some profile is a
        ``zeta gamma_0``-approximate PNE in every state.
    """
    w = welfare_weights(game, welfare)
    gamma = game.lipschitz_steps()[0]
    z = zeta(game)
    opt = approximate_pne_welfare(game, w, z * gamma * (1 + 1e-9))
    spread = jnp.max(jnp.max(w, -1) - jnp.min(w, -1))
    e = game.dim * spread
    value = game.initial @ opt - e
    need = gamma * (z + 2 * result.grid.alpha + game.delta)
    applies = (result.eta[0] >= need * (1 - 1e-9)) & jnp.all(jnp.isfinite(opt))
    return Bound(value=value, printed=value, applies=applies)
