"""Public exact metrics: values, best responses, gains, NE-gap, CCE-gap, potential.

Every function takes one game (any game kind: finite-horizon or discounted)
and a policy, and is jit/vmap/grad compatible. A policy is a policy kind of
:mod:`marlmeta.policies`, a tuple or list of per-player tables (a product
policy) or one joint array (a Markov correlated policy); NumPy arrays and lists
are converted once here and checked (:func:`marlmeta.policies.validate`): a
batch of games (use ``jax.vmap``), a wrong number of players, a wrong shape
(also under ``jit``), or (for concrete inputs) a negative, non-finite entry or
a row off the simplex by more than :func:`~marlmeta.policies.simplex_tolerance`
of its dtype (``1e-6`` in float64, ``1e-5`` in float32) is a ``ValueError``
naming the argument, the player, the index and the value. Under ``jit`` and
``vmap`` the same value checks run at run time (``eqx.error_if``).

No metric answers silently wrong: a non-finite result (NaN rewards or a NaN
policy entry, a value that overflows its dtype, or a bounded search that did
not converge: policy iteration, GMRES) is a ``ValueError`` for concrete inputs
and a run-time ``eqx.error_if`` error under ``jit``/``vmap``. :func:`report`
never raises on it: its :attr:`AbstractReport.finite` is the per-game flag (the one
to use on a large ``vmap``-ed batch, where one bad game would otherwise stop
the whole call).

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
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from marlmeta.policies import AutoregressivePolicy, CorrelatedPolicy, validate

if TYPE_CHECKING:
    from marlmeta.games import AbstractMarkovGame


_NOT_FINITE = (
    "is not finite: the rewards or the policy hold NaN, a value overflowed its "
    "dtype, or a bounded search (policy iteration, GMRES) did not converge; "
    "marlmeta.evaluation.report gives a per-game finite flag instead"
)


def finite_or_raise(name: str, x: Array) -> Array:
    """``x`` if every entry is finite; otherwise a ``ValueError`` naming ``name``
    (concrete ``x``) or a run-time ``eqx.error_if`` error (traced ``x``)."""
    if isinstance(x, jax.core.Tracer):
        return eqx.error_if(x, ~jnp.all(jnp.isfinite(x)), f"{name} {_NOT_FINITE}")
    c = np.asarray(x)
    if not np.all(np.isfinite(c)):
        raise ValueError(f"{name} is {c.tolist()!r}; it {_NOT_FINITE}")
    return x


def _values_and_best(game: AbstractMarkovGame, policy, *, best: bool, caller: str):
    return game.initial_values(policy, best=best, caller=caller)


def _gains(game: AbstractMarkovGame, policy, caller: str) -> Array:
    v, b, _ = _values_and_best(game, policy, best=True, caller=caller)
    return b - v


def values(game: AbstractMarkovGame, policy) -> Float[Array, " N"]:
    """Each player's value ``initial @ V_0`` under a product or joint policy."""
    v = _values_and_best(game, policy, best=False, caller="values")[0]
    return finite_or_raise("values", v)


def best_response_values(game: AbstractMarkovGame, policy) -> Float[Array, " N"]:
    """Each player's best-response value against the others' policies.

    For a joint (correlated) policy, the CCE deviation value.
    """
    b = _values_and_best(game, policy, best=True, caller="best_response_values")[1]
    return finite_or_raise("best_response_values", b)


def best_responses(game: AbstractMarkovGame, policy) -> tuple[Array, ...]:
    """Deterministic best responses, one-hot per player (lowest index on ties)."""
    return _values_and_best(game, policy, best=True, caller="best_responses")[2]


def gains(game: AbstractMarkovGame, policy) -> Float[Array, " N"]:
    """``gain_i = initial @ (B_{0,i} - V_{0,i})``: what a deviation earns."""
    return finite_or_raise("gains", _gains(game, policy, "gains"))


def ne_gap(game: AbstractMarkovGame, policy) -> Float[Array, ""]:
    """``max_i gain_i``: the largest gain of a unilateral deviation."""
    return finite_or_raise("ne_gap", jnp.max(_gains(game, policy, "ne_gap")))


def nash_conv(game: AbstractMarkovGame, policy) -> Float[Array, ""]:
    """``sum_i gain_i`` (NashConv; the NE-gap of a zero-sum game in Mao et al.)."""
    return finite_or_raise("nash_conv", jnp.sum(_gains(game, policy, "nash_conv")))


def full_state_best_response_values(
    game: AbstractMarkovGame, policy
) -> Float[Array, " N"]:
    """Best-response values when the deviator sees the full state.

    For an observation policy this is an upper bound of
    :func:`best_response_values` (whose deviations are observation policies);
    for a state-level policy the two agree.
    """
    caller = "full_state_best_response_values"
    pol = validate(game, policy, caller=caller).on_states()
    b = _values_and_best(game, pol, best=True, caller=caller)[1]
    return finite_or_raise(caller, b)


