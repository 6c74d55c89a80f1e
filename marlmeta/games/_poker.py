"""A heads-up no-limit hold'em river endgame as a game with observations.

The construction pins down what Mao, Qiu, Zhang, Başar ("Multi-Agent
Meta-Reinforcement Learning", NeurIPS 2023, appendix F.3, Figure 4(a)) describe
only in words: the river endgames that Libratus faced (Brown and Sandholm,
"Superhuman AI for heads-up no-limit poker: Libratus beats top professionals",
Science 2018; their public LibratusEndgames files give the board, the pot and
each player's reach probability per hand), with stacks perturbed per game.

- **Hands** in that repository's order: cards by rank ``2 .. A``, then suit
  ``s, h, d, c`` (card ``4 rank + suit``); hands are the pairs ``i < j``, so
  ``2s2h, 2s2d, 2s2c, 2s3s, .., AdAc`` (1,326).
- **Deals**: the ordered pairs of board-disjoint, mutually disjoint hands with
  positive range weight, row-major over (player 0's hands, player 1's hands)
  (1,070,190 for uniform ranges); ``initial ∝ w_0[i] w_1[j]``.
- **Showdown**: one 7-card evaluation per hand and board (the ``phevaluator``
  package, Henry Lee's perfect-hash evaluator; lower is stronger), then
  comparisons.
- **Betting** (:mod:`marlmeta.games._betting`): player 0 (out of position)
  acts first; the bet is all-in, ``b = min(stacks)``; rewards are player 0's
  net chips divided by ``pot / 2 + b`` (in ``[-1, 1]``).
- **Family**: pot-normalised stacks ``sigma_i = stack_i / pot`` plus Gaussian
  noise of standard deviation ``std`` (0.5), clipped at 0.05, drawn once per
  game; only the rewards change.
"""

from __future__ import annotations

import itertools
import os
from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from phevaluator import evaluate_cards

from marlmeta._checks import count, real_array, real_scalar
from marlmeta.games._betting import (
    _check_variant,
    betting_game,
    betting_rewards,
    betting_type_game,
    betting_type_rewards,
)
from marlmeta.games._families import stack as stack_games
from marlmeta.games._observations import ObservedGame
from marlmeta.games._private_types import PrivateTypeGame
from marlmeta.games._rewards import ZeroSumRewards

RANKS = "23456789TJQKA"
SUITS = "shdc"
#: The 52 cards in LibratusEndgames order (``card = 4 rank + suit``).
CARDS = tuple(r + s for r in RANKS for s in SUITS)
#: The 1,326 hands ``(i, j)``, ``i < j``, in LibratusEndgames order.
HANDS = np.array(list(itertools.combinations(range(52), 2)), np.int32)
NUM_HANDS = len(HANDS)


def parse_cards(text: str, name: str = "board", count: int | None = 5) -> list[int]:
    """Card indices of a string such as ``"4s8hTc9h2s"``.

    Raises:
        ValueError: an invalid or repeated card, or not ``count`` cards; the
            message names ``name`` and the value.
    """
    if not isinstance(text, str) or len(text) % 2:
        raise ValueError(f"{name} is {text!r}; expected two characters per card")
    cards = []
    for k in range(0, len(text), 2):
        card = text[k].upper() + text[k + 1].lower()
        if card not in CARDS:
            raise ValueError(
                f"{name} is {text!r}; card {k // 2} {text[k : k + 2]!r} is not a card"
            )
        if CARDS.index(card) in cards:
            raise ValueError(f"{name} is {text!r}; card {card!r} is repeated")
        cards.append(CARDS.index(card))
    if count is not None and len(cards) != count:
        raise ValueError(f"{name} is {text!r}; expected {count} cards")
    return cards


def hand_ranks(board: str) -> np.ndarray:
    """7-card strength of every hand with ``board`` (``phevaluator``: lower is
    stronger; ``-1`` for hands that share a card with the board), ``(1326,)``."""
    cards = parse_cards(board)
    out = np.full(NUM_HANDS, -1, np.int64)
    names = [CARDS[c] for c in cards]
    for h, (i, j) in enumerate(HANDS):
        if i not in cards and j not in cards:
            out[h] = evaluate_cards(*names, CARDS[i], CARDS[j])
    return out


def _check_range(name: str, w) -> np.ndarray:
    w = np.asarray(w, np.float64)
    if w.shape != (NUM_HANDS,):
        raise ValueError(f"{name} has shape {w.shape}; expected ({NUM_HANDS},)")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(
            f"{name}[{k}] is {float(w[k])!r}; expected a finite weight >= 0"
        )
    return w


