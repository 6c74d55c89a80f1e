"""Masks reach every metric and AdaptiveOFTRL; metrics take a TurnBasedGame.

References: the hand-solved NashConv of ``tests/test_interop_turn_based.py``
and the legal sets of ``tests/test_interop_legal.py``'s masked game.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta
import marlmeta.evaluation as E
import marlmeta.policies as P
import marlmeta.solvers as S
from tests.test_interop_legal import _masked_game
from tests.test_interop_turn_based import _pennies

# What an eqx.error_if check raises at run time under jax.jit.
_RUNTIME = (eqx.EquinoxRuntimeError, jax.errors.JaxRuntimeError)


def test_evaluation_functions_take_a_turn_based_game():
    game = _pennies()
    x1, x2, y = 0.8, 0.3, 0.6
    table = np.array([[x1, 1 - x1, 0], [x2, 1 - x2, 0], [y, 1 - y, 0]])
    # Hand-solved (module text of test_interop_turn_based).
    want = 1.5 * abs(2 * y - 1) + abs((2 * x1 - 1) + 2 * (2 * x2 - 1)) / 2
    np.testing.assert_allclose(E.nash_conv(game, table), want, rtol=1e-6)
    np.testing.assert_allclose(E.exploitability(game, table), want / 2, rtol=1e-6)
    np.testing.assert_allclose(np.sum(E.gains(game, table)), want, rtol=1e-6)
    bad = table.copy()
    bad[2] = [0.5, 0.25, 0.25]
    with pytest.raises(ValueError, match=r"action 2 is illegal at information set 2"):
        E.nash_conv(game, bad)
    # Under jit the same check is a run-time error.
    with pytest.raises(_RUNTIME, match="illegal action"):
        jax.jit(lambda p: E.nash_conv(game, p))(jnp.asarray(bad, game.initial.dtype))


def test_metrics_refuse_probability_on_an_illegal_action():
    game, *_, masks = _masked_game()
    pi = [np.array(t) for t in P.uniform(game)]
    h, s, a = (int(k) for k in np.argwhere(~masks[1])[0])
    pi[1][h, s] = 0.0
    pi[1][h, s, a] = 1.0
    with pytest.raises(ValueError, match=rf"action {a} of player 1 at step {h}, "):
        E.nash_conv(game, pi)
    with pytest.raises(_RUNTIME, match="illegal action of player 1"):
        jax.jit(lambda p: E.gains(game, p))(tuple(jnp.asarray(t) for t in pi))


def test_adaptive_oftrl_plays_legal_actions_only():
    game, *_, masks = _masked_game()
    sol = marlmeta.solve(S.AdaptiveOFTRL(0.1, bisection_steps=8), game, 20)
    sigma = np.asarray(sol.policy)
    # Marginals of the average joint policy: exactly 0 on illegal actions.
    p0 = sigma.sum(axis=3)
    p1 = sigma.sum(axis=2)
    assert np.all(p0[~masks[0]] == 0) and np.all(p1[~masks[1]] == 0)
    assert np.all(p0[masks[0]] > 0)
    gap = float(E.cce_gap(game, sigma))  # accepted: no illegal weight
    assert np.isfinite(gap) and gap >= -1e-6
    # The online bound maximises over legal actions: it bounds the true gap.
    assert float(sol.trace.cce_gap[-1]) >= 0


def test_turn_based_best_responses_are_the_hand_solved_ones():
    game = _pennies()
    # y = 0.6 (player 1 leans heads): player 0 matches, heads at both stakes;
    # player 1 (who loses c on a match) earns -sum_c c (2 x_c - 1) / 2 = 0.1
    # from heads with x1 = 0.8, x2 = 0.3 (and -0.1 from tails): heads.
    table = np.array([[0.8, 0.2, 0], [0.3, 0.7, 0], [0.6, 0.4, 0]])
    br = np.asarray(E.best_responses(game, table))
    np.testing.assert_array_equal(br, [[1, 0, 0], [1, 0, 0], [1, 0, 0]])
    table[2] = [0.4, 0.6, 0]  # player 1 leans tails: player 0 plays tails
    br = np.asarray(E.best_responses(game, table))
    np.testing.assert_array_equal(br[:2], [[0, 1, 0], [0, 1, 0]])
