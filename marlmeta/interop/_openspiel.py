"""OpenSpiel games in, policies both ways: one entry point, three representations.

:func:`from_openspiel` converts an OpenSpiel game (Lanctot, Lockhart, Lespiau
et al., "OpenSpiel: A Framework for Reinforcement Learning in Games"), given
as a loaded ``pyspiel.Game`` or a name with parameters, into a marlmeta game
and keeps the map between OpenSpiel's information states and marlmeta's
indices. The representation is a strategy object:

- :class:`NormalForm`: a normal-form game (``pyspiel.NormalFormGame``) as the
  one-state, one-step game of :func:`marlmeta.interop.from_normal_form`; a policy
  is one table ``(1, 1, A_i)`` per player;
- :class:`TurnBased`: a sequential game as a
  :class:`~marlmeta.games.TurnBasedGame` (per-step trees, the acting player's
  legal actions only; the fast exact judge); a policy is one ``(I, A)`` table
  over all information sets;
- :class:`ObservationTree`: any small game as a
  :class:`~marlmeta.games.ObservedGame` with one observation per
  information state and legal-action masks (every solver of marlmeta runs on
  it); a policy is an :class:`~marlmeta.policies.ObservationPolicy`;
- :class:`Automatic` (the default): :class:`NormalForm` for a normal-form
  game, :class:`TurnBased` for a sequential one, :class:`ObservationTree` for
  a simultaneous-move one.

Every converted object has ``.game``, ``policy_from_openspiel(policy)`` (an
OpenSpiel ``TabularPolicy`` to marlmeta's policy, illegal actions at
probability exactly ``0``) and ``policy_to_openspiel(policy)`` (back); the
round trip is the identity on legal policies. ``open_spiel`` is imported only
when these are called.
"""

from __future__ import annotations

import abc
import itertools
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from marlmeta.games import FiniteHorizonGame, ObservedGame
from marlmeta.interop._openspiel_matrix import (
    _pyspiel,
    from_openspiel_normal_form as _normal_form,
)
from marlmeta.interop._openspiel_tree import MAX_STATES, from_openspiel_tree
from marlmeta.interop._openspiel_turns import (
    MAX_NODES,
    OpenSpielTurns,
    from_openspiel_turns,
)
from marlmeta.policies import observation_policy


def _tabular(os_game):
    from open_spiel.python import policy as os_policy

    return os_policy.TabularPolicy(os_game)


def _unknown(name: str, player: int, key: str) -> ValueError:
    return ValueError(
        f"{name} has the information state {key!r} of player {player}, which the "
        "converted game does not (a policy of another game?)"
    )


def _check_legal_row(row, legal, player: int, key: str) -> None:
    """Raise ``ValueError`` where an OpenSpiel policy's row puts probability on
    an action illegal for ``player`` at information state ``key`` (its mass is
    never dropped silently)."""
    bad = (row > 0) & ~(legal > 0)
    if bad.any():
        a = int(np.argmax(bad))
        raise ValueError(
            f"policy gives action {a} probability {row[a]:g} at player {player}'s "
            f"information state {key!r}, where it is illegal (OpenSpiel's "
            "TabularPolicy keys rows by the string alone: where two players share "
            "a string, as in oshi_zumo, its row may be the other player's); give "
            "that player's row on its legal actions only"
        )


