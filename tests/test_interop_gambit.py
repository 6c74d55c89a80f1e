"""Gambit .nfg files (payoff and outcome versions), on hand-written files."""

import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta.interop as I

# Selten (IJGT, 75), Figure 2 in normal form, as Gambit's manual writes it
# (rows: player 1's strategies 1..3; columns: player 2's 1..2).
A = np.array([[1.0, 1.0], [0.0, 0.0], [0.0, 2.0]])
B = np.array([[1.0, 1.0], [2.0, 3.0], [2.0, 0.0]])

PAYOFF = """NFG 1 R "Selten (IJGT, 75), Figure 2, normal form"
{ "Player 1" "Player 2" } { 3 2 }

1 1 0 2 0 2 1 1 0 3 2 0
"""

OUTCOME = """NFG 1 R "Selten (IJGT, 75), Figure 2, normal form"
{ "Player 1" "Player 2" }

{
{ "1" "2" "3" }
{ "1" "2" }
}
""

{
{ "" 1, 1 }
{ "" 0, 2 }
{ "" 0, 2 }
{ "" 1, 1 }
{ "" 0, 3 }
{ "" 2, 0 }
}
1 2 3 4 5 6
"""


def test_payoff_and_outcome_versions_give_the_hand_tables():
    for text in (PAYOFF, OUTCOME):
        p = I.parse_nfg(text)
        np.testing.assert_array_equal(p, np.stack([A, B]))


def test_three_players_rationals_null_outcome_and_names():
    # Profiles (a0, a1, a2) with a0 fastest: payoff of player i is
    # i * 100 + 4 a2 + 2 a1 + a0 written as fractions and decimals.
    vals = []
    for a2 in range(2):
        for a1 in range(2):
            for a0 in range(2):
                k = 4 * a2 + 2 * a1 + a0
                vals += [f"{2 * k}/2", f"{100 + k}.0", f"{200 + k}"]
    text = (
        'NFG 1 R "three" { "a" "b \\"c\\"" "d" }\n'
        '{ { "x" "y" } { "u" "v" } { "s" "t" } } "a comment"\n' + " ".join(vals)
    )
    p = I.parse_nfg(text)
    assert p.shape == (3, 2, 2, 2)
    for a0, a1, a2 in np.ndindex(2, 2, 2):
        k = 4 * a2 + 2 * a1 + a0
        np.testing.assert_array_equal(p[:, a0, a1, a2], [k, 100 + k, 200 + k])
    null = 'NFG 1 R "" { "1" "2" } { 1 2 } { { "w" 1/2, -.5 } } 0 1'
    np.testing.assert_array_equal(I.parse_nfg(null), [[[0.0, 0.5]], [[0.0, -0.5]]])


def test_files_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    payoffs = rng.normal(size=(3, 2, 3, 2))
    assert np.array_equal(I.parse_nfg(I.format_nfg(payoffs, 'say "hi"')), payoffs)
    game = I.from_normal_form((A, B))
    I.save_nfg(tmp_path / "selten.nfg", game, "Selten")
    back = I.load_nfg(tmp_path / "selten.nfg")
    np.testing.assert_array_equal(np.stack(I.to_normal_form(back)), [A, B])
    assert (tmp_path / "selten.nfg").read_text().startswith('NFG 1 R "Selten"')


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('EFG 2 R "" { "1" }', "expected a file starting with 'NFG 1'"),
        ('NFG 1 R "" { "1" "2" } { 2 2 } 1 2 3', "expected 8 payoffs, found the end"),
        ('NFG 1 R "" { "1" "2" } { 2 2 } ' + "0 " * 9, "unexpected '0' after the 4"),
        ('NFG 1 R "" { "1" "2" } { 2 }', r"2 players but strategy counts \[2\]"),
        ('NFG 1 R "" { "1" } { 2 } { { "" 1 } } 1 2', "outcome index 2 is out"),
        ('NFG 1 R "" { "1" } { 1 } ; 1', "unexpected text ';"),
    ],
)
def test_bad_files_name_the_problem(text, match):
    with pytest.raises(ValueError, match=match):
        I.parse_nfg(text)


