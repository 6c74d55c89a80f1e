"""Independent NumPy/scipy references for the tests (no marlmeta code inside).

Written from ``ALGORITHMS.md`` directly, with explicit loops and full joint
policies, so that they share no code path with the library.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import linprog


def joint(policy_hs):
    """Joint distribution over action profiles from per-player vectors."""
    out = np.ones(())
    for p in policy_hs:
        out = np.multiply.outer(out, p)
    return out


def finite_values(rewards, P, initial, policy):
    """Values (N,) of a product policy; P has shape (H or 1, S, *A, S)."""
    n, H, S = rewards.shape[:3]
    V = np.zeros((n, S))
    for h in reversed(range(H)):
        Ph = P[h if P.shape[0] > 1 else 0]
        newV = np.zeros((n, S))
        for s in range(S):
            sig = joint([policy[i][h, s] for i in range(n)])
            for i in range(n):
                q = rewards[i, h, s] + Ph[s] @ V[i]
                newV[i, s] = np.sum(sig * q)
        V = newV
    return V @ initial


def finite_best_response_values(rewards, P, initial, policy):
    """Best-response values (N,) against a product policy, by brute force."""
    n, H, S = rewards.shape[:3]
    acts = rewards.shape[3:]
    out = []
    for i in range(n):
        B = np.zeros(S)
        for h in reversed(range(H)):
            Ph = P[h if P.shape[0] > 1 else 0]
            newB = np.zeros(S)
            for s in range(S):
                best = -np.inf
                for ai in range(acts[i]):
                    tot = 0.0
                    for a in itertools.product(*[range(k) for k in acts]):
                        if a[i] != ai:
                            continue
                        w = np.prod([policy[j][h, s, a[j]] for j in range(n) if j != i])
                        tot += w * (rewards[i, h, s][a] + Ph[s][a] @ B)
                    best = max(best, tot)
                newB[s] = best
            B = newB
        out.append(B @ initial)
    return np.array(out)


def finite_cce_values(rewards, P, initial, sigma):
    """(values, deviation values) for a Markov correlated policy sigma (H,S,*A)."""
    n, H, S = rewards.shape[:3]
    V = np.zeros((n, S))
    B = np.zeros((n, S))
    for h in reversed(range(H)):
        Ph = P[h if P.shape[0] > 1 else 0]
        nV, nB = np.zeros((n, S)), np.zeros((n, S))
        for s in range(S):
            sg = sigma[h, s]
            for i in range(n):
                nV[i, s] = np.sum(sg * (rewards[i, h, s] + Ph[s] @ V[i]))
                qb = rewards[i, h, s] + Ph[s] @ B[i]
                marg = sg.sum(axis=i)  # over a_{-i}
                devs = [
                    np.sum(marg * np.take(qb, ai, axis=i)) for ai in range(sg.shape[i])
                ]
                nB[i, s] = max(devs)
        V, B = nV, nB
    return V @ initial, B @ initial


def discounted_values(rewards, P, initial, gamma, policy):
    n, S = rewards.shape[:2]
    Pd = P[0]
    Ppi = np.zeros((S, S))
    rpi = np.zeros((n, S))
    for s in range(S):
        sig = joint([policy[i][s] for i in range(n)])
        Ppi[s] = np.tensordot(sig, Pd[s], axes=sig.ndim)
        for i in range(n):
            rpi[i, s] = np.sum(sig * rewards[i, s])
    V = np.linalg.solve(np.eye(S) - gamma * Ppi, rpi.T).T
    return V @ initial


def discounted_best_response_values(rewards, P, initial, gamma, policy, iters=20000):
    """By value iteration to machine precision (independent of policy iteration)."""
    n, S = rewards.shape[:2]
    acts = rewards.shape[2:]
    Pd = P[0]
    out = []
    for i in range(n):
        others = [policy[j] if j != i else np.ones_like(policy[j]) for j in range(n)]
        V = np.zeros(S)
        for _ in range(iters):
            Q = np.zeros((S, acts[i]))
            for s in range(S):
                w = joint([others[j][s] for j in range(n)])
                q = rewards[i, s] + gamma * Pd[s] @ V
                Q[s] = np.moveaxis(w * q, i, 0).reshape(acts[i], -1).sum(-1)
            newV = Q.max(-1)
            if np.max(np.abs(newV - V)) < 1e-15:
                V = newV
                break
            V = newV
        out.append(V @ initial)
    return np.array(out)


def matrix_game_lp(A):
    """Max-min value and optimal mixed strategies of the zero-sum game A (rows max)."""
    A = np.asarray(A, float)
    m, k = A.shape
    # variables (x_1..x_m, v): maximise v s.t. A^T x >= v, sum x = 1, x >= 0.
    c = np.zeros(m + 1)
    c[-1] = -1
    res = linprog(
        c,
        A_ub=np.hstack([-A.T, np.ones((k, 1))]),
        b_ub=np.zeros(k),
        A_eq=np.hstack([np.ones((1, m)), np.zeros((1, 1))]),
        b_eq=[1.0],
        bounds=[(0, None)] * m + [(None, None)],
        method="highs",
    )
    x = np.clip(res.x[:m], 0, None)
    # min player: minimise w s.t. A y <= w.
    c2 = np.zeros(k + 1)
    c2[-1] = 1
    res2 = linprog(
        c2,
        A_ub=np.hstack([A, -np.ones((m, 1))]),
        b_ub=np.zeros(m),
        A_eq=np.hstack([np.ones((1, k)), np.zeros((1, 1))]),
        b_eq=[1.0],
        bounds=[(0, None)] * k + [(None, None)],
        method="highs",
    )
    y = np.clip(res2.x[:k], 0, None)
    return -res.fun, x / x.sum(), y / y.sum()


def shapley_lp(reward0, P, initial):
    """Shapley's backward induction with one LP per (h, s): value, mu, nu."""
    H, S, A, B = reward0.shape
    V = np.zeros(S)
    mu = np.zeros((H, S, A))
    nu = np.zeros((H, S, B))
    for h in reversed(range(H)):
        Ph = P[h if P.shape[0] > 1 else 0]
        newV = np.zeros(S)
        for s in range(S):
            Q = reward0[h, s] + Ph[s] @ V
            newV[s], mu[h, s], nu[h, s] = matrix_game_lp(Q)
        V = newV
    return V @ initial, mu, nu


