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
of them.
"""

from __future__ import annotations

import abc
from typing import ClassVar, Literal

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from marlmeta.evaluation import _discounted, _finite
from marlmeta.games._checks import (
    _at,
    _concrete,
    _fmt,
    _index,
    check_distributions,
    check_trailing,
    check_values,
    count,
    counts,
    real_array,
)
from marlmeta.games._rewards import AbstractRewards, as_rewards
from marlmeta.games._transitions import AbstractTransitions
from marlmeta.policies import AbstractPolicy, ProductPolicy


def _optional_array(name: str, x) -> Array | None:
    return None if x is None else real_array(name, x)


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
    def evaluate(self, policy: AbstractPolicy, rewards=None, *, best: bool = False):
        """Exact evaluation of a policy kind.

        Args:
            policy: an :class:`~marlmeta.policies.AbstractPolicy`.
            rewards: reward tables ``(M, ..)`` to evaluate (default: the game's).
            best: also compute each player's best-response values.

        Returns:
            ``(V, B, br)``: values ``(M, S)`` (at step 0), best-response values
            ``(N, S)`` or ``None``, deterministic best responses (one-hot, one
            table per player) or ``None``.
        """

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
    def step_rewards(self, h, state, actions: Int[Array, " N"]) -> Float[Array, " N"]:
        """Every player's reward ``r_i(h, state, actions)``, shape ``(N,)``."""

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

    def observation_policy(self, tables) -> AbstractPolicy:
        """The policy whose player ``i`` plays ``tables[i][(h,) o, :]`` on its
        observation ``o`` (tables ``(*lead[:-1], O_i, A_i)``): here a product
        policy on states."""
        return ProductPolicy(tuple(tables))

    def require_discounted(self, caller: str) -> None:
        """Raise ``ValueError`` unless the game is discounted."""
        raise ValueError(
            f"{caller} needs a DiscountedMarkovGame; game is a {type(self).__name__}"
        )

    def require_finite_horizon(self, caller: str) -> None:
        """Raise ``ValueError`` unless the game has a finite horizon."""
        raise ValueError(
            f"{caller} needs finite-horizon games; game is a {type(self).__name__}"
        )

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


class FiniteHorizonGame(AbstractMarkovGame):
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

    Every player sees the state; a game whose players see observations is an
    :class:`~marlmeta.games.ObservedGame` (:func:`marlmeta.games.observe`).
    """

    reward_model: AbstractRewards
    transitions: AbstractTransitions
    initial: Float[Array, " S"]
    potential_reward: Float[Array, "H S *A"] | None
    num_actions: tuple[int, ...] = eqx.field(static=True)
    horizon: int = eqx.field(static=True)
    _state_axes: ClassVar[int] = 2

    def __init__(
        self,
        reward_model,
        transitions,
        initial,
        potential_reward,
        num_actions,
        horizon,
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

    def _step_sizes(self):
        return (self.horizon,)

    def _num_steps(self):
        return (self.horizon, 1)

    @property
    def lead_shape(self) -> tuple[int, ...]:
        return (self.horizon, self.num_states)

    def evaluate(self, policy, rewards=None, *, best: bool = False):
        return _finite.backward(self, policy, rewards, best=best)[:3]

    def averaged_q(self, policy):
        return _finite.backward(self, policy, averaged=True)[3]

    def optimal_values(self, reward):
        return _finite.optimal_values(self, reward)

    def require_finite_horizon(self, caller: str) -> None:
        del caller

    def step_policy(self, policy, h):
        return policy.at(h)

    def step_rewards(self, h, state, actions):
        return self.rewards[(slice(None), h, state, *actions)]

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


#: The name of :class:`FiniteHorizonGame` in earlier releases.
#: Another name of :class:`FiniteHorizonGame` (the papers' finite-horizon Markov game).
MarkovGame = FiniteHorizonGame


class DiscountedMarkovGame(AbstractMarkovGame):
    """Infinite-horizon discounted ``N``-player Markov game.

    Evaluated by linear solves: dense ``S x S`` ones for small games, matrix-free
    GMRES through ``expectation`` for large ones (``linear_solver``).

    Attributes:
        reward_model: the rewards ``(N, S, A_0, .., A_{N-1})`` (as ``rewards``).
        transitions: time-homogeneous kernel (time axis of length 1).
        initial: ``(S,)`` (the papers' ``rho``).
        potential_reward: ``(S, A_0, .., A_{N-1})`` or ``None``.
        discount: ``gamma`` in ``[0, 1)``, an array leaf (vmappable,
            differentiable).
        num_actions: ``(A_0, .., A_{N-1})``.
        linear_solver: static; ``"dense"`` (exact LU of ``S x S`` systems),
            ``"iterative"`` (matrix-free, to a tolerance of ``1e-12`` in float64
            and ``1e-6`` in float32) or ``"auto"`` (dense up to 2,000 states).
    """

    reward_model: AbstractRewards
    transitions: AbstractTransitions
    initial: Float[Array, " S"]
    potential_reward: Float[Array, " S *A"] | None
    discount: Float[Array, ""]
    num_actions: tuple[int, ...] = eqx.field(static=True)
    linear_solver: Literal["auto", "dense", "iterative"] = eqx.field(static=True)
    _state_axes: ClassVar[int] = 1

    def __init__(
        self,
        reward_model,
        transitions,
        initial,
        potential_reward,
        discount,
        num_actions,
        linear_solver="auto",
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
        self.linear_solver = linear_solver

    def __check_init__(self):
        if self.linear_solver not in ("auto", "dense", "iterative"):
            raise ValueError(
                f"linear_solver is {self.linear_solver!r}; "
                "expected 'auto', 'dense' or 'iterative'"
            )
        batch = tuple(self.initial.shape[:-1])
        if tuple(self.discount.shape) != batch:
            raise ValueError(
                f"discount has shape {tuple(self.discount.shape)}; expected "
                f"{batch} (one per game)"
            )
        g = _concrete(self.discount)
        if g is not None:
            bad = ~(np.isfinite(g) & (g >= 0) & (g < 1))
            if bad.any():
                idx = _index(int(np.argmax(bad)), g.shape)
                raise ValueError(
                    f"{_at('discount', idx)} is {_fmt(g[idx])}; expected [0, 1)"
                )

    def _step_sizes(self):
        return ()

    def _num_steps(self):
        return (1,)

    @property
    def lead_shape(self) -> tuple[int, ...]:
        return (self.num_states,)

    def evaluate(self, policy, rewards=None, *, best: bool = False):
        return _discounted.evaluate(self, policy, rewards, best=best)

    def averaged_q(self, policy):
        if _discounted.is_dense(self):
            return _discounted.parts(self, policy).qbar
        return _discounted.iterative_averaged_q(self, policy)

    def optimal_values(self, reward):
        return _discounted.optimal_values(self, reward)

    def require_discounted(self, caller: str) -> None:
        del caller

    def step_policy(self, policy, h):
        del h
        return policy

    def step_rewards(self, h, state, actions):
        del h
        return self.rewards[(slice(None), state, *actions)]

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
        gamma = _concrete(self.discount)
        if gamma is None or gamma.ndim:
            raise ValueError(
                "num_steps is None and the discount is traced or batched; pass "
                "num_steps (episodes of a discounted game are truncated there)"
            )
        gamma = float(gamma)
        if gamma <= 0:
            return 1
        return max(1, int(np.ceil(np.log(1e-6) / np.log(gamma))))
