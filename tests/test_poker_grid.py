"""The type-grid evaluation of a PrivateTypeGame (backward induction, reach and
best responses as passes over ``(n_0, n_1, P, A, B)``) equals the generic
backward induction on the same states, per state, in float64 (observation and
full-state deviations; values, best-response values, best responses, reach);
float32 agrees to its rounding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
from marlmeta.games import _backward_induction as engine, zoo

jax.config.update("jax_enable_x64", True)

W = np.zeros((2, 1326))
W[0, 40:1326:110] = 1.0  # a few hands each, some sharing cards
W[1, 7:1326:90] = np.linspace(0.5, 2.0, len(range(7, 1326, 90)))


def _game(dtype=jnp.float64):
    return zoo.river_endgame(
        ranges=(W[0], W[1]), variant="check_bet_call", dtype=dtype, structured=True
    )


def _policy(game, seed=0):
    rng = np.random.default_rng(seed)
    tables = [
        rng.dirichlet(np.ones(a), size=(game.horizon, o))
        for o, a in zip(game.num_observations, game.num_actions, strict=True)
    ]
    # a pure row and a zero-reach observation make ties and empty pools
    tables[0][1, 3] = [1.0, 0.0]
    return game.observation_policy([jnp.asarray(t, game.initial.dtype) for t in tables])


@pytest.mark.parametrize("deviations", ["observations", "states"])
def test_grid_backward_equals_generic(deviations):
    game = _game()
    pol = _policy(game)
    generic_pol = pol.lift() if deviations == "states" else pol
    pol = pol.on_states() if deviations == "states" else pol
    out = game.evaluate(pol, best=True)
    ref = engine.backward(game, generic_pol, best=True)
    np.testing.assert_allclose(out.values, ref.values, atol=1e-12, rtol=0)
    np.testing.assert_allclose(out.best_values, ref.best_values, atol=1e-12, rtol=0)
    for x, y in zip(out.best_responses, ref.best_responses, strict=True):
        np.testing.assert_array_equal(x, y)
    # values of another reward table (one table, M = 1)
    r = game.rewards[:1] * 2.0
    np.testing.assert_allclose(
        game.evaluate(pol, r).values,
        engine.backward(game, generic_pol, r).values,
        atol=1e-12,
    )


def test_grid_reach_and_float32():
    game = _game()
    pol = _policy(game, 1)
    for d in (pol, *pol.deviation_policies()):
        np.testing.assert_allclose(
            game.reach(d), engine.reach(game, d), atol=1e-15, rtol=0
        )
    ref = M.evaluation.report(game, pol)
    g32 = _game(jnp.float32)
    rep = M.evaluation.report(g32, _policy(g32, 1))
    assert rep.values.dtype == jnp.float32
    assert bool(rep.finite)
    np.testing.assert_allclose(rep.gains, ref.gains, atol=1e-5)
    np.testing.assert_allclose(rep.values, ref.values, atol=1e-5)
