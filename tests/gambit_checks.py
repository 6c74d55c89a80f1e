"""marlmeta's Gambit readers and normal-form conversions against pygambit.

Not collected by the suite directly: ``tests/test_interop_child_checks.py`` runs
this file in a child process (as the OpenSpiel checks), so that pygambit's C++
extension is never loaded into a test worker that goes on to compile XLA
programs.
"""

import io
from fractions import Fraction

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta.evaluation as E
import marlmeta.exact as X
import marlmeta.interop as I
from tests.test_interop_gambit import EFG, OUTCOME, PAYOFF, _values

jax.config.update("jax_enable_x64", True)
gbt = pytest.importorskip(
    "pygambit", reason="pygambit is not installed (pip install 'marlmeta[gambit]')"
)


def _arrays(game) -> np.ndarray:
    """pygambit's payoff tables as one float array ``(N, *A)``."""
    return np.stack([np.asarray(t, dtype=float) for t in game.to_arrays()])


@pytest.mark.parametrize("text", [PAYOFF, OUTCOME])
def test_nfg_reader_agrees_with_pygambit(text):
    theirs = _arrays(gbt.read_nfg(io.StringIO(text)))
    np.testing.assert_array_equal(I.parse_nfg(text), theirs)


def test_normal_form_round_trips_through_pygambit():
    rng = np.random.default_rng(0)
    payoffs = rng.integers(-5, 6, size=(3, 2, 3, 2)).astype(float)
    game = I.from_normal_form(payoffs)
    theirs = gbt.StrategicGame.from_arrays(
        *(t.astype(int) for t in np.asarray(I.to_normal_form(game))), title="random"
    )
    np.testing.assert_array_equal(_arrays(theirs), payoffs)
    # Their writer, our reader; our writer, their reader.
    np.testing.assert_array_equal(I.parse_nfg(theirs.to_nfg()), payoffs)
    back = gbt.read_nfg(io.StringIO(I.format_nfg(payoffs, "random")))
    np.testing.assert_array_equal(_arrays(back), payoffs)


def test_zero_sum_equilibrium_matches_pygambit_lp():
    a = np.array([[2.0, -1.0, 0.0], [-1.0, 1.0, 3.0]])
    game = I.from_normal_form([a, -a])
    eq = gbt.nash.lp_solve(gbt.StrategicGame.from_arrays(a, -a), rational=True)
    theirs = [
        np.array([float(Fraction(str(x))) for _, x in strategy])
        for strategy in eq.equilibrium
    ]
    np.testing.assert_allclose(theirs[0], [0.4, 0.6])  # hand-solved
    ours = eqx.filter_jit(X.zero_sum_equilibrium)(game)  # one program, not eager
    for mine, other in zip(ours.policy, theirs, strict=True):
        np.testing.assert_allclose(np.asarray(mine)[0, 0], other, atol=1e-9)
    np.testing.assert_allclose(
        eqx.filter_jit(E.nash_conv)(game, [t[None, None] for t in theirs]),
        0,
        atol=1e-12,
    )


def test_efg_reader_agrees_with_pygambit_equilibrium():
    tree = I.parse_efg(EFG)
    theirs = gbt.read_efg(io.StringIO(EFG))
    eq = gbt.nash.lcp_solve(theirs, rational=False, use_strategic=False).equilibrium
    # Per player, per information set (in the file's order): (history, mixed).
    rows = [[[p for _, p in mixed] for _, mixed in player] for player in eq]
    table = np.array(
        [np.pad(rows[p][k - 1], (0, 3 - len(rows[p][k - 1]))) for p, k in tree.infosets]
    )
    # pygambit's equilibrium is one by marlmeta's exact judge, with the values
    # of the test's explicit enumeration.
    judge = eqx.filter_jit(lambda g, t: (g.nash_conv(t), g.evaluate(t)[0]))
    nash_conv, v = judge(tree.game, jnp.asarray(table))  # one program, not eager
    np.testing.assert_allclose(nash_conv, 0, atol=1e-9)
    sender = {"G": rows[0][0], "B": rows[0][1]}
    receiver = {0: rows[1][0], 1: rows[1][1]}
    np.testing.assert_allclose(v, _values(sender, receiver), atol=1e-12)
