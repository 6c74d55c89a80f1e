"""Turn-based OpenSpiel games as :class:`~marlmeta.games.TurnBasedGame` trees.

:func:`from_openspiel_turns` walks an OpenSpiel game (Lanctot, Lockhart,
Lespiau et al., "OpenSpiel: A Framework for Reinforcement Learning in Games")
one decision at a time: chance nodes are folded into the initial distribution
and the edges' probabilities, each decision node keeps only its player's
legal actions, rewards are the expected increase of ``state.returns()`` over
the decision and the chance nodes after it, and each player's information
state strings are numbered in the order of first appearance. The result maps
OpenSpiel's tabular policies in and out (:class:`OpenSpielTurns`).
Simultaneous-move games go through ``pyspiel.convert_to_turn_based`` first.

``open_spiel`` is imported when these functions are called.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from marlmeta.games import TurnBasedGame, TurnStep
from marlmeta.interop._openspiel_matrix import _pyspiel
from marlmeta.interop._openspiel_tree import _resolve

#: The most decision nodes :func:`from_openspiel_turns` enumerates by default.
MAX_NODES = 2_000_000


class OpenSpielTurns(eqx.Module):
    """A converted OpenSpiel game and the map of its information sets.

    Attributes:
        game: the :class:`~marlmeta.games.TurnBasedGame`.
        infosets: per information set ``(player, information state string)``,
            in the order of the policy table's rows.
        source: the OpenSpiel game (``None`` if not kept).
    """

    game: TurnBasedGame
    infosets: tuple[tuple[int, str], ...] = eqx.field(static=True)
    source: Any = eqx.field(static=True, default=None)

    def policy_from_openspiel(self, policy) -> np.ndarray:
        """The ``(I, A)`` table of an OpenSpiel ``TabularPolicy`` (for another
        policy object use ``open_spiel.python.policy.tabular_policy_from_callable``
        first); illegal actions get probability exactly 0.

        Raises:
            ValueError: the policy has an information state this game does not
                (a policy of another game).
        """
        table = np.zeros((self.game.num_infosets, self.game.num_actions))
        index = self._index()
        for k, state in enumerate(policy.states):
            table[self._row(index, state, "policy")] = policy.action_probability_array[
                k
            ]
        return table * np.asarray(self.game.infoset_legal())

    def policy_to_openspiel(self, table, os_game=None) -> Any:
        """An OpenSpiel ``TabularPolicy`` of ``os_game`` (default: the converted
        game) playing ``table`` (checked: ``(I, A)``, rows on the simplex, 0 on
        illegal actions).

        Raises:
            ValueError: a bad table, or ``os_game`` is another game.
        """
        from open_spiel.python import policy as os_policy

        table = np.asarray(self.game.check_policy(table, "table"))
        index = self._index()
        out = os_policy.TabularPolicy(self.source if os_game is None else os_game)
        for k, state in enumerate(out.states):
            out.action_probability_array[k] = table[self._row(index, state, "os_game")]
        return out

    def _index(self) -> dict[tuple[int, str], int]:
        return {key: i for i, key in enumerate(self.infosets)}

    @staticmethod
    def _row(index, state, name: str) -> int:
        p = state.current_player()
        key = (p, state.information_state_string(p))
        if key not in index:
            raise ValueError(
                f"{name} has the information state {key[1]!r} of player {p}, "
                "which the converted game does not (another game?)"
            )
        return index[key]


def from_openspiel_turns(
    game: Any, dtype=None, max_nodes: int = MAX_NODES
) -> OpenSpielTurns:
    """The :class:`~marlmeta.games.TurnBasedGame` of a turn-based OpenSpiel game.

    Args:
        game: a ``pyspiel.Game`` with sequential moves (chance nodes, rewards at
            any node, imperfect information), or its name with parameters
            (``"leduc_poker"``, ``"liars_dice(dice_sides=4)"``).
        dtype: floating dtype of the arrays (default: float64 under x64).
        max_nodes: refuse a game with more decision nodes than this.

    Returns:
        :class:`OpenSpielTurns`: the game and its information sets.

    Raises:
        ValueError: a simultaneous-move game, a game with more than
            ``max_nodes`` decision nodes (the message gives the count so far and
            the estimated memory), or an information set met at two steps.
    """
    pyspiel = _pyspiel()
    if isinstance(game, str):
        game = pyspiel.load_game(game)
    if game.get_type().dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
        raise ValueError(
            f"game {game} has simultaneous moves; convert it with "
            "pyspiel.convert_to_turn_based(game) first (or use "
            "marlmeta.interop.from_openspiel_tree)"
        )
    n, num_actions = game.num_players(), game.num_distinct_actions()
    layer: dict[str, tuple[int, Any]] = {}
    initial = []
    for state, p in _resolve(game.new_initial_state(), 1.0):
        if state.is_terminal():
            continue
        idx = layer.setdefault(state.history_str(), (len(layer), state))[0]
        initial.append((idx, p))
    if not layer:
        raise ValueError(f"game {game} has no decision node")
    ids: dict[tuple[int, str], int] = {}
    step_of: list[int] = []
    steps, total = [], 0
    while layer:
        total += len(layer)
        if total > max_nodes:
            raise ValueError(
                f"game {game} has more than max_nodes={max_nodes} decision nodes "
                f"({total} in its first {len(steps) + 1} steps, about "
                f"{total * num_actions * (n + 3) * 8 / 2**30:.1f} GiB); pass a "
                "larger max_nodes or a smaller game"
            )
        step, layer = _step(layer, ids, step_of, len(steps), n, num_actions)
        steps.append(step)
    init = np.zeros(len(steps[0][0]))
    for idx, p in initial:
        init[idx] += p
    tree = turn_based_game(steps, init, ids, n, num_actions, dtype)
    return OpenSpielTurns(tree, tuple(ids), game)


def turn_based_game(steps, initial, ids, n: int, num_actions: int, dtype=None):
    """The :class:`~marlmeta.games.TurnBasedGame` of a tree built step by step.

    ``steps[h] = (player, infoset, legal, edges, reward)``: per node of step
    ``h`` its acting player, information-set index and legal mask, ``edges``
    mapping ``(node, action)`` to ``[(child, probability), ..]`` (a child
    below 0, or any child at the last step, is the end of the game) and the
    rewards; ``initial`` the distribution over step 0's nodes; ``ids`` maps
    ``(player, key)`` to the information-set index.
    """
    dtype = dtype or jnp.result_type(float)
    out = []
    for h, (player, infoset, legal, edges, reward) in enumerate(steps):
        size = len(steps[h + 1][0]) if h + 1 < len(steps) else 0
        fan = max([len(e) for e in edges.values()] + [1])
        child = np.full((len(player), num_actions, fan), size, np.int32)
        prob = np.zeros((len(player), num_actions, fan))
        for (s, a), outs in edges.items():
            for k, (t, q) in enumerate(outs):
                child[s, a, k] = size if t < 0 else t
                prob[s, a, k] = q
        out.append(
            TurnStep(
                jnp.asarray(player),
                jnp.asarray(infoset),
                jnp.asarray(legal),
                jnp.asarray(child),
                jnp.asarray(prob, dtype),
                jnp.asarray(reward, dtype),
            )
        )
    owner = np.zeros(len(ids), np.int32)
    for (p, _), i in ids.items():
        owner[i] = p
    return TurnBasedGame(
        tuple(out), jnp.asarray(initial, dtype), jnp.asarray(owner), n, len(ids)
    )


def _step(layer, ids, step_of, h: int, n: int, num_actions: int):
    """One step's arrays from its nodes, and the next step's nodes."""
    size = len(layer)
    player = np.zeros(size, np.int32)
    infoset = np.zeros(size, np.int32)
    legal = np.zeros((size, num_actions), bool)
    reward = np.zeros((size, num_actions, n))
    edges: dict[tuple[int, int], list[tuple[int, float]]] = {}
    nxt: dict[str, tuple[int, Any]] = {}
    for s, state in layer.values():
        p = state.current_player()
        key = (p, state.information_state_string(p))
        i = ids.setdefault(key, len(ids))
        if i == len(step_of):
            step_of.append(h)
        elif step_of[i] != h:
            raise ValueError(
                f"player {p}'s information state {key[1]!r} is met at steps "
                f"{step_of[i]} and {h}; a TurnBasedGame needs each information "
                "set at one step"
            )
        player[s], infoset[s] = p, i
        base = np.asarray(state.returns())
        for a in state.legal_actions():
            legal[s, a] = True
            outs = edges.setdefault((s, a), [])
            for child, q in _resolve(state.child(a), 1.0):
                reward[s, a] += q * (np.asarray(child.returns()) - base)
                if child.is_terminal():
                    continue
                t = nxt.setdefault(child.history_str(), (len(nxt), child))[0]
                outs.append((t, q))
    return (player, infoset, legal, edges, reward), nxt
