"""Public exact metrics: values, best responses, gains, NE-gap, CCE-gap, potential.

Every function takes one game (any game kind: finite-horizon or discounted)
and a policy, and is jit/vmap/grad compatible. A policy is a policy kind of
:mod:`marlmeta.policies`, a tuple or list of per-player tables (a product
policy) or one joint array (a Markov correlated policy); NumPy arrays and lists
are converted once here and checked: a wrong number of players, a wrong shape
(also under ``jit``), or (for concrete inputs) a negative, non-finite entry or
a row off the simplex by more than ``1e-6`` is a ``ValueError`` naming the
argument, the player, the index and the value.

- ``gain_i(pi) = initial @ (B_{0,i} - V_{0,i}) >= 0``;
- ``ne_gap(pi) = max_i gain_i(pi)``, ``nash_conv(pi) = sum_i gain_i(pi)``
  (for a zero-sum game ``nash_conv = V^{dagger,nu} - V^{mu,dagger}``, the
  "NE-gap" of the figures of Mao, Qiu, Wang et al., "Multi-Agent
  Meta-Reinforcement Learning", NeurIPS 2023);
- ``cce_gap(sigma) = max_i gain_i(sigma)`` with CCE deviations for a Markov
  correlated policy ``sigma``.

For an observation policy (:class:`marlmeta.policies.ObservationPolicy`) the
deviations are observation policies, so ``nash_conv`` is the exploitability of
the imperfect-information game; ``full_state_*`` let the deviator see the
state (an upper bound).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.policies import CorrelatedPolicy, validate

if TYPE_CHECKING:
    from marlmeta.games import AbstractMarkovGame


def _values_and_best(game: AbstractMarkovGame, policy, *, best: bool):
    v, b, br = game.evaluate(validate(game, policy), best=best)
    return v @ game.initial, (None if b is None else b @ game.initial), br


def values(game: AbstractMarkovGame, policy) -> Float[Array, " N"]:
    """Each player's value ``initial @ V_0`` under a product or joint policy."""
    return _values_and_best(game, policy, best=False)[0]


def best_response_values(game: AbstractMarkovGame, policy) -> Float[Array, " N"]:
    """Each player's best-response value against the others' policies.

    For a joint (correlated) policy, the CCE deviation value.
    """
    return _values_and_best(game, policy, best=True)[1]


def best_responses(game: AbstractMarkovGame, policy) -> tuple[Array, ...]:
    """Deterministic best responses, one-hot per player (lowest index on ties)."""
    return _values_and_best(game, policy, best=True)[2]


def gains(game: AbstractMarkovGame, policy) -> Float[Array, " N"]:
    """``gain_i = initial @ (B_{0,i} - V_{0,i})``: what a deviation earns."""
    v, b, _ = _values_and_best(game, policy, best=True)
    return b - v


def ne_gap(game: AbstractMarkovGame, policy) -> Float[Array, ""]:
    """``max_i gain_i``: the largest gain of a unilateral deviation."""
    return jnp.max(gains(game, policy))


def nash_conv(game: AbstractMarkovGame, policy) -> Float[Array, ""]:
    """``sum_i gain_i`` (NashConv; the NE-gap of a zero-sum game in Mao et al.)."""
    return jnp.sum(gains(game, policy))


def full_state_best_response_values(
    game: AbstractMarkovGame, policy
) -> Float[Array, " N"]:
    """Best-response values when the deviator sees the full state.

    For an observation policy this is an upper bound of
    :func:`best_response_values` (whose deviations are observation policies);
    for a state-level policy the two agree.
    """
    return best_response_values(game, validate(game, policy).on_states())


def full_state_gains(game: AbstractMarkovGame, policy) -> Float[Array, " N"]:
    """:func:`gains` against deviations that see the full state (an upper bound
    of the gains of an observation policy)."""
    return gains(game, validate(game, policy).on_states())


def full_state_nash_conv(game: AbstractMarkovGame, policy) -> Float[Array, ""]:
    """``sum_i`` :func:`full_state_gains`: the NashConv of the fully observed game."""
    return jnp.sum(full_state_gains(game, policy))


def cce_gap(game: AbstractMarkovGame, sigma) -> Float[Array, ""]:
    """CCE-gap of a Markov correlated policy ``sigma`` (``(H, S, *A)``).

    A product policy is converted to its joint policy first; its CCE-gap then
    equals its NE-gap.
    """
    sigma = CorrelatedPolicy(validate(game, sigma, name="sigma").joint())
    return jnp.max(gains(game, sigma))


def potential(game: AbstractMarkovGame, policy) -> Float[Array, ""]:
    """The Markov potential ``Phi(pi)``: the value of the potential reward."""
    if game.potential_reward is None:
        raise ValueError("game has no potential_reward; it is not a potential game")
    v = game.evaluate(validate(game, policy), game.potential_reward[None])[0]
    return (v @ game.initial)[0]


class Report(eqx.Module):
    """Values and gains of one policy: what solvers trace at checkpoints.

    Attributes:
        values: ``(N,)`` each player's value.
        gains: ``(N,)`` each player's best-deviation gain (CCE deviations for a
            joint policy).
    """

    values: Float[Array, " N"]
    gains: Float[Array, " N"]

    @property
    def nash_conv(self):
        return jnp.sum(self.gains, axis=-1)

    @property
    def ne_gap(self):
        return jnp.max(self.gains, axis=-1)

    cce_gap = ne_gap


def report(game: AbstractMarkovGame, policy) -> Report:
    """Values and gains in one pass (the default checkpoint metric)."""
    v, b, _ = _values_and_best(game, policy, best=True)
    return Report(values=v, gains=b - v)
