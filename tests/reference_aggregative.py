"""Independent NumPy/scipy references for ``marlmeta.aggregative``.

No marlmeta code inside: explicit loops, brute-force enumeration of joint
actions, and scipy HiGHS on the LP of Cummings, Kearns, Roth, Wu in its
original variables ``p[i, a]``.
"""

import itertools

import numpy as np
from scipy.optimize import linprog


def congestion_payoffs(theta, cost, actions, n):
    """``theta[a] - cost[a] load[a] / n`` per player, one-shot congestion game."""
    loads = np.bincount(actions, minlength=len(theta))
    return np.array([theta[a] - cost[a] * loads[a] / n for a in actions])


def congestion_pure_equilibria(theta, cost, n, tol=1e-12):
    """All profiles (tuples) of the one-shot singleton congestion game and their
    NE-gaps, by brute force."""
    m = len(theta)
    gaps = {}
    for prof in itertools.product(range(m), repeat=n):
        prof = np.array(prof)
        u = congestion_payoffs(theta, cost, prof, n)
        gap = 0.0
        for i in range(n):
            for b in range(m):
                dev = prof.copy()
                dev[i] = b
                gap = max(gap, congestion_payoffs(theta, cost, dev, n)[i] - u[i])
        gaps[tuple(prof.tolist())] = gap
    return gaps


def highs_stage_lp(q, w, contrib, xhat, eta, alpha):
    """``max sum w p`` over ``p[i] in simplex(BA_i)`` with
    ``|sum contrib p - xhat|_inf <= alpha``; ``(feasible, value)``."""
    n, m, d = contrib.shape
    ba = q >= q.max(1, keepdims=True) - eta
    a_eq = np.zeros((n, n * m))
    for i in range(n):
        a_eq[i, i * m : (i + 1) * m] = 1.0
    g = contrib.reshape(n * m, d).T
    a_ub = np.concatenate([g, -g])
    b_ub = np.concatenate([xhat + alpha, alpha - xhat])
    bounds = [(0, 1 if ba[i, a] else 0) for i in range(n) for a in range(m)]
    res = linprog(
        -w.ravel(),
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=np.ones(n),
        bounds=bounds,
        method="highs",
    )
    return res.status == 0, (-res.fun if res.status == 0 else None)


def softmax_kernel(logits, coupling, h, s, x):
    z = logits[h, s] + coupling[h, s] @ x
    e = np.exp(z - z.max())
    return e / e.sum()


def welfare_forward(contrib, logits, coupling, initial, profile, weights):
    """Linear welfare of a pure profile under softmax transitions, by an
    explicit forward pass over states (loops)."""
    num_steps, num_states = profile.shape[:2]
    mu = np.asarray(initial, float)
    total = 0.0
    for h in range(num_steps):
        nxt = np.zeros(num_states)
        for s in range(num_states):
            a = profile[h, s]
            x = sum(contrib[h, s, i, a[i]] for i in range(len(a)))
            total += mu[s] * sum(weights[h, s, i, a[i]] for i in range(len(a)))
            nxt += mu[s] * softmax_kernel(logits, coupling, h, s, x)
        mu = nxt
    return total
