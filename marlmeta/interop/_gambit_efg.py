"""Gambit's extensive-game files (``.efg``) as :class:`TurnBasedGame` trees.

Gambit (McKelvey, McLennan, Turocy, "Gambit: Software Tools for Game Theory")
writes an extensive game as the prologue ``EFG 2 R "title" { "P1" "P2" }`` (an
optional quoted comment after it) and then its nodes in prefix order, each
followed by its children in the order of its actions:

- ``c "name" k "infoset" { "a" p_a "b" p_b } m ...``: a chance node of chance
  information set ``k`` with its actions' probabilities (decimals or ``p/q``);
- ``p "name" i k "infoset" { "a" "b" } m ...``: a decision node of player ``i``
  (from 1) in its information set ``k``;
- ``t "name" m ...``: a terminal node;

where ``m`` is an outcome number (``0``: none), followed the first time by its
name and payoffs ``{ u_1, u_2 }``; an information set's name and actions may
likewise be omitted after its first node. Payoffs of every outcome on a path
add up. :func:`parse_efg` folds chance into the edges' probabilities (and the
initial distribution), adds the outcomes met between two decisions to the
reward of the edge between them, and numbers the information sets in order of
first appearance, so that every player's best response is over behavioural
strategies. Each information set must lie at one depth (number of decisions
before it), as a :class:`TurnBasedGame` stores one step per depth.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import numpy as np

from marlmeta.games import TurnBasedGame
from marlmeta.interop._gambit import _Tokens
from marlmeta.interop._openspiel_turns import turn_based_game


@dataclasses.dataclass
class _Node:
    kind: str  # "c", "p" or "t"
    player: int  # 0-based (decision nodes)
    infoset: int  # Gambit's number within the player (or chance)
    probs: list[float]  # chance nodes
    payoff: np.ndarray  # this node's outcome (zeros if none)
    children: list[_Node]


@dataclasses.dataclass(frozen=True)
class GambitTree:
    """A parsed ``.efg`` game.

    Attributes:
        game: the :class:`~marlmeta.games.TurnBasedGame`.
        infosets: per policy row, ``(player, Gambit information set number)``
            (players from 0, information sets numbered as in the file).
        players: the players' names.
    """

    game: TurnBasedGame
    infosets: tuple[tuple[int, int], ...]
    players: tuple[str, ...]


class _Parser:
    def __init__(self, text: str, name: str):
        self.t = _Tokens(text, name)
        self.name = name
        self.actions: dict[tuple[int, int], int] = {}
        self.chance: dict[int, list[float]] = {}
        self.outcomes: dict[int, np.ndarray] = {0: None}
        self.n = 0

    def fail(self, what: str):
        raise ValueError(f"{self.name}: {what}")

    def prologue(self) -> tuple[str, ...]:
        t = self.t
        players = t.header("EFG", "2")
        if t.peek()[0] == "str":
            t.string("the comment")
        self.n = len(players)
        return tuple(players)

    def outcome(self) -> np.ndarray:
        t = self.t
        k = int(t.number("an outcome number"))
        if t.peek()[0] == "str":
            t.string("the outcome's name")
        if t.peek() == ("brace", "{"):
            t.k += 1
            pay = np.array([t.number(f"{self.n} payoffs") for _ in range(self.n)])
            if not t.close():
                self.fail(f"outcome {k} has more than {self.n} payoffs")
            if k == 0:
                self.fail("outcome 0 (no outcome) cannot have payoffs")
            self.outcomes[k] = pay
        if k not in self.outcomes:
            self.fail(f"outcome {k} is used before its payoffs are given")
        pay = self.outcomes[k]
        return np.zeros(self.n) if pay is None else pay

    def node(self) -> _Node:
        t = self.t
        kind = t.take("word", "a node (c, p or t)")
        t.string("the node's name")
        if kind == "t":
            return _Node("t", -1, -1, [], self.outcome(), [])
        if kind not in ("c", "p"):
            self.fail(f"unknown node type {kind!r}; expected c, p or t")
        player = -1
        if kind == "p":
            player = int(t.number("the player")) - 1
            if not 0 <= player < self.n:
                self.fail(f"player {player + 1} is not in [1, {self.n}]")
        infoset = int(t.number("an information set number"))
        if t.peek()[0] == "str":
            t.string("the information set's name")
        probs: list[float] = []
        if t.peek() == ("brace", "{"):
            t.k += 1
            count = 0
            while not t.close():
                t.string("an action's name or }")
                if kind == "c":
                    probs.append(t.number("the action's probability"))
                count += 1
            key = (player, infoset)
            if self.actions.setdefault(key, count) != count:
                self.fail(
                    f"information set {infoset} of player {player + 1} has "
                    f"{self.actions[key]} and {count} actions"
                )
            if kind == "c":
                self.chance[infoset] = probs
        key = (player, infoset)
        if key not in self.actions:
            self.fail(f"information set {infoset} is used before its actions")
        if kind == "c":
            probs = self.chance[infoset]
        payoff = self.outcome()
        children = [self.node() for _ in range(self.actions[key])]
        return _Node(kind, player, infoset, probs, payoff, children)


def _resolve(node: _Node, prob: float, pay: np.ndarray):
    """Decision nodes (or ``None`` for a terminal) after ``node``'s chance and
    outcomes: ``(node, probability, payoff collected on the way)``."""
    pay = pay + node.payoff
    if node.kind == "p":
        yield node, prob, pay
    elif node.kind == "t":
        yield None, prob, pay
    else:
        for child, q in zip(node.children, node.probs, strict=True):
            if q > 0:
                yield from _resolve(child, prob * q, pay)


def parse_efg(text: str, name: str = "efg", dtype=None) -> GambitTree:
    """The :class:`GambitTree` of Gambit ``.efg`` text.

    Raises:
        ValueError: naming the source and the problem (a malformed node, an
            outcome or information set used before it is defined, a wrong
            number of children, an information set at two depths).
    """
    parser = _Parser(text, name)
    players = parser.prologue()
    root = parser.node()
    if parser.t.peek()[0] != "end":
        parser.fail(f"unexpected {parser.t.peek()[1]!r} after the root's subtree")
    n = len(players)
    num_actions = max([1] + [k for (p, _), k in parser.actions.items() if p >= 0])
    ids: dict[tuple[int, int], int] = {}
    depth: dict[int, int] = {}
    layer, initial = [], []
    for node, p, pay in _resolve(root, 1.0, np.zeros(n)):
        if node is None:
            parser.fail("the game ends before any decision")
        layer.append((node, pay))
        initial.append(p)
    steps = []
    while layer:
        h = len(steps)
        size = len(layer)
        player = np.zeros(size, np.int32)
        infoset = np.zeros(size, np.int32)
        legal = np.zeros((size, num_actions), bool)
        reward = np.zeros((size, num_actions, n))
        outs: dict[tuple[int, int], list[tuple[int, float]]] = {}
        nxt = []
        for s, (node, before) in enumerate(layer):
            key = (node.player, node.infoset)
            i = ids.setdefault(key, len(ids))
            if depth.setdefault(i, h) != h:
                parser.fail(
                    f"information set {node.infoset} of player {node.player + 1} "
                    f"has nodes at depths {depth[i]} and {h}; a TurnBasedGame "
                    "needs each information set at one depth"
                )
            player[s], infoset[s] = node.player, i
            legal[s, : len(node.children)] = True
            for a, child in enumerate(node.children):
                reward[s, a] += before if h == 0 else 0.0
                edge = outs.setdefault((s, a), [])
                for succ, q, pay in _resolve(child, 1.0, np.zeros(n)):
                    reward[s, a] += q * pay
                    if succ is not None:
                        edge.append((len(nxt), q))
                        nxt.append((succ, np.zeros(n)))
        steps.append((player, infoset, legal, reward, outs))
        layer = nxt
    return _assemble(steps, initial, ids, n, num_actions, players, dtype)


def _assemble(steps, initial, ids, n, num_actions, players, dtype) -> GambitTree:
    steps = [(p, i, legal, outs, r) for p, i, legal, r, outs in steps]
    game = turn_based_game(steps, initial, ids, n, num_actions, dtype)
    return GambitTree(game, tuple((p, k) for p, k in ids), players)


def load_efg(path: str | os.PathLike, dtype=None) -> GambitTree:
    """:func:`parse_efg` of a ``.efg`` file."""
    file = pathlib.Path(path)
    return parse_efg(file.read_text(), f"efg file {file}", dtype)