def _uniform_argmax(x):
    m = x.max()
    ties = (x >= m - 1e-12 * (1 + abs(m))).astype(float)
    return ties / ties.sum()


def omd_zero_sum(reward0, P, eta, T, mu_init, nu_init):
    """Seed 000 Algorithm 1 written from ALGORITHMS.md section 2 with plain loops.

    Probability-space multiplicative weights (no log-space tricks), an explicit
    list of stage boundaries, and per-(h, s) Python loops.

    Returns:
        (mu_bar, nu_bar, mu_br, nu_br) with the stage best responses of every
        stage touched (a partial last stage uses the iterations it had).
    """
    H, S, A, B = reward0.shape
    ends, L, t = [], H, 0
    while t < T:
        t += L
        ends.append((min(t, T), L))
        L = ((H + 1) * L) // H
    K = len(ends)
    Q = np.zeros((H, S, A, B))
    mu_hat = mu_init[0].copy()
    mu = mu_init[0].copy()
    nu_hat = nu_init[0].copy()
    nu = nu_init[0].copy()
    mu_sum, nu_sum = np.zeros((H, S, A)), np.zeros((H, S, B))
    mu_br = np.full((K, H, S, A), 1.0 / A)
    nu_br = np.full((K, H, S, B), 1.0 / B)
    tau = 0
    vsum, gmu, gnu = np.zeros((H, S)), np.zeros((H, S, A)), np.zeros((H, S, B))
    for t in range(1, T + 1):
        new_mu, new_nu = np.zeros_like(mu), np.zeros_like(nu)
        new_mu_hat, new_nu_hat = np.zeros_like(mu), np.zeros_like(nu)
        for h in range(H):
            for s in range(S):
                g_mu = Q[h, s] @ nu[h, s]
                g_nu = mu[h, s] @ Q[h, s]
                x = mu_hat[h, s] * np.exp(eta * g_mu)
                new_mu_hat[h, s] = x / x.sum()
                y = nu_hat[h, s] * np.exp(-eta * g_nu)
                new_nu_hat[h, s] = y / y.sum()
                x = new_mu_hat[h, s] * np.exp(eta * g_mu)
                new_mu[h, s] = x / x.sum()
                y = new_nu_hat[h, s] * np.exp(-eta * g_nu)
                new_nu[h, s] = y / y.sum()
        mu, nu, mu_hat, nu_hat = new_mu, new_nu, new_mu_hat, new_nu_hat
        for h in range(H):
            for s in range(S):
                vsum[h, s] += mu[h, s] @ Q[h, s] @ nu[h, s]
                gmu[h, s] += Q[h, s] @ nu[h, s]
                gnu[h, s] += mu[h, s] @ Q[h, s]
        mu_sum += mu
        nu_sum += nu
        end, L = ends[tau]
        if t == end:
            for h in range(H):
                for s in range(S):
                    mu_br[tau, h, s] = _uniform_argmax(gmu[h, s])
                    nu_br[tau, h, s] = _uniform_argmax(-gnu[h, s])
            if t - sum(x[1] for x in ends[:tau]) == L:  # a complete stage
                newQ = np.zeros_like(Q)
                for h in range(H):
                    Ph = P[h if P.shape[0] > 1 else 0]
                    nxt = vsum[h + 1] / L if h + 1 < H else np.zeros(S)
                    for s in range(S):
                        newQ[h, s] = reward0[h, s] + Ph[s] @ nxt
                Q = newQ
                tau += 1
                if tau < K:
                    mu, mu_hat = mu_init[tau].copy(), mu_init[tau].copy()
                    nu, nu_hat = nu_init[tau].copy(), nu_init[tau].copy()
                vsum, gmu, gnu = (
                    np.zeros((H, S)),
                    np.zeros((H, S, A)),
                    np.zeros((H, S, B)),
                )
    return mu_sum / T, nu_sum / T, mu_br, nu_br


