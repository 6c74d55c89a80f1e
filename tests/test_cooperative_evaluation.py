"""Autoregressive policies and the exact quantities of cooperative games,
against the NumPy brute force of ``tests/reference_cooperative.py``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
from marlmeta.policies import AutoregressivePolicy
from tests import reference_cooperative as ref

ACTIONS = (2, 3, 2)


def _game(seed=0, actions=ACTIONS, states=3, gamma=0.9):
    g = M.games.random_cooperative(
        jax.random.key(seed), 1, actions, states, gamma, dtype=jnp.float64
    )
    return M.games.unstack(g)[0]


def _arrays(g):
    r = np.asarray(g.reward_model.reward)
    p = np.asarray(g.transitions.dense())[0]
    return r, p, float(g.discount), np.asarray(g.initial)


def _policy(g, seed):
    return M.policies.random_autoregressive(g, key=jax.random.key(seed), scale=1.5)


LOCALIZED_Q = jax.jit(M.evaluation.localized_q)
GAP = jax.jit(M.evaluation.optimality_gap, static_argnames="measure")


def test_localized_q_equals_brute_force_and_marginalises():
    g = _game()
    r, p, gamma, _ = _arrays(g)
    pi = _policy(g, 1)
    qs = LOCALIZED_Q(g, pi)
    want = ref.localized_q(r, p, gamma, [np.asarray(t) for t in pi])
    assert [q.shape for q in qs] == [(3, 2), (3, 2, 3), (3, 2, 3, 2)]
    for q, w in zip(qs, want, strict=True):
        np.testing.assert_allclose(q, w, atol=1e-12)
    # sum_{a_m} pi^m Q^{1:m} = Q^{1:m-1} and sum_{a_0} pi^0 Q^{1:1} = V.
    for m in range(1, 3):
        np.testing.assert_allclose(
            np.sum(np.asarray(pi[m]) * np.asarray(qs[m]), -1), qs[m - 1], atol=1e-12
        )
    v, _ = ref.policy_value(r, p, gamma, ref.joint_policy(list(pi), 3, ACTIONS))
    np.testing.assert_allclose(np.sum(np.asarray(pi[0]) * qs[0], -1), v, atol=1e-12)
    # A plain tuple of tables is the same policy; a product policy is the
    # autoregressive policy that ignores the prefix.
    np.testing.assert_allclose(
        M.evaluation.localized_q(g, tuple(pi))[1], qs[1]
    )  # eager
    prod = M.policies.random_policy(g, key=jax.random.key(2))
    tables = [np.asarray(t) for t in M.policies.from_product(prod)]
    for q, w in zip(
        LOCALIZED_Q(g, M.policies.ProductPolicy(prod)),
        ref.localized_q(r, p, gamma, tables),
        strict=True,
    ):
        np.testing.assert_allclose(q, w, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lemma_b3_and_lemma_4_1(seed):
    """Lemma B.3: ``A^{1:m} = sum_{i<=m} A^i``; Lemma 4.1: ``J(pi') - J(pi) =
    1/(1-gamma) sum_m E_{d^{pi'}_rho} E_{a_{<m} ~ pi'} <Q^{1:m}_pi, pi'^m - pi^m>``
    (the multi-agent performance difference), both to 1e-12."""
    g = _game(seed)
    r, p, gamma, rho = _arrays(g)
    pi, pi2 = _policy(g, 10 + seed), _policy(g, 20 + seed)
    qs = [np.asarray(q) for q in LOCALIZED_Q(g, pi)]
    ref_qs = ref.localized_q(r, p, gamma, [np.asarray(t) for t in pi])
    v, _ = ref.policy_value(r, p, gamma, ref.joint_policy(list(pi), 3, ACTIONS))
    prev = v
    total = 0.0
    for m in range(3):
        adv_m = qs[m] - prev.reshape(prev.shape + (1,))  # A^m(s, a_{<m}, a_m)
        total = np.expand_dims(total, -1) + adv_m if m else adv_m
        np.testing.assert_allclose(
            total,
            ref_qs[m] - v.reshape((-1,) + (1,) * (m + 1)),
            atol=1e-12,
        )
        prev = qs[m]
    # Lemma 4.1 with d^{pi'}_rho.
    joint2 = ref.joint_policy([np.asarray(t) for t in pi2], 3, ACTIONS)
    v2, p_pi2 = ref.policy_value(r, p, gamma, joint2)
    d2 = ref.occupancy(p_pi2, gamma, rho)
    rhs = 0.0
    prefix = np.ones((3,))  # pi'^{1:m-1}(a_{<m} | s)
    for m in range(3):
        diff = np.asarray(pi2[m]) - np.asarray(pi[m])
        inner = np.sum(qs[m] * diff, axis=-1)  # (S, A_0..A_{m-1})
        weight = prefix * d2.reshape((-1,) + (1,) * m)
        rhs += np.sum(weight * inner) / (1 - gamma)
        prefix = prefix[..., None] * np.asarray(pi2[m])
    lhs = rho @ v2 - rho @ v
    assert abs(lhs - rhs) < 1e-12 and abs(lhs) > 1e-3
    # Library values agree with the reference.
    np.testing.assert_allclose(M.evaluation.values(g, pi2)[0], rho @ v2, atol=1e-12)


def test_optimal_value_and_gaps():
    g = _game(3, states=4)
    r, p, gamma, rho = _arrays(g)
    vstar = ref.optimal_value(r, p, gamma)
    np.testing.assert_allclose(
        jax.jit(M.evaluation.optimal_value)(g), vstar, atol=1e-12
    )
    pi = _policy(g, 4)
    v, _ = ref.policy_value(
        r, p, gamma, ref.joint_policy([np.asarray(t) for t in pi], 4, ACTIONS)
    )
    gap = GAP(g, pi)
    np.testing.assert_allclose(gap, rho @ (vstar - v), atol=1e-12)
    # The stationary measure nu* of the optimal policy (section 4): the
    # eigenvector of P_{pi*} for eigenvalue 1; the optimal joint action is the
    # greedy one of Q*.
    q = (r + gamma * p @ vstar).reshape(4, -1)
    best = q.argmax(-1)
    p_star = p.reshape(4, -1, 4)[np.arange(4), best]
    w, vecs = np.linalg.eig(p_star.T)
    nu = np.real(vecs[:, np.argmin(np.abs(w - 1))])
    nu /= nu.sum()
    gap_nu = GAP(g, pi, measure="stationary")
    np.testing.assert_allclose(gap_nu, nu @ (vstar - v), atol=1e-12)
    # Lemma 4.1 with nu*: J(pi*) - J(pi) under nu* by the localized values.
    star = np.zeros((4, int(np.prod(ACTIONS))))
    star[np.arange(4), best] = 1.0
    star = star.reshape(4, *ACTIONS)
    qs = [np.asarray(x) for x in LOCALIZED_Q(g, pi)]
    rhs, prefix = 0.0, nu.copy()
    for m in range(3):
        # pi*^m(a_m | s, a_{<m}): the optimal action's conditional (one-hot).
        marg = star.sum(axis=tuple(range(m + 2, 4)))  # (S, A_0..A_m)
        cond = marg / np.maximum(marg.sum(-1, keepdims=True), 1e-300)
        inner = np.sum(qs[m] * (cond - np.asarray(pi[m])), axis=-1)
        rhs += np.sum(prefix * inner) / (1 - gamma)
        prefix = prefix[..., None] * cond
    np.testing.assert_allclose(gap_nu, rhs, atol=1e-12)
    assert float(gap) > 0 and float(gap_nu) > 0
    with pytest.raises(ValueError, match="measure"):
        M.evaluation.optimality_gap(g, pi, measure="rho")


def test_stationary_distribution_not_unique_raises():
    p = np.eye(2)
    with pytest.raises(ValueError, match="more than one stationary"):
        M.evaluation.stationary_distribution(jnp.asarray(p))
    assert np.isnan(jax.jit(M.evaluation.stationary_distribution)(p)).all()


def test_gap_gradient_matches_finite_differences():
    g = _game(6, actions=(2, 2), states=2)
    theta = tuple(
        jax.random.normal(jax.random.key(k), s, jnp.float64)
        for k, s in enumerate([(2, 2), (2, 2, 2)])
    )

    @jax.jit
    def gap(th):
        return M.evaluation.optimality_gap(g, M.policies.autoregressive_softmax(th))

    grad = jax.jit(jax.grad(gap))(theta)
    eps = 1e-6
    for m in range(2):
        for idx in np.ndindex(theta[m].shape):
            up = list(theta)
            up[m] = theta[m].at[idx].add(eps)
            dn = list(theta)
            dn[m] = theta[m].at[idx].add(-eps)
            fd = (gap(tuple(up)) - gap(tuple(dn))) / (2 * eps)
            assert abs(fd - grad[m][idx]) < 1e-7


def test_autoregressive_policy_in_every_metric_through_its_joint():
    g = _game(7)
    pi = _policy(g, 8)
    joint = M.policies.autoregressive_joint(pi)
    np.testing.assert_allclose(
        joint, ref.joint_policy([np.asarray(t) for t in pi], 3, ACTIONS), atol=1e-15
    )
    for f in (M.evaluation.values, jax.jit(M.evaluation.cce_gap)):
        np.testing.assert_allclose(f(g, pi), f(g, joint), atol=1e-12)
    np.testing.assert_allclose(
        M.evaluation.averaged_q(g, pi)[1], M.evaluation.averaged_q(g, joint)[1]
    )
    # Logits round trip; the uniform policy.
    back = M.policies.autoregressive_softmax(M.policies.autoregressive_logits(pi))
    np.testing.assert_allclose(back[2], pi[2], atol=1e-12)
    uni = M.policies.autoregressive_uniform(g)
    np.testing.assert_allclose(uni.joint(), 1 / 12)
    # NumPy and list tables are accepted.
    as_np = AutoregressivePolicy(tuple(jnp.asarray(np.asarray(t)) for t in pi))
    np.testing.assert_allclose(
        M.evaluation.values(g, as_np), M.evaluation.values(g, pi)
    )


def test_bad_autoregressive_tables_are_rejected():
    g = _game()
    pi = list(_policy(g, 1))
    with pytest.raises(ValueError, match=r"policy\[1\] has shape \(3, 2\); expected"):
        M.evaluation.values(g, AutoregressivePolicy((pi[0], pi[0], pi[2])))
    with pytest.raises(ValueError, match="2 autoregressive tables; the game has 3"):
        M.evaluation.localized_q(g, tuple(pi[:2]))
    off = pi[2].at[1, 0, 2, 0].set(0.9)
    with pytest.raises(ValueError, match=r"policy\[2\]\[1, 0, 2\] sums to 1.\d+"):
        M.evaluation.localized_q(g, (pi[0], pi[1], off))
    neg = pi[0].at[0].set(jnp.array([1.5, -0.5]))
    with pytest.raises(ValueError, match=r"sigma\[0\]\[0, 1\] is -0.5"):
        M.evaluation.optimality_gap(g, AutoregressivePolicy((neg, pi[1], pi[2])))
    with pytest.raises(ValueError, match="expected an autoregressive policy"):
        M.evaluation.localized_q(g, np.asarray(pi[2]))
    general = M.games.unstack(
        M.games.random_general_sum(
            jax.random.key(0), 1, ACTIONS, 3, discount=0.9, dtype=jnp.float64
        )
    )[0]
    with pytest.raises(ValueError, match=r"game.rewards\[1, 0, 0, 0, 0\] is"):
        M.evaluation.localized_q(general, pi)
