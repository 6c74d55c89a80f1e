"""The CFR family (CFRPlus, PredictiveCFRPlus, DiscountedCFR) against an
independent NumPy CFR on Kuhn poker's game tree.

The reference walks Kuhn poker's betting tree like ``reference_cfr_plus`` of
``tests/test_cfr_plus.py`` (whose tree helpers it reuses), with the variant's
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
from tests.test_cfr_plus import (
    DEALS,
    ROWS,
    TERMINAL,
    _actor,
    _payoff,
    reference_cfr_plus,
)

jax.config.update("jax_enable_x64", True)

T = 12


def _rm_plus(t, regret, pred, inst):
    return np.maximum(regret + inst, 0), pred


def _predictive(t, regret, pred, inst):
    return np.maximum(regret + inst, 0), inst


def _discounted(alpha, beta):
    def update(t, regret, pred, inst):
        new = regret + inst
        pos, neg = t**alpha / (t**alpha + 1), t**beta / (t**beta + 1)
        return np.where(new > 0, new * pos, new * neg), pred

    return update


def reference_cfr(num_steps, update, weight):
    """Average and current policies ``{(player, hist, card): (2,)}`` of the CFR
    variant ``update(t, R, m, r) -> (R, m)`` (regret matching on ``R + m``)
    with averaging weight ``weight(t)``."""
    keys = [(_actor(h), h, c) for h in ("", "p", "b", "pb") for c in range(3)]
    sigma = {k: np.full(2, 0.5) for k in keys}
    regret = {k: np.zeros(2) for k in keys}
    pred = {k: np.zeros(2) for k in keys}
    avg = {k: np.zeros(2) for k in keys}

    def value(c0, c1, hist):  # player 0's expected payoff from hist
        if hist in TERMINAL:
            return _payoff(c0, c1, hist)
        p = sigma[(_actor(hist), hist, (c0, c1)[_actor(hist)])]
        return sum(p[a] * value(c0, c1, hist + "pb"[a]) for a in range(2))

    for t in range(1, num_steps + 1):
        for i in range(2):
            cfv = {k: np.zeros(2) for k in keys if k[0] == i}
            own = {}

            def walk(c0, c1, hist, opp, mine, i=i, cfv=cfv, own=own):
                if hist in TERMINAL:
                    return
                j = _actor(hist)
                key = (j, hist, (c0, c1)[j])
                for a in range(2):
                    child = hist + "pb"[a]
                    if j == i:
                        sign = 1.0 if i == 0 else -1.0
                        cfv[key][a] += opp * sign * value(c0, c1, child)
                        own[key] = mine
                        walk(c0, c1, child, opp, mine * sigma[key][a])
                    else:
                        walk(c0, c1, child, opp * sigma[key][a], mine)

            for c0, c1 in DEALS:
                walk(c0, c1, "", 1.0 / 6.0, 1.0)
            for key, u in cfv.items():
                avg[key] = avg[key] + weight(t) * own[key] * sigma[key]
                r, m = update(float(t), regret[key], pred[key], u - sigma[key] @ u)
                tol = 64 * np.finfo(float).eps * np.abs(u).max()
                regret[key], pred[key] = np.where(np.abs(r) > tol, r, 0.0), m
                pos = np.maximum(regret[key] + pred[key], 0)
                sigma[key] = pos / pos.sum() if pos.sum() > 0 else np.full(2, 0.5)
    return {k: v / v.sum() for k, v in avg.items()}, sigma


def test_the_general_reference_is_the_cfr_plus_reference():
    avg, cur = reference_cfr(T, _rm_plus, lambda t: t)
    want_avg, want_cur = reference_cfr_plus(T)
    for k in avg:
        np.testing.assert_allclose(avg[k], want_avg[k], atol=1e-15)
        np.testing.assert_allclose(cur[k], want_cur[k], atol=1e-15)


VARIANTS = {
    "CFRPlus": (M.solvers.CFRPlus(), _rm_plus, lambda t: t),
    "PredictiveCFRPlus": (M.solvers.PredictiveCFRPlus(), _predictive, lambda t: t**2),
    "PredictiveCFRPlus_linear": (
        M.solvers.PredictiveCFRPlus(gamma=1.0),
        _predictive,
        lambda t: t,
    ),
    "DiscountedCFR": (M.solvers.DiscountedCFR(), _discounted(1.5, 0.0), lambda t: t**2),
    "LinearCFR": (
        M.solvers.DiscountedCFR(alpha=1.0, beta=1.0, gamma=1.0),
        _discounted(1.0, 1.0),
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
    for (player, hist, card), want in want_avg.items():
        h, row = ROWS[(hist, player)]
        got = np.asarray(average[player])[h, row + card]
        np.testing.assert_allclose(got, want, atol=1e-12, rtol=0)
        now = np.asarray(current[player])[h, row + card]
        np.testing.assert_allclose(now, want_cur[(player, hist, card)], atol=1e-12)
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
