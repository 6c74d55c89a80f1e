"""Small sequential OpenSpiel games as finite-horizon games with observations.

An OpenSpiel game (Lanctot, Lockhart, Lespiau et al., "OpenSpiel: A Framework
for Reinforcement Learning in Games") is a tree of histories: chance nodes,
decision nodes (one player moves, or all at once at a simultaneous node) and
terminal nodes. :func:`from_openspiel_tree` enumerates it:

- step ``h`` holds the decision nodes after ``h`` decisions (chance nodes are
  folded into the transition probabilities and the initial distribution); state
  ``0`` of every step is an absorbing terminal state, states ``1..`` are the
  histories of that step, in the order they are reached;
- every player has ``A = game.num_distinct_actions()`` actions everywhere; a
  player who does not move at a node has a dummy action (nothing depends on
  it, every action is legal), and an illegal action plays the node's first
  legal action; the game's legal-action masks
  (:class:`~marlmeta.games.LegalActions`) mark the legal ones, so uniform
  play, best responses and the solvers' default starts use legal actions
  only (an illegal action gets probability ``0``);
- the reward of ``(h, s, a)`` is the expected increase of the players'
  cumulative returns (``state.returns()``) over the decision and the chance
  nodes that follow it;
- player ``i`` observes its information state string
  (``state.information_state_string(i)``), numbered in the order of first
  appearance; the terminal state is observation ``0``.

The game is built through :func:`marlmeta.games.observe`, which checks perfect
recall. The kernel is sparse (:class:`~marlmeta.games.SparseTransitions`, fan-out
``K`` the most successors of one ``(h, s, a)``) and the rewards dense
(``N x H x S x A^N``): meant for games of up to a few thousand histories per
step (Kuhn poker: ``H = 3``, ``S = 13``; Leduc poker: ``H = 8``, ``S = 1081``).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np

from marlmeta.games import (
    LegalActions,
    ObservedGame,
    SparseTransitions,
    markov_game,
    observe,
)
from marlmeta.interop._openspiel_matrix import _pyspiel


def _resolve(state, prob: float):
    """The non-chance histories after ``state``, with their probabilities."""
    if not state.is_chance_node():
        yield state, prob
        return
    for action, p in state.chance_outcomes():
        yield from _resolve(state.child(action), prob * p)


def _play(state, profile: tuple[int, ...]):
    """The child of ``state`` under the joint action ``profile`` (illegal
    actions replaced by the first legal one)."""

    def legal(player: int) -> int:
        actions = state.legal_actions(player)
        return profile[player] if profile[player] in actions else actions[0]

    if state.is_simultaneous_node():
        child = state.clone()
        child.apply_actions([legal(p) for p in range(len(profile))])
        return child
    return state.child(legal(state.current_player()))


def _layer(pairs, index: dict) -> list[tuple[int, float, Any]]:
    """``(next state index, probability, history)``; new histories get the
    next free index of ``index`` (terminal histories index ``0``)."""
    out = []
    for succ, p in pairs:
        if succ.is_terminal():
            out.append((0, p, succ))
            continue
        key = succ.history_str()
        if key not in index:
            index[key] = (len(index) + 1, succ)
        out.append((index[key][0], p, succ))
    return out


#: The most histories of one step :func:`from_openspiel_tree` enumerates by default.
MAX_STATES = 100_000


def from_openspiel_tree(
    game: Any, dtype=None, max_states: int = MAX_STATES
) -> tuple[ObservedGame, tuple[tuple[str, ...], ...]]:
    """The finite-horizon game with observations of a small OpenSpiel game.

    Args:
        game: a ``pyspiel.Game`` (turn-based or simultaneous-move, with chance
            nodes, rewards at any node), small enough to enumerate, or its name
            with parameters (``"kuhn_poker"``).
        dtype: floating dtype of the arrays (default: float64 under x64).
        max_states: refuse a game with a step of more histories than this
            (every step is padded to the largest one, and the rewards are
            dense: ``N x H x S x A^N``).

    Returns:
        ``(converted, names)``: an :class:`~marlmeta.games.ObservedGame`
        with one observation map a player (see the module text for the
        layout), and per player the information state string of each
        observation (``names[i][o]``; ``"terminal"`` for ``o = 0``), which maps
        an OpenSpiel tabular policy onto an observation policy's rows. Its
        NashConv over observation policies that play legal actions is
        OpenSpiel's ``nash_conv``.

    Raises:
        ValueError: the game has no decision node, a step with more than
            ``max_states`` histories (the message gives the step, its count
            and the estimated memory), or the enumeration does not have
            perfect recall.
    """
    pyspiel = _pyspiel()
    if isinstance(game, str):
        game = pyspiel.load_game(game)
    n, num_actions = game.num_players(), game.num_distinct_actions()
    root = game.new_initial_state()
    layers = [{}]
    initial = _layer(_resolve(root, 1.0), layers[0])
    if not layers[0]:
        raise ValueError(f"game {game} has no decision node")
    steps = []  # per step: [(s, state, profile, [(s', p, successor)])]
    while layers[-1]:
        nxt, step = {}, []
        for s, state in layers[-1].values():
            for profile in itertools.product(range(num_actions), repeat=n):
                succ = _layer(_resolve(_play(state, profile), 1.0), nxt)
                step.append((s, state, profile, succ))
        steps.append(step)
        layers.append(nxt)
        if len(nxt) > max_states:
            joint = num_actions**n
            size = (n + 2) * len(steps) * len(nxt) * joint * 8
            raise ValueError(
                f"game {game} has more than max_states={max_states} histories at "
                f"step {len(steps)} ({len(nxt)}; {num_actions}^{n} joint actions "
                f"each, at least {size / 2**30:.2f} GiB of rewards and kernel "
                "for the steps so far); pass a larger max_states, or convert it "
                "with marlmeta.interop.TurnBased() (no padding, no joint actions)"
            )
    horizon, num_states = len(steps), 1 + max(len(x) for x in layers)
    shape = (horizon, num_states) + (num_actions,) * n
    rewards = np.zeros((n, *shape))
    # Successors merged per (h, s, a): a sparse kernel of fan-out K.
    merged = {}
    for h, step in enumerate(steps):
        for s, state, profile, succ in step:
            base = np.asarray(state.returns())
            at = (h, s, *profile)
            row = merged.setdefault(at, {})
            for t, p, child in succ:
                row[t] = row.get(t, 0.0) + p
                rewards[(slice(None), *at)] += p * (np.asarray(child.returns()) - base)
    fan_out = max(len(row) for row in merged.values())
    nxt = np.zeros((*shape, fan_out), np.int32)
    probs = np.zeros((*shape, fan_out))
    probs[..., 0] = 1.0  # the terminal and unused states are absorbing
    for at, row in merged.items():
        probs[at] = 0.0
        for k, (t, p) in enumerate(row.items()):
            nxt[(*at, k)], probs[(*at, k)] = t, p
    obs = np.zeros((n, horizon, num_states), np.int32)
    legal = np.ones((n, horizon, num_states, num_actions), bool)
    names: list[dict[str, int]] = [{"terminal": 0} for _ in range(n)]
    for h in range(horizon):
        for s, state in layers[h].values():
            for i in range(n):
                key = state.information_state_string(i)
                obs[i, h, s] = names[i].setdefault(key, len(names[i]))
                if _moves(state, i):
                    legal[i, h, s] = False
                    legal[i, h, s, state.legal_actions(i)] = True
    init = np.zeros(num_states)
    for t, p, _ in initial:
        init[t] += p
    kernel = SparseTransitions(nxt, _cast(probs, dtype), num_states)
    base = markov_game(_cast(rewards, dtype), kernel, _cast(init, dtype))
    base = dataclasses.replace(base, legal=LegalActions(tuple(legal)))
    converted = observe(base, list(obs), [len(x) for x in names])
    return converted, tuple(tuple(x) for x in names)


def _moves(state, player: int) -> bool:
    """Whether ``player`` chooses an action at ``state`` (elsewhere its action
    is a dummy and every action is legal)."""
    return state.is_simultaneous_node() or state.current_player() == player


def _cast(x: np.ndarray, dtype):
    return x if dtype is None else x.astype(dtype)