def _ranges(ranges, board_cards) -> tuple[np.ndarray, np.ndarray]:
    """Both players' weights ``(1326,)``, zero on board-conflicting hands."""
    if isinstance(ranges, str):
        if ranges != "uniform":
            raise ValueError(f"ranges is {ranges!r}; expected 'uniform' or two arrays")
        ranges = (np.ones(NUM_HANDS), np.ones(NUM_HANDS))
    if len(ranges) != 2:
        raise ValueError(f"ranges has {len(ranges)} entries; expected 2 (one a player)")
    clash = np.isin(HANDS, board_cards).any(axis=1)
    out = []
    for i, w in enumerate(ranges):
        w = np.where(clash, 0.0, _check_range(f"ranges[{i}]", w))
        if not (w > 0).any():
            raise ValueError(f"ranges[{i}] has no weight on hands off the board")
        out.append(w)
    return out[0], out[1]


def _check_pot(pot) -> None:
    real_scalar("pot", pot)
    if not pot > 0:
        raise ValueError(f"pot is {pot!r}; expected a number > 0")


def _check_stacks(stacks) -> tuple[float, float]:
    real_array("stacks", stacks)
    s = np.asarray(stacks, np.float64)
    if s.shape != (2,):
        raise ValueError(f"stacks is {stacks!r}; expected two numbers")
    for i in range(2):
        if not (np.isfinite(s[i]) and s[i] > 0):
            raise ValueError(f"stacks[{i}] is {float(s[i])!r}; expected a number > 0")
    return float(s[0]), float(s[1])


class RiverDeals(NamedTuple):
    """The deals of a river endgame (NumPy, static data).

    Attributes:
        hands: per player the kept hand indices (into :data:`HANDS`).
        deal_hands: per player ``(N,)``, the position of its hand in ``hands``.
        showdown: ``(N,)`` player 0's showdown outcome (``+1``, ``0``, ``-1``).
        weight: ``(N,)`` ``w_0[i] w_1[j]``.
    """

    hands: tuple[np.ndarray, np.ndarray]
    deal_hands: tuple[np.ndarray, np.ndarray]
    showdown: np.ndarray
    weight: np.ndarray


def river_deals(board: str, ranges="uniform") -> RiverDeals:
    """Deals, showdown outcomes and weights for ``board`` and ``ranges``."""
    cards = parse_cards(board)
    w0, w1 = _ranges(ranges, cards)
    h0, h1 = np.flatnonzero(w0 > 0), np.flatnonzero(w1 > 0)
    a, b = HANDS[h0], HANDS[h1]
    disjoint = (a[:, None, :, None] != b[None, :, None, :]).all(axis=(2, 3))
    i, j = np.nonzero(disjoint)  # row-major
    ranks = hand_ranks(board)
    return RiverDeals(
        hands=(h0, h1),
        deal_hands=(i.astype(np.int32), j.astype(np.int32)),
        showdown=np.sign(ranks[h1[j]] - ranks[h0[i]]).astype(np.int8),
        weight=w0[h0[i]] * w1[h1[j]],
    )


def type_grid(deals: RiverDeals) -> tuple[np.ndarray, np.ndarray]:
    """``(sd, weight)`` on the ``(n_0, n_1)`` grid of kept hands (``0`` for
    pairs that share a card)."""
    shape = (len(deals.hands[0]), len(deals.hands[1]))
    sd, weight = np.zeros(shape, np.int8), np.zeros(shape)
    sd[deals.deal_hands] = deals.showdown
    weight[deals.deal_hands] = deals.weight
    return sd, weight


def _bet_and_scale(pot: float, stacks) -> tuple[float, float]:
    bet = min(stacks)
    return bet, pot / 2.0 + bet


def river_endgame(
    board: str = "4s8hTc9h2s",
    pot: float = 500.0,
    stacks=(500.0, 500.0),
    ranges="uniform",
    variant: str = "bet_call",
    dtype=jnp.float32,
    *,
    check: bool = True,
    structured: bool = False,
) -> ObservedGame | PrivateTypeGame:
    """A river endgame with all-in betting, each player observing its own hand.

    Args:
        board: five cards (default: LibratusEndgames subgame 3, pot 500).
        pot: chips in the pot before the river (``> 0``).
        stacks: chips behind for each player (``> 0``); the bet is the smaller.
        ranges: ``"uniform"`` or two weight vectors ``(1326,)`` (non-negative,
            LibratusEndgames hand order; board-conflicting hands are dropped),
            e.g. the ``reach`` of :func:`load_range_file`.
        variant: ``"bet_call"`` (``H = 2``) or ``"check_bet_call"`` (``H = 3``).
        dtype: floating dtype of rewards, transitions and ``initial``.
        check: run the perfect-recall check (generic layout).
        structured: the same game as a
            :class:`~marlmeta.games.PrivateTypeGame` (states: a hand pair
            times the betting, pooled by contractions; the fast path),
            instead of an :class:`~marlmeta.games.ObservedGame` over the
            list of deals.

    Raises:
        ValueError: a board with invalid or repeated cards, ranges of the wrong
            length or negative, a non-positive pot or stack, an unknown variant.
    """
    _check_variant(variant)
    _check_pot(pot)
    stacks = _check_stacks(stacks)
    deals = river_deals(board, ranges)
    bet, scale = _bet_and_scale(pot, stacks)
    if structured:
        sd, weight = type_grid(deals)
        return betting_type_game(
            sd, weight, pot=float(pot), bet=bet, scale=scale, variant=variant,
            dtype=dtype,
        )  # fmt: skip
    return betting_game(
        *deals.deal_hands,
        deals.showdown,
        deals.weight,
        num_hands=(len(deals.hands[0]), len(deals.hands[1])),
        pot=float(pot),
        bet=bet,
        scale=scale,
        variant=variant,
        dtype=dtype,
        check=check,
    )


