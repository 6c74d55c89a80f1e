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
            sig = joint([p[h, s] for p in policy])
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
    return sigma, weights.sum(), pis


def _alpha_matrix(H, T):
    """A[t-1, j-1] = alpha^j_t = alpha_j prod_{k=j+1}^t (1 - alpha_k), j <= t."""
    alpha = np.array([(H + 1) / (H + t) for t in range(1, T + 1)])
    A = np.zeros((T, T))
    for t in range(T):
        for j in range(t + 1):
            A[t, j] = alpha[j] * np.prod(1 - alpha[j + 1 : t + 1])
    return A


def nested_index_policy_values(rewards, P, initial, pis):
    """Seed 002's output policy (Algorithm 2, nested shared index; research/
    seed-002.md section 2): its values V (N,), the values B_idx (N,) of the best
    deviation by a player who *sees* the index, and B (N,) of the best
    deviation by a player who sees states and everybody's past actions but not
    the index (a history-dependent best response on the belief over the index).

    pis[j][i] is player i's policy (H, S, A_i) at iteration j + 1.
    """
    n, H, S = rewards.shape[:3]
    acts = rewards.shape[3:]
    T = len(pis)
    A = _alpha_matrix(H, T)
    Ph = [P[h if P.shape[0] > 1 else 0] for h in range(H)]
    sig = [[[joint([pis[j][i][h, s] for i in range(n)]) for s in range(S)]
            for h in range(H)] for j in range(T)]  # fmt: skip

    def others(j, h, s, i):
        return joint(
            [pis[j][k][h, s] if k != i else np.ones(acts[i]) for k in range(n)]
        )

    # Lemma 8 / index-aware deviation: DP over (iteration t, step h, state s).
    V = np.zeros((T, H + 1, n, S))
    Bx = np.zeros((T, H + 1, n, S))
    for h in reversed(range(H)):
        for t in range(T):
            for s in range(S):
                for i in range(n):
                    v, dev = 0.0, np.zeros(acts[i])
                    for j in range(t + 1):
                        w = A[t, j]
                        q = rewards[i, h, s] + Ph[h][s] @ V[j, h + 1, i]
                        v += w * np.sum(sig[j][h][s] * q)
                        qb = rewards[i, h, s] + Ph[h][s] @ Bx[j, h + 1, i]
                        dev += w * np.moveaxis(others(j, h, s, i) * qb, i, 0).reshape(
                            acts[i], -1
                        ).sum(-1)
                    V[t, h, i, s], Bx[t, h, i, s] = v, dev.max()

    def hidden(i, h, s, belief):
        """Best value from step h, state s, belief over the current index."""
        if h == H:
            return 0.0
        best = -np.inf
        pred = [others(j, h, s, i) for j in range(T)]
        total = np.zeros(acts)
        cont = np.zeros(acts)
        for a in itertools.product(*[range(k) for k in acts]):
            if a[i] != 0:
                continue
            like = np.array([pred[j][a] for j in range(T)]) * belief
            mass = like.sum()
            if mass <= 0:
                continue
            nxt = (like / mass) @ A  # next index j' <= j with alpha^{j'}_j
            w_next = np.array([hidden(i, h + 1, s2, nxt) for s2 in range(S)])
            for ai in range(acts[i]):
                b = list(a)
                b[i] = ai
                total[tuple(b)] = mass
                cont[tuple(b)] = (
                    rewards[i, h, s][tuple(b)] + Ph[h][s][tuple(b)] @ w_next
                )
        for ai in range(acts[i]):
            best = max(best, np.sum(np.take(total * cont, ai, axis=i)))
        return best

    top = A[T - 1]
    values = np.array([initial @ V[T - 1, 0, i] for i in range(n)])
    index_aware = np.array([initial @ Bx[T - 1, 0, i] for i in range(n)])
    history = np.array(
        [
            sum(initial[s] * hidden(i, 0, s, top) for s in range(S) if initial[s] > 0)
            for i in range(n)
        ]
    )
    return values, index_aware, history


