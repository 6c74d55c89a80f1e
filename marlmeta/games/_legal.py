"""Legal actions: which actions each player may take at each step and state.

A finite-horizon game carries one legal-action kind (its ``legal`` field):

- :class:`AllLegal` (the default): every action is legal everywhere; nothing is
  stored and every operation below is the identity;
- :class:`LegalActions`: one boolean mask ``(H, S, A_i)`` per player, with at
  least one legal action at every ``(h, s)`` (a player who does not move at a
  state has every action legal there: its action is a dummy).

Evaluation and the solvers ask the kind, never what it is:

- uniform play (:meth:`~AbstractLegalActions.uniform`,
  :meth:`~AbstractLegalActions.observation_uniform`) is uniform over the legal
  actions, ``pi_i(a|s) = m_i(s, a) / sum_b m_i(s, b)``, so an illegal action has
  probability exactly ``0``;
- a best response maximises over legal actions only:
  :meth:`~AbstractLegalActions.restrict` sets the deviation values of illegal
  actions to ``-inf`` (``B_i(s) = max_{a_i legal} E_{a_{-i}} Q_i(s, a)``);
- multiplicative-weights updates started from a legal policy keep illegal
  actions at probability ``0`` (their logarithm stays ``-inf``).

With observations, the legal set of an observation is the set of actions legal
at every state with that observation (:meth:`~AbstractLegalActions.per_observation`),
as in an extensive-form game where the legal actions are a function of the
information set (Zinkevich, Johanson, Bowling, Piccione, "Regret Minimization
in Games with Incomplete Information", NeurIPS 2007).
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from marlmeta._checks import concrete, unravel
from marlmeta.policies import marginals, pool


class AbstractLegalActions(eqx.Module):
    """Which actions are legal, per step, state and player."""

    @abc.abstractmethod
    def check_shapes(
        self, horizon: int, num_states: int, num_actions: tuple[int, ...]
    ) -> None:
        """Raise ``ValueError`` unless the masks fit a game's sizes (static)."""

    @abc.abstractmethod
    def restrict(self, h, i: int, values: Float[Array, "S Ai"]) -> Array:
        """Player ``i``'s per-action ``values`` at step ``h`` with ``-inf`` at its
        illegal actions (what a best response maximises)."""

    @abc.abstractmethod
    def masks(self, lead: tuple[int, ...], num_actions) -> tuple[Array, ...]:
        """Per player the boolean mask ``(*lead, A_i)`` (all ``True`` when every
        action is legal)."""

    def uniform(self, lead: tuple[int, ...], num_actions, dtype) -> tuple[Array, ...]:
        """Per player the uniform policy over legal actions, ``(*lead, A_i)``."""
        return tuple(_normalise(m, dtype) for m in self.masks(lead, num_actions))

    def per_observation(
        self, lead: tuple[int, ...], num_actions, observations, num_observations
    ) -> tuple[Array, ...]:
        """Per player the mask ``(H, O_i, A_i)`` of its observations: an action
        is legal at ``o`` when it is legal at every state observed as ``o``."""
        return tuple(
            pool((~m).astype(jnp.int32), o, k) == 0
            for m, o, k in zip(
                self.masks(lead, num_actions),
                observations,
                num_observations,
                strict=True,
            )
        )

    def observation_uniform(
        self, lead, num_actions, observations, num_observations, dtype
    ) -> tuple[Array, ...]:
        """Per player the uniform observation table over legal actions,
        ``(H, O_i, A_i)``."""
        masks = self.per_observation(lead, num_actions, observations, num_observations)
        return tuple(_normalise(m, dtype) for m in masks)

    def check_policy(self, policy, caller: str):
        """``policy`` (a checked policy kind) if it puts no probability on an
        illegal action; otherwise a ``ValueError`` naming the player, step,
        state and action (concrete policies) or, under ``jit``/``vmap``, a
        run-time ``eqx.error_if`` error."""
        del caller
        return policy

    def restrict_logits(self, i: int, logits: Array) -> Array:
        """Player ``i``'s state-level logits ``(.., H, S, A_i)`` with ``-inf`` at
        illegal actions (softmax then gives them probability ``0``)."""
        del i
        return logits


def _normalise(mask: Array, dtype) -> Array:
    m = mask.astype(dtype)
    return m / jnp.sum(m, axis=-1, keepdims=True)


class AllLegal(AbstractLegalActions):
    """Every action is legal at every step and state (no arrays stored)."""

    def check_shapes(self, horizon, num_states, num_actions) -> None:
        del horizon, num_states, num_actions

    def restrict(self, h, i, values):
        del h, i
        return values

    def masks(self, lead, num_actions):
        return tuple(jnp.ones((*lead, a), bool) for a in num_actions)

    def uniform(self, lead, num_actions, dtype):
        return tuple(jnp.full((*lead, a), 1.0 / a, dtype) for a in num_actions)

    def per_observation(self, lead, num_actions, observations, num_observations):
        del observations
        return tuple(
            jnp.ones((*lead[:-1], k, a), bool)
            for k, a in zip(num_observations, num_actions, strict=True)
        )


