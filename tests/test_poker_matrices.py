"""The matrix path of a two-player PrivateTypeGame (rewards factored over the
hand pairs, every per-iteration contraction a product with an ``n_0 x n_1``
matrix) against the generic computations on the states, in float64: the
factored rewards against the generic betting rewards deal by deal, exact
values and best responses (observation and full-state deviations), Algorithm
1's observation feedback from a compact stage ``Q`` and the counterfactual
values, to 1e-12 on Kuhn poker and on a pruned river endgame."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
from marlmeta.games import (
    AbstractObservedGame,
    _backward_induction as engine,
    stage_q,
    zoo,
)
from marlmeta.games._private_type_matrices import TypeFactorRewards, type_weights

jax.config.update("jax_enable_x64", True)

W = np.zeros((2, 1326))
W[0, 60:1326:200] = 1.0  # a few hands each, some sharing cards
W[1, 11:1326:190] = np.linspace(0.5, 2.0, len(range(11, 1326, 190)))
RIVER = {"ranges": (W[0], W[1]), "variant": "check_bet_call", "dtype": jnp.float64}


def _games(name):
    if name == "kuhn":
        return zoo.kuhn_poker(jnp.float64), zoo.kuhn_poker(jnp.float64, structured=True)
    return zoo.river_endgame(**RIVER), zoo.river_endgame(**RIVER, structured=True)


def _tables(game, seed):
    rng = np.random.default_rng(seed)
    return [
        jnp.asarray(rng.dirichlet(np.ones(a), size=(game.horizon, o)))
        for o, a in zip(game.num_observations, game.num_actions, strict=True)
    ]


def _close(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-12, rtol=0)


def test_factored_rewards_match_the_deals():
    """Each deal's rewards on the hand-pair grid equal the generic game's."""
    generic, structured = _games("river")
    deals = zoo.river_deals("4s8hTc9h2s", RIVER["ranges"])
    i, j = deals.deal_hands
    n0, n1 = len(deals.hands[0]), len(deals.hands[1])
    h, p = structured.horizon, structured.num_public
    grid = np.asarray(structured.rewards).reshape(2, h, n0, n1, p, 2, 2)
    flat = np.asarray(generic.rewards)
    n = len(i)  # generic states: A(d) = d, B(d) = n + d, then the end
    for slot, part in ((0, 0), (1, 1)):
        np.testing.assert_array_equal(
            grid[:, :, i, j, part], flat[:, :, slot * n : (slot + 1) * n]
        )
    assert not grid[:, :, :, :, 2].any() and not flat[:, :, 2 * n].any()


def test_factored_rewards_dense_shape_and_noise():
    rng = np.random.default_rng(0)
    f, c = rng.normal(size=(3, 2, 4, 3)), rng.normal(size=(3, 2, 2, 2, 2, 2))
    model = TypeFactorRewards(jnp.asarray(f), jnp.asarray(c))  # a batch of 3
    ref = np.einsum("gkxy,gkhpab->ghxypab", f, c).reshape(3, 2, 4 * 3 * 2, 2, 2)
    dense = model.dense(4)
    np.testing.assert_allclose(dense[:, 0], ref, atol=1e-12)
    np.testing.assert_allclose(dense[:, 1], -ref, atol=1e-12)
    assert model.shape(4) == dense.shape == (3, 2, 2, 24, 2, 2)
    eps = rng.normal(size=(3, 1, 2, 24, 2, 2))
    noisy = model.perturbed(jnp.asarray(eps), "zero_sum")
    np.testing.assert_allclose(noisy.dense(4)[:, 0], ref + eps[:, 0], atol=1e-12)
    assert noisy.coupling(4) == "zero_sum"
    with pytest.raises(ValueError, match="rewards.factors"):
        TypeFactorRewards(jnp.asarray(f).at[0, 1, 2].set(jnp.nan), jnp.asarray(c))


def test_exact_values_and_best_responses():
    # (river endgames: tests/test_poker_grid.py, tests/test_poker_structured.py)
    generic, structured = _games("kuhn")
    tables = _tables(generic, 1)
    for view in (lambda p: p, lambda p: p.on_states()):
        a = generic.initial_values(
            view(generic.observation_policy(tables)), best=True, caller="test"
        )
        b = structured.initial_values(
            view(structured.observation_policy(tables)), best=True, caller="test"
        )
        _close(a[:2], b[:2])
    # per state, against the generic engine on the same states
    pol = structured.observation_policy(tables)
    for mine, generic_pol in ((pol, pol), (pol.on_states(), pol.lift())):
        out = structured.evaluate(mine, best=True)
        ref = engine.backward(structured, generic_pol, best=True)
        _close((out.values, out.best_values), (ref.values, ref.best_values))
        for x, y in zip(out.best_responses, ref.best_responses, strict=True):
            np.testing.assert_array_equal(x, y)


@jax.jit
def _feedback_pair(game, vsum, mu, nu):
    """Both engines' Algorithm-1 feedback (compact ``Q`` from ``vsum``, and the
    dense ``Q`` on the states) and counterfactual values, one program."""
    h, length = game.horizon, jnp.asarray(5)
    states = jnp.moveaxis(vsum, 1, -1).reshape(h, -1)  # type-major states
    # the compact stage values: steps h >= 1 times the type weights w
    w = type_weights(game)
    w_states = jnp.repeat(w.reshape(-1), game.num_public)
    zero_q = game.zero_stage(vsum.dtype)[0]
    q = game.observed_stage_q(zero_q, w * vsum[1:], length)
    compact = game.stage_feedback(q, mu, nu)
    dense_q = stage_q(game, game.rewards[0], states, length)
    ref = AbstractObservedGame.stage_feedback(game, dense_q, mu, nu)
    ref = (*ref[:2], ref[2][1:] * w_states, *ref[3:])
    value = jnp.moveaxis(compact[2], 1, -1).reshape(h - 1, -1)
    zero = game.stage_feedback(zero_q, mu, nu)
    return (
        ((*compact[:2], value, *compact[3:]), ref),
        zero,
        game.counterfactual_feedback((mu, nu)),
        AbstractObservedGame.counterfactual_feedback(game, (mu, nu)),
    )


@pytest.mark.parametrize("name", ["kuhn", "river"])
def test_solver_feedback_equals_the_states(name):
    _, game = _games(name)
    mu, nu = _tables(game, 2)
    h, p, (n0, n1) = game.horizon, game.num_public, game.num_types
    vsum = jnp.asarray(np.random.default_rng(3).normal(size=(h, p, n0, n1)))
    (compact, ref), zero, cf, cf_ref = _feedback_pair(game, vsum, mu, nu)
    _close(compact, ref)
    # before the first stage end Q = 0: no feedback, no values
    assert not any(np.asarray(x).any() for x in zero[:3])
    _close(zero[3:], ref[3:])
    _close(cf, cf_ref)


def test_bad_private_type_game():
    _, game = _games("kuhn")
    start = np.asarray(game.initial).reshape(-1, game.num_public)
    moved = np.roll(start, 1, axis=1).reshape(-1)  # mass on public part 1
    with pytest.raises(ValueError, match="public part 0"):
        type(game)(**{**vars(game), "initial": jnp.asarray(moved)})
    with pytest.raises(ValueError, match="TypeFactorRewards"):
        rewards = M.games.ZeroSumRewards(game.rewards[0])
        type(game)(**{**vars(game), "reward_model": rewards})
