"""Cooperative games: constructors, the ratio-game embedding, rejection of
differing rewards (Zhao, Yang, Wang, Lee, ICML 2023)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
from marlmeta.games import cooperative_game, random_cooperative, zoo


def test_ratio_game_value_is_the_ratio_for_product_and_joint_policies():
    """``V(0) = sigma . R / sigma . S``: checked against the closed form of the
    research note, ``V(x, y) = (xy + 0.5x - 0.5y) / (0.1 + 0.9x)``."""
    g = zoo.ratio_game(jnp.float64)
    r, s = np.array(zoo.RATIO_REWARD), np.array(zoo.RATIO_STOP)
    for x, y in [(0.5, 0.0), (1.0, 1.0), (0.3, 0.7), (0.5, 0.9), (0.0, 0.2)]:
        pol = ([[x, 1 - x], [0.5, 0.5]], [[y, 1 - y], [0.5, 0.5]])
        v = M.evaluation.values(g, pol)
        want = (x * y + 0.5 * x - 0.5 * y) / (0.1 + 0.9 * x)
        np.testing.assert_allclose(v, [want, want], atol=1e-13)
    sigma = np.random.default_rng(0).dirichlet(np.ones(4)).reshape(2, 2)
    joint = np.stack([sigma, np.full((2, 2), 0.25)])
    v = M.evaluation.values(g, joint)
    np.testing.assert_allclose(v[0], (sigma * r).sum() / (sigma * s).sum(), atol=1e-13)
    assert np.isclose(0.25 / 0.55, 0.4545454545)  # the paper's "V = 0.46"


def test_cooperative_game_stores_one_reward_and_is_a_potential_game():
    rng = np.random.default_rng(1)
    r = rng.uniform(size=(3, 2, 3))
    p = rng.dirichlet(np.ones(3), size=(3, 2, 3))
    g = cooperative_game(r, p, [1.0, 0.0, 0.0], 0.8)
    assert isinstance(g.reward_model, M.games.IdenticalRewards)
    np.testing.assert_array_equal(g.rewards, np.stack([r, r]))
    np.testing.assert_array_equal(g.potential_reward, r)
    pol = M.policies.random_policy(g, key=jax.random.key(3))
    np.testing.assert_allclose(
        M.evaluation.potential(g, pol), M.evaluation.values(g, pol)[0], atol=1e-13
    )
    stacked = cooperative_game(np.stack([r, r]), p, [1.0, 0, 0], 0.8, stacked=True)
    np.testing.assert_array_equal(stacked.rewards, g.rewards)


def test_differing_rewards_are_rejected_naming_the_first_index():
    r = np.zeros((2, 2, 2, 2))
    r[1, 1, 0, 1] = 0.5
    p = np.full((2, 2, 2, 2), 0.5)
    with pytest.raises(ValueError, match=r"reward\[1, 1, 0, 1\] is 0.5 but "):
        cooperative_game(r, p, [0.5, 0.5], 0.9, stacked=True)
    g = M.games.discounted_game(r, p, [0.5, 0.5], 0.9)
    with pytest.raises(ValueError, match=r"game.rewards\[1, 1, 0, 1\] is 0.5"):
        M.games.cooperative_reward(g, "test")
    with pytest.raises(ValueError, match="stacked=True"):
        cooperative_game(r[0], p, [0.5, 0.5], 0.9, stacked=True)
    with pytest.raises(ValueError, match="transitions"):
        cooperative_game(r[0], p[..., :1], [0.5, 0.5], 0.9)
    with pytest.raises(ValueError, match="discount"):
        cooperative_game(r[0], p, [0.5, 0.5], 1.0)


def test_random_cooperative_batch():
    g = random_cooperative(jax.random.key(0), 5, (2, 3, 2), 4, 0.9, dtype=jnp.float64)
    assert g.batch_shape == (5,) and g.rewards.shape == (5, 3, 4, 2, 3, 2)
    assert isinstance(g.reward_model, M.games.IdenticalRewards)
    probs = np.asarray(g.transitions.dense())
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(g.initial).sum(-1), 1.0, atol=1e-12)
    r = np.asarray(g.rewards)
    assert (r >= 0).all() and (r <= 1).all() and np.ptp(r[:, 0]) > 0.5
    np.testing.assert_allclose(g.discount, 0.9)
    with pytest.raises(ValueError, match="discount"):
        random_cooperative(jax.random.key(0), 2, discount=1.5)
