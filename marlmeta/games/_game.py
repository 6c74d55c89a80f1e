"""Tabular Markov games as pytrees, and the protocol evaluation relies on.

A game is an ``eqx.Module``: array leaves (rewards, transition arrays, the
initial distribution, the discount) and static structure (horizon, action
counts). A batch of games is the same pytree with a leading axis on every
leaf; core functions take one game and are batched with ``jax.vmap``.

Array layouts: ``rewards[i, h, s, a_0, .., a_{N-1}]`` (finite horizon; no ``h``
when discounted), transitions through ``expectation(h, V)``
(:mod:`marlmeta.games._transitions`), product policies as one ``(H, S, A_i)``
table per player, Markov correlated policies as one ``(H, S, A_0, .., A_{N-1})``
table.

Every game checks itself at construction (``__check_init__``): shapes agree
between rewards, transitions, initial distribution and potential reward
(static, so also under ``jit`` and for batches), counts are positive integers,
and on concrete arrays the values are checked too (finite rewards, ``initial``
and kernel rows on the simplex, ``0 <= gamma < 1``); a ``ValueError`` names the
argument, the index and the value. Under ``jit`` the values are tracers and
only the static checks run (validation of values is eager only).

Every metric of :mod:`marlmeta.evaluation` is written against the methods of
:class:`AbstractMarkovGame`; a new game kind implements :attr:`lead_shape`,
:meth:`evaluate`, :meth:`averaged_q` and :meth:`optimal_values` and inherits all
of them. Each kind's evaluation engine lives beside it in this package
(backward induction in :mod:`._backward_induction`, the linear-solve
strategies in :mod:`._linear_solves`); this package imports nothing from
:mod:`marlmeta.evaluation`.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from marlmeta._checks import (
    check_distributions,
    check_trailing,
    check_values,
    concrete,
    count,
    counts,
    fmt_value,
    indexed_name,
    real_array,
    unravel,
)
from marlmeta.games import _backward_induction as _backward, _linear_solves as _linear
from marlmeta.games._evaluation import Evaluation
from marlmeta.games._legal import ALL_LEGAL, AbstractLegalActions
from marlmeta.games._rewards import AbstractRewards, as_rewards
from marlmeta.games._transitions import AbstractTransitions
from marlmeta.policies import AbstractPolicy, ProductPolicy, validate


def _optional_array(name: str, x) -> Array | None:
    return None if x is None else real_array(name, x)


def check_legal_kind(game) -> None:
    """Raise ``ValueError`` unless ``game.legal`` is a legal-action kind whose
    masks fit the game's policy tables (static; checked at construction of
    every game kind)."""
    if not isinstance(game.legal, AbstractLegalActions):
        raise ValueError(
            f"legal is a {type(game.legal).__name__}; expected a legal-action "
            "kind (marlmeta.games.AllLegal or LegalActions)"
        )
    game.legal.check_shapes(game.lead_shape, game.num_actions)


class AbstractMarkovGame(eqx.Module):
    """Common interface of finite-horizon and discounted games.

    Attributes:
        reward_model: how the rewards are stored (:mod:`._rewards`: dense, or a
            single table for zero-sum and identical-interest games); read them
            as ``rewards``.
        transitions: the kernel, used only through ``expectation(h, V)``.
        initial: initial-state distribution ``(S,)``.
        potential_reward: for potential games, the reward ``phi`` whose value
            is the (Markov) potential, shaped like one player's rewards; ``None``
            otherwise. The constructors set it to the common reward when every
            player's reward is the same (identical interest).
        num_actions: per-player action counts (static).
    """

    reward_model: eqx.AbstractVar[AbstractRewards]
    transitions: eqx.AbstractVar[AbstractTransitions]
    #: Number of state axes of one player's reward table (``(H, S)`` or ``(S,)``).
    _state_axes: ClassVar[int]
    initial: eqx.AbstractVar[Float[Array, " S"]]
    potential_reward: eqx.AbstractVar[Array | None]
    num_actions: eqx.AbstractVar[tuple[int, ...]]
    legal: eqx.AbstractVar[AbstractLegalActions]

    @property
    def rewards(self) -> Array:
        """``rewards[i, (h,) s, a_0, .., a_{N-1}]``, player ``i``'s reward (after
        any batch axes), the dense view of :attr:`reward_model`."""
        return self.reward_model.dense(self._state_axes + len(self.num_actions))

    def __check_init__(self):
        acts = counts("num_actions", self.num_actions)
        steps = self._step_sizes()
        n = len(acts)
        k = len(steps) + 1 + n  # axes of one player's table
        shape = self.reward_model.shape(k)
        if len(shape) < k + 1:
            raise ValueError(
                f"rewards has shape {shape}; expected {k + 1} axes "
                "(N, (H,) S, A_0, .., A_(N-1)) after any batch axes"
            )
        num_states = shape[-(n + 1)]
        entry = (*steps, num_states, *acts)
        check_trailing(
            "rewards", shape, (n, *entry), f"num_actions {acts} and the horizon"
        )
        if num_states < 1:
            raise ValueError(f"rewards has shape {shape}; expected at least one state")
        batch = tuple(shape[: -(k + 1)])
        if tuple(self.initial.shape) != (*batch, num_states):
            raise ValueError(
                f"initial has shape {tuple(self.initial.shape)}; expected "
                f"{(*batch, num_states)} to agree with the rewards"
            )
        check_distributions("initial", self.initial)
        self.transitions.check_shapes(self._num_steps(), num_states, acts)
        if self.potential_reward is not None:
            check_values("potential_reward", self.potential_reward)
            check_trailing(
                "potential_reward", self.potential_reward.shape, entry, "the rewards"
            )

    @abc.abstractmethod
    def _step_sizes(self) -> tuple[int, ...]:
        """The step axis of one player's table: ``(H,)``, or ``()``."""

    @abc.abstractmethod
    def _num_steps(self) -> tuple[int, ...]:
        """The admissible lengths of the kernel's time axis."""

    @property
    def num_players(self) -> int:
        """``N``."""
        return len(self.num_actions)

    @property
    def num_states(self) -> int:
        """``S`` (also of a batch: the last axis of ``initial``)."""
        return self.initial.shape[-1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading batch axes (``()`` for one game, ``(B,)`` for a batch)."""
        return tuple(self.initial.shape[:-1])

    def require_one_game(self, caller: str) -> None:
        """Raise ``ValueError`` if this is a batch of games, not one game.

        The check reads static shapes, so it also holds under ``jit``; under
        ``vmap`` each member is one game and passes.
        """
        if self.batch_shape:
            raise ValueError(
                f"{caller} takes one game; got a batch of {self.batch_shape[0]} games "
                f"(initial has shape {tuple(self.initial.shape)}): use jax.vmap or "
                "solve_batch"
            )

    @property
    @abc.abstractmethod
    def lead_shape(self) -> tuple[int, ...]:
        """The state axes of a policy table: ``(H, S)`` or ``(S,)``."""

    @abc.abstractmethod
    def evaluate(
        self, policy: AbstractPolicy, rewards=None, *, best: bool = False
    ) -> Evaluation:
        """Exact evaluation of a policy kind.

        Args:
            policy: an :class:`~marlmeta.policies.AbstractPolicy`.
            rewards: reward tables ``(M, ..)`` to evaluate (default: the game's).
            best: also compute each player's best-response values.

        Returns:
            An :class:`~marlmeta.games.Evaluation`: values ``(M, S)`` (at step
            0), and with ``best`` the best-response values ``(N, S)`` and the
            deterministic best responses (one-hot, one table per player).
        """

    def initial_values(self, policy, *, best: bool, caller: str):
        """``(initial @ V, initial @ B or None, best responses)`` of a policy,
        checked first (:func:`marlmeta.policies.validate`, and no probability on
        an illegal action: :meth:`AbstractLegalActions.check_policy`)."""
        policy = self.legal.check_policy(validate(self, policy, caller=caller), caller)
        ev = self.evaluate(policy, best=best)
        b = None if ev.best_values is None else ev.best_values @ self.initial
        return ev.values @ self.initial, b, ev.best_responses

    @abc.abstractmethod
    def averaged_q(self, policy: AbstractPolicy) -> tuple[Array, ...]:
        """``Qbar_i(.., s, a_i) = E_{a_{-i} ~ pi_{-i}} Q_i(.., s, a)`` per player."""

    @abc.abstractmethod
    def optimal_values(self, reward: Array) -> Float[Array, " S"]:
        """Optimal values (step 0) of the MDP over joint actions with ``reward``
        (shaped like one player's rewards)."""

    # What one step of a simulated episode reads (marlmeta.simulation).

    @abc.abstractmethod
    def step_policy(self, policy: AbstractPolicy, h) -> AbstractPolicy:
        """The policy played at step ``h``: ``policy.at(h)``, or ``policy`` itself
        when the game is stationary."""

    @abc.abstractmethod
    def step_index(self, h, state) -> tuple:
        """Where ``(h, state)`` stands in a table with the kind's state axes
        (:attr:`lead_shape`): ``(h, state)``, or ``(state,)`` when the game is
        stationary."""

    def step_rewards(self, h, state, actions: Int[Array, " N"]) -> Float[Array, " N"]:
        """Every player's reward ``r_i(h, state, actions)``, shape ``(N,)``."""
        return self.rewards[(slice(None), *self.step_index(h, state), *actions)]

    def step_legal(self, h, state) -> tuple[Array, ...]:
        """Every player's legal-action mask ``(A_i,)`` at ``(h, state)``."""
        at = self.step_index(h, state)
        return tuple(m[at] for m in self.legal.masks(self.lead_shape, self.num_actions))

    @property
    @abc.abstractmethod
    def step_discount(self) -> Float[Array, ""]:
        """The factor on the next step's reward: ``gamma``, or ``1`` for a finite
        horizon."""

    @abc.abstractmethod
    def episode_steps(self, num_steps: int | None) -> int:
        """The number of steps a simulated episode runs (static): ``H``, or for a
        discounted game ``num_steps`` (default: the least ``T`` with
        ``gamma^T <= 1e-6``, read from a concrete discount)."""

    @property
    def observation_counts(self) -> tuple[int, ...]:
        """``(O_0, .., O_{N-1})``: how many observations each player can see
        (``S`` each when every player sees the state)."""
        return (self.num_states,) * self.num_players

    def player_observations(self, h, state) -> Int[Array, " N"]:
        """What each player sees at ``(h, state)``, ``(N,)`` integers (here the
        state itself)."""
        del h
        return jnp.full(self.num_players, state, jnp.int32)

    def policy_masks(self) -> tuple[Array, ...]:
        """Per player the legal mask of the rows of a policy table (boolean
        ``(*lead, A_i)`` per state; per observation for observation games)."""
        return self.legal.masks(self.lead_shape, self.num_actions)

    def observation_policy(self, tables) -> AbstractPolicy:
        """The policy whose player ``i`` plays ``tables[i][(h,) o, :]`` on its
        observation ``o`` (tables ``(*lead[:-1], O_i, A_i)``): here a product
        policy on states."""
        return ProductPolicy(tuple(tables))

    def require_kind(self, kind: type, needs: str, caller: str) -> None:
        """Raise ``ValueError`` (``"{caller} needs {needs}"``) unless this game
        is of the game kind ``kind``: a precondition, checked once at a public
        entry point."""
        if not isinstance(self, kind):
            raise ValueError(f"{caller} needs {needs}; game is a {type(self).__name__}")

    def require_discounted(self, caller: str) -> None:
        """Raise ``ValueError`` unless the game is discounted."""
        self.require_kind(DiscountedMarkovGame, "a DiscountedMarkovGame", caller)

    def require_finite_horizon(
        self, caller: str, needs: str = "finite-horizon games"
    ) -> None:
        """Raise ``ValueError`` unless the game has a finite horizon."""
        self.require_kind(AbstractFiniteHorizonGame, needs, caller)

    def require_observations(self, caller: str) -> None:
        """Raise ``ValueError`` unless the game carries observation maps."""
        raise ValueError(
            f"{caller} needs a game with observations (marlmeta.games.observe); "
            f"game is a {type(self).__name__} without them"
        )

    def require_state_policies(self, caller: str) -> None:
        """Raise ``ValueError`` unless every player's policy lives on states
        (an :class:`~marlmeta.games.ObservedGame` raises)."""
        del caller


class AbstractFiniteHorizonGame(AbstractMarkovGame):
    """A finite-horizon game kind: policies and rewards per step ``h < H``,
    evaluated by backward induction (:class:`FiniteHorizonGame` on states, and
    the observation-game kinds, :class:`~marlmeta.games.AbstractObservedGame`)."""

    horizon: eqx.AbstractVar[int]
    _state_axes: ClassVar[int] = 2

    def __check_init__(self):
        check_legal_kind(self)

    def _step_sizes(self):
        return (self.horizon,)

    def _num_steps(self):
        return (self.horizon, 1)

    @property
    def lead_shape(self) -> tuple[int, ...]:
        return (self.horizon, self.num_states)

    def evaluate(self, policy, rewards=None, *, best: bool = False):
        return _backward.backward(self, policy, rewards, best=best)

    def averaged_q(self, policy):
        return _backward.backward(self, policy, averaged=True).averaged_q

    def optimal_values(self, reward):
        return _backward.optimal_values(self, reward)

    def reach(self, policy: AbstractPolicy) -> Float[Array, "H S"]:
        """State reach probabilities ``c_h(s)`` under a product policy:
        ``c_0 = initial``, ``c_{h+1}(s') = sum_{s, a} c_h(s) pi_h(a|s)
        P_h(s'|s, a)``."""
        return _backward.reach(self, policy)

    def step_policy(self, policy, h):
        return policy.at(h)

    def step_index(self, h, state):
        return (h, state)

    @property
    def step_discount(self):
        return jnp.ones((), self.initial.dtype)

    def episode_steps(self, num_steps):
        if num_steps is not None and num_steps != self.horizon:
            raise ValueError(
                f"num_steps is {num_steps!r}; an episode of a finite-horizon game "
                f"runs its horizon {self.horizon} steps (leave num_steps None)"
            )
        return self.horizon


class FiniteHorizonGame(AbstractFiniteHorizonGame):
    """Finite-horizon ``N``-player Markov game (also known as ``MarkovGame``).

    Build with :func:`marlmeta.games.markov_game` (validating) or a generator.
    Evaluated by backward induction.

    Attributes:
        reward_model: the rewards ``(N, H, S, A_0, .., A_{N-1})`` (as ``rewards``).
        transitions: kernel with a time axis of length ``H`` or ``1``.
        initial: ``(S,)``.
        potential_reward: ``(H, S, A_0, .., A_{N-1})`` or ``None``.
        num_actions: ``(A_0, .., A_{N-1})``.
        horizon: ``H``.
        legal: the legal actions (:mod:`marlmeta.games._legal`):
            :class:`~marlmeta.games.AllLegal` (default) or per-player masks
            ``(H, S, A_i)`` (:class:`~marlmeta.games.LegalActions`).

    Every player sees the state; a game whose players see observations is an
    :class:`~marlmeta.games.ObservedGame` (:func:`marlmeta.games.observe`).
    """

    reward_model: AbstractRewards
    transitions: AbstractTransitions
    initial: Float[Array, " S"]
    potential_reward: Float[Array, "H S *A"] | None
    num_actions: tuple[int, ...] = eqx.field(static=True)
    horizon: int = eqx.field(static=True)
    legal: AbstractLegalActions
    _state_axes: ClassVar[int] = 2

    def __init__(
        self,
        reward_model,
        transitions,
        initial,
        potential_reward,
        num_actions,
        horizon,
        legal: AbstractLegalActions = ALL_LEGAL,
    ):
        """``reward_model``: a reward model or a dense ``(N, H, S, *A)`` array.

        Checked at construction (see the module text); prefer
        :func:`marlmeta.games.markov_game`, which also accepts a kernel array
        without the step axis and picks a compact reward model.
        """
        self.reward_model = as_rewards(reward_model)
        self.transitions = transitions
        self.initial = real_array("initial", initial)
        self.potential_reward = _optional_array("potential_reward", potential_reward)
        self.num_actions = num_actions
        self.horizon = count("horizon", horizon)
        self.legal = legal


#: The name of :class:`FiniteHorizonGame` in earlier releases.
#: Another name of :class:`FiniteHorizonGame` (the papers' finite-horizon Markov game).
MarkovGame = FiniteHorizonGame


class DiscountedMarkovGame(AbstractMarkovGame):
    """Infinite-horizon discounted ``N``-player Markov game.

    Evaluated by linear solves, a strategy object (``linear_solver``): dense
    ``S x S`` ones for small games, matrix-free GMRES through ``expectation``
    for large ones.

    Attributes:
        reward_model: the rewards ``(N, S, A_0, .., A_{N-1})`` (as ``rewards``).
        transitions: time-homogeneous kernel (time axis of length 1).
        initial: ``(S,)`` (the papers' ``rho``).
        potential_reward: ``(S, A_0, .., A_{N-1})`` or ``None``.
        discount: ``gamma`` in ``[0, 1)``, an array leaf (vmappable,
            differentiable).
        num_actions: ``(A_0, .., A_{N-1})``.
        linear_solver: static strategy: :class:`~marlmeta.games.DenseSolve`
            (exact LU of ``S x S`` systems), :class:`~marlmeta.games.MatrixFreeSolve`
            (GMRES, to a tolerance of ``1e-12`` in float64 and ``1e-6`` in
            float32) or :class:`~marlmeta.games.AutoSolve` (the default: dense
            up to 2,000 states); the names ``"dense"``, ``"iterative"`` and
            ``"auto"`` are accepted at construction.
        legal: the legal actions (:mod:`marlmeta.games._legal`):
            :class:`~marlmeta.games.AllLegal` (default) or per-player masks
            ``(S, A_i)`` (:class:`~marlmeta.games.LegalActions`).
    """

    reward_model: AbstractRewards
    transitions: AbstractTransitions
    initial: Float[Array, " S"]
    potential_reward: Float[Array, " S *A"] | None
    discount: Float[Array, ""]
    num_actions: tuple[int, ...] = eqx.field(static=True)
    linear_solver: _linear.AbstractLinearSolver = eqx.field(static=True)
    legal: AbstractLegalActions
    _state_axes: ClassVar[int] = 1

    def __init__(
        self,
        reward_model,
        transitions,
        initial,
        potential_reward,
        discount,
        num_actions,
        linear_solver=_linear.LINEAR_SOLVERS["auto"],
        legal: AbstractLegalActions = ALL_LEGAL,
    ):
        """``reward_model``: a reward model or a dense ``(N, S, *A)`` array.

        Checked at construction (see the module text); prefer
        :func:`marlmeta.games.discounted_game`.
        """
        self.reward_model = as_rewards(reward_model)
        self.transitions = transitions
        self.initial = real_array("initial", initial)
        self.potential_reward = _optional_array("potential_reward", potential_reward)
        self.discount = real_array("discount", discount)
        self.num_actions = num_actions
        self.linear_solver = _linear.as_linear_solver(linear_solver)
        self.legal = legal

    def __check_init__(self):
        check_legal_kind(self)
        batch = tuple(self.initial.shape[:-1])
        if tuple(self.discount.shape) != batch:
            raise ValueError(
                f"discount has shape {tuple(self.discount.shape)}; expected "
                f"{batch} (one per game)"
            )
        g = concrete(self.discount)
        if g is not None:
            bad = ~(np.isfinite(g) & (g >= 0) & (g < 1))
            if bad.any():
                idx = unravel(int(np.argmax(bad)), g.shape)
                raise ValueError(
                    f"{indexed_name('discount', idx)} is {fmt_value(g[idx])}; "
                    "expected [0, 1)"
                )

    def _step_sizes(self):
        return ()

    def _num_steps(self):
        return (1,)

    @property
    def lead_shape(self) -> tuple[int, ...]:
        return (self.num_states,)

    def evaluate(self, policy, rewards=None, *, best: bool = False):
        rewards = self.rewards if rewards is None else rewards
        return self.linear_solver.evaluate(self, policy, rewards, best=best)

    def averaged_q(self, policy):
        return self.linear_solver.averaged_q(self, policy)

    def optimal_values(self, reward):
        return _linear.optimal_values(self, reward)

    def optimal_policy(self, reward: Array) -> _linear.OptimalPolicy:
        """Optimal values ``(S,)`` of the joint-action MDP with ``reward`` and a
        deterministic optimal joint action per state (the flat row-major index
        of ``(a_0, .., a_{N-1})``), by the game's ``linear_solver``."""
        return self.linear_solver.optimal_policy(self, reward)

    def next_state_tensor(self, dtype) -> Float[Array, "S S *A"]:
        """The dense ``E[s', s, a] = P(s'|s, a)``, formed through
        ``expectation`` (for dense metrics of small games)."""
        return _linear.next_state_tensor(self, dtype)

    def visitation(self, policy: AbstractPolicy) -> Float[Array, " S"]:
        """The discounted visitation ``d = (1 - gamma) (I - gamma
        P_pi)^{-T} rho`` of any policy kind (dense solve); sums to 1."""
        return _linear.visitation(self, policy)

    def policy_parts(self, policy: AbstractPolicy) -> _linear.PolicyParts:
        """Values, ``Qbar_i`` and the visitation of a policy from one dense
        state kernel (the softmax quantities)."""
        return _linear.parts(self, policy)

    def step_policy(self, policy, h):
        del h
        return policy

    def step_index(self, h, state):
        del h
        return (state,)

    @property
    def step_discount(self):
        return self.discount

    def episode_steps(self, num_steps):
        if num_steps is not None:
            if (
                isinstance(num_steps, bool)
                or int(num_steps) != num_steps
                or num_steps < 1
            ):
                raise ValueError(f"num_steps is {num_steps!r}; expected an int >= 1")
            return int(num_steps)
        gamma = concrete(self.discount)
        if gamma is None or gamma.ndim:
            raise ValueError(
                "num_steps is None and the discount is traced or batched; pass "
                "num_steps (episodes of a discounted game are truncated there)"
            )
        gamma = float(gamma)
        if gamma <= 0:
            return 1
        return max(1, int(np.ceil(np.log(1e-6) / np.log(gamma))))
