"""NumPy reference of Algorithm 1 with local observations (ALGORITHMS.md §2, §11).

Explicit loops over states and a dense kernel; no marlmeta code inside.
"""

from __future__ import annotations

import numpy as np


def _stage_lengths(H, T):
    out, length, left = [], H, T
    while left > 0:
        out.append(min(length, left))
        left -= length
        length = ((H + 1) * length) // H
    return out


def _lift(table, obs):
    H, S = obs.shape
    return np.array([[table[h, obs[h, s]] for s in range(S)] for h in range(H)])


def _reach(P, initial, p0, p1):
    H, S = p0.shape[:2]
    c = np.zeros((H, S))
    c[0] = initial
    for h in range(H - 1):
        for s in range(S):
            joint = np.outer(p0[h, s], p1[h, s])
            c[h + 1] += c[h, s] * np.einsum("ab,abt->t", joint, P[h, s])
    return c


def _pool(x, obs, num):
    out = np.zeros((obs.shape[0], num) + x.shape[2:])
    for h in range(obs.shape[0]):
        for s in range(obs.shape[1]):
            out[h, obs[h, s]] += x[h, s]
    return out


def _feedback(Q, P, initial, obs, nums, mu, nu):
    mus, nus = _lift(mu, obs[0]), _lift(nu, obs[1])
    H, S = mus.shape[:2]
    c0 = _reach(P, initial, np.full_like(mus, 1 / mus.shape[-1]), nus)
    c1 = _reach(P, initial, mus, np.full_like(nus, 1 / nus.shape[-1]))
    q_nu = np.einsum("hsab,hsb->hsa", Q, nus)
    mu_q = np.einsum("hsa,hsab->hsb", mus, Q)

    def average(x, c, o, n):
        num, mass = _pool(c[..., None] * x, o, n), _pool(c, o, n)
        out = np.zeros_like(num)
        pos = mass > 0
        out[pos] = num[pos] / mass[pos][:, None]
        return out

    g_mu = average(q_nu, c0, obs[0], nums[0])
    g_nu = average(mu_q, c1, obs[1], nums[1])
    v = np.einsum("hsa,hsa->hs", mus, q_nu)
    return g_mu, g_nu, v, _pool(c1, obs[0], nums[0]), _pool(c0, obs[1], nums[1])


def _normalise(x):
    return x / x.sum(-1, keepdims=True)


def _argmax_uniform(x):
    m = x.max(-1, keepdims=True)
    ties = (x >= m - 1e-12 * (1 + np.abs(m))).astype(float)
    return ties / ties.sum(-1, keepdims=True)


def observed_omd(reward0, P, initial, obs, nums, eta, T, mu_init, nu_init):
    """Returns ``(mu_bar, nu_bar, mu_br, nu_br)`` (own-reach-weighted average)."""
    H, S, A, B = reward0.shape
    Q = np.zeros((H, S, A, B))
    mu_hat, mu, nu_hat, nu = mu_init[0], mu_init[0], nu_init[0], nu_init[0]
    g_mu, g_nu = np.zeros_like(mu), np.zeros_like(nu)
    sums = [np.zeros_like(mu), np.zeros_like(nu)]
    mass = [np.zeros(mu.shape[:2]), np.zeros(nu.shape[:2])]
    plain = [np.zeros_like(mu), np.zeros_like(nu)]
    mu_br, nu_br = np.full(mu_init.shape, 1 / A), np.full(nu_init.shape, 1 / B)
    t = 0
    for k, length in enumerate(_stage_lengths(H, T)):
        vsum, gs_mu, gs_nu = np.zeros((H, S)), np.zeros_like(mu), np.zeros_like(nu)
        for _ in range(length):
            mu_hat = _normalise(mu_hat * np.exp(eta * g_mu))
            mu = _normalise(mu_hat * np.exp(eta * g_mu))
            nu_hat = _normalise(nu_hat * np.exp(-eta * g_nu))
            nu = _normalise(nu_hat * np.exp(-eta * g_nu))
            g_mu, g_nu, v, w_mu, w_nu = _feedback(Q, P, initial, obs, nums, mu, nu)
            vsum, gs_mu, gs_nu = vsum + v, gs_mu + g_mu, gs_nu + g_nu
            sums[0] += w_mu[..., None] * mu
            sums[1] += w_nu[..., None] * nu
            mass[0] += w_mu
            mass[1] += w_nu
            plain[0] += mu
            plain[1] += nu
            t += 1
        mu_br[k], nu_br[k] = _argmax_uniform(gs_mu), _argmax_uniform(-gs_nu)
        v_next = np.concatenate([vsum[1:] / length, np.zeros((1, S))])
        Q = reward0 + np.einsum("hsabt,ht->hsab", P, v_next)
        nxt = min(k + 1, len(mu_init) - 1)
        mu_hat = mu = mu_init[nxt]
        nu_hat = nu = nu_init[nxt]
        g_mu, g_nu, *_ = _feedback(Q, P, initial, obs, nums, mu, nu)
    out = [
        np.where(m[..., None] > 0, s / np.where(m > 0, m, 1)[..., None], p / t)
        for s, m, p in zip(sums, mass, plain, strict=True)
    ]
    return out[0], out[1], mu_br, nu_br
