"""The evaluation engine of the finite-horizon kind: backward induction.

With ``V_H = 0``:

- ``Q_{h,i}(s, a) = r_{h,i}(s, a) + sum_{s'} P_h(s'|s, a) V_{h+1,i}(s')``,
  ``V_{h,i}(s) = E_{a ~ pi_h(.|s)} Q_{h,i}(s, a)``;
- ``B_{h,i}(s) = max_{a_i} E_{a_{-i} ~ pi_{h,-i}(.|s)}
  [r_{h,i} + P_h B_{h+1,i}](s, a)``;

for any policy kind (:mod:`marlmeta.policies`; a Markov correlated policy's
deviations are the coarse-correlated ones). An observation policy's
deviations are observation policies: its ``best_choice`` picks one action per
observation from the deviation values weighted by the state reach
``c_h(s)`` of :func:`reach` (the counterfactual-reach backward induction of
an imperfect-information game). One game per call; jit/vmap/grad friendly.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.games._evaluation import Evaluation

if TYPE_CHECKING:
    from marlmeta.games._game import FiniteHorizonGame as MarkovGame


def backward(
    game: MarkovGame,
    policy,
    rewards: Float[Array, "M H S *A"] | None = None,
    *,
    best: bool = False,
    averaged: bool = False,
) -> Evaluation:
    """Run backward induction.

    Args:
        game: one finite-horizon game.
        policy: a policy kind (:class:`marlmeta.policies.AbstractPolicy`).
        rewards: reward tables to evaluate (default: the game's, ``M = N``).
        best: also compute best-response values (needs ``M = N``).
        averaged: also return the averaged Q-functions (needs ``M = N``).

    Returns:
        An :class:`~marlmeta.games.Evaluation`: values ``(M, S)`` at step 0,
        best-response values ``(N, S)`` (or ``None``), the deterministic best
        responses as per-player one-hot arrays ``(H, S, A_i)`` (or ``None``;
        lowest index on ties), and ``Qbar_{h,i}(s, a_i) = E_{a_{-i} ~
        pi_{h,-i}} Q_{h,i}(s, a)`` per player, ``(H, S, A_i)`` (or ``None``).
    """
    rewards = game.rewards if rewards is None else rewards
    s = game.num_states
    dtype = jnp.result_type(rewards.dtype, policy.dtype)
    m, n = rewards.shape[0], game.num_players
    init = (jnp.zeros((m, s), dtype), jnp.zeros((n, s), dtype) if best else None)
    # Restricted deviations (observation policies) weight states by their reach.
    devs = policy.deviation_policies() if best else None
    c = None if devs is None else [reach(game, d) for d in devs]
    steps = jnp.arange(game.horizon)
    carry = (init, (game, policy, rewards, c))
    ((v0, b0), _), (br, qbar) = jax.lax.scan(
        _backward_step(averaged), carry, steps, reverse=True
    )
    return Evaluation(values=v0, best_values=b0, best_responses=br, averaged_q=qbar)


@functools.cache
def _backward_step(averaged: bool):
    """The loop body of :func:`backward` (one per ``averaged``, built once).

    The game, policy, rewards and reach travel in the carry rather than in a
    closure, so that an eager call finds the compiled loop in JAX's caches
    instead of compiling it again.
    """

    def body(carry, h):
        (v_next, b_next), data = carry
        game, policy, rewards, c = data
        m, n = rewards.shape[0], game.num_players
        dtype = jnp.result_type(rewards.dtype, policy.dtype)
        expectation = jax.vmap(game.transitions.expectation, in_axes=(None, 0))
        pol = policy.at(h)
        r = rewards[:, h]
        nxt = v_next if b_next is None else jnp.concatenate([v_next, b_next])
        ev = expectation(h, nxt)
        q = r + ev[:m]
        v = jnp.stack([pol.expect(q[i]) for i in range(m)])
        qbar = tuple(pol.expect_others(q[i], i) for i in range(n)) if averaged else None
        if b_next is None:
            return ((v, None), data), (None, qbar)
        qb = r + ev[m:]
        # Best responses range over legal actions only (-inf elsewhere).
        dev = [game.legal.restrict(h, i, pol.expect_others(qb[i], i)) for i in range(n)]
        weight = [None if c is None else c[i][h] for i in range(n)]
        best_dev = [pol.best_choice(d, i, weight[i]) for i, d in enumerate(dev)]
        b = jnp.stack([x[0] for x in best_dev])
        br = tuple(x[1].astype(dtype) for x in best_dev)
        return ((v, b), data), (br, qbar)

    return body


def reach(game: MarkovGame, policy) -> Float[Array, "H S"]:
    """State reach probabilities ``c_h(s)`` under a product policy.

    ``c_0 = initial``, ``c_{h+1}(s') = sum_{s, a} c_h(s) pi_h(a|s) P_h(s'|s, a)``;
    the sum over ``s`` is the transpose of ``expectation`` (exact for every
    kernel kind).
    """
    dtype = jnp.result_type(game.initial.dtype, policy.dtype)

    def body(c, h):
        mass = c.reshape(c.shape + (1,) * game.num_players) * policy.at(h).joint()
        return game.transitions.propagate(h, mass.astype(dtype)), c

    c0 = game.initial.astype(dtype)
    return jax.lax.scan(body, c0, jnp.arange(game.horizon))[1]


def optimal_values(
    game: MarkovGame, reward: Float[Array, "H S *A"]
) -> Float[Array, " S"]:
    """Optimal values at step 0 of the MDP over joint actions with ``reward``."""
    axes = tuple(range(1, reward.ndim - 1))

    def body(v, h):
        q = reward[h] + game.transitions.expectation(h, v)
        return jnp.max(q, axis=axes), None

    v0 = jnp.zeros(game.num_states, reward.dtype)
    return jax.lax.scan(body, v0, jnp.arange(game.horizon), reverse=True)[0]


def stage_q(game, reward, vsum, length):
    """Stage-based value update ``Q[h] <- r[h] + P[h] (vsum[h+1] / L)``.

    ``vsum[H] = 0``: the last step has no future.

    Args:
        game: the finite-horizon game (for its transitions).
        reward: one player's reward ``(H, S, *A)``.
        vsum: that player's accumulated stage values ``(H, S)``.
        length: the stage length ``L_tau`` (an integer array).
    """
    v_next = jnp.concatenate(
        [vsum[1:] / length.astype(vsum.dtype), jnp.zeros_like(vsum[:1])]
    )
    hs = jnp.arange(game.horizon)
    return reward + jax.vmap(game.transitions.expectation)(hs, v_next)