def full_state_gains(game: AbstractMarkovGame, policy) -> Float[Array, " N"]:
    """:func:`gains` against deviations that see the full state (an upper bound
    of the gains of an observation policy)."""
    pol = validate(game, policy, caller="full_state_gains").on_states()
    return finite_or_raise("full_state_gains", _gains(game, pol, "full_state_gains"))


def full_state_nash_conv(game: AbstractMarkovGame, policy) -> Float[Array, ""]:
    """``sum_i`` :func:`full_state_gains`: the NashConv of the fully observed game."""
    pol = validate(game, policy, caller="full_state_nash_conv").on_states()
    g = jnp.sum(_gains(game, pol, "full_state_nash_conv"))
    return finite_or_raise("full_state_nash_conv", g)


def cce_gap(game: AbstractMarkovGame, sigma) -> Float[Array, ""]:
    """CCE-gap of a Markov correlated policy ``sigma`` (``(H, S, *A)``).

    A product policy is converted to its joint policy first; its CCE-gap then
    equals its NE-gap.
    """
    sigma = validate(game, sigma, name="sigma", caller="cce_gap")
    g = _gains(game, CorrelatedPolicy(sigma.joint()), "cce_gap")
    return finite_or_raise("cce_gap", jnp.max(g))


def potential(game: AbstractMarkovGame, policy) -> Float[Array, ""]:
    """The Markov potential ``Phi(pi)``: the value of the potential reward."""
    return finite_or_raise("potential", _potential(game, policy, "potential"))


def _potential(game: AbstractMarkovGame, policy, caller: str) -> Array:
    pol = validate(game, policy, caller=caller)
    if game.potential_reward is None:
        raise ValueError("game has no potential_reward; it is not a potential game")
    v = game.evaluate(pol, game.potential_reward[None]).values
    return (v @ game.initial)[0]


class AbstractReport(eqx.Module):
    """Values and gains of one policy: what solvers trace at checkpoints; the
    gaps derive from them.

    Attributes:
        values: ``(N,)`` each player's value.
        gains: ``(N,)`` each player's best-deviation gain.
    """

    values: eqx.AbstractVar[Float[Array, " N"]]
    gains: eqx.AbstractVar[Float[Array, " N"]]

    @property
    def finite(self) -> Bool[Array, "..."]:
        """Per game (and checkpoint): ``True`` when the values and gains are all
        finite; ``False`` when the rewards or policy hold NaN, a value
        overflowed, or a bounded search (policy iteration, GMRES) stopped
        without converging (its values are then NaN)."""
        ok = jnp.isfinite(self.values) & jnp.isfinite(self.gains)
        return jnp.all(ok, axis=-1)


class AbstractUnilateralReport(AbstractReport):
    """A report whose gains are those of unilateral deviations from a product
    (or observation) policy: NashConv and NE-gap derive from them."""

    @property
    def nash_conv(self):
        """NashConv ``sum_i gain_i``."""
        return jnp.sum(self.gains, axis=-1)

    @property
    def ne_gap(self):
        """NE-gap ``max_i gain_i``."""
        return jnp.max(self.gains, axis=-1)

    #: A product policy's CCE-gap is its NE-gap.
    cce_gap = ne_gap


class Report(AbstractUnilateralReport):
    """The report of a product (or observation) policy: the gains are those of
    unilateral deviations.

    Attributes:
        values: ``(N,)`` each player's value.
        gains: ``(N,)`` each player's best unilateral-deviation gain.
    """

    values: Float[Array, " N"]
    gains: Float[Array, " N"]


class CCEReport(AbstractReport):
    """The report of a correlated (joint or autoregressive) policy: the gains
    are those of coarse-correlated deviations (play one's own policy against
    the joint policy's marginal of the others), so there is no NashConv.

    Attributes:
        values: ``(N,)`` each player's value.
        gains: ``(N,)`` each player's best CCE-deviation gain.
    """

    values: Float[Array, " N"]
    gains: Float[Array, " N"]

    @property
    def cce_gap(self):
        """CCE-gap ``max_i gain_i``."""
        return jnp.max(self.gains, axis=-1)

    @property
    def cce_gain_sum(self):
        """``sum_i gain_i`` of the CCE deviations (zero exactly at a CCE)."""
        return jnp.sum(self.gains, axis=-1)


#: The report class of each policy kind whose deviations are coarse-correlated.
_CORRELATED_REPORTS = {CorrelatedPolicy: CCEReport, AutoregressivePolicy: CCEReport}


def report(game: AbstractMarkovGame, policy) -> AbstractReport:
    """Values and gains in one pass (the default checkpoint metric).

    A :class:`Report` (``nash_conv``, ``ne_gap``) for a product or observation
    policy; a :class:`CCEReport` (``cce_gap``, ``cce_gain_sum``) for a
    correlated (joint or autoregressive) policy, whose gains are those of
    coarse-correlated deviations. Never raises on a non-finite result:
    :attr:`AbstractReport.finite` flags it.
    """
    pol = validate(game, policy, caller="report")
    ev = game.evaluate(pol, best=True)
    v, b = ev.values @ game.initial, ev.best_values @ game.initial
    return _CORRELATED_REPORTS.get(type(pol), Report)(values=v, gains=b - v)