# --- Markov potential games (seed 000 section 4, seed 001) -------------------


def _others_average(q, policy_s, i):
    """E_{a_{-i}} q(a) for one state: q (*A), policy_s per-player vectors."""
    w = joint([np.ones_like(p) if j == i else p for j, p in enumerate(policy_s)])
    return np.moveaxis(w * q, i, 0).reshape(q.shape[i], -1).sum(-1)


def simplex_projection(y, iters=200):
    """Euclidean projection onto the simplex by bisection on the threshold."""
    lo, hi = np.min(y) - 1.0, np.max(y)
    for _ in range(iters):
        tau = 0.5 * (lo + hi)
        if np.maximum(y - tau, 0).sum() > 1:
            lo = tau
        else:
            hi = tau
    return np.maximum(y - 0.5 * (lo + hi), 0)


def finite_averaged_q(rewards, P, policy):
    """Qbar_i (H, S, A_i) of a product policy, by backward induction."""
    n, H, S = rewards.shape[:3]
    V = np.zeros((n, S))
    qbar = [np.zeros((H, S, rewards.shape[3 + i])) for i in range(n)]
    for h in reversed(range(H)):
        Ph = P[h if P.shape[0] > 1 else 0]
        newV = np.zeros((n, S))
        for s in range(S):
            pol = [policy[i][h, s] for i in range(n)]
            sig = joint(pol)
            for i in range(n):
                q = rewards[i, h, s] + Ph[s] @ V[i]
                newV[i, s] = np.sum(sig * q)
                qbar[i][h, s] = _others_average(q, pol, i)
        V = newV
    return qbar


def discounted_q(rewards, P, gamma, policy):
    """(V (M, S), Q (M, S, *A), P_pi (S, S)) of a discounted product policy,
    for M reward tables (M need not be the number of players)."""
    n, S = rewards.shape[:2]
    Pd = P[0]
    Ppi = np.zeros((S, S))
    rpi = np.zeros((n, S))
    for s in range(S):
        sig = joint([p[s] for p in policy])
        Ppi[s] = np.tensordot(sig, Pd[s], axes=sig.ndim)
        rpi[:, s] = [np.sum(sig * rewards[i, s]) for i in range(n)]
    V = np.linalg.solve(np.eye(S) - gamma * Ppi, rpi.T).T
    Q = rewards + gamma * np.einsum("s...t,nt->ns...", Pd, V)
    return V, Q, Ppi


def discounted_averaged_q(rewards, P, gamma, policy):
    V, Q, _ = discounted_q(rewards, P, gamma, policy)
    S = rewards.shape[1]
    return [
        np.array(
            [_others_average(Q[i, s], [p[s] for p in policy], i) for s in range(S)]
        )
        for i in range(len(policy))
    ]


def projected_q_descent(rewards, P, alpha, T, init, gamma=None):
    """Seed 000 eq. (7); finite horizon (gamma None) or discounted."""
    pol = [np.array(p, float) for p in init]
    for _ in range(T):
        if gamma is None:
            qbar = finite_averaged_q(rewards, P, pol)
        else:
            qbar = discounted_averaged_q(rewards, P, gamma, pol)
        pol = [
            np.apply_along_axis(simplex_projection, -1, p + alpha * q)
            for p, q in zip(pol, qbar, strict=True)
        ]
    return pol


def visitation(P, initial, gamma, policy, rewards):
    _, _, Ppi = discounted_q(rewards, P, gamma, policy)
    S = Ppi.shape[0]
    return (1 - gamma) * np.linalg.solve((np.eye(S) - gamma * Ppi).T, initial)


def softmax_gradient(rewards, P, initial, gamma, policy):
    """Seed 000 eq. (45): d(s) pi_i(a_i|s) Abar_i(s, a_i) / (1 - gamma)."""
    V, _, _ = discounted_q(rewards, P, gamma, policy)
    d = visitation(P, initial, gamma, policy, rewards)
    qbar = discounted_averaged_q(rewards, P, gamma, policy)
    return [
        d[:, None] * p * (q - V[i][:, None]) / (1 - gamma)
        for i, (p, q) in enumerate(zip(policy, qbar, strict=True))
    ]