def perturbed_stacks(
    seed: int, num_games: int, pot: float, stacks, std: float = 0.5, unit=None
):
    """``(num_games, 2)`` stacks ``u * max(stack_i / u + N(0, std), 0.05)``.

    The stacks are normalised by ``u = unit`` chips (default: the pot), so
    ``std`` is in units of ``u``: ``N(0, 0.5)`` on pot-normalised stacks is
    noise of half a pot; with ``unit`` the starting stack of the LibratusEndgames
    (20,000 chips), half a starting stack.
    """
    real_scalar("std", std, 0.0)
    _check_pot(pot)
    unit = pot if unit is None else unit
    real_scalar("unit", unit)
    if not unit > 0:
        raise ValueError(f"unit is {unit!r}; expected a number > 0")
    sigma = np.asarray(_check_stacks(stacks)) / unit
    size = (count("num_games", num_games), 2)
    noise = np.random.default_rng(seed).normal(0.0, std, size)
    return unit * np.maximum(sigma + noise, 0.05)


def river_endgame_family(
    seed: int,
    num_games: int,
    std: float = 0.5,
    *,
    board: str = "4s8hTc9h2s",
    pot: float = 500.0,
    stacks=(500.0, 500.0),
    ranges="uniform",
    variant: str = "bet_call",
    dtype=jnp.float32,
    structured: bool = False,
    stack_unit=None,
) -> ObservedGame | PrivateTypeGame:
    """A batch of river endgames whose stacks are perturbed
    (:func:`perturbed_stacks`, normalised by ``stack_unit`` chips, default the
    pot); deals, transitions and observations are shared (bit-identical),
    only the rewards differ (``structured``: as :func:`river_endgame`)."""
    stacks_ = perturbed_stacks(seed, num_games, pot, stacks, std, stack_unit)
    base = river_endgame(
        board, pot, stacks, ranges, variant, dtype, structured=structured
    )
    deals = river_deals(board, ranges)
    sd = type_grid(deals)[0] if structured else deals.showdown
    games = []
    for s in stacks_:
        bet, scale = _bet_and_scale(pot, tuple(s))
        if structured:  # the factors are shared, the coefficients change
            reward = betting_type_rewards(sd, pot, bet, scale, variant, dtype)
        else:
            r = betting_rewards(sd, pot, bet, scale, variant, dtype)
            reward = ZeroSumRewards(jnp.asarray(r))
        games.append(eqx.tree_at(lambda g: g.reward_model, base, reward))
    return stack_games(games)


def load_range_file(path) -> dict:
    """Read a LibratusEndgames endgame file.

    The file has the lines ``-round R``, ``-board CARDS``, ``-pot P`` and
    ``-reach`` followed by 2 x 1,326 probabilities (the out-of-position player's
    first, then the button's, in :data:`HANDS` order).

    Returns:
        ``{"round": int, "board": str, "pot": float, "reach": (2, 1326) array}``;
        ``reach`` can be passed as ``ranges`` to :func:`river_endgame`.

    Raises:
        ValueError: a missing or malformed field (naming it and the value).
    """
    with open(os.fspath(path)) as f:
        text = f.read()
    fields: dict[str, list[str]] = {}
    key = None
    for token in text.split():
        if token.startswith("-") and token[1:].isalpha():
            key = token[1:]
            fields[key] = []
        elif key is None:
            raise ValueError(f"{path}: {token!r} comes before any field")
        else:
            fields[key].append(token)
    for name in ("round", "board", "pot", "reach"):
        if name not in fields:
            raise ValueError(f"{path} has no -{name} field")
    try:
        round_, pot = int(fields["round"][0]), float(fields["pot"][0])
        reach = np.array([float(x) for x in fields["reach"]])
    except (ValueError, IndexError):
        raise ValueError(f"{path}: -round, -pot or -reach is not a number") from None
    board = "".join(fields["board"])
    parse_cards(board, "board", count=None)
    if reach.shape != (2 * NUM_HANDS,):
        raise ValueError(
            f"{path}: -reach has {reach.size} entries; expected {2 * NUM_HANDS}"
        )
    reach = reach.reshape(2, NUM_HANDS)
    for i in range(2):
        _check_range(f"reach[{i}]", reach[i])
    return {"round": round_, "board": board, "pot": pot, "reach": reach}
