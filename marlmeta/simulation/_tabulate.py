"""Back to exact: a policy function (a network's forward pass) as a tabular policy.

A learned policy maps an agent's observation vector (:class:`MarkovGameEnv`'s
encoding) to action probabilities. Evaluating it on every step and every
observation of every agent gives one table per agent, ``(*stages, O_i, A_i)``,
and the game turns the tables into its policy kind: a product policy on
states, or an observation policy in a game with observations. A network
knows nothing of the game's legal actions, so a row that puts probability on
an illegal action is renormalised over the legal ones, ``pi(a) = m(a) p(a) /
sum_b m(b) p(b)`` (``m`` the row's legal mask; the uniform distribution over
the legal actions where ``p`` puts no mass on any); a row with no mass on an
illegal action is kept as it is, bit for bit. The exact
metrics (``nash_conv``, ``cce_gap``, ``optimality_gap``) then judge what deep
MARL learned, with no sampling error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from marlmeta.policies import AbstractPolicy
from marlmeta.simulation._env import MarkovGameEnv, observation_table

PolicyFn = Callable[[Float[Array, " D"]], Float[Array, " A"]]


def tabulate(
    env: MarkovGameEnv, policy_fn: PolicyFn | Sequence[PolicyFn], *, check=True
) -> AbstractPolicy:
    """The tabular policy of ``policy_fn`` on ``env``'s game.

    Args:
        env: the environment view the function was trained on (one game).
        policy_fn: a callable from one observation vector ``(D_i,)`` to action
            probabilities ``(A_i,)``, shared by all agents, or a sequence of
            such callables, one per agent. It is ``jax.vmap``-ed over the
            observations.
        check: check the tables (rows on the simplex, within ``1e-6``) when
            they are concrete.

    Returns:
        The game's policy kind (its ``observation_policy``): player ``i``
        plays ``policy_fn(encode(i, h, o))`` on observation ``o`` at step ``h``,
        renormalised over the legal actions there (module text).

    Raises:
        ValueError: the wrong number of functions, a function giving the wrong
            number of probabilities, or (``check``) a function
            whose output is not a distribution over the agent's actions, naming
            the agent, the index and the value.
    """
    game = env.game
    fns = per_agent(policy_fn, game.num_players)
    tables = []
    for i, (fn, mask) in enumerate(zip(fns, game.policy_masks(), strict=True)):
        obs = observation_table(env, i)
        flat = obs.reshape(-1, obs.shape[-1])
        probs = jnp.asarray(jax.vmap(fn)(flat))
        probs = probs.reshape(*obs.shape[:-1], -1)
        if probs.shape != mask.shape:
            raise ValueError(
                f"policy_fn[{i}] gives {probs.shape[-1]} probabilities per "
                f"observation; agent {i} has {mask.shape[-1]} actions"
            )
        tables.append(legal_rows(probs, mask))
    policy = game.observation_policy(tables)
    if check:
        policy.check(game.lead_shape, game.num_actions, "policy_fn")
    return policy


def per_agent(policy_fn: PolicyFn | Sequence[PolicyFn], n: int) -> tuple:
    """One function per agent: ``policy_fn`` for all ``n`` agents, or the
    sequence given (``ValueError`` unless it has ``n`` functions)."""
    fns = tuple(policy_fn) if isinstance(policy_fn, Sequence) else (policy_fn,) * n
    if len(fns) != n:
        raise ValueError(f"policy_fn has {len(fns)} functions; the game has {n} agents")
    return fns


def legal_rows(
    probs: Float[Array, "*rows A"], mask: Bool[Array, "*rows A"]
) -> Float[Array, "*rows A"]:
    """``probs`` with every row that puts probability on an illegal action
    (``mask`` ``False``) renormalised over the legal ones, uniform over them
    where no legal action has mass; other rows unchanged."""
    if not jnp.issubdtype(probs.dtype, jnp.floating):
        probs = probs.astype(jnp.result_type(float))
    legal = jnp.where(mask, probs, 0)
    total = jnp.sum(legal, axis=-1, keepdims=True)
    some = total > 0
    uniform = mask.astype(probs.dtype)
    uniform = uniform / jnp.sum(uniform, axis=-1, keepdims=True)
    fixed = jnp.where(some, legal / jnp.where(some, total, 1), uniform)
    off = jnp.any(~mask & (probs != 0), axis=-1, keepdims=True)
    return jnp.where(off, fixed, probs)
