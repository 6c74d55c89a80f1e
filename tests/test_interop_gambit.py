"""Gambit .nfg files (payoff and outcome versions), on hand-written files."""

import numpy as np
import pytest

import marlmeta.games as G

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
        p = G.parse_nfg(text)
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
    p = G.parse_nfg(text)
    assert p.shape == (3, 2, 2, 2)
    for a0, a1, a2 in np.ndindex(2, 2, 2):
        k = 4 * a2 + 2 * a1 + a0
        np.testing.assert_array_equal(p[:, a0, a1, a2], [k, 100 + k, 200 + k])
    null = 'NFG 1 R "" { "1" "2" } { 1 2 } { { "w" 1/2, -.5 } } 0 1'
    np.testing.assert_array_equal(G.parse_nfg(null), [[[0.0, 0.5]], [[0.0, -0.5]]])


def test_files_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    payoffs = rng.normal(size=(3, 2, 3, 2))
    assert np.array_equal(G.parse_nfg(G.format_nfg(payoffs, 'say "hi"')), payoffs)
    game = G.from_normal_form((A, B))
    G.save_nfg(tmp_path / "selten.nfg", game, "Selten")
    back = G.load_nfg(tmp_path / "selten.nfg")
    np.testing.assert_array_equal(np.stack(G.to_normal_form(back)), [A, B])
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
        G.parse_nfg(text)
