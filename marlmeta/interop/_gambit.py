"""Gambit's strategic-game files (``.nfg``) in and out, without pygambit.

Gambit (McKelvey, McLennan, Turocy, "Gambit: Software Tools for Game Theory")
stores an ``N``-player strategic game as text. The prologue is the token
``NFG``, the version ``1``, the letter ``R`` (``D`` in old files), the title (a
quoted string), the players' names ``{ "P1" "P2" }`` and the strategies, either
as counts ``{ 3 2 }`` or as names ``{ { "a" "b" "c" } { "x" "y" } }``, then an
optional quoted comment. The body comes in two versions:

- **payoff version**: for each pure profile, every player's payoff;
- **outcome version**: a list of outcomes ``{ "name" u_1, u_2 }`` (commas
  optional) and, for each pure profile, the 1-based index of its outcome
  (``0``: the null outcome, payoff ``0`` to all).

Profiles are listed with the first player's strategy changing fastest. Numbers
may be integers, decimals or rationals ``p/q``. :func:`parse_nfg` reads both
versions into the payoff tables of :func:`marlmeta.interop.from_normal_form`
(``payoffs[i, a_0, .., a_{N-1}]``); :func:`format_nfg` writes the payoff
version; :func:`load_nfg` / :func:`save_nfg` do the same with files and games.
"""

from __future__ import annotations

import math
import os
import pathlib
import re
from fractions import Fraction

import numpy as np

from marlmeta.games import AbstractMarkovGame, FiniteHorizonGame
from marlmeta.interop._normal_form import from_normal_form, to_normal_form

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<brace>[{}])|(?P<comma>,)'
    r"|(?P<num>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:/\d+)?)"
    r"|(?P<word>[A-Za-z]+))"
)


class _Tokens:
    """The tokens of one file (commas dropped), read front to back."""

    def __init__(self, text: str, name: str):
        self.name, self.items, pos = name, [], 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise ValueError(
                    f"{name}: unexpected text {text[pos : pos + 20].strip()!r} at "
                    f"character {pos}"
                )
            if m.lastgroup != "comma":
                self.items.append((m.lastgroup, m.group(m.lastgroup), m.start()))
            pos = m.end()
        self.k = 0

    def peek(self) -> tuple[str, str]:
        if self.k >= len(self.items):
            return ("end", "")
        return self.items[self.k][:2]

    def take(self, kind: str, what: str) -> str:
        got, value = self.peek()
        if got != kind:
            shown = "the end of the file" if got == "end" else repr(value)
            raise ValueError(f"{self.name}: expected {what}, found {shown}")
        self.k += 1
        return value

    def string(self, what: str) -> str:
        raw = self.take("str", what)[1:-1]
        return re.sub(r"\\(.)", r"\1", raw)

    def number(self, what: str) -> float:
        return float(Fraction(self.take("num", what)))

    def close(self) -> bool:
        if self.peek() == ("brace", "}"):
            self.k += 1
            return True
        return False

    def header(self, kind: str, version: str) -> list[str]:
        """The header every Gambit file opens with, ``KIND VERSION R "title"
        { "player" .. }``: the players' names."""
        head = f"{kind} {version}"
        if self.take("word", f"the token {kind}") != kind or (
            self.take("num", f"version {version}") != version
        ):
            raise ValueError(f"{self.name}: expected a file starting with '{head}'")
        if self.take("word", "R") not in ("R", "D"):
            raise ValueError(f"{self.name}: expected R after '{head}'")
        self.string("the title")
        self.take("brace", "{ before the players' names")
        players = []
        while not self.close():
            players.append(self.string("a player's name or }"))
        if not players:
            raise ValueError(f"{self.name}: the game has no player")
        return players