class LegalActions(AbstractLegalActions):
    """Boolean masks ``legal[i][h, s, a_i]``: ``True`` where player ``i`` may
    play ``a_i`` at step ``h`` in state ``s``.

    Attributes:
        legal: one boolean array ``(H, S, A_i)`` per player (after any batch
            axes); every ``(h, s)`` has at least one legal action per player.
    """

    legal: tuple[Bool[Array, "H S Ai"], ...]

    def __init__(self, legal):
        """``legal``: per player a boolean array-like ``(H, S, A_i)``; checked:
        booleans (or 0/1 integers) with a legal action at every ``(h, s)``
        (``ValueError`` naming the player and the index)."""
        arrays = []
        for i, m in enumerate(legal):
            m = jnp.asarray(m)
            if m.dtype != bool:
                c = concrete(m)
                if m.dtype.kind not in "iu" or (
                    c is not None and not np.isin(c, (0, 1)).all()
                ):
                    raise ValueError(
                        f"legal[{i}] has dtype {m.dtype}; expected booleans "
                        "(True where the action is legal)"
                    )
                m = m.astype(bool)
            arrays.append(m)
        self.legal = tuple(arrays)

    def __check_init__(self):
        for i, m in enumerate(self.legal):
            if m.ndim < 3:
                raise ValueError(
                    f"legal[{i}] has shape {tuple(m.shape)}; expected (H, S, A_{i})"
                )
            c = concrete(m)
            if c is None:
                continue
            empty = ~c.any(axis=-1)
            if empty.any():
                idx = unravel(int(np.argmax(empty)), empty.shape)
                raise ValueError(
                    f"legal[{i}]{list(idx)} has no legal action; every player "
                    "needs one at every step and state (all True where it does "
                    "not move)"
                )

    def check_shapes(self, horizon, num_states, num_actions) -> None:
        if len(self.legal) != len(num_actions):
            raise ValueError(
                f"legal has {len(self.legal)} masks; the game has "
                f"{len(num_actions)} players"
            )
        for i, (m, a) in enumerate(zip(self.legal, num_actions, strict=True)):
            want = (horizon, num_states, a)
            if tuple(m.shape[-3:]) != want:
                raise ValueError(
                    f"legal[{i}] has shape {tuple(m.shape)}; expected {want} "
                    "(H, S, A_i) after any batch axes"
                )

    def restrict(self, h, i, values):
        return jnp.where(self.legal[i][h], values, -jnp.inf)

    def masks(self, lead, num_actions):
        del num_actions
        for m in self.legal:
            if tuple(m.shape[:-1]) != tuple(lead):
                raise ValueError(
                    f"legal has masks of shape {tuple(m.shape)}; expected "
                    f"{tuple(lead)} before the action axis (one game)"
                )
        return self.legal

    def restrict_logits(self, i, logits):
        return jnp.where(self.legal[i], logits, -jnp.inf)

    def check_policy(self, policy, caller):
        n = len(self.legal)
        pairs = zip(self.legal, marginals(policy.joint(), n), strict=True)
        for i, (m, p) in enumerate(pairs):
            bad = ~m & (p > 0)
            c = concrete(bad)
            if c is None:
                policy = eqx.error_if(
                    policy,
                    jnp.any(bad),
                    f"{caller}: the policy puts probability on an illegal action "
                    f"of player {i}",
                )
            elif c.any():
                h, s, a = unravel(int(np.argmax(c)), c.shape)
                raise ValueError(
                    f"{caller}: policy puts probability {float(p[h, s, a])!r} on "
                    f"action {a} of player {i} at step {h}, state {s}, which is "
                    "illegal there (expected probability 0)"
                )
        return policy


def policy_masks(game) -> tuple[Array, ...]:
    """Per player the legal mask of the rows of ``game``'s policy tables:
    ``(H, O_i, A_i)`` per observation when the game has observations, else
    ``(*lead, A_i)`` per state (one game; the game kind's
    ``policy_masks``)."""
    return game.policy_masks()


def uniform_rows(game, dtype=None) -> tuple[Array, ...]:
    """Per player the uniform table over legal actions on the rows of
    :func:`policy_masks` (a solver's default start)."""
    dtype = dtype or game.rewards.dtype
    return tuple(_normalise(m, dtype) for m in policy_masks(game))


def restrict_rows(game, tables) -> tuple[Array, ...]:
    """Per-player tables shaped like :func:`policy_masks` (any leading axes)
    with ``-inf`` at illegal actions (before an argmax)."""
    return tuple(
        jnp.where(m, t, -jnp.inf)
        for m, t in zip(policy_masks(game), tables, strict=True)
    )


def legal_face(game, tables) -> tuple[Array, ...]:
    """Per-player state-level tables ``(*lead, A_i)`` whose Euclidean projection
    onto the simplex lies on the face of the legal actions: each illegal entry
    becomes ``max(legal entries) - 2``, below any projection threshold
    (``tau >= max - 1``), so it projects to ``0`` and leaves the legal
    entries' projection unchanged."""
    out = []
    for m, y in zip(
        game.legal.masks(game.lead_shape, game.num_actions), tables, strict=True
    ):
        top = jnp.max(jnp.where(m, y, -jnp.inf), axis=-1, keepdims=True)
        out.append(jnp.where(m, y, top - 2))
    return tuple(out)


#: The default legal-action kind of a game: every action legal.
ALL_LEGAL = AllLegal()
