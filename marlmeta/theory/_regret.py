"""Per-state regrets of the stage-based optimistic OMD algorithms.

Mao, Qiu, Wang et al.'s analysis of their Algorithms 1 and 2 bounds the
equilibrium gap through the **per-state average regret** of every stage
``tau``, step ``h`` and state ``s`` (their eq. (3) and (14)): for player ``i``,
with ``g^j_i = E_{a_{-i} ~ pi^j_{-i}} Q^tau_i[h, s, :, a_{-i}]`` the feedback of
iterate ``j`` under the stage's fixed value estimate ``Q^tau``,

    reg^tau_{h,i}(s) = max_a (1/L_tau) sum_{j in stage tau} (g^j_i[a] - <pi^j_i, g^j_i>)

the gain of the best fixed action in hindsight over the stage's iterates (for
the min-player of Algorithm 1 the feedback is ``-mu^T Q``, so that larger is
better for every player). :func:`stage_regrets` runs the solver and records
these numbers at the end of every stage (the last, possibly partial, stage
over the iterations it had). They are the quantities the proofs of Theorems 1
and 5 bound (Lemma 8 of Mao et al.): ``reg_1 + reg_2 <= (KL_mu + KL_nu) /
(eta L_tau)`` up to the stability terms.

References:
    Mao, Qiu, Wang et al. Multi-Agent Meta-Reinforcement Learning: Sharper
    Convergence Rates with Task Similarity. NeurIPS 2023, eq. (3), (14) and
    Lemma 8.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.games import FiniteHorizonGame
from marlmeta.solvers import (
    AbstractStageOMD,
    num_stages,
    reduce_last,
    stage_lengths,
)


class StageRegrets(eqx.Module):
    """The per-state regrets of every stage of a stage-based OMD run.

    Attributes:
        regrets: per player ``(K, H, S)``, ``reg^tau_{h,i}(s)`` of stage ``tau``
            (0-indexed); a stage the run never reached holds 0.
        lengths: ``(K,)`` the number of iterations each stage had (the last
            one may be cut at ``T``).
    """

    regrets: tuple[Float[Array, "K H S"], ...]
    lengths: Float[Array, " K"]


def _current(solver: AbstractStageOMD, state):
    """Per player ``(H, S)``: the average regret of the current stage so far."""
    _, gains = solver._hindsight(state)
    values = solver._stage_values(state)
    count = (state.clock.pos + 1).astype(state.q.dtype)
    return tuple(
        (reduce_last(jnp.maximum, g) - v) / count
        for g, v in zip(gains, values, strict=True)
    )


def stage_regrets(
    solver: AbstractStageOMD, game: FiniteHorizonGame, num_steps: int, init=None
) -> StageRegrets:
    """Run a stage-based OMD solver and record every stage's per-state regrets.

    The iterates are exactly those of :func:`marlmeta.solve` (the same
    ``_iterate`` and stage-end steps); after each iteration the regret of the
    current stage so far is written to that stage's slot, so the slot holds the
    value at the stage's last iteration.

    Args:
        solver: :class:`marlmeta.solvers.ZeroSumOMD` (Algorithm 1) or
            :class:`marlmeta.solvers.GeneralSumOMD` (Algorithm 2).
        game: one finite-horizon game without observation maps.
        num_steps: ``T >= 1``.
        init: the solver's per-stage initial policies (default uniform).

    Returns:
        A :class:`StageRegrets`.

    Raises:
        ValueError: for a game with observations or ``num_steps < 1``.
    """
    game.require_state_policies("stage_regrets")
    if int(num_steps) < 1:
        raise ValueError(f"num_steps is {num_steps}; expected >= 1")
    game.require_one_game("stage_regrets")
    num_steps = int(num_steps)
    if init is None:
        init = solver.default_init(game, num_steps)
    else:
        init = tuple(jnp.asarray(x) for x in init)
    state = solver.init(game, init)
    k = num_stages(game.horizon, num_steps)
    shape = (k, game.horizon, game.num_states)
    buffers = tuple(jnp.zeros(shape, state.q.dtype) for _ in game.num_actions)
    eta = solver.step_size.astype(state.q.dtype)

    def body(_, carry):
        state, buffers = carry
        state = solver._iterate(game, state, eta)
        tau = state.clock.stage
        buffers = tuple(
            b.at[tau].set(r)
            for b, r in zip(buffers, _current(solver, state), strict=True)
        )
        return solver._advance(game, state), buffers

    _, buffers = jax.lax.fori_loop(0, num_steps, body, (state, buffers))
    lengths = jnp.asarray(stage_lengths(game.horizon, num_steps), state.q.dtype)
    return StageRegrets(regrets=buffers, lengths=lengths)
