"""Zhao et al. Theorem 4.5 (exact multi-agent PPO) beside the measured gap.

The bound written out on a 2 x 2 identical-interest matrix game, and on
random cooperative games (hypothesis draws seeds and step sizes; one vmapped,
jitted call per example) the measured average optimality gap of the iterates
never exceeds it.
"""

import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import marlmeta as M
import marlmeta.games as G
from marlmeta import theory as Th

ACTS, S, K, BATCH = (2, 2, 2), 3, 20, 8


def _average_gap(solver, game, num_steps):
    """``(1/K) sum_{k<K} (J* - J(pi_k))`` from the uniform policy."""
    state = solver.init(game, solver.default_init(game, num_steps))

    def body(theta, _):
        gap = M.evaluation.optimality_gap(game, solver.output(game, theta))
        return solver.step(game, theta), gap

    return jnp.mean(jax.lax.scan(body, state, None, length=num_steps)[1])


def test_theorem45_hand_worked():
    # Shared r = [[1, 0], [0, 0]], gamma = 0, N = 2, eta = 1, K = 1: the gap
    # of the uniform policy is 1 - 1/4 = 3/4. KL(pi* || uniform) = 2 ln 2 and
    # B = (1 - 0) / 2 = 1/2: (2 ln 2 / 1 + 2 * 1 * (1/2)^2 / 2) / 1. Printed
    # with B = max|r| = 1: 2 ln 2 + 1. The prescribed beta = 1 / sqrt(2 ln 2).
    r = jnp.asarray([[[1.0, 0.0], [0.0, 0.0]]], jnp.float64)
    g = G.discounted_game(jnp.stack([r, r]), jnp.ones((1, 2, 2, 1)), [1.0], 0.0)
    solver = M.solvers.MultiAgentPPO(1.0)
    assert float(_average_gap(solver, g, 1)) == pytest.approx(0.75)
    bound = Th.zhao_theorem45(g, 1.0, 1)
    assert float(bound.value) == pytest.approx(2 * math.log(2) + 0.25)
    assert float(bound.printed) == pytest.approx(2 * math.log(2) + 1.0)
    assert bool(bound.applies)
    assert float(Th.zhao_theorem45_beta(g)) == pytest.approx(
        1 / math.sqrt(2 * math.log(2))
    )
    with pytest.raises(ValueError, match="num_steps is 0"):
        Th.zhao_theorem45(g, 1.0, 0)


@jax.jit
def _batch(keys, log_eta):
    def one(key, le):
        g = G.unstack(G.random_cooperative(key, 1, ACTS, S, 0.8, dtype=jnp.float64))[0]
        eta = jnp.exp(le)
        out = [
            (
                _average_gap(M.solvers.MultiAgentPPO(eta), g, K),
                Th.zhao_theorem45(g, eta, K),
            )
        ]
        theory = 1.0 / (Th.zhao_theorem45_beta(g) * math.sqrt(K))
        solver = M.solvers.MultiAgentPPO(theory)
        out.append((_average_gap(solver, g, K), Th.zhao_theorem45(g, theory, K)))
        return out

    return jax.vmap(one)(keys, log_eta)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_theorem45_holds_on_random_cooperative_games(seed):
    k1, k2 = jr.split(jr.key(seed))
    log_eta = jr.uniform(k2, (BATCH,), jnp.float64, math.log(0.01), math.log(5.0))
    for measured, bound in _batch(jr.split(k1, BATCH), log_eta):
        measured, value = np.asarray(measured), np.asarray(bound.value)
        assert np.all(measured >= -1e-12) and np.all(measured <= value), (
            measured,
            value,
        )
        assert np.all(value <= np.asarray(bound.printed) * (1 + 1e-12))
