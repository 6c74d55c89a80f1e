"""Perturbation families keep the structure of the game they perturb by default.

Zero-sum in, zero-sum out (player 1's reward is minus player 0's in every
member); identical interest in, identical interest out (every player's reward
equal, and equal to the potential reward); a potential game stays a potential
game (``r_i - phi`` unchanged); independent noise only when asked. The noise is
checked against NumPy: its empirical law and the reconstruction of each member
from the base game.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta.games as G

KEY = jax.random.key(3)


def _one(batch):
    return G.unstack(batch)[0]


def _dense_zero_sum():
    """A zero-sum game stored densely (built directly): read off its values."""
    rng = np.random.default_rng(1)
    r = rng.uniform(size=(3, 2, 2, 3))  # H, S, A, B
    p = rng.dirichlet(np.ones(2), size=(3, 2, 2, 3))
    return G.FiniteHorizonGame(
        np.stack([r, -r]), G.DenseTransitions(p), [0.5, 0.5], None, (2, 3), 3
    )


ZERO_SUM = {
    "zoo": lambda: G.zoo.mao2023_zero_sum(horizon=3),
    "random": lambda: _one(G.random_zero_sum(KEY, 2, (2, 3), 2, 3)),
    "discounted": lambda: _one(G.random_zero_sum(KEY, 2, (2, 3), 2, discount=0.9)),
    "dense": _dense_zero_sum,
    "matrix": G.zoo.rock_paper_scissors,
}
IDENTICAL = {
    "zoo": lambda: G.zoo.mao2023_identical_interest(horizon=3),
    "random": lambda: _one(G.random_identical_interest(KEY, 2, (2, 3), 2, 3)),
    "cooperative": lambda: _one(G.random_cooperative(KEY, 2, (2, 2), 2)),
    "matrix": G.zoo.zhang2022_g2,
}


@pytest.mark.parametrize("name", sorted(ZERO_SUM))
def test_zero_sum_in_zero_sum_out(name):
    base = ZERO_SUM[name]()
    fam = G.perturb_rewards(KEY, base, 6, 0.1)
    r = np.asarray(fam.rewards)
    assert r.shape == (6, *base.rewards.shape)
    for m in range(6):  # every member: the players' rewards sum to zero
        np.testing.assert_array_equal(r[m, 0] + r[m, 1], 0.0)
    # ... and it is perturbed: member m is base + eps_m with eps shared by steps.
    eps = r[:, 0] - np.asarray(base.rewards[0])
    assert np.abs(eps).max() > 0
    if base.rewards.ndim == 5:  # finite horizon: noise shared by all steps
        np.testing.assert_allclose(eps, eps[:, :1].repeat(eps.shape[1], 1), atol=1e-6)


@pytest.mark.parametrize("name", sorted(IDENTICAL))
def test_identical_interest_in_identical_interest_out(name):
    base = IDENTICAL[name]()
    fam = G.perturb_rewards(KEY, base, 5, 0.2)
    r = np.asarray(fam.rewards)
    for m in range(5):
        for i in range(1, base.num_players):
            np.testing.assert_array_equal(r[m, i], r[m, 0])
        np.testing.assert_array_equal(np.asarray(fam.potential_reward[m]), r[m, 0])
    assert np.abs(r[:, 0] - np.asarray(base.rewards[0])).max() > 0


def test_potential_game_stays_a_potential_game():
    # r_i = phi + u_i(s, a_{-i}): the default (identical) noise moves phi and
    # every r_i together, so r_i - phi is unchanged in every member.
    base = _one(G.random_potential(KEY, 2, (2, 3), 2, 3, dtype=jnp.float64))
    fam = G.perturb_rewards(KEY, base, 4, 0.3)
    gap = np.asarray(base.rewards) - np.asarray(base.potential_reward)[None]
    fam_gap = np.asarray(fam.rewards) - np.asarray(fam.potential_reward)[:, None]
    np.testing.assert_allclose(fam_gap, np.broadcast_to(gap, fam_gap.shape), atol=1e-12)
    # The transitions family keeps the kernel action-independent, which the
    # potential property of such a game relies on.
    fam_p = G.perturb_transitions(KEY, base, 4, 0.5)
    p = np.asarray(fam_p.transitions.probs)  # (B, T, S, A, B, S)
    np.testing.assert_allclose(p, np.broadcast_to(p[:, :, :, :1, :1], p.shape))
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-12)
    assert np.abs(p - np.asarray(base.transitions.probs)[None]).max() > 1e-3


def test_general_sum_only_when_asked():
    zs = G.zoo.mao2023_zero_sum(horizon=3)
    fam = G.perturb_rewards(KEY, zs, 400, 0.1, coupling="independent")
    r = np.asarray(fam.rewards)
    assert np.abs(r[:, 0] + r[:, 1]).min() > 0  # no member is zero-sum
    # Independent noise: both players' noises are N(0, 0.1^2) and uncorrelated.
    e0 = (r[:, 0] - np.asarray(zs.rewards[0]))[:, 0].ravel()
    e1 = (r[:, 1] - np.asarray(zs.rewards[1]))[:, 0].ravel()
    assert 0.09 < e0.std() < 0.11 and 0.09 < e1.std() < 0.11
    assert abs(np.corrcoef(e0, e1)[0, 1]) < 0.1
    # A general-sum game gets independent noise by default, as before.
    gs = _one(G.random_general_sum(KEY, 2, (2, 2), 2, 3))
    fam_gs = G.perturb_rewards(KEY, gs, 3, 0.1)
    explicit = G.perturb_rewards(KEY, gs, 3, 0.1, coupling="independent")
    np.testing.assert_array_equal(fam_gs.rewards, explicit.rewards)
    # The default zero-sum family is the explicit zero_sum one, bit for bit.
    np.testing.assert_array_equal(
        G.perturb_rewards(KEY, zs, 3, 0.1).rewards,
        G.perturb_rewards(KEY, zs, 3, 0.1, coupling="zero_sum").rewards,
    )


def test_zero_sum_noise_law():
    zs = G.zoo.mao2023_zero_sum(horizon=3)
    fam = G.perturb_rewards(KEY, zs, 500, 0.2)
    eps = (np.asarray(fam.rewards[:, 0]) - np.asarray(zs.rewards[0]))[:, 0]
    assert abs(eps.mean()) < 0.02
    assert 0.18 < eps.std() < 0.22
    # zero std: every member is the base game
    same = G.perturb_rewards(KEY, zs, 2, 0.0)
    np.testing.assert_array_equal(same.rewards[1], zs.rewards)


def test_traced_dense_rewards_need_an_explicit_coupling():
    base = _dense_zero_sum()  # zero-sum values, stored densely

    def family(r, coupling=None):
        game = eqx.tree_at(lambda g: g.reward_model.tables, base, r)
        return G.perturb_rewards(KEY, game, 2, 0.1, coupling=coupling).rewards

    tables = base.reward_model.tables
    with pytest.raises(ValueError, match="coupling is None and the game's rewards"):
        jax.jit(family)(tables)
    traced = jax.jit(lambda r: family(r, "zero_sum"))(tables)
    # the eager default is zero_sum (up to XLA's fusion of std * eps under jit)
    np.testing.assert_allclose(traced, family(tables), rtol=1e-14, atol=1e-15)
