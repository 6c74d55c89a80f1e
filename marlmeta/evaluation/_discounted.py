"""Exact evaluation of discounted games: linear solves and policy iteration.

``ALGORITHMS.md`` section 1: ``V = (I - gamma P_pi)^{-1} r_pi``; a best response
is found by policy iteration until the policy stops changing (a state switches
action only on a strict improvement), then its value comes from one exact
linear solve. The search runs on ``stop_gradient`` inputs, so the gradient of
a best-response value is the gradient through that last solve with the
best-response policy held fixed (Danskin's theorem).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.games import DiscountedMarkovGame
from marlmeta.policies import expect, expect_others

#: Cap on policy-iteration rounds; policy iteration with strict improvement
#: terminates long before this on any tabular game that fits in memory.
MAX_POLICY_ITERATIONS = 1000


def next_state_tensor(game: DiscountedMarkovGame, dtype) -> Float[Array, "S S *A"]:
    """``E[s', s, a] = P(s'|s, a)`` through the ``expectation`` interface."""
    eye = jnp.eye(game.num_states, dtype=dtype)
    return jax.vmap(lambda e: game.transitions.expectation(0, e))(eye)


def _solve(gamma, p: Float[Array, "S S"], r: Float[Array, "S ..."]):
    eye = jnp.eye(p.shape[0], dtype=p.dtype)
    return jnp.linalg.solve(eye - gamma * p, r)


def state_kernel(policy, nxt: Float[Array, "S S *A"]) -> Float[Array, "S S"]:
    """``P_pi[s, s'] = E_{a ~ pi(.|s)} P(s'|s, a)``."""
    return jax.vmap(lambda e: expect(e, policy))(nxt).T


def dtype_of(rewards, policy):
    return jnp.result_type(rewards.dtype, *[x.dtype for x in jax.tree.leaves(policy)])


def policy_values(
    game: DiscountedMarkovGame,
    policy,
    rewards: Float[Array, "M S *A"] | None = None,
    nxt: Float[Array, "S S *A"] | None = None,
) -> Float[Array, "M S"]:
    """Values ``(I - gamma P_pi)^{-1} r_pi`` of each reward table, per state.

    ``nxt`` is the next-state tensor of :func:`next_state_tensor`, when the
    caller already has it.
    """
    return values_and_kernel(game, policy, rewards, nxt)[0]


def values_and_kernel(
    game: DiscountedMarkovGame,
    policy,
    rewards: Float[Array, "M S *A"] | None = None,
    nxt: Float[Array, "S S *A"] | None = None,
) -> tuple[Float[Array, "M S"], Float[Array, "S S"]]:
    """:func:`policy_values` and the state kernel ``P_pi`` they were solved with."""
    rewards = game.rewards if rewards is None else rewards
    if nxt is None:
        nxt = next_state_tensor(game, dtype_of(rewards, policy))
    p_pi = state_kernel(policy, nxt)
    r_pi = jnp.stack([expect(r, policy) for r in rewards], axis=-1)  # (S, M)
    return _solve(game.discount, p_pi, r_pi).T, p_pi


def _mdp_best_response(gamma, r: Float[Array, "S A"], p: Float[Array, "S A S"]):
    """Optimal deterministic policy of an MDP by policy iteration (no gradient)."""
    gamma, r, p = jax.lax.stop_gradient((gamma, r, p))
    states = jnp.arange(r.shape[0])
    scale = jnp.max(jnp.abs(r)) + 1.0
    tol = 64 * jnp.finfo(r.dtype).eps * scale / (1 - gamma)

    def improve(d):
        v = _solve(gamma, p[states, d], r[states, d])
        q = r + gamma * p @ v
        best = jnp.argmax(q, axis=-1)
        better = q[states, best] > q[states, d] + tol
        return jnp.where(better, best, d)

    def cond(c):
        d, prev, k = c
        return jnp.any(d != prev) & (k < MAX_POLICY_ITERATIONS)

    def body(c):
        d, _, k = c
        return improve(d), d, k + 1

    d0 = jnp.argmax(r, axis=-1)
    d, _, _ = jax.lax.while_loop(cond, body, (improve(d0), d0, 1))
    return d


def best_response_values(game: DiscountedMarkovGame, policy, nxt=None):
    """Best-response values ``(N, S)`` and policies (one-hot ``(S, A_i)``).

    ``nxt`` as in :func:`policy_values`.
    """
    dtype = dtype_of(game.rewards, policy)
    if nxt is None:
        nxt = next_state_tensor(game, dtype)
    states = jnp.arange(game.num_states)
    values, brs = [], []
    for i in range(game.num_players):
        r = expect_others(game.rewards[i], policy, i)  # (S, A_i)
        p = jax.vmap(lambda e, i=i: expect_others(e, policy, i))(nxt)  # (S', S, A_i)
        p = jnp.moveaxis(p, 0, -1)  # (S, A_i, S')
        d = _mdp_best_response(game.discount, r, p)
        values.append(_solve(game.discount, p[states, d], r[states, d]))
        brs.append(jax.nn.one_hot(d, r.shape[-1], dtype=dtype))
    return jnp.stack(values), tuple(brs)