def omd_general_sum(rewards, P, eta, T, inits):
    """Seed 000 Algorithm 2 (ALGORITHMS.md section 4) with plain loops.

    Returns (sigma, brs): the stage-mixture joint policy (H, S, *A) and the
    per-player stage best responses (a partial last stage uses what it had).
    """
    n, H, S = rewards.shape[:3]
    acts = rewards.shape[3:]
    ends, L, t = [], H, 0
    while t < T:
        ends.append(L)
        t += L
        L = ((H + 1) * L) // H
    K = len(ends)
    Q = np.zeros(rewards.shape)
    hat = [inits[i][0].copy() for i in range(n)]
    pi = [inits[i][0].copy() for i in range(n)]
    brs = [np.full((K, H, S, acts[i]), 1.0 / acts[i]) for i in range(n)]
    vsum = np.zeros((n, H, S))
    gsum = [np.zeros((H, S, acts[i])) for i in range(n)]
    history = []  # (stage, joint policy (H, S, *A)) per iteration
    tau, pos = 0, 0

    def feedback(Q, pol):
        out = [np.zeros((H, S, acts[i])) for i in range(n)]
        for h in range(H):
            for s in range(S):
                for i in range(n):
                    for a in itertools.product(*[range(k) for k in acts]):
                        w = np.prod([pol[j][h, s, a[j]] for j in range(n) if j != i])
                        out[i][h, s, a[i]] += w * Q[i, h, s][a]
        return out

    for t in range(1, T + 1):
        g = feedback(Q, pi)
        new_hat, new_pi = [], []
        for i in range(n):
            x = hat[i] * np.exp(eta * g[i])
            x /= x.sum(-1, keepdims=True)
            y = x * np.exp(eta * g[i])
            y /= y.sum(-1, keepdims=True)
            new_hat.append(x)
            new_pi.append(y)
        hat, pi = new_hat, new_pi
        g_new = feedback(Q, pi)
        for i in range(n):
            vsum[i] += (pi[i] * g_new[i]).sum(-1)
            gsum[i] += g_new[i]
        jp = np.zeros((H, S, *acts))
        for h in range(H):
            for s in range(S):
                jp[h, s] = joint([pi[i][h, s] for i in range(n)])
        history.append((tau, jp))
        pos += 1
        if pos == ends[tau] or t == T:
            for i in range(n):
                for h in range(H):
                    for s in range(S):
                        brs[i][tau, h, s] = _uniform_argmax(gsum[i][h, s])
        if pos == ends[tau]:
            L = ends[tau]
            newQ = np.zeros_like(Q)
            for i in range(n):
                for h in range(H):
                    Ph = P[h if P.shape[0] > 1 else 0]
                    nxt = vsum[i, h + 1] / L if h + 1 < H else np.zeros(S)
                    newQ[i, h] = rewards[i, h] + Ph @ nxt
            Q = newQ
            tau, pos = tau + 1, 0
            if tau < K:
                hat = [inits[i][tau].copy() for i in range(n)]
                pi = [inits[i][tau].copy() for i in range(n)]
            vsum[:] = 0
            gsum = [np.zeros((H, S, acts[i])) for i in range(n)]
    complete = [
        k for k in range(K) if sum(1 for st, _ in history if st == k) == ends[k]
    ]
    tau_last = complete[-1] if complete else 0
    sigma = np.zeros((H, S, *acts))
    for h in range(H):
        th = max(tau_last - h, 0)
        members = [jp for st, jp in history if st == th]
        sigma[h] = np.mean([jp[h] for jp in members], axis=0)
    return sigma, brs


