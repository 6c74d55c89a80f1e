"""Games whose state is a public part times one private type per player.

A poker deal is a pair of hands, and nothing that happens after the deal
changes it: the state is ``(t_0, .., t_{N-1}, p)``, private types ``t_i`` in
``[0, n_i)`` (drawn once, from a joint distribution that carries any
dependence such as card removal) and a public part ``p`` in ``[0, P)`` that
moves with the actions. States are laid out type-major, ``s = d P + p`` with
``d`` the row-major index of the types, ``S = n_0 .. n_{N-1} P``.

- :class:`PublicTransitions`: ``P_h(s' | s, a) = 1`` for ``s' = d P +
  next_public[h, p, a]``; ``expectation`` is a contraction of ``V`` viewed as
  ``(D, P)`` with a one-hot ``(P, A.., P)`` kernel (a matrix product; its
  transpose, the forward step, too), exact since every product is by 0 or 1.
- :class:`PrivateTypeGame`: the game kind, whose policies are
  :class:`~marlmeta.policies.PrivateTypePolicy` (player ``i`` sees its type
  and the public slot ``slots_i[h, p]``): the observations of an
  :class:`~marlmeta.games.ObservedGame` with the same maps, pooled by sums
  over the other players' types instead of a scatter over all states.
  Type combinations of probability 0 (two hands sharing a card) are states
  that are never reached.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from marlmeta._checks import check_trailing, concrete
from marlmeta.games import (
    _private_type_feedback as _feedback,
    _private_type_matrices as _matrices,
)
from marlmeta.games._legal import AbstractLegalActions, AllLegal
from marlmeta.games._observations import AbstractObservedGame
from marlmeta.games._private_type_matrices import TypeFactorRewards
from marlmeta.games._transitions import AbstractTransitions
from marlmeta.games._type_induction import (
    next_values,
    propagate_public,
    type_backward,
    type_reach,
)
from marlmeta.policies import PrivateTypePolicy, lift_types, pool_types, validate


class PublicTransitions(AbstractTransitions):
    """Deterministic moves of the public part; the private types stay.

    Attributes:
        next_public: ``(T, P, A_0, .., A_{N-1})`` integers in ``[0, P)``.
        num_deals: ``D``, the number of type combinations (static).
    """

    next_public: Int[Array, "T P *A"]
    num_deals: int = eqx.field(static=True)

    @property
    def num_steps(self) -> int:
        return self.next_public.shape[0]

    @property
    def num_public(self) -> int:
        """``P``."""
        return self.next_public.shape[1]

    @property
    def num_states(self) -> int:
        return self.num_deals * self.num_public

    @property
    def num_actions(self) -> tuple[int, ...]:
        return tuple(self.next_public.shape[2:])

    def _expectation(self, h, value):
        v = value.reshape(self.num_deals, self.num_public)
        return next_values(self.next_public[h], v).reshape(
            self.num_states, *self.num_actions
        )

    def propagate(self, h, mass):
        """The forward step (the transpose of :meth:`expectation`), summed
        per next public part without a scatter or a matrix product."""
        nxt = self.next_public[0 if self.num_steps == 1 else h]
        m = mass.reshape(self.num_deals, self.num_public, *self.num_actions)
        return propagate_public(nxt, m).reshape(self.num_states)

    def dense(self):
        nxt, prob = self.support()
        one_hot = nxt[..., None] == np.arange(self.num_states)
        return jnp.asarray(np.sum(prob[..., None] * one_hot, axis=-2))

    def support(self):
        nxt = np.asarray(self.next_public)
        deal = np.arange(self.num_deals).reshape(1, -1, 1, *[1] * (nxt.ndim - 2))
        full = (deal * self.num_public + nxt[:, None]).reshape(
            nxt.shape[0], self.num_states, *nxt.shape[2:], 1
        )
        return full.astype(np.int32), np.ones(full.shape)

    def _sample(self, u, h, state, actions):
        del u
        d, p = state // self.num_public, state % self.num_public
        return d * self.num_public + self.next_public[(h, p, *actions)]

    def check_shapes(self, num_steps, num_states, num_actions):
        if self.num_states != num_states:
            raise ValueError(
                f"transitions has {self.num_states} states; expected "
                f"{num_states} to agree with the rewards"
            )
        n = len(num_actions)
        nxt = self.next_public.shape
        steps = nxt[-(n + 2)] if len(nxt) >= n + 2 else None
        t = steps if steps in num_steps else num_steps[0]
        check_trailing(
            "transitions.next_public",
            nxt,
            (t, self.num_public, *num_actions),
            "the rewards",
        )


class PrivateTypeGame(AbstractObservedGame):
    """A finite-horizon game on ``(private types, public part)`` states (module
    text), each player seeing its own type and the public slot.

    The fields ``reward_model``, ``transitions``, ``initial``,
    ``potential_reward``, ``num_actions``, ``horizon`` and ``legal`` are those
    of :class:`~marlmeta.games.FiniteHorizonGame`, on the states laid out as in
    the module text, for two players: the rewards are zero-sum and factored
    over the type pairs (:class:`~marlmeta.games.TypeFactorRewards`), the
    public part moves by :class:`PublicTransitions`, every action is legal,
    and the game starts at public part 0 (``initial`` carries the joint type
    distribution there). Exact evaluation and the observation solvers'
    feedback are then products with ``n_0 x n_1`` type-pair matrices
    (:mod:`marlmeta.games._private_type_matrices`).

    Attributes:
        slots: player ``i``'s public slot ``(H, P)`` (``< 0``: nothing to see).
        num_types: ``(n_0, .., n_{N-1})`` (static).
        num_observations: ``O_i = K_i n_i + 1`` (static; ``K_i`` slots).
    """

    reward_model: TypeFactorRewards
    transitions: PublicTransitions
    initial: Float[Array, " S"]
    potential_reward: Float[Array, "H S *A"] | None
    num_actions: tuple[int, ...] = eqx.field(static=True)
    horizon: int = eqx.field(static=True)
    slots: tuple[Int[Array, "H P"], ...]
    num_types: tuple[int, ...] = eqx.field(static=True)
    num_observations: tuple[int, ...] = eqx.field(static=True)
    legal: AbstractLegalActions

    def __check_init__(self):
        size = int(np.prod(self.num_types)) * self.slots[0].shape[-1]
        if size != self.num_states:
            raise ValueError(
                f"num_types {self.num_types} and {self.slots[0].shape[-1]} public "
                f"parts make {size} states; the rewards have {self.num_states}"
            )
        if len(self.num_types) != 2:
            raise ValueError(
                f"num_types is {self.num_types}; a PrivateTypeGame has two players"
            )
        for name, kind, want in (
            ("reward_model", self.reward_model, TypeFactorRewards),
            ("transitions", self.transitions, PublicTransitions),
            ("legal", self.legal, AllLegal),
        ):
            if not isinstance(kind, want):
                raise ValueError(
                    f"{name} is a {type(kind).__name__}; a PrivateTypeGame needs "
                    f"a {want.__name__}"
                )
        init = concrete(self.initial)
        if init is not None:
            off = init.reshape(*init.shape[:-1], -1, self.num_public)[..., 1:]
            if (off != 0).any():
                raise ValueError(
                    "initial has mass on public parts other than 0; a "
                    "PrivateTypeGame starts at public part 0 (its initial is the "
                    "joint type distribution there)"
                )

    @property
    def num_public(self) -> int:
        """``P``, the number of public parts."""
        return self.slots[0].shape[-1]

    def evaluate(self, policy, rewards=None, *, best: bool = False):
        """Backward induction; an observation policy's on the type matrices
        (:func:`~marlmeta.games._private_type_matrices.matrix_evaluate`), or on
        the type grid for other ``rewards``
        (:func:`~marlmeta.games._type_induction.type_backward`), any other
        policy kind's (e.g. the full-state view) on the states."""
        if not isinstance(policy, PrivateTypePolicy):
            return AbstractObservedGame.evaluate(self, policy, rewards, best=best)
        if rewards is None:
            return _matrices.matrix_evaluate(self, policy, best=best)
        return type_backward(self, policy, rewards, best=best)

    def initial_values(self, policy, *, best: bool, caller: str):
        """As :meth:`~marlmeta.games.AbstractMarkovGame.initial_values`; an
        observation policy's on the type matrices
        (:func:`~marlmeta.games._private_type_matrices.matrix_initial_values`)."""
        policy = self.legal.check_policy(validate(self, policy, caller=caller), caller)
        if not isinstance(policy, PrivateTypePolicy):
            return AbstractObservedGame.initial_values(
                self, policy, best=best, caller=caller
            )
        return _matrices.matrix_initial_values(self, policy, best=best)

    def zero_stage(self, dtype):
        """Algorithm 1's ``Q = 0`` and zero stage values, compact: the stage
        values of steps ``h >= 1`` times the type weights, ``(H - 1, P, n_0,
        n_1)`` (:func:`~marlmeta.games._private_type_feedback.zero_stage`)."""
        return _feedback.zero_stage(self, dtype)

    def observed_stage_q(self, q, vsum, length):
        """Algorithm 1's stage ``Q``, compact
        (:class:`~marlmeta.games._private_type_feedback.TypeStageQ`; the
        weighted reward factors of ``q`` are kept)."""
        return _feedback.stage_q(q, vsum, length)

    def stage_feedback(self, q, mu, nu):
        """Algorithm 1's feedback as matrix products
        (:func:`~marlmeta.games._private_type_feedback.stage_feedback`)."""
        return _feedback.stage_feedback(self, q, mu, nu)

    def counterfactual_feedback(self, tables):
        """Counterfactual values as matrix products
        (:func:`~marlmeta.games._private_type_feedback.counterfactual_feedback`)."""
        return _feedback.counterfactual_feedback(self, tables)

    def reach(self, policy) -> Float[Array, "H S"]:
        """State reach under ``policy``; a private-type policy's on the type
        grid (:func:`~marlmeta.games._type_induction.type_reach`)."""
        if isinstance(policy, PrivateTypePolicy):
            c = type_reach(self, policy, None, policy.dtype)
            return jnp.stack(c).reshape(self.horizon, self.num_states)
        return AbstractObservedGame.reach(self, policy)

    def observation_policy(self, tables) -> PrivateTypePolicy:
        return PrivateTypePolicy(tuple(tables), tuple(self.slots), self.num_types)

    def pool(self, i, x):
        return pool_types(x, self.slots[i], self.num_types, i, self.num_observations[i])

    @property
    def observations(self) -> tuple[Int[Array, "H S"], ...]:
        """Per player the map ``(H, S)`` (materialised; for sampling, files
        and comparisons, not on the solvers' path)."""
        return tuple(
            lift_types(
                jnp.arange(o, dtype=jnp.int32)[None, :, None].repeat(self.horizon, 0),
                k,
                self.num_types,
                i,
            )[..., 0]
            for i, (o, k) in enumerate(
                zip(self.num_observations, self.slots, strict=True)
            )
        )

    def player_observations(self, h, state):
        step = self.observation_policy(
            [jnp.zeros((self.horizon, o, 1)) for o in self.num_observations]
        ).at(h)
        return jnp.stack([step.observation(i, state) for i in range(len(step))])
