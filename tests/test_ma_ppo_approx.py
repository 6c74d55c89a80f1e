"""Log-linear, sample-based and pessimistic MA-PPO (Zhao et al. 2023,
Algorithms 1-3) against NumPy/scipy references and the exact tabular solver."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

import marlmeta as M
from tests import reference_cooperative as ref

S = M.solvers


def _game(seed=0):
    g = M.games.random_cooperative(
        jax.random.key(seed), 1, (2, 2), 3, 0.9, dtype=jnp.float64
    )
    return M.games.unstack(g)[0]


def _tables(game, policy):
    return tuple(policy)


def _zeros(features):
    return tuple(jnp.zeros(f.shape[-1], jnp.float64) for f in features)


def test_log_linear_one_hot_equals_tabular_ma_ppo():
    g = _game()
    f = S.one_hot_features(g)
    run = lambda s: jax.jit(  # noqa: E731
        lambda g: M.solve(s, g, 30, checkpoints=[1, 30], metric=_tables)
    )(g)
    tab, ll = run(S.MultiAgentPPO(0.5)), run(S.LogLinearMAPPO(0.5, f, 1e6))
    for a, b in zip(tab.trace, ll.trace, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-9)


def test_log_linear_step_equals_numpy_weighted_least_squares():
    """Random 3-dimensional features: one step of eq. 4 against NumPy (the
    sigma_k weights from the reference occupancy), unconstrained and on the
    ball (scipy SLSQP)."""
    g = _game(1)
    r, p = np.asarray(g.reward_model.reward), np.asarray(g.transitions.dense())[0]
    gamma, rho = float(g.discount), np.asarray(g.initial)
    rng = np.random.default_rng(0)
    feats = [rng.normal(size=(3, 2, 3)) / 3, rng.normal(size=(3, 2, 2, 3)) / 3]
    theta = [rng.normal(size=3), rng.normal(size=3)]
    tables = [ref.softmax(f @ t) for f, t in zip(feats, theta, strict=True)]
    qs = ref.localized_q(r, p, gamma, tables)
    _, p_pi = ref.policy_value(r, p, gamma, ref.joint_policy(tables, 3, (2, 2)))
    d = ref.occupancy(p_pi, gamma, rho)
    sigmas = [
        d[:, None] * tables[0],
        d[:, None, None] * tables[0][..., None] * tables[1],
    ]
    for radius in (1e6, 0.3):
        solver = S.LogLinearMAPPO(0.7, tuple(feats), radius)
        new = eqx.filter_jit(solver.step)(g, tuple(jnp.asarray(t) for t in theta))
        for m in range(2):
            phi = feats[m].reshape(-1, 3)
            y = phi @ theta[m] + 0.7 * qs[m].reshape(-1)
            w = sigmas[m].reshape(-1)

            def loss(x, phi=phi, y=y, w=w):
                return np.sum(w * (phi @ x - y) ** 2)

            cons = {"type": "ineq", "fun": lambda x, rad=radius: rad**2 - x @ x}
            best = scipy.optimize.minimize(
                loss, np.zeros(3), constraints=[cons], method="SLSQP",
                options={"ftol": 1e-15, "maxiter": 500},
            )  # fmt: skip
            np.testing.assert_allclose(new[m], best.x, atol=1e-6)
            assert np.linalg.norm(new[m]) <= radius * (1 + 1e-9)


def test_averaged_sgd_is_algorithm_3():
    rng = np.random.default_rng(1)
    phi, q = rng.normal(size=(50, 4)) / 2, rng.normal(size=50)
    theta_k = rng.normal(size=4)
    radius, lr = 1.5, 0.05
    x, path = np.zeros(4), []
    for f, y in zip(phi, q, strict=True):
        x = x - lr * 2 * f * ((x - theta_k) @ f - y)
        x = x * min(1.0, radius / np.linalg.norm(x))
        path.append(x)
    out = S._ma_ppo_linear.averaged_sgd(phi, q, jnp.asarray(theta_k), radius, lr)
    np.testing.assert_allclose(out, np.mean(path, 0), atol=1e-12)


def test_sampled_ma_ppo_converges_to_exact_as_samples_grow():
    g = _game()
    f = S.one_hot_features(g)
    exact = jax.jit(lambda g: M.solve(S.MultiAgentPPO(0.5), g, 1, metric=_tables))(g)

    def error(policy):
        return max(
            float(jnp.max(jnp.abs(a - b)))
            for a, b in zip(policy, exact.trace, strict=True)
        )

    s = S.SampledMAPPO(0.5, f, jax.random.key(3), num_samples=200)
    small = error(jax.jit(lambda g: M.solve(s, g, 1, metric=_tables))(g).trace)
    # The large sample count through solve_batch: batched over games, one key.
    games = M.games.stack([g, _game(1)])
    s = S.SampledMAPPO(0.5, f, jax.random.key(3), num_samples=40_000)
    out = M.solve_batch(s, games, 1, metric=_tables)
    large = error([t[0] for t in out.trace])
    assert large < 0.35 * small and large < 0.03 and bool(out.finite.all())


def test_monte_carlo_critic_is_unbiased_up_to_its_horizon():
    g = _game(4)
    pol = M.policies.random_autoregressive(g, key=jax.random.key(2))
    q = np.asarray(M.evaluation.localized_q(g, pol)[0]).reshape(-1)  # (S A_0,)
    reps = 4000
    idx = jnp.tile(jnp.arange(q.size), reps)
    est = jax.jit(S._ma_ppo_linear.rollout_q, static_argnums=(2, 5))(
        g, pol, 0, idx, jax.random.key(7), 150
    )
    est = np.asarray(est).reshape(reps, q.size)
    # standard error <= (1 / (1 - gamma)) / sqrt(reps) ~ 0.16; bias 0.9^150 * 10
    np.testing.assert_allclose(est.mean(0), q, atol=0.5)
    assert np.abs(est.mean(0) - q).mean() < 0.2


def test_pessimistic_closed_form_and_bellman_error():
    g = _game(2)
    f = S.one_hot_features(g)
    pol = M.policies.random_autoregressive(g, key=jax.random.key(4))
    m = 1
    raw = jax.jit(S.reset_data, static_argnums=(4, 5))(
        jax.random.key(5), g, pol, f, m, 400
    )
    phi, nxt, rew = (np.asarray(x) for x in (raw.phi, raw.phi_next, raw.reward))
    gamma = float(g.discount)
    data = S.moments(raw, gamma, 0.0)
    w = np.random.default_rng(2).normal(size=phi.shape[1])
    # E(f, pi) = L(f, f, pi) - min_f' L(f', f, pi), by least squares.
    target = rew + gamma * nxt @ w
    best = np.linalg.lstsq(phi, target, rcond=None)[0]
    direct = np.mean((phi @ w - target) ** 2) - np.mean((phi @ best - target) ** 2)
    np.testing.assert_allclose(jax.jit(S.bellman_error)(data, w), direct, rtol=1e-8)
    # The closed-form pessimistic critic minimises phi0 . w + lambda E(w).
    data = S.moments(raw, gamma, 1e-8)
    phi0 = np.random.default_rng(3).uniform(size=phi.shape[1]) / 4
    lam = 2.0
    w_star = jax.jit(S.pessimistic_critic)(data, jnp.asarray(phi0), lam)

    # One compiled program evaluates obj at a batch of points (an eager loop
    # compiled every linear-algebra op of E anew: 1,900 compilations).
    obj_batch = jax.jit(jax.vmap(lambda x: phi0 @ x + lam * S.bellman_error(data, x)))

    # obj is quadratic (E is a difference of least-squares residuals linear in
    # w): its gradient at 0 and Hessian by central differences are exact up to
    # rounding, and its minimiser solves H x = -g. (BFGS, used before, stopped
    # about 1e-4 short of the minimiser on some BLAS builds.)
    eye = np.eye(phi.shape[1])
    d = len(eye)
    u, v = eye[:, None, :], eye[None, :, :]
    points = np.concatenate(
        [eye, -eye]
        + [
            np.broadcast_to(x, (d, d, d)).reshape(-1, d)
            for x in (u + v, u - v, v - u, -u - v)
        ]
    )
    vals = np.asarray(obj_batch(jnp.asarray(points)))
    grad = (vals[:d] - vals[d : 2 * d]) / 2
    pp, pm, mp, mm = vals[2 * d :].reshape(4, d, d)
    hess = (pp - pm - mp + mm) / 4
    x_ref = np.linalg.solve(hess, -grad)
    assert np.linalg.eigvalsh(hess).min() > 0  # strictly convex: x_ref is the minimum
    obj_star, obj_ref = np.asarray(obj_batch(jnp.stack([w_star, jnp.asarray(x_ref)])))
    assert obj_star <= obj_ref + 1e-9
    np.testing.assert_allclose(w_star, x_ref, atol=1e-4)


def test_pessimistic_ma_ppo_converges_to_exact_as_samples_grow():
    """lambda -> inf and n -> inf: the critic is LSTD, ``Q^{1:m}`` with one-hot
    features, and one step is MA-PPO's ``theta^m = eta Q^{1:m}``."""
    g = _game()
    f = S.one_hot_features(g)
    qs = M.evaluation.localized_q(g, M.policies.autoregressive_uniform(g))
    eta = 0.5

    def error(n):
        s = S.PessimisticMAPPO(eta, f, jax.random.key(1), pessimism=1e8, num_samples=n)
        pol = jax.jit(lambda g: M.solve(s, g, 1).policy)(g)
        err = 0.0
        for p, q in zip(pol, qs, strict=True):
            # log pi^m = eta (w - logsumexp): compare the centred logits.
            lg, tq = np.log(np.asarray(p)) / eta, np.asarray(q)
            lg, tq = lg - lg.mean(-1, keepdims=True), tq - tq.mean(-1, keepdims=True)
            err = max(err, float(np.max(np.abs(lg - tq))))
        return err

    large = error(50_000)
    assert large < 0.03 and large < 0.5 * error(500)
    s = S.PessimisticMAPPO.from_horizon(
        0.9, 2, 100, features=f, key=jax.random.key(0), num_samples=500
    )
    np.testing.assert_allclose(s.step_size, 0.1 * np.sqrt(np.log(2) / 100))
