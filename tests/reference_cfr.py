"""NumPy reference of the CFR family on Kuhn poker's game tree.

It walks Kuhn poker's betting tree (histories ``""``, ``"p"``, ``"b"``,
``"pb"``, ..., information sets ``(card, history)``) with alternating
updates: player ``i``'s counterfactual values ``u`` at each of its information
sets, its instantaneous regrets ``u - sigma . u``, the variant's regret update
``update(t, R, m, r) -> (R, m)`` (regret matching on ``R + m``; regrets within
rounding, ``64 eps max |U|``, of 0 count as 0) and the average weighted by
``weight(t)`` times the player's own reach. It shares no code with marlmeta's
solvers or its state/observation machinery.
"""

from __future__ import annotations

import numpy as np

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


def rm_plus(t, regret, pred, inst):
    """CFR+'s regret-matching+: ``R <- max(R + r, 0)``."""
    del t
    return np.maximum(regret + inst, 0), pred


def predictive(t, regret, pred, inst):
    """Predictive CFR+: ``R <- max(R + r, 0)``, prediction ``m <- r``."""
    del t, pred
    return np.maximum(regret + inst, 0), inst


def discounted(alpha, beta):
    """Discounted CFR's update: positive cumulative regrets scaled by
    ``t^alpha / (t^alpha + 1)``, negative ones by ``t^beta / (t^beta + 1)``."""

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


def assert_matches(want_avg, want_cur, average, current, atol=1e-12):
    """The solver's average and current observation tables (per player ``(H,
    O, 2)``) equal the reference's at every information set."""
    for (player, hist, card), want in want_avg.items():
        h, row = ROWS[(hist, player)]
        got = np.asarray(average[player])[h, row + card]
        np.testing.assert_allclose(got, want, atol=atol, rtol=0)
        now = np.asarray(current[player])[h, row + card]
        np.testing.assert_allclose(now, want_cur[(player, hist, card)], atol=atol)
