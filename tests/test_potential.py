"""Markov potential games: exact policy gradients and Hessians, projected
Q-descent and its warm-start meta-learning (seed 000 section 4, appendix D)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import marlmeta as M
import marlmeta.games as G
from tests import reference as ref


def _one(games, k=0):
    return jax.tree.map(lambda x: x[k], games)


def _np(game):
    return (
        np.asarray(game.rewards),
        np.asarray(game.transitions.dense()),
        np.asarray(game.initial),
    )


def _theta(key, num_states, num_actions, scale=1.0):
    keys = jax.random.split(key, len(num_actions))
    return tuple(
        scale * jax.random.normal(k, (num_states, a), jnp.float64)
        for k, a in zip(keys, num_actions, strict=True)
    )


@pytest.fixture
def mpg(key):
    """A discounted potential game with three players and unequal action sets."""
    games = G.random_potential(key, 1, (2, 3, 2), 3, discount=0.8, dtype=jnp.float64)
    return _one(games)


def test_policy_gradient_matches_eq45_and_autodiff(key):
    """Closed form (45) vs a NumPy reference and vs jax.grad of V_i, general sum."""
    game = _one(
        G.random_general_sum(key, 1, (2, 3), 3, discount=0.9, dtype=jnp.float64)
    )
    theta = _theta(jax.random.key(1), 3, (2, 3))
    pol = M.policies.softmax(theta)
    r, P, rho = _np(game)
    expected = ref.softmax_gradient(r, P, rho, 0.9, [np.asarray(p) for p in pol])
    got = M.evaluation.policy_gradient(game, pol)
    for i in range(2):
        np.testing.assert_allclose(got[i], expected[i], atol=1e-12)
        auto = jax.grad(lambda t, i=i: M.evaluation.softmax_values(game, t)[i])(theta)
        np.testing.assert_allclose(auto[i], expected[i], atol=1e-12)
    np.testing.assert_allclose(
        M.evaluation.visitation(game, pol),
        ref.visitation(P, rho, 0.9, [np.asarray(p) for p in pol], r),
        atol=1e-13,
    )


def test_potential_gradient_equals_own_value_gradients(mpg):
    """In a Markov potential game grad_{theta_i} V_i = grad_{theta_i} Phi."""
    theta = _theta(jax.random.key(2), 3, (2, 3, 2), 2.0)
    grad_phi = M.evaluation.potential_gradient(mpg, theta)
    own = M.evaluation.policy_gradient(mpg, M.policies.softmax(theta))
    for a, b in zip(grad_phi, own, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_potential_gradient_matches_finite_differences(mpg):
    theta = _theta(jax.random.key(3), 3, (2, 3, 2))
    flat, unravel = ravel_pytree(theta)
    f = lambda x: float(M.evaluation.softmax_potential(mpg, unravel(x)))  # noqa: E731
    eps = 1e-6
    fd = np.array(
        [(f(flat + eps * e) - f(flat - eps * e)) / (2 * eps) for e in np.eye(flat.size)]
    )
    got = ravel_pytree(M.evaluation.potential_gradient(mpg, theta))[0]
    np.testing.assert_allclose(got, fd, atol=1e-8)


def test_hessian_matches_lemma15_and_finite_differences(key):
    game = _one(G.random_potential(key, 1, (2, 3), 2, discount=0.7, dtype=jnp.float64))
    theta = _theta(jax.random.key(4), 2, (2, 3))
    flat, unravel = ravel_pytree(theta)
    phi = lambda x: M.evaluation.softmax_potential(game, unravel(x))  # noqa: E731
    hess = np.asarray(jax.jit(jax.hessian(phi))(flat))  # one program, not ~250
    expected = ref.hessian_lemma15(
        np.asarray(game.potential_reward),
        np.asarray(game.transitions.dense()),
        np.asarray(game.initial),
        0.7,
        [np.asarray(p) for p in M.policies.softmax(theta)],
    )
    np.testing.assert_allclose(hess, expected, atol=1e-11)
    # Hessian-vector products: forward-over-reverse vs the matrix and vs
    # central differences of the exact gradient.
    v = jax.random.normal(jax.random.key(5), flat.shape, jnp.float64)
    hvp = ravel_pytree(jax.jit(M.evaluation.potential_hvp)(game, theta, unravel(v)))[0]
    np.testing.assert_allclose(hvp, expected @ v, atol=1e-11)
    grad = jax.jit(
        lambda x: ravel_pytree(M.evaluation.potential_gradient(game, unravel(x)))[0]
    )
    eps = 1e-5
    fd = (grad(flat + eps * v) - grad(flat - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hvp, fd, atol=1e-8)


def test_averaged_q_finite_and_discounted(key):
    fin = _one(G.random_general_sum(key, 1, (2, 3, 2), 2, 3, dtype=jnp.float64))
    pol = M.policies.random_policy(fin, key=jax.random.key(6))
    r, P, _ = _np(fin)
    expected = ref.finite_averaged_q(r, P, [np.asarray(p) for p in pol])
    for a, b in zip(M.evaluation.averaged_q(fin, pol), expected, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)
    disc = _one(
        G.random_general_sum(key, 1, (3, 2), 3, discount=0.9, dtype=jnp.float64)
    )
    pol = M.policies.random_policy(disc, key=jax.random.key(7))
    r, P, _ = _np(disc)
    expected = ref.discounted_averaged_q(r, P, 0.9, [np.asarray(p) for p in pol])
    for a, b in zip(M.evaluation.averaged_q(disc, pol), expected, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_lojasiewicz_constant_by_hand():
    """G2 at pi_1 = (0.2, 0.3, 0.5), pi_2 = (0.6, 0.4)."""
    game = G.zoo.zhang2022_g2(jnp.float64)
    pol = (jnp.array([[0.2, 0.3, 0.5]]), jnp.array([[0.6, 0.4]]))
    # Qbar_1 = R pi_2 = (-0.544, 0.156, -0.28): best a_1 = 2, mass 0.3.
    # Qbar_2 = pi_1^T R = (-0.052, -0.427): best a_2 = 1, mass 0.6.
    assert float(M.evaluation.lojasiewicz(game, pol)) == pytest.approx(0.3, abs=1e-15)
    tie = (jnp.array([[0.5, 0.5]]), jnp.array([[0.1, 0.9]]))
    flat = G.zoo.identical_interest_matrix([[1.0, 1.0], [1.0, 1.0]], jnp.float64)
    assert float(M.evaluation.lojasiewicz(flat, tie)) == pytest.approx(1.0)
    first = M.evaluation.lojasiewicz(flat, tie, first_argmax=True)
    assert float(first) == pytest.approx(0.1)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_project_simplex_matches_bisection(key, dtype):
    y = 2.0 * jax.random.normal(key, (50, 5), dtype)
    y = y.at[0].set(jnp.array([0.2, 0.2, 0.2, 0.2, 0.2], dtype))  # already inside
    y = y.at[1].set(jnp.array([5.0, 5.0, -1.0, -1.0, 5.0], dtype))  # ties
    got = np.asarray(M.solvers.project_simplex(y))
    expected = np.array([ref.simplex_projection(np.asarray(r, float)) for r in y])
    tol = 1e-12 if dtype == jnp.float64 else 1e-6
    np.testing.assert_allclose(got, expected, atol=tol)
    assert np.all(got >= 0)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=tol)


@pytest.mark.parametrize("discount", [None, 0.8])
def test_projected_q_descent_matches_reference(key, discount):
    game = _one(
        G.random_potential(key, 1, (2, 3), 2, 4, discount=discount, dtype=jnp.float64)
    )
    init = M.policies.random_policy(game, key=jax.random.key(8))
    sol = M.solve(M.solvers.ProjectedQDescent(0.1), game, 25, init=init)
    r, P, _ = _np(game)
    expected = ref.projected_q_descent(
        r, P, 0.1, 25, [np.asarray(p) for p in init], gamma=discount
    )
    for a, b in zip(sol.policy, expected, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-9)


def test_projected_q_descent_raises_potential_monotonically(key):
    """Small step size: Phi of the iterates never decreases (seed 000 Prop. 1)."""
    game = _one(G.random_potential(key, 1, (2, 3, 2), 3, 5, dtype=jnp.float64))
    cps = list(range(1, 201))
    sol = M.solve(
        M.solvers.ProjectedQDescent(0.01),
        game,
        200,
        checkpoints=cps,
        metric=M.evaluation.potential,
    )
    phi = np.concatenate(
        [[float(M.evaluation.potential(game, M.policies.uniform(game)))], sol.trace]
    )
    assert np.all(np.diff(phi) >= -1e-12)
    assert phi[-1] > phi[0] + 0.1


def test_warm_start_hands_over_last_iterate_and_potential_similarity(key):
    base = G.zoo.mao2023_identical_interest(horizon=2, dtype=jnp.float64)
    fam = G.perturb_rewards(key, base, 4, 0.1, coupling="identical")
    solver = M.solvers.ProjectedQDescent(0.05)
    run = M.meta.warm_start(solver, fam, 30, checkpoints=[10, 30])
    for k in range(1, 4):
        for a, b in zip(run.inits, run.solutions.policy, strict=True):
            np.testing.assert_array_equal(a[k], b[k - 1])
    for a in run.inits:
        np.testing.assert_allclose(a[0], 0.5)
    # Delta_Phi (eq. 8) by brute force over all 2^(N H S) deterministic policies.
    phi = np.asarray(fam.potential_reward)
    P, rho = np.asarray(fam.transitions.dense()), np.asarray(fam.initial)
    eye = np.eye(2)
    total = 0.0
    for k in range(3):
        best = -np.inf
        for bits in itertools.product(range(2), repeat=8):
            acts = np.array(bits).reshape(2, 2, 2)  # (player, h, s)
            pol = [eye[acts[i]] for i in range(2)]
            diff = (phi[k] - phi[k + 1])[None]
            best = max(best, ref.finite_values(diff, P[k], rho[k], pol)[0])
        total += best
    assert float(run.similarity) == pytest.approx(total, abs=1e-12)
