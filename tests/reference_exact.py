"""Independent NumPy/scipy references for ``marlmeta.lp`` and ``marlmeta.exact``.

No marlmeta code inside: explicit loops, scipy HiGHS for every LP, and brute
force over deviation policies for the CE-gap.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import linprog


def matrix_game_value(M):
    """``max_x min_b (x^T M)_b`` by HiGHS on the ``(x, v)`` formulation."""
    M = np.asarray(M, float)
    m, n = M.shape
    c = np.zeros(m + 1)
    c[-1] = -1.0
    res = linprog(
        c,
        A_ub=np.hstack([-M.T, np.ones((n, 1))]),
        b_ub=np.zeros(n),
        A_eq=np.hstack([np.ones((1, m)), np.zeros((1, 1))]),
        b_eq=[1.0],
        bounds=[(0, None)] * m + [(None, None)],
        method="highs",
    )
    assert res.status == 0, res.message
    return -res.fun


def _kernel(P, h):
    return P[h if P.shape[0] > 1 else 0]


def shapley_finite(r0, P, initial):
    """Shapley backward induction: ``r0 (H, S, A, B)``, ``P (H|1, S, A, B, S)``."""
    H, S = r0.shape[:2]
    V = np.zeros(S)
    for h in reversed(range(H)):
        Ph = _kernel(P, h)
        V = np.array([matrix_game_value(r0[h, s] + Ph[s] @ V) for s in range(S)])
    return initial @ V


def shapley_discounted(r0, P, initial, gamma, tol=1e-13, max_iter=10_000):
    """Shapley value iteration ``V <- val(r0 + gamma P V)`` to ``tol``."""
    S = r0.shape[0]
    V = np.zeros(S)
    for _ in range(max_iter):
        new = np.array(
            [matrix_game_value(r0[s] + gamma * P[0, s] @ V) for s in range(S)]
        )
        done = np.max(np.abs(new - V)) <= tol
        V = new
        if done:
            break
    return initial @ V


def markov_cce_welfare(rewards, P, initial, weights, ce=False):
    """Greedy welfare-maximising Markov CCE (CE) by HiGHS; returns weighted welfare.

    One LP per (h, s) over joint distributions with the stage CCE (swap)
    constraints of the Q-game built from the correlated policy's own values.
    """
    n, H, S = rewards.shape[:3]
    acts = rewards.shape[3:]
    profiles = list(itertools.product(*[range(a) for a in acts]))
    V = np.zeros((n, S))
    for h in reversed(range(H)):
        Ph = _kernel(P, h)
        newV = np.zeros((n, S))
        for s in range(S):
            Q = np.stack([rewards[i, h, s] + Ph[s] @ V[i] for i in range(n)])
            rows = []
            for i in range(n):
                for b in range(acts[i]):
                    for c in range(acts[i]) if ce else [None]:
                        if c == b:
                            continue
                        row = []
                        for a in profiles:
                            dev = a[:i] + (b,) + a[i + 1 :]
                            use = c is None or a[i] == c
                            row.append(Q[i][dev] - Q[i][a] if use else 0.0)
                        rows.append(row)
            obj = np.array(
                [sum(weights[i] * Q[i][a] for i in range(n)) for a in profiles]
            )
            res = linprog(
                -obj,
                A_ub=np.array(rows),
                b_ub=np.zeros(len(rows)),
                A_eq=np.ones((1, len(profiles))),
                b_eq=[1.0],
                method="highs",
            )
            assert res.status == 0, res.message
            sig = np.clip(res.x, 0, None)
            sig /= sig.sum()
            for i in range(n):
                newV[i, s] = sum(
                    p * Q[i][a] for p, a in zip(sig, profiles, strict=True)
                )
        V = newV
    return float(np.asarray(weights) @ (V @ initial))


def ce_gap_brute_force(rewards, P, initial, sigma):
    """Max over players and all deterministic Markov swap-deviation policies.

    Enumerates every swap map per (h, s) (``(A_i^A_i)^(H S)`` policies per
    player) and evaluates each by backward induction.
    """
    n, H, S = rewards.shape[:3]
    acts = rewards.shape[3:]
    profiles = list(itertools.product(*[range(a) for a in acts]))
    # The policy's own values.
    V = np.zeros((n, S))
    for h in reversed(range(H)):
        Ph = _kernel(P, h)
        V = np.array(
            [
                [
                    sum(
                        sigma[h, s][a] * (rewards[i, h, s][a] + Ph[s][a] @ V[i])
                        for a in profiles
                    )
                    for s in range(S)
                ]
                for i in range(n)
            ]
        )
    base = V @ initial
    gains = []
    for i in range(n):
        maps = list(itertools.product(range(acts[i]), repeat=acts[i]))
        best = -np.inf
        for choice in itertools.product(maps, repeat=H * S):
            B = np.zeros(S)
            for h in reversed(range(H)):
                Ph = _kernel(P, h)
                newB = np.zeros(S)
                for s in range(S):
                    phi = choice[h * S + s]
                    tot = 0.0
                    for a in profiles:
                        dev = a[:i] + (phi[a[i]],) + a[i + 1 :]
                        tot += sigma[h, s][a] * (rewards[i, h, s][dev] + Ph[s][dev] @ B)
                    newB[s] = tot
                B = newB
            best = max(best, initial @ B)
        gains.append(best - base[i])
    return max(gains)