def dlrc_omwu(rewards, P, eta, T, beta=70.0):
    """Seed 002 MG-DLRC-OMWU (instantaneous baseline) with plain loops.

    Uses the paper's own w_t-weighted regrets U (float64, small T), a grid-free
    lambda found by bisection on the derivative to 1e-15, and returns the Markov
    average-joint policy with weights alpha^j_T computed from the closed form.
    """
    n, H, S = rewards.shape[:3]
    acts = rewards.shape[3:]
    U = [np.zeros((H, S, a)) for a in acts]
    u_prev = [np.zeros((H, S, a)) for a in acts]
    w_prev = 1.0
    V = np.zeros((n, H, S))
    pis = []
    for t in range(1, T + 1):
        w = 1.0 if t == 1 else w_prev * (t + H - 1) / (t - 1)  # w_t = C(H+t-1, H)
        alpha = (H + 1) / (H + t)
        pi = []
        for i, d in enumerate(acts):
            at = beta * np.log(d) ** 2 + 2 * np.log(d) + 2
            R = (eta / w) * (U[i] + (w / w_prev) * u_prev[i])
            p = np.zeros_like(R)
            for h in range(H):
                for s in range(S):
                    r = R[h, s]

                    def slope(lam, r=r, at=at):
                        e = np.exp(lam * r - np.max(lam * r))
                        return (e / e.sum()) @ r + (at - 1) / lam

                    lam = 1.0
                    if slope(1.0) < 0:
                        lo, hi = 0.0, 1.0
                        while hi - lo > 1e-15:
                            mid = (lo + hi) / 2
                            lo, hi = (mid, hi) if slope(mid) > 0 else (lo, mid)
                        lam = (lo + hi) / 2
                    e = np.exp(lam * r - np.max(lam * r))
                    p[h, s] = e / e.sum()
            pi.append(p)
        pis.append(pi)
        Vnext = np.zeros((n, S))
        u = [np.zeros((H, S, a)) for a in acts]
        for h in reversed(range(H)):
            Ph = P[h if P.shape[0] > 1 else 0]
            for s in range(S):
                for i in range(n):
                    q = rewards[i, h, s] + Ph[s] @ Vnext[i]
                    sig = joint([pi[j][h, s] for j in range(n)])
                    V[i, h, s] = (1 - alpha) * V[i, h, s] + alpha * np.sum(sig * q)
                    others = [
                        pi[j][h, s] if j != i else np.ones(acts[i]) for j in range(n)
                    ]
                    nu = (
                        np.moveaxis(joint(others) * q, i, 0)
                        .reshape(acts[i], -1)
                        .sum(-1)
                    )
                    u[i][h, s] = w * (nu - nu @ pi[i][h, s])
            Vnext = V[:, h].copy()
        U = [U[i] + u[i] for i in range(n)]
        u_prev, w_prev = u, w
    weights = np.array(
        [
            (H + 1)
            / (H + j)
            * np.prod([(k - 1) / (H + k) for k in range(j + 1, T + 1)])
            for j in range(1, T + 1)
        ]
    )
    sigma = np.zeros((H, S, *acts))
    for wj, pi in zip(weights, pis, strict=True):
        for h in range(H):
            for s in range(S):
                sigma[h, s] += wj * joint([pi[i][h, s] for i in range(n)])
    return sigma, weights.sum()
