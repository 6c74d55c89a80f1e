"""The CFR family (CFRPlus, PredictiveCFRPlus, DiscountedCFR) against an
independent NumPy CFR on Kuhn poker's game tree.

The reference (``tests/reference_cfr.py``, shared with
``tests/test_cfr_plus.py``) walks Kuhn poker's betting tree with the variant's
regret update and averaging weight as arguments; it shares no code with
marlmeta's solvers. (OpenSpiel's CFR+ and DCFR on Kuhn and Leduc poker:
``tests/openspiel_checks.py``, in a child process.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
from marlmeta.games import zoo
from tests.reference_cfr import (
    assert_matches,
    discounted,
    predictive,
    reference_cfr,
    rm_plus,
)

jax.config.update("jax_enable_x64", True)

T = 12


VARIANTS = {
    "CFRPlus": (M.solvers.CFRPlus(), rm_plus, lambda t: t),
    "PredictiveCFRPlus": (M.solvers.PredictiveCFRPlus(), predictive, lambda t: t**2),
    "PredictiveCFRPlus_linear": (
        M.solvers.PredictiveCFRPlus(gamma=1.0),
        predictive,
        lambda t: t,
    ),
    "DiscountedCFR": (M.solvers.DiscountedCFR(), discounted(1.5, 0.0), lambda t: t**2),
    "LinearCFR": (
        M.solvers.DiscountedCFR(alpha=1.0, beta=1.0, gamma=1.0),
        discounted(1.0, 1.0),
        lambda t: t,
    ),
}


@jax.jit
def _run(solver, game):
    state = solver.init(game, solver.default_init(game, T))
    state = jax.lax.fori_loop(0, T, lambda _, s: solver.step(game, s), state)
    return state.policy, solver.output(game, state).tables


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_equals_the_numpy_tree_reference(name):
    solver, update, weight = VARIANTS[name]
    kuhn = zoo.kuhn_poker(jnp.float64)
    current, average = _run(solver, kuhn)
    want_avg, want_cur = reference_cfr(T, update, weight)
    assert_matches(want_avg, want_cur, average, current)
    # and it converges: after T = 12 far below the uniform policy's NashConv
    conv = M.evaluation.nash_conv(kuhn, kuhn.observation_policy(average))
    uniform = M.evaluation.nash_conv(kuhn, M.policies.observation_uniform(kuhn))
    assert float(conv) < 0.15 * float(uniform), (float(conv), float(uniform))


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="gamma is -1"):
        M.solvers.PredictiveCFRPlus(gamma=-1.0)
    with pytest.raises(ValueError, match=r"alpha\[1\] is nan"):
        M.solvers.DiscountedCFR(alpha=np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="DiscountedCFR needs a game with observ"):
        M.solve(M.solvers.DiscountedCFR(), zoo.matching_pennies(), 3)


def test_regret_matching_respects_the_legal_mask():
    r = jnp.array([[1.0, 3.0, 5.0], [-1.0, -2.0, 4.0], [0.0, 0.0, 0.0]])
    legal = jnp.array([[True, True, False], [True, True, False], [True, False, True]])
    np.testing.assert_allclose(
        M.solvers.regret_matching(r, legal),
        [[0.25, 0.75, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5]],
    )
