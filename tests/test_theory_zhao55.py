"""Zhao et al. Theorem 5.5 (pessimistic MA-PPO with linear features): the
bound written out in NumPy on a tiny game, and never below the measured
average gap on random cooperative games with random features."""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import marlmeta as M

S = M.solvers
T = M.theory
STATES, ACTIONS, DIM, K = 2, (2, 2), 3, 12


def _features(seed, num_states=STATES, dim=DIM):
    rng = np.random.default_rng(seed)
    return tuple(
        jnp.asarray(rng.normal(size=(num_states, *ACTIONS[: m + 1], dim)))
        for m in range(len(ACTIONS))
    )


def _games(seed, batch):
    return M.games.random_cooperative(
        jr.key(seed), batch, ACTIONS, STATES, 0.8, dtype=jnp.float64
    )


def _np_values(P, r, joint, gamma):
    """``V`` of a joint policy ``(S, A0, A1)`` by one linear solve."""
    r_pi = np.einsum("sab,sab->s", joint, r)
    p_pi = np.einsum("sab,sabt->st", joint, P)
    return np.linalg.solve(np.eye(len(r_pi)) - gamma * p_pi, r_pi), p_pi


def _np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


ETA, LAM, N_SAMPLES, BATCH = 0.4, 20.0, 32, 8


def _solver(feats, key):
    return S.PessimisticMAPPO(ETA, feats, key, pessimism=LAM, num_samples=N_SAMPLES)


@jax.jit
def _bounds(games, feats, key):
    """Theorem 5.5 at ``k = 3, K`` and the measured average gaps, per game."""

    def one(game, k):
        solver = _solver(feats, k)
        traj = T.pessimistic_trajectory(solver, game, K)
        b = T.zhao_theorem55(game, solver, [3, K], trajectory=traj)
        avg = jnp.stack([traj.gap[:3].mean(), traj.gap.mean()])
        return b, avg, traj

    return jax.vmap(one)(games, jr.split(key, games.batch_shape[0]))


@settings(max_examples=3, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_theorem55_bounds_the_average_gap(seed):
    bound, avg, _ = _bounds(_games(seed, BATCH), _features(seed), jr.key(seed))
    assert np.all(np.isfinite(bound.value))
    assert np.all(avg >= -1e-12)
    assert np.all(bound.value >= avg)


def test_theorem55_written_out():
    games, feats = _games(3, BATCH), _features(4)
    bound, _, traj = _bounds(games, feats, jr.key(5))
    game = M.games.unstack(games)[0]
    solver = _solver(feats, jr.split(jr.key(5), BATCH)[0])
    gamma = float(game.discount)
    r = np.asarray(game.rewards[0])
    P = np.asarray(jnp.moveaxis(game.next_state_tensor(jnp.float64), 0, -1))
    rho = np.asarray(game.initial)
    # pi* by brute force over the deterministic joint policies
    best = None
    for choice in itertools.product(range(4), repeat=STATES):
        joint = np.zeros((STATES, 4))
        joint[np.arange(STATES), choice] = 1
        v, p_pi = _np_values(P, r, joint.reshape(STATES, 2, 2), gamma)
        if best is None or rho @ v > best[0] + 1e-12:
            best = (rho @ v, choice, p_pi)
    j_star, choice, p_star = best
    a_star = np.array([divmod(c, 2) for c in choice])  # (S, 2)
    d_star = (1 - gamma) * np.linalg.solve(np.eye(STATES) - gamma * p_star.T, rho)
    f = [np.asarray(x) for x in feats]
    theta = [np.zeros(DIM), np.zeros(DIM)]
    critics = eqx.filter_jit(solver.critics)
    key = solver.key
    gaps, kl0, hedge, err = [], None, [], []
    for k in range(K):
        key, sub = jr.split(key)
        ws = [np.asarray(w) for w in critics(game, tuple(theta), sub)]
        p0 = _np_softmax(f[0] @ theta[0])  # (S, A0)
        p1 = _np_softmax(f[1] @ theta[1])  # (S, A0, A1)
        v, _ = _np_values(P, r, p0[..., None] * p1, gamma)
        q = r + gamma * P @ v  # (S, A0, A1)
        qs = [np.einsum("sab,sab->sa", p1, q), q]
        gaps.append(j_star - rho @ v)
        if k == 0:
            kl0 = sum(
                d_star[s]
                * -np.log(p[s] if m == 0 else p[s, a_star[s, 0]])[a_star[s, m]]
                for m, p in enumerate((p0, p1))
                for s in range(STATES)
            )
        h = e = 0.0
        for s in range(STATES):
            for m in range(2):
                pre = (s,) if m == 0 else (s, a_star[s, 0])
                crit = f[m][pre] @ ws[m]
                h += d_star[s] * np.ptp(crit) ** 2
                e += d_star[s] * np.ptp(qs[m][pre] - crit)
        hedge.append(h)
        err.append(e)
        theta = [t + ETA * w for t, w in zip(theta, ws, strict=True)]
    np.testing.assert_allclose(traj.gap[0], gaps, rtol=1e-9, atol=1e-12)
    for i, t in enumerate((3, K)):
        want = kl0 / (ETA * t) + ETA * sum(hedge[:t]) / (8 * t) + sum(err[:t]) / t
        np.testing.assert_allclose(bound.value[0, i], want / (1 - gamma), rtol=1e-9)
        assert bound.value[0, i] >= np.mean(gaps[:t])
    # the reconstructed statement: Term I (Lemma C.6) + Term II (Lemmas C.2, C.7)
    wn = max(float(jnp.max(traj.critic_norm[0])), 1.0)
    tn = max(float(jnp.max(traj.theta_norm[0])), 1.0)
    eps = DIM * np.log(N_SAMPLES * wn * tn / 0.05) / ((1 - gamma) ** 2 * N_SAMPLES)
    term1 = 2 * (np.log(2) / (ETA * K) + 2 * ETA / (1 - gamma) ** 2) / (1 - gamma)
    conc = STATES * 4 * d_star.max()
    term2 = (
        np.sqrt(conc)
        / (1 - gamma)
        * (np.sqrt(eps) + np.sqrt(eps + 1 / (LAM * (1 - gamma))))
        + LAM * eps
    )
    np.testing.assert_allclose(bound.printed[0, 1], term1 + term2, rtol=1e-9)
    # the proof's step gives the statement's Term I,
    # 2 N sqrt(2 log|A|) / ((1-g)^2 sqrt K)
    eta = (1 - gamma) * np.sqrt(np.log(2) / (2 * 100))
    lhs = 2 * (np.log(2) / (eta * 100) + 2 * eta / (1 - gamma) ** 2) / (1 - gamma)
    np.testing.assert_allclose(
        lhs, 2 * 2 * np.sqrt(2 * np.log(2)) / ((1 - gamma) ** 2 * 10), rtol=1e-12
    )
    lam = T.zhao_theorem55_pessimism(eps, gamma)
    np.testing.assert_allclose(lam, eps ** (-2 / 3) / (1 - gamma), rtol=1e-12)


def test_theorem55_bad_input():
    game = M.games.unstack(_games(0, 1))[0]
    solver = S.PessimisticMAPPO(0.3, _features(0), jr.key(0))
    with pytest.raises(ValueError, match="num_steps"):
        T.zhao_theorem55(game, solver, 0)
    with pytest.raises(ValueError, match="delta"):
        T.zhao_theorem55(game, solver, 3, delta=1.5)