def hessian_lemma15(phi, P, initial, gamma, policy):
    """Seed 000 Lemma 15: the softmax Hessian of Phi, flattened per player (S, A_i).

    H_ij = 1/(1-g) sum_{s,a} d(s,a) [Q g_i g_j^T + Q dd_ij log pi + g_i (grad_j Q)^T
    + (grad_i Q) g_j^T], g_i = grad_{theta_i} log pi(a|s). The last term is the
    paper's "(H_12^{i,j})^T", read as (H_12^{j,i})^T so that the shapes agree.
    """
    n, S = len(policy), phi.shape[0]
    acts = phi.shape[1:]
    rewards = phi[None]
    V, Q, Ppi = discounted_q(rewards, P, gamma, policy)
    V, Q = V[0], Q[0]
    inv = np.linalg.inv(np.eye(S) - gamma * Ppi)
    d = (1 - gamma) * initial @ inv
    offsets = np.cumsum([0] + [S * a for a in acts])
    dim = offsets[-1]

    def idx(i, s, b):
        return offsets[i] + s * acts[i] + b

    # grad_theta V(s') for every start state s': rows of (1-g) inv as visitation.
    gradV = np.zeros((S, dim))
    for s0 in range(S):
        d0 = (1 - gamma) * inv[s0]
        for j in range(n):
            for s in range(S):
                abar = _others_average(Q[s], [p[s] for p in policy], j) - V[s]
                for b in range(acts[j]):
                    gradV[s0, idx(j, s, b)] = (
                        d0[s] * policy[j][s, b] * abar[b] / (1 - gamma)
                    )
    H = np.zeros((dim, dim))
    for s in range(S):
        pol = [p[s] for p in policy]
        sig = joint(pol)
        for a in itertools.product(*[range(k) for k in acts]):
            w = d[s] * sig[a] / (1 - gamma)
            g = np.zeros(dim)
            for i in range(n):
                for b in range(acts[i]):
                    g[idx(i, s, b)] = float(b == a[i]) - pol[i][b]
            gq = gamma * P[0][s][a] @ gradV  # grad_theta Q(s, a)
            H += w * (Q[s][a] * np.outer(g, g) + np.outer(g, gq) + np.outer(gq, g))
            for i in range(n):
                block = -(np.diag(pol[i]) - np.outer(pol[i], pol[i]))
                sl = slice(idx(i, s, 0), idx(i, s, 0) + acts[i])
                H[sl, sl] += w * Q[s][a] * block
    return H


def matlab_softmax_play(R, kind, eta, T, init, lam=0.0, two_agent_clip=False):
    """Seed 001's MATLAB scripts (research/seed-001.md 4.2), probability space.

    R: identical-interest payoff (A_1, .., A_n). Returns per pre-update iterate
    t = 1..T: potential, NE-gap, c (first argmax) and the policies.
    """
    pis = [np.array(p, float) for p in init]
    phi, gap, c, traj = [], [], [], []
    for _ in range(T):
        qs = [_others_average(R, pis, i) for i in range(len(pis))]
        v = float(pis[0] @ qs[0])
        phi.append(v)
        gap.append(max(np.max(q) for q in qs) - v)
        c.append(min(p[np.argmax(q)] for p, q in zip(pis, qs, strict=True)))
        traj.append(pis)
        new = []
        for p, q in zip(pis, qs, strict=True):
            A = len(p)
            if kind == "GP":
                w = eta * (q - v) * p
            elif kind == "NGP":
                w = eta * q
            elif kind == "LBGP":
                w = eta * ((q - v) * p + lam * (1 - A * p))
            elif two_agent_clip:
                w = np.clip(eta * q + eta * lam / p, -1, 1)
            else:
                w = np.clip(eta * ((q - v) * p + lam * (1 - A * p)) / p, -1, 1)
            x = p * np.exp(w)
            new.append(x / x.sum())
        pis = new
    return np.array(phi), np.array(gap), np.array(c), traj
