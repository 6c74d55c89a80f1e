"""MAML for Markov potential games with exact meta-gradients.

Mao, Qiu, Wang et al., "Multi-Agent Meta-Reinforcement Learning: Sharper
Convergence Rates with Task Similarity", section 4.2. For a discounted
potential game and softmax logits ``theta``, the inner loop is independent
policy gradient (eq. 44),
``theta^(t+1) = theta^(t) + alpha grad Phi(theta^(t))`` (each player's own-value
gradient, which equals ``grad_{theta_i} Phi`` in a potential game), and the
meta-objective is ``F_T(theta) = Phi(theta^(T))``. Its gradient (eq. 46),

    grad F_T(theta) = prod_{t=0}^{T-1} (I + alpha Hess Phi(theta^(t)))
                      grad Phi(theta^(T)),

is what reverse-mode differentiation through the inner loop evaluates, right
to left: the pullback of one step (44) maps a cotangent ``v`` to
``v + alpha Hess Phi(theta^(t)) v``. The inner loop is
:class:`marlmeta.solvers.GradientPlay` run by the driver of
:func:`marlmeta.solve` with a reverse-mode adjoint (by default
:class:`marlmeta.RecursiveCheckpointAdjoint`, square-root checkpointing: about
``2 sqrt(T)`` stored iterates, each step recomputed at most three times).
First-order MAML keeps ``grad Phi(theta^(T))``. The outer loop (eq. 47) is any
optax optimiser on the mean over a batch of games, maximising.

References:
    Mao, Qiu, Wang et al. Multi-Agent Meta-Reinforcement Learning: Sharper
    Convergence Rates with Task Similarity, NeurIPS 2023, section 4.2, eqs.
    (44)-(47), Lemma 15; Finn, Abbeel, Levine. Model-agnostic meta-learning,
    ICML 2017.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from marlmeta._adjoint import AbstractAdjoint, RecursiveCheckpointAdjoint
from marlmeta._checks import numpy_to_jax
from marlmeta._solve import iterate_solver
from marlmeta.evaluation import ne_gap, potential, potential_gradient
from marlmeta.games import DiscountedMarkovGame
from marlmeta.policies import softmax
from marlmeta.solvers import GradientPlay

Logits = tuple[Float[Array, "S Ai"], ...]

#: The inner loop's default adjoint: square-root checkpointed reverse mode.
INNER_ADJOINT = RecursiveCheckpointAdjoint()


def inner_loop(
    game: DiscountedMarkovGame,
    theta: Logits,
    inner_steps: int,
    inner_step_size,
    *,
    adjoint: AbstractAdjoint = INNER_ADJOINT,
) -> Logits:
    """``theta^(T)``: ``T`` steps of eq. (44) from ``theta``.

    The inner loop is :class:`marlmeta.solvers.GradientPlay` with step
    ``alpha`` and no barrier, run by the driver of :func:`marlmeta.solve` from
    the logits themselves, so it differentiates in ``theta``, ``alpha`` and the
    game through ``adjoint``.

    Args:
        game: one discounted potential game.
        theta: per-player logits, shapes ``(S, A_i)``.
        inner_steps: ``T`` (static, ``>= 0``).
        inner_step_size: ``alpha > 0``.
        adjoint: how the loop differentiates (default: checkpointed reverse
            mode, :class:`marlmeta.RecursiveCheckpointAdjoint`).
    """
    solver = GradientPlay(inner_step_size)
    steps = int(inner_steps)
    final, _ = iterate_solver(solver, game, theta, steps, (), _no_metric, adjoint)
    return final


def _no_metric(game, policy) -> None:
    del game, policy


def maml_objective(
    game: DiscountedMarkovGame,
    theta: Logits,
    inner_steps: int,
    inner_step_size,
    *,
    adjoint: AbstractAdjoint = INNER_ADJOINT,
) -> Float[Array, ""]:
    """``F_T(theta) = Phi(theta^(T))``, differentiable in ``theta`` (and ``alpha``).

    Args:
        game: one discounted potential game.
        theta: per-player logits, shapes ``(S, A_i)``.
        inner_steps: ``T`` (static).
        inner_step_size: ``alpha``.
        adjoint: as in :func:`inner_loop`.
    """
    return potential(
        game, _adapted(game, theta, inner_steps, inner_step_size, adjoint)[1]
    )


def _adapted(game, theta, inner_steps, inner_step_size, adjoint):
    """``(theta^(T), softmax(theta^(T)))``: the inner loop's logits and policy."""
    final = inner_loop(game, theta, inner_steps, inner_step_size, adjoint=adjoint)
    return final, softmax(final)


def _meta_gradient(game, theta, inner_steps, inner_step_size, first_order, adjoint):
    """``(Phi(theta^T), softmax(theta^T), grad F_T(theta))``."""
    if first_order:
        final, pol = _adapted(game, theta, inner_steps, inner_step_size, adjoint)
        return potential(game, pol), pol, potential_gradient(game, final)

    def objective(theta):
        pol = _adapted(game, theta, inner_steps, inner_step_size, adjoint)[1]
        return potential(game, pol), pol

    (phi, pol), grad = jax.value_and_grad(objective, has_aux=True)(theta)
    return phi, pol, grad


def _meta_step(game, theta, inner_steps, inner_step_size, first_order, adjoint):
    """``(Phi(theta^T), NE-gap(theta^T), grad F_T(theta))``."""
    phi, pol, grad = _meta_gradient(
        game, theta, inner_steps, inner_step_size, first_order, adjoint
    )
    return phi, ne_gap(game, pol), grad


