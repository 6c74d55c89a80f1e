"""The river endgame: hand order, evaluator, deals, rewards, loader, family.

References: an independent 7-card evaluator written here (best of the 21
five-card hands, category and kickers), the LibratusEndgames README's hand
order, hand-computed counts, and brute-force exploitability.
"""

import collections
import itertools

import jax.numpy as jnp
import numpy as np
import pytest

from marlmeta import evaluation, policies
from marlmeta.games import zoo
from tests.test_observations import brute_force_best

BOARD = "4s8hTc9h2s"


def five_card_key(cards):
    """(category, tiebreak ranks) of five cards ``4 rank + suit``; larger wins."""
    ranks = sorted((c // 4 for c in cards), reverse=True)
    flush = len({c % 4 for c in cards}) == 1
    uniq = sorted(set(ranks), reverse=True)
    high = None
    if len(uniq) == 5 and uniq[0] - uniq[4] == 4:
        high = uniq[0]
    elif uniq == [12, 3, 2, 1, 0]:  # the wheel A-2-3-4-5
        high = 3
    groups = sorted(
        ((n, r) for r, n in collections.Counter(ranks).items()), reverse=True
    )
    shape = [n for n, _ in groups]
    order = tuple(r for _, r in groups)
    if high is not None and flush:
        return (8, (high,))
    if shape == [4, 1]:
        return (7, order)
    if shape == [3, 2]:
        return (6, order)
    if flush:
        return (5, tuple(ranks))
    if high is not None:
        return (4, (high,))
    if shape == [3, 1, 1]:
        return (3, order)
    if shape == [2, 2, 1]:
        return (2, order)
    if shape == [2, 1, 1, 1]:
        return (1, order)
    return (0, tuple(ranks))


def seven_card_key(cards):
    return max(five_card_key(c) for c in itertools.combinations(cards, 5))


def test_hand_order_is_libratus():
    names = ["".join(zoo.CARDS[c] for c in h) for h in zoo.HANDS]
    assert len(names) == 1326
    assert names[:5] == ["2s2h", "2s2d", "2s2c", "2s3s", "2s3h"]
    assert names[50] == "2sAc" and names[51] == "2h2d" and names[-1] == "AdAc"


def test_evaluator_agrees_with_independent_one():
    from phevaluator import evaluate_cards

    rng = np.random.default_rng(0)
    hands = [rng.choice(52, 7, replace=False) for _ in range(400)]
    ph = [evaluate_cards(*[zoo.CARDS[c] for c in h]) for h in hands]
    mine = [seven_card_key([int(c) for c in h]) for h in hands]
    for a, b in itertools.combinations(range(len(hands)), 2):
        assert np.sign(ph[b] - ph[a]) == np.sign(
            (mine[a] > mine[b]) - (mine[a] < mine[b])
        )
    # Every hand on the default board, through the library's ranks.
    ranks = zoo.hand_ranks(BOARD)
    board = [zoo.CARDS.index(BOARD[k : k + 2]) for k in range(0, 10, 2)]
    valid = np.flatnonzero(ranks >= 0)
    assert len(valid) == 1081
    keys = {h: seven_card_key(board + zoo.HANDS[h].tolist()) for h in valid}
    ordered = sorted(valid, key=lambda h: keys[h])
    for a, b in zip(ordered, ordered[1:], strict=False):
        assert (ranks[a] > ranks[b]) if keys[a] < keys[b] else (ranks[a] == ranks[b])


def test_uniform_deal_count_and_showdown_symmetry():
    deals = zoo.river_deals(BOARD)
    assert len(deals.showdown) == 1081 * 990 == 1_070_190
    h0, h1 = (deals.hands[k][deals.deal_hands[k]] for k in range(2))
    sd = dict(
        zip(
            zip(h0.tolist(), h1.tolist(), strict=True),
            deals.showdown.tolist(),
            strict=True,
        )
    )
    for (a, b), v in itertools.islice(sd.items(), 0, None, 997):
        assert sd[(b, a)] == -v
    assert set(np.unique(deals.showdown)) == {-1, 0, 1}


def small_ranges(seed=0, size=12):
    rng = np.random.default_rng(seed)
    w = np.zeros((2, 1326))
    for i in range(2):
        w[i, rng.choice(1326, size, replace=False)] = rng.uniform(0.1, 1.0, size)
    return w


@pytest.mark.parametrize("variant, horizon", [("bet_call", 2), ("check_bet_call", 3)])
def test_small_river_game(variant, horizon):
    w = small_ranges()
    game = zoo.river_endgame(
        ranges=w, variant=variant, stacks=(300, 800), dtype=jnp.float64
    )
    deals = zoo.river_deals(BOARD, w)
    n = len(deals.showdown)
    assert game.horizon == horizon
    assert game.num_states == (n + 1 if variant == "bet_call" else 2 * n + 1)
    np.testing.assert_allclose(
        game.initial[:n], deals.weight / deals.weight.sum(), rtol=1e-12
    )
    r = np.asarray(game.rewards)
    np.testing.assert_array_equal(r[1], -r[0])
    assert np.abs(r).max() <= 1 + 1e-12
    # Bet-call showdown with stacks (300, 800): all-in 300, unit 250 + 300.
    k = int(np.argmax(deals.showdown == 1))
    call = r[0, 1, (0 if variant == "bet_call" else n) + k, 0, 1]
    assert call == pytest.approx(1.0)
    assert r[
        0,
        1 if variant == "bet_call" else 1,
        (0 if variant == "bet_call" else n) + k,
        0,
        0,
    ] == pytest.approx(250 / 550)
    # Restricted best responses: never above the full-state ones, and equal to
    # brute force over deterministic observation policies (bet_call: 2^12 each).
    rng = np.random.default_rng(1)
    tables = [
        rng.dirichlet(np.ones(2), size=(game.horizon, o)) for o in game.num_observations
    ]
    pol = policies.observation_policy(game, tables)
    best = np.asarray(evaluation.best_response_values(game, pol))
    full = np.asarray(evaluation.full_state_best_response_values(game, pol))
    assert np.all(best <= full + 1e-12) and np.any(best < full - 1e-6)
    if variant == "bet_call":
        dense = (r, np.asarray(game.transitions.dense()), np.asarray(game.initial))
        for i in range(2):
            brute = brute_force_best(game, tables, i, *dense)
            np.testing.assert_allclose(best[i], brute, atol=1e-12)


def test_family_changes_only_rewards():
    w = small_ranges()
    games = zoo.river_endgame_family(3, 4, ranges=w, dtype=jnp.float64)
    stacks = zoo.perturbed_stacks(3, 4, 500.0, (500.0, 500.0))
    noise = np.random.default_rng(3).normal(0.0, 0.5, (4, 2))
    np.testing.assert_allclose(stacks, 500.0 * np.maximum(1.0 + noise, 0.05))
    assert (stacks == 25.0).any()  # this seed clips
    nxt = np.asarray(games.transitions.next_state)
    assert np.all(nxt == nxt[:1]) and np.all(
        np.asarray(games.initial) == np.asarray(games.initial)[:1]
    )
    r = np.asarray(games.rewards)
    assert not np.allclose(r[0], r[1])
    for k in range(4):
        one = zoo.river_endgame(ranges=w, stacks=tuple(stacks[k]), dtype=jnp.float64)
        np.testing.assert_array_equal(r[k], np.asarray(one.rewards))


def test_range_file_loader(tmp_path):
    rng = np.random.default_rng(0)
    reach = rng.uniform(0, 1, (2, 1326))
    reach[:, ::7] = 0.0
    text = (
        "-round 4\n-board "
        + BOARD
        + "\n-pot 500\n-reach "
        + " ".join(f"{x:.7g}" for x in reach.ravel())
    )
    path = tmp_path / "subgame.txt"
    path.write_text(text + "\n")
    out = zoo.load_range_file(path)
    assert out["round"] == 4 and out["board"] == BOARD and out["pot"] == 500.0
    np.testing.assert_allclose(out["reach"], reach, rtol=1e-6)
    game = zoo.river_endgame(
        out["board"], out["pot"], ranges=out["reach"] * (reach > 0.9), check=False
    )
    assert game.num_states == 1 + len(
        zoo.river_deals(BOARD, out["reach"] * (reach > 0.9)).showdown
    )
    path.write_text(text.replace("-pot 500\n", ""))
    with pytest.raises(ValueError, match="no -pot field"):
        zoo.load_range_file(path)
    path.write_text(text + " 0.5")
    with pytest.raises(ValueError, match="-reach has 2653 entries"):
        zoo.load_range_file(path)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"board": "4s8hTc9h4s"}, r"board is '4s8hTc9h4s'; card '4s' is repeated"),
        ({"board": "4s8hTc9h1s"}, r"card 4 '1s' is not a card"),
        ({"board": "4s8hTc9h"}, "expected 5 cards"),
        (
            {"ranges": (np.ones(1325), np.ones(1326))},
            r"ranges\[0\] has shape \(1325,\)",
        ),
        ({"ranges": (np.ones(1326), -np.ones(1326))}, r"ranges\[1\]\[0\] is -1.0"),
        ({"stacks": (500, 0)}, r"stacks\[1\] is 0.0; expected a number > 0"),
        ({"stacks": (-5, 500)}, r"stacks\[0\] is -5.0"),
        ({"variant": "raise"}, "variant is 'raise'"),
        ({"pot": 0}, "pot is 0"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        zoo.river_endgame(**kwargs)