class OpenSpielNormalForm(eqx.Module):
    """A converted OpenSpiel normal-form game.

    Attributes:
        game: the one-state, one-step :class:`~marlmeta.games.FiniteHorizonGame`.
        source: the OpenSpiel game.
    """

    game: FiniteHorizonGame
    source: Any = eqx.field(static=True)

    def _keys(self) -> list[str]:
        root = self.source.new_initial_state()
        return [root.information_state_string(i) for i in range(self.game.num_players)]

    def policy_from_openspiel(self, policy) -> tuple[np.ndarray, ...]:
        """Per player the ``(1, 1, A_i)`` table of an OpenSpiel tabular policy."""
        out = []
        for i, key in enumerate(self._keys()):
            if key not in policy.state_lookup:
                raise _unknown("policy", i, key)
            out.append(np.asarray(policy.policy_for_key(key))[None, None])
        return tuple(out)

    def policy_to_openspiel(self, policy) -> Any:
        """The OpenSpiel ``TabularPolicy`` playing per-player tables ``(1, 1, A_i)``
        (or ``(A_i,)``), checked against the game."""
        from marlmeta.policies import validate

        tables = [np.asarray(t).reshape(1, 1, -1) for t in policy]
        validate(self.game, tuple(tables), caller="policy_to_openspiel")
        out = _tabular(self.source)
        for i, key in enumerate(self._keys()):
            out.policy_for_key(key)[:] = tables[i][0, 0]
        return out


class OpenSpielTree(eqx.Module):
    """A converted OpenSpiel game with one observation per information state.

    Attributes:
        game: the :class:`~marlmeta.games.ObservedGame` (observations)
            and legal-action masks.
        names: per player the information state string of each observation
            (``"terminal"`` for observation ``0``).
        source: the OpenSpiel game.
    """

    game: ObservedGame
    names: tuple[tuple[str, ...], ...] = eqx.field(static=True)
    source: Any = eqx.field(static=True)

    def policy_from_openspiel(self, policy):
        """The :class:`~marlmeta.policies.ObservationPolicy` of an OpenSpiel
        tabular policy: each information state's row at every step (rows of
        observations where the player never moves, e.g. while the other player
        acts, and of observations never met are uniform over legal actions)."""
        game = self.game
        masks = game.legal.per_observation(
            game.lead_shape,
            game.num_actions,
            game.observations,
            game.num_observations,
        )
        decisions = self._decision_steps()
        tables = []
        for i, names in enumerate(self.names):
            m = np.asarray(masks[i], np.float64)
            table = m / m.sum(-1, keepdims=True)
            for o, key in enumerate(names[1:], start=1):
                if key in policy.state_lookup:
                    row = np.asarray(policy.policy_for_key(key))
                    if (i, key) in decisions:
                        _check_legal_row(row, m[decisions[(i, key)], o], i, key)
                    table[:, o] = row
                elif (i, key) in decisions:
                    raise _unknown("policy", i, key)
            tables.append(table * (m > 0))
        dtype = game.initial.dtype
        return observation_policy(game, [jnp.asarray(t, dtype) for t in tables])

    def _decision_steps(self) -> dict[tuple[int, str], int]:
        """``(player, information state) -> step`` of every decision of the
        players (the first step it is met at)."""
        steps = {}
        for h, states in enumerate(_histories(self.source, self.game.horizon)):
            for state in states:
                for i in _movers(state):
                    steps.setdefault((i, state.information_state_string(i)), h)
        return steps

    def policy_to_openspiel(self, policy) -> Any:
        """The OpenSpiel ``TabularPolicy`` of an observation policy (the row of
        an information state at the step where it is met)."""
        out = _tabular(self.source)
        index = [{key: o for o, key in enumerate(names)} for names in self.names]
        steps = self._decision_steps()
        tables = [np.asarray(t) for t in policy]
        for k, state in enumerate(out.states):
            i = state.current_player()
            key = state.information_state_string(i)
            if key not in index[i]:
                raise _unknown("the OpenSpiel game", i, key)
            out.action_probability_array[k] = tables[i][steps[(i, key)], index[i][key]]
        return out


def _movers(state) -> range | tuple[int, ...]:
    if state.is_simultaneous_node():
        return range(state.get_game().num_players())
    return (state.current_player(),)


def _histories(os_game, horizon: int):
    """The decision nodes per step (chance resolved), as the tree converter
    numbers steps."""
    from marlmeta.interop._openspiel_tree import _resolve

    layer = [s for s, _ in _resolve(os_game.new_initial_state(), 1.0)]
    for _ in range(horizon):
        layer = [s for s in layer if not s.is_terminal()]
        yield layer
        nxt = []
        for s in layer:
            if s.is_simultaneous_node():
                moves = [s.legal_actions(i) for i in range(os_game.num_players())]
                for joint in itertools.product(*moves):
                    child = s.clone()
                    child.apply_actions(list(joint))
                    nxt.extend(c for c, _ in _resolve(child, 1.0))
            else:
                for a in s.legal_actions():
                    nxt.extend(c for c, _ in _resolve(s.child(a), 1.0))
        layer = nxt


