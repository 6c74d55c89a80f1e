"""Mao et al. Theorem 4 (MAML in potential games): the smoothness constant and
the bound written out, and one full-gradient meta step at the theorem's
outer step on small random families checked against it."""

import functools
import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import marlmeta as M
import marlmeta.games as G
from marlmeta import theory as Th


def test_theorem4_hand_worked():
    # N = 1, gamma = 0: B_G = sqrt 2, L_G = 6, L_H = 56; alpha = 1/12, T = 1:
    # L_F = (1/12) sqrt2 56 (1.5)^1 + 6 (1.5)^2; printed L_F' = ((1/12) sqrt2
    # 56 + 6) 4; K = 10, worst-case gain 2N/(1-gamma) = 2.
    lf = (56 * math.sqrt(2) / 12) * 1.5 + 6 * 2.25
    assert Th.maml_smoothness(1, 0.0, 1 / 12, 1) == pytest.approx(lf)
    bound = Th.mao_theorem4(1, 0.0, 1 / 12, 1, 10, 1 / lf)
    assert float(bound.value) == pytest.approx(2 * lf * 2 / 10)
    printed = (56 * math.sqrt(2) / 12 + 6) * 4
    assert float(bound.printed) == pytest.approx(4 * printed / 10)
    assert bool(bound.applies)
    # Adam-like large outer steps or alpha > 1/L_G: outside the theorem
    assert not bool(Th.mao_theorem4(1, 0.0, 1 / 12, 1, 10, 0.1).applies)
    assert not bool(Th.mao_theorem4(1, 0.0, 0.2, 1, 10, 1e-9).applies)
    with pytest.raises(ValueError, match="discount is 1.0"):
        Th.maml_smoothness(1, 1.0, 0.1, 1)


def test_theorem4_vacuous_for_the_maml_config():
    # configs/maml_mpg.yaml: N = 2, gamma = 0.8, alpha = 0.5, T = 5, K = 200:
    # L_F = O(4^T (1 + alpha L_G)^...) is astronomically large.
    bound = Th.mao_theorem4(2, 0.8, 0.5, 5, 200, 0.1)
    assert float(bound.value) > 1e20 and not bool(bound.applies)


def maml_objective(games, alpha, steps):
    """``F_T(theta)``: the mean over ``games`` of the potential after ``steps``
    inner policy-gradient steps of size ``alpha`` from ``theta``."""

    def objective(theta):
        def one(g):
            th = theta
            for _ in range(steps):
                th = M.solvers.gradient_step(g, th, alpha)
            return M.evaluation.potential(g, M.policies.softmax(th))

        return jnp.mean(jax.vmap(one)(games))

    return objective


@functools.partial(jax.jit, static_argnums=3)
def _meta_step(keys, lf, alpha, steps):
    """One full-gradient step of F_T on a family, at theta = 0."""
    games = jax.vmap(
        lambda k: G.unstack(
            G.random_identical_interest(
                k, 1, (2, 2), 2, discount=0.5, dtype=jnp.float64
            )
        )[0]
    )(keys)

    objective = maml_objective(games, alpha, steps)
    theta0 = (jnp.zeros((2, 2)), jnp.zeros((2, 2)))
    f0, grad = jax.value_and_grad(objective)(theta0)
    theta1 = jax.tree.map(lambda t, d: t + d / lf, theta0, grad)
    norm2 = sum(jnp.sum(d**2) for d in jax.tree.leaves(grad))
    return norm2, objective(theta1) - f0


def test_one_meta_step_obeys_theorem4():
    # K = 1: ||grad F_T(theta^0)||^2 <= 2 L_F (F_T(theta^1) - F_T(theta^0)).
    alpha, steps = 0.01, 2  # alpha <= 1/L_G = (1/2)^3 / 12
    lf = Th.maml_smoothness(2, 0.5, alpha, steps)
    norm2, gain = _meta_step(jr.split(jr.key(3), 8), lf, alpha, steps)
    bound = Th.mao_theorem4(2, 0.5, alpha, steps, 1, 1 / lf, float(gain))
    assert bool(bound.applies) and float(gain) > 0
    assert float(norm2) <= float(bound.value)
    np.testing.assert_allclose(float(bound.value), 2 * lf * float(gain))
