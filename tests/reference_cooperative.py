"""Independent NumPy references for cooperative games (Zhao, Yang, Wang, Lee,
ICML 2023): brute force over joint actions, value iteration, MA-PPO, softmax PG.

Nothing here calls marlmeta; loops go over explicit joint actions.
"""

import itertools

import numpy as np


def joint_actions(num_actions):
    return list(itertools.product(*[range(a) for a in num_actions]))


def joint_policy(tables, num_states, num_actions):
    """``pi(a|s) = prod_m tables[m][s, a_0..a_m]`` by explicit products."""
    out = np.zeros((num_states, *num_actions))
    for s in range(num_states):
        for a in joint_actions(num_actions):
            p = 1.0
            for m in range(len(num_actions)):
                p *= tables[m][(s, *a[: m + 1])]
            out[(s, *a)] = p
    return out


def policy_value(r, p, gamma, joint):
    """``V = (I - gamma P_pi)^{-1} r_pi`` for ``r (S, *A)``, ``p (S, *A, S)``."""
    s = r.shape[0]
    r_pi = np.array([(joint[k] * r[k]).sum() for k in range(s)])
    p_pi = np.array(
        [np.tensordot(joint[k], p[k], axes=joint[k].ndim) for k in range(s)]
    )
    return np.linalg.solve(np.eye(s) - gamma * p_pi, r_pi), p_pi


def joint_q(r, p, gamma, joint):
    v, _ = policy_value(r, p, gamma, joint)
    return r + gamma * p @ v


def localized_q(r, p, gamma, tables):
    """``Q^{1:m}(s, a_{<=m}) = sum_{a_{>m}} prod_{i>m} pi^i(a_i|s,a_{<i}) Q(s, a)``
    by enumerating every suffix."""
    s, acts = r.shape[0], r.shape[1:]
    n = len(acts)
    q = joint_q(r, p, gamma, joint_policy(tables, s, acts))
    out = []
    for m in range(n):
        qm = np.zeros((s, *acts[: m + 1]))
        for k in range(s):
            for a in joint_actions(acts):
                w = 1.0
                for i in range(m + 1, n):
                    w *= tables[i][(k, *a[: i + 1])]
                qm[(k, *a[: m + 1])] += w * q[(k, *a)]
        out.append(qm)
    return out


def optimal_value(r, p, gamma, tol=1e-15, max_iter=100_000):
    """Value iteration on the joint-action MDP to a fixed point."""
    s = r.shape[0]
    rf, pf = r.reshape(s, -1), p.reshape(s, -1, s)
    v = np.zeros(s)
    for _ in range(max_iter):
        new = (rf + gamma * pf @ v).max(axis=1)
        if np.max(np.abs(new - v)) < tol:
            return new
        v = new
    return v


def occupancy(p_pi, gamma, rho):
    """``d(s) = (1 - gamma) rho^T (I - gamma P_pi)^{-1}``."""
    return (1 - gamma) * np.linalg.solve((np.eye(len(rho)) - gamma * p_pi).T, rho)


def ma_ppo(r, p, gamma, eta, num_steps):
    """Exact tabular MA-PPO: ``theta^m += eta Q^{1:m}`` from uniform logits;
    returns every iterate's tables (``num_steps + 1`` of them)."""
    s, acts = r.shape[0], r.shape[1:]
    theta = [np.zeros((s, *acts[: m + 1])) for m in range(len(acts))]
    history = []
    for _ in range(num_steps + 1):
        tables = [np.exp(t - t.max(-1, keepdims=True)) for t in theta]
        tables = [t / t.sum(-1, keepdims=True) for t in tables]
        history.append(tables)
        qs = localized_q(r, p, gamma, tables)
        theta = [t + eta * q for t, q in zip(theta, qs, strict=True)]
    return history


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def product_gradient(r, p, gamma, rho, theta):
    """Exact gradient of ``J = rho @ V`` in every agent's product-softmax logits:
    ``d(s) pi_i(a_i|s) (Qbar_i(s, a_i) - V(s)) / (1 - gamma)`` by enumeration."""
    s, acts = r.shape[0], r.shape[1:]
    pols = [softmax(t) for t in theta]
    joint = np.zeros((s, *acts))
    for k in range(s):
        for a in joint_actions(acts):
            joint[(k, *a)] = np.prod([pols[i][k, a[i]] for i in range(len(acts))])
    v, p_pi = policy_value(r, p, gamma, joint)
    q = r + gamma * p @ v
    d = occupancy(p_pi, gamma, rho)
    grads = []
    for i in range(len(acts)):
        qbar = np.zeros((s, acts[i]))
        for k in range(s):
            for a in joint_actions(acts):
                w = np.prod([pols[j][k, a[j]] for j in range(len(acts)) if j != i])
                qbar[k, a[i]] += w * q[(k, *a)]
        grads.append(d[:, None] * pols[i] * (qbar - v[:, None]) / (1 - gamma))
    return grads, rho @ v


def independent_pg(r, p, gamma, rho, eta, num_steps):
    """Independent softmax PG from uniform logits; every iterate's policies."""
    s, acts = r.shape[0], r.shape[1:]
    theta = [np.zeros((s, a)) for a in acts]
    history = []
    for _ in range(num_steps + 1):
        history.append([softmax(t) for t in theta])
        grads, _ = product_gradient(r, p, gamma, rho, theta)
        theta = [t + eta * g for t, g in zip(theta, grads, strict=True)]
    return history
