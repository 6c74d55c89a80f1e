"""Mao et al. Theorem 4 (MAML in potential games) on hundreds of random games.

One compiled program: 32 random families of 8 identical-interest games each
(potential games, ``N = 2``, ``gamma = 0.5``), ``K = 3`` full-gradient MAML
steps at the theorem's outer step ``1 / L_F`` from random parameters, the
inner policy-gradient step ``alpha <= 1 / L_G`` drawn by hypothesis, ``T = 2``
inner steps (3 examples: 768 games). The measured
``min_{k<K} ||grad F_T(theta^k)||^2`` never exceeds ``2 L_F (F_T(theta^K) -
F_T(theta^0)) / K`` with the run's own gain. With the gain measured the
ratio is about 2 whatever ``L_F`` is (the ascent lemma at step ``1 / L_F``):
the check fails only where ``L_F`` is below the true smoothness of ``F_T``,
which is what Lemma 14 claims. The hand-worked instance is in
tests/test_theory_mao_maml.py.
"""

import functools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import marlmeta.games as G
from marlmeta import theory as Th
from tests.test_theory_mao_maml import maml_objective

N, GAMMA, FAMILIES, GAMES, K = 2, 0.5, 32, 8, 3
L_G = 6 * N / (1 - GAMMA) ** 3  # Lemma 13


@functools.partial(jax.jit, static_argnums=3)
def _meta_runs(key, lf, alpha, steps):
    """Per family: ``min_k ||grad F_T(theta^k)||^2`` and ``F(theta^K) - F(theta^0)``."""

    def family(key):
        k_games, k_theta = jr.split(key)
        games = jax.vmap(
            lambda k: G.unstack(
                G.random_identical_interest(
                    k, 1, (2, 2), 2, discount=GAMMA, dtype=jnp.float64
                )
            )[0]
        )(jr.split(k_games, GAMES))

        objective = maml_objective(games, alpha, steps)

        def meta_step(theta, _):
            value, grad = jax.value_and_grad(objective)(theta)
            norm2 = sum(jnp.sum(d**2) for d in jax.tree.leaves(grad))
            return jax.tree.map(lambda t, d: t + d / lf, theta, grad), (value, norm2)

        theta0 = tuple(jr.normal(k, (2, 2), jnp.float64) for k in jr.split(k_theta, N))
        theta, (values, norms) = jax.lax.scan(meta_step, theta0, length=K)
        return jnp.min(norms), objective(theta) - values[0]

    return jax.vmap(family)(jr.split(key, FAMILIES))


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    fraction=st.floats(0.05, 1.0),
)
def test_min_meta_gradient_never_above_theorem4(seed, fraction):
    steps = 2  # static: one compiled program
    alpha = fraction / L_G
    lf = Th.maml_smoothness(N, GAMMA, alpha, steps)
    norm2, gain = _meta_runs(jr.key(seed), lf, alpha, steps)
    norm2, gain = np.asarray(norm2), np.asarray(gain)
    assert np.all(gain > 0)
    for n2, g in zip(norm2, gain, strict=True):
        bound = Th.mao_theorem4(N, GAMMA, alpha, steps, K, 1 / lf, float(g))
        assert bool(bound.applies)
        assert n2 <= float(bound.value), (n2, float(bound.value))