def parse_nfg(text: str, name: str = "nfg") -> np.ndarray:
    """The payoff tables ``(N, A_0, .., A_{N-1})`` of Gambit ``.nfg`` text.

    Args:
        text: the file's contents (payoff or outcome version).
        name: how messages name the source.

    Raises:
        ValueError: naming the source and the problem (not an ``NFG 1`` file,
            a malformed list, a wrong count of payoffs or outcomes, an outcome
            index out of range).
    """
    t = _Tokens(text, name)
    players = t.header("NFG", "1")
    t.take("brace", "{ before the strategies")
    counts = []
    while not t.close():
        if t.peek() == ("brace", "{"):
            t.k += 1
            k = 0
            while not t.close():
                t.string("a strategy name or }")
                k += 1
            counts.append(k)
        else:
            counts.append(int(t.number("a strategy count, a list of names or }")))
    if len(counts) != len(players) or min(counts) < 1:
        raise ValueError(
            f"{name}: {len(players)} players but strategy counts {counts}; expected "
            "one positive count per player"
        )
    if t.peek()[0] == "str":
        t.string("the comment")
    n, size = len(players), math.prod(counts)
    if t.peek() == ("brace", "{"):  # outcome version
        t.k += 1
        outcomes = [np.zeros(n)]
        while not t.close():
            t.take("brace", "{ before an outcome")
            t.string("the outcome's name")
            outcomes.append(np.array([t.number(f"{n} payoffs") for _ in range(n)]))
            if not t.close():
                raise ValueError(
                    f"{name}: outcome {len(outcomes) - 1} has more than {n} payoffs"
                )
        index = [int(t.number(f"{size} outcome indices")) for _ in range(size)]
        bad = [k for k in index if not 0 <= k < len(outcomes)]
        if bad:
            raise ValueError(
                f"{name}: outcome index {bad[0]} is out of range; the file has "
                f"{len(outcomes) - 1} outcomes (0 is the null outcome)"
            )
        flat = np.stack([outcomes[k] for k in index])
    else:
        flat = np.array(
            [t.number(f"{n * size} payoffs") for _ in range(n * size)]
        ).reshape(size, n)
    if t.peek()[0] != "end":
        raise ValueError(
            f"{name}: unexpected {t.peek()[1]!r} after the {size} profiles "
            f"(expected {n * size} payoffs or {size} outcome indices)"
        )
    # Profile k has the first player's strategy changing fastest.
    return np.stack([flat[:, i].reshape(counts, order="F") for i in range(n)])


def format_nfg(payoffs, title: str = "", players=None) -> str:
    """Gambit ``.nfg`` text (payoff version) of payoff tables
    ``(N, A_0, .., A_{N-1})``; floats are written with ``repr`` (exact)."""
    p = np.asarray(payoffs, np.float64)
    if p.ndim < 2 or p.shape[0] != p.ndim - 1:
        raise ValueError(f"payoffs has shape {p.shape}; expected (N, A_0, .., A_(N-1))")
    n = p.shape[0]
    players = players or [f"Player {i + 1}" for i in range(n)]
    names = " ".join(_quote(x) for x in players)
    counts = " ".join(str(a) for a in p.shape[1:])
    flat = np.stack([p[i].reshape(-1, order="F") for i in range(n)], axis=1)
    body = "\n".join(" ".join(repr(float(x)) for x in row) for row in flat)
    return f"NFG 1 R {_quote(title)} {{ {names} }} {{ {counts} }}\n\n{body}\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_nfg(path: str | os.PathLike, dtype=None) -> FiniteHorizonGame:
    """The one-state game (:func:`marlmeta.interop.from_normal_form`) of a Gambit
    ``.nfg`` file (payoff or outcome version)."""
    file = pathlib.Path(path)
    payoffs = parse_nfg(file.read_text(), f"nfg file {file}")
    return from_normal_form(payoffs if dtype is None else payoffs.astype(dtype))


def save_nfg(
    path: str | os.PathLike, game: AbstractMarkovGame, title: str = ""
) -> None:
    """Write a normal-form game (one state, one step) as a Gambit ``.nfg`` file
    (payoff version)."""
    tables = np.stack([np.asarray(t, np.float64) for t in to_normal_form(game)])
    pathlib.Path(path).write_text(format_nfg(tables, title))