class AbstractRepresentation(eqx.Module):
    """How :func:`from_openspiel` represents an OpenSpiel game."""

    @abc.abstractmethod
    def convert(self, os_game, dtype):
        """The converted object (``.game``, ``policy_from_openspiel``,
        ``policy_to_openspiel``) of a loaded OpenSpiel game."""


class NormalForm(AbstractRepresentation):
    """A normal-form game as a one-state, one-step game."""

    def convert(self, os_game, dtype):
        game = _normal_form(os_game)
        if dtype is not None:
            game = _cast(game, dtype)
        return OpenSpielNormalForm(game, os_game)


class TurnBased(AbstractRepresentation):
    """A sequential game as a :class:`~marlmeta.games.TurnBasedGame`.

    Attributes:
        max_nodes: refuse a game with more decision nodes than this.
    """

    max_nodes: int = eqx.field(static=True, default=MAX_NODES)

    def convert(self, os_game, dtype) -> OpenSpielTurns:
        return from_openspiel_turns(os_game, dtype=dtype, max_nodes=self.max_nodes)


class ObservationTree(AbstractRepresentation):
    """A small game as a finite-horizon game with observations and masks.

    Attributes:
        max_states: refuse a game with a step of more histories than this
            (:func:`~marlmeta.interop.from_openspiel_tree`).
    """

    max_states: int = eqx.field(static=True, default=MAX_STATES)

    def convert(self, os_game, dtype):
        game, names = from_openspiel_tree(
            os_game, dtype=dtype, max_states=self.max_states
        )
        return OpenSpielTree(game, names, os_game)


class Automatic(AbstractRepresentation):
    """:class:`NormalForm`, :class:`TurnBased` or :class:`ObservationTree` by
    the game's type (normal-form, sequential, simultaneous-move)."""

    def convert(self, os_game, dtype):
        pyspiel = _pyspiel()
        if isinstance(os_game, pyspiel.NormalFormGame):
            return NormalForm().convert(os_game, dtype)
        sequential = os_game.get_type().dynamics == pyspiel.GameType.Dynamics.SEQUENTIAL
        chosen = TurnBased() if sequential else ObservationTree()
        return chosen.convert(os_game, dtype)


def _cast(game, dtype):
    """``game`` with its floating arrays cast to ``dtype``."""
    return jax.tree_util.tree_map(
        lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x,
        game,
    )


def from_openspiel(
    game_or_name: Any,
    representation: AbstractRepresentation | None = None,
    *,
    dtype=None,
):
    """A finite OpenSpiel game as a marlmeta game, with its policy maps.

    Args:
        game_or_name: a ``pyspiel.Game`` or its name with parameters
            (``"leduc_poker"``, ``"goofspiel(num_cards=4,imp_info=True)"``).
        representation: :class:`Automatic` (default), :class:`NormalForm`,
            :class:`TurnBased` or :class:`ObservationTree`.
        dtype: floating dtype of the arrays (default: float64 under x64).

    Returns:
        An object with ``.game`` (the marlmeta game: its ``nash_conv`` over
        behavioural strategies is OpenSpiel's ``exploitability.nash_conv``),
        ``policy_from_openspiel(policy)`` and ``policy_to_openspiel(policy)``.

    Raises:
        ImportError: open_spiel is not installed.
        ValueError: the game does not fit the representation or is too large
            (the message says which and why).
    """
    pyspiel = _pyspiel()
    os_game = (
        pyspiel.load_game(game_or_name)
        if isinstance(game_or_name, str)
        else game_or_name
    )
    return (representation or Automatic()).convert(os_game, dtype)