# A sender-receiver game written for this test: chance picks the sender's type
# (good 1/3, bad 2/3); the sender, who knows it, claims or keeps quiet; the
# receiver sees only that, and after a claim pays nothing but the sender pays
# a fee of 1/2 (an outcome at a decision node); after quiet it has 3 actions.
EFG = """EFG 2 R "hidden type" { "Sender" "Receiver" } "a comment"

c "" 1 "type" { "good" 1/3 "bad" 2/3 } 0
p "" 1 1 "G" { "claim" "quiet" } 0
p "" 2 1 "after claim" { "trust" "check" } 1 "fee" { -1/2, 0 }
t "" 2 "gc-t" { 3, 2 }
t "" 3 "gc-c" { 1, 1 }
p "" 2 2 "after quiet" { "trust" "check" "leave" } 0
t "" 4 "gq-t" { 2, 1 }
t "" 5 "gq-c" { 0, 0 }
t "" 6 "leave" { 1, 0 }
p "" 1 2 "B" { "claim" "quiet" } 0
p "" 2 1 1
t "" 7 "bc-t" { 4, -2 }
t "" 8 "bc-c" { -1, 2 }
p "" 2 2 0
t "" 9 "bq-t" { 1, -1 }
t "" 10 "bq-c" { 0, 1 }
t "" 6
"""
TYPES = {"G": 1 / 3, "B": 2 / 3}
PAY = {  # (type, sender's action, receiver's action) -> (u_sender, u_receiver)
    ("G", 0, 0): (2.5, 2), ("G", 0, 1): (0.5, 1),
    ("G", 1, 0): (2, 1), ("G", 1, 1): (0, 0), ("G", 1, 2): (1, 0),
    ("B", 0, 0): (3.5, -2), ("B", 0, 1): (-1.5, 2),
    ("B", 1, 0): (1, -1), ("B", 1, 1): (0, 1), ("B", 1, 2): (1, 0),
}  # fmt: skip


def _values(sender, receiver):
    """Expected payoffs; sender[type] and receiver[claim or quiet] are
    distributions (explicit enumeration, no marlmeta code)."""
    v = np.zeros(2)
    for (ty, a, b), u in PAY.items():
        v += TYPES[ty] * sender[ty][a] * receiver[a][b] * np.array(u)
    return v


def test_efg_nash_conv_equals_brute_force_over_pure_strategies():
    tree = I.parse_efg(EFG)
    game = tree.game
    assert tree.players == ("Sender", "Receiver")
    assert game.node_counts == (2, 4) and game.num_actions == 3
    sender = {"G": [0.7, 0.3], "B": [0.2, 0.8]}
    receiver = {0: [0.4, 0.6], 1: [0.1, 0.3, 0.6]}
    rows = {(0, 1): sender["G"], (0, 2): sender["B"]}
    rows |= {(1, 1): receiver[0], (1, 2): receiver[1]}
    table = np.array(
        [np.pad(rows[key], (0, 3 - len(rows[key]))) for key in tree.infosets]
    )
    v = _values(sender, receiver)
    best = [
        max(
            _values({"G": np.eye(2)[g], "B": np.eye(2)[b]}, receiver)[0]
            for g in range(2)
            for b in range(2)
        ),
        max(
            _values(sender, {0: np.eye(2)[c], 1: np.eye(3)[q]})[1]
            for c in range(2)
            for q in range(3)
        ),
    ]
    values, best_values = game.evaluate(jnp.asarray(table))
    np.testing.assert_allclose(values, v, atol=1e-12)
    np.testing.assert_allclose(best_values, best, atol=1e-12)
    np.testing.assert_allclose(game.nash_conv(table), sum(best) - v.sum(), atol=1e-12)
    np.testing.assert_array_equal(
        np.asarray(game.uniform())[list(tree.infosets).index((1, 1))], [0.5, 0.5, 0]
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (EFG.replace("EFG 2", "NFG 1"), "expected a file starting with 'EFG 2'"),
        (EFG.replace('t "" 6\n', ""), "expected a node"),
        (EFG.replace('"gc-t" { 3, 2 }', '"gc-t" { 3, 2, 1 }'), "outcome 2 has more"),
        (EFG.replace('t "" 2 "gc-t" { 3, 2 }', 't "" 11'), "outcome 11 is used before"),
        (EFG.replace('p "" 2 2 0', 'p "" 3 2 0'), r"player 3 is not in \[1, 2\]"),
    ],
)
def test_bad_efg_files_name_the_problem(text, match):
    with pytest.raises(ValueError, match=match):
        I.parse_efg(text)