def maml_gradient(
    game: DiscountedMarkovGame,
    theta: Logits,
    inner_steps: int,
    inner_step_size,
    *,
    first_order: bool = False,
    adjoint: AbstractAdjoint = INNER_ADJOINT,
) -> Logits:
    """``grad F_T(theta)`` (eq. 46), by reverse mode through the inner loop.

    Args:
        game: as in :func:`maml_objective`.
        theta: as in :func:`maml_objective`.
        inner_steps: as in :func:`maml_objective`.
        inner_step_size: as in :func:`maml_objective`.
        first_order: drop the Hessian terms (first-order MAML):
            ``grad Phi(theta^(T))``.
        adjoint: as in :func:`inner_loop`; its memory and recomputation
            trade-off is the meta-gradient's.
    """
    # without the NE-gap of _meta_step: its exact best responses (policy
    # iteration) were traced and lowered on every call, then dropped as dead
    # code by XLA
    args = (game, theta, inner_steps, inner_step_size, first_order, adjoint)
    return _meta_gradient(*args)[2]


def adapted_ne_gap(
    game: DiscountedMarkovGame,
    theta: Logits,
    inner_steps: int,
    inner_step_size,
    *,
    adjoint: AbstractAdjoint = INNER_ADJOINT,
) -> Float[Array, ""]:
    """NE-gap of the policy after ``T`` inner steps from ``theta``.

    Args:
        game: as in :func:`maml_objective`.
        theta: as in :func:`maml_objective`.
        inner_steps: as in :func:`maml_objective`.
        inner_step_size: as in :func:`maml_objective`.
        adjoint: as in :func:`inner_loop`.
    """
    return ne_gap(game, _adapted(game, theta, inner_steps, inner_step_size, adjoint)[1])


class MAMLRun(eqx.Module):
    """The outer loop's result; per-meta-iteration arrays have length ``M``.

    Attributes:
        theta: the meta-initialisation after ``M`` meta-iterations.
        objective: mean ``F_T(theta^k)`` over the batch of meta-iteration ``k``.
        ne_gap: mean NE-gap after ``T`` inner steps from ``theta^k``.
        ne_gap_random: the same from the random initialisation ``random_init``.
        ne_gap_uniform: the same from the uniform policy (``theta = 0``).
        finite: ``True`` when the meta-parameter and every trace are finite.
        random_init: the random baseline logits, drawn once from ``key``, so
            that an evaluation elsewhere can start from the same ones.
    """

    theta: Logits
    objective: Float[Array, " M"]
    ne_gap: Float[Array, " M"]
    ne_gap_random: Float[Array, " M"]
    ne_gap_uniform: Float[Array, " M"]
    finite: Bool[Array, ""]
    random_init: Logits


def maml(
    games: DiscountedMarkovGame,
    theta: Logits,
    optimiser: optax.GradientTransformation,
    meta_steps: int,
    inner_steps: int,
    inner_step_size,
    *,
    key: PRNGKeyArray,
    batch_size: int | None = None,
    first_order: bool = False,
    random_scale: float = 1.0,
    adjoint: AbstractAdjoint = INNER_ADJOINT,
) -> MAMLRun:
    """MAML's outer loop (eq. 47): ascend the batch mean of ``F_T`` with optax.

    Args:
        games: the pool of training games (leading axis ``K``).
        theta: the initial meta-parameter (per-player logits).
        optimiser: any optax transformation (``optax.sgd(eta)`` is eq. 47).
        meta_steps: ``M``.
        inner_steps: ``T``.
        inner_step_size: ``alpha``.
        key: draws the per-iteration batches and the random baseline logits
            (Gaussian, standard deviation ``random_scale``; returned as
            ``random_init``).
        batch_size: games per meta-iteration, sampled without replacement
            (default: the whole pool every iteration).
        first_order: first-order MAML.
        random_scale: standard deviation of the random baseline logits.
        adjoint: as in :func:`inner_loop`.
    """
    games = numpy_to_jax(games)  # the outer loop indexes them
    size = jax.tree.leaves(games)[0].shape[0]
    batch = size if batch_size is None else int(batch_size)
    if not 1 <= batch <= size:
        raise ValueError(f"batch_size is {batch_size}; expected 1 <= b <= {size}")
    k_rand, k_batch = jr.split(key)
    keys = jr.split(k_rand, len(theta))
    rand = tuple(
        random_scale * jr.normal(k, t.shape, t.dtype)
        for k, t in zip(keys, theta, strict=True)
    )
    zero = jax.tree.map(jnp.zeros_like, theta)
    baselines = jax.tree.map(lambda a, b: jnp.stack([a, b]), rand, zero)
    # Both baselines in one vmapped call: one compiled inner loop, not two.
    gap = jax.vmap(
        jax.vmap(adapted_ne_gap, in_axes=(0, None, None, None)),
        in_axes=(None, 0, None, None),
    )
    meta = jax.vmap(_meta_step, in_axes=(0, None, None, None, None, None))

    def body(carry, k):
        theta, opt_state = carry
        idx = jr.permutation(k, size)[:batch]
        g = jax.tree.map(lambda x: x[idx], games)
        obj, ne, grads = meta(
            g, theta, inner_steps, inner_step_size, first_order, adjoint
        )
        ascent = jax.tree.map(lambda x: -jnp.mean(x, axis=0), grads)
        updates, opt_state = optimiser.update(ascent, opt_state, theta)
        base = jnp.mean(gap(g, baselines, inner_steps, inner_step_size), axis=1)
        row = (jnp.mean(obj), jnp.mean(ne), base[0], base[1])
        return (optax.apply_updates(theta, updates), opt_state), row

    carry = (theta, optimiser.init(theta))
    (theta, _), rows = jax.lax.scan(body, carry, jr.split(k_batch, meta_steps))
    finite = jnp.all(
        jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves((theta, rows))])
    )
    return MAMLRun(theta, *rows, finite=finite, random_init=rand)
