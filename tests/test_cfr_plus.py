"""CFRPlus against an independent NumPy CFR+ on Kuhn poker's game tree.

The reference walks Kuhn poker's betting tree (histories ``""``, ``"p"``,
``"b"``, ``"pb"``, ..., information sets ``(card, history)``), with
alternating regret-matching+ updates (regrets within rounding, ``64 eps
max |U|``, of 0 count as 0) and the average weighted by ``t`` times the
player's own reach; it shares no code with marlmeta's state/observation
machinery.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
from marlmeta.games import zoo

jax.config.update("jax_enable_x64", True)

DEALS = [(a, b) for a in range(3) for b in range(3) if a != b]
TERMINAL = ("pp", "bp", "bb", "pbp", "pbb")
#: information set -> (step h, observation row) of marlmeta's Kuhn poker
#: (``obs = slot * 3 + card``: slot 0 at h = 0, 1 after a check, 2 after a
#: bet, 3 after check-bet).
ROWS = {
    ("", 0): (0, 0),
    ("pb", 0): (2, 9),
    ("p", 1): (1, 3),
    ("b", 1): (1, 6),
}


def _payoff(c0, c1, hist):
    sd = 1.0 if c0 > c1 else -1.0
    return {"pp": sd, "bp": 1.0, "bb": 2 * sd, "pbp": -1.0, "pbb": 2 * sd}[hist]


def _actor(hist):
    return 0 if hist in ("", "pb") else 1


def reference_cfr_plus(num_steps):
    """Average and current policies ``{(player, hist, card): (2,)}``."""
    keys = [(_actor(h), h, c) for h in ("", "p", "b", "pb") for c in range(3)]
    sigma = {k: np.full(2, 0.5) for k in keys}
    regret = {k: np.zeros(2) for k in keys}
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
                p = sigma[key]
                for a in range(2):
                    child = hist + "pb"[a]
                    if j == i:
                        sign = 1.0 if i == 0 else -1.0
                        cfv[key][a] += opp * sign * value(c0, c1, child)
                        own[key] = mine
                        walk(c0, c1, child, opp, mine * p[a])
                    else:
                        walk(c0, c1, child, opp * p[a], mine)

            for c0, c1 in DEALS:
                walk(c0, c1, "", 1.0 / 6.0, 1.0)
            for key, u in cfv.items():
                avg[key] = avg[key] + t * own[key] * sigma[key]
                new = regret[key] + u - sigma[key] @ u
                tol = 64 * np.finfo(float).eps * np.abs(u).max()
                regret[key] = np.where(new > tol, new, 0.0)
                pos = regret[key]
                sigma[key] = pos / pos.sum() if pos.sum() > 0 else np.full(2, 0.5)
    return {k: v / v.sum() for k, v in avg.items()}, sigma


@pytest.fixture(scope="module")
def kuhn():
    return zoo.kuhn_poker(jnp.float64)


def test_cfr_plus_equals_the_numpy_tree_reference(kuhn):
    T = 25
    solver = M.solvers.CFRPlus()
    run = jax.jit(lambda g: M.solve(solver, g, T, checkpoints=(T,)))
    sol = run(kuhn)
    state = jax.jit(
        lambda g: jax.lax.fori_loop(
            0,
            T,
            lambda _, s: solver.step(g, s),
            solver.init(g, solver.default_init(g, T)),
        )
    )(kuhn)
    avg, current = reference_cfr_plus(T)
    for (player, hist, card), want in avg.items():
        h, row = ROWS[(hist, player)]
        got = np.asarray(sol.policy.tables[player])[h, row + card]
        np.testing.assert_allclose(got, want, atol=1e-12, rtol=0)
        now = np.asarray(state.policy[player])[h, row + card]
        np.testing.assert_allclose(now, current[(player, hist, card)], atol=1e-12)
    # and it converges: Kuhn's NashConv after T = 25 is far below uniform's
    uniform = M.evaluation.nash_conv(kuhn, M.policies.observation_uniform(kuhn))
    assert float(sol.trace.nash_conv[-1]) < 0.05 * float(uniform)


def test_regret_matching_is_uniform_without_positive_regret():
    r = jnp.array([[1.0, 3.0], [-1.0, -2.0], [0.0, 0.0]])
    np.testing.assert_allclose(
        M.solvers.regret_matching(r), [[0.25, 0.75], [0.5, 0.5], [0.5, 0.5]]
    )


def test_cfr_plus_needs_observations():
    with pytest.raises(ValueError, match="CFRPlus needs a game with observations"):
        M.solve(M.solvers.CFRPlus(), zoo.matching_pennies(), 3)
