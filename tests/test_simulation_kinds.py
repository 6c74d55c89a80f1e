"""Simulation of the discounted kinds the first checks left out: sparse and
factored kernels, with product, correlated and autoregressive policies, under
both termination rules.

References: exact ``marlmeta.evaluation.values`` (linear solves) for the means,
within 4 standard errors at 10^5 episodes and fixed seeds (the truncation at
``gamma^T <= 1e-6`` biases a mean by at most ``1e-6 max|r| / (1 - gamma)``,
three orders of magnitude below one standard error here); the game's kernel
and the policy's joint table, read as NumPy arrays, for Pearson chi-square
tests of the empirical next-state and joint-action frequencies at level
10^-3 (rows never visited are skipped; an outcome of probability 0 must never
occur).
"""

import functools

import jax
import numpy as np
import pytest
from scipy import stats

from marlmeta import evaluation as E, games as G, policies as P, simulation as S

EPISODES = 100_000
LEVEL = 1e-3
GAMMA = 0.5


def sparse_game(rng):
    """A discounted game with a fan-out-3 sparse kernel (repeats allowed)."""
    s, acts, fan = 5, (2, 3), 3
    nxt = rng.integers(0, s, (1, s, *acts, fan))
    prob = rng.dirichlet(np.ones(fan), (1, s, *acts))
    rewards = rng.uniform(size=(2, s, *acts))
    initial = rng.dirichlet(np.ones(s))
    return G.discounted_game(rewards, G.SparseTransitions(nxt, prob), initial, GAMMA)


def factored_game(rng):
    """A discounted two-player game on 3 x 2 local states."""
    sizes, acts = (3, 2), (2, 3)
    local = [
        rng.dirichlet(np.ones(si), (1, si, ai))
        for si, ai in zip(sizes, acts, strict=True)
    ]
    s = int(np.prod(sizes))
    rewards = rng.uniform(size=(2, s, *acts))
    initial = rng.dirichlet(np.ones(s))
    return G.discounted_game(rewards, G.FactoredTransitions(local), initial, GAMMA)


def correlated(game, rng):
    """A random correlated policy: a softmax over the joint actions."""
    logits = rng.normal(size=(*game.lead_shape, *game.num_actions))
    e = np.exp(logits)
    axes = tuple(range(1, e.ndim))
    return P.CorrelatedPolicy(e / e.sum(axis=axes, keepdims=True))


def case(name):
    """``(game, policy, simulate keyword arguments)``."""
    rng = np.random.default_rng(23)
    k2 = jax.random.key(29)
    geometric = {"termination": S.GeometricTermination(), "num_steps": 20}
    if name == "sparse_product_truncation":
        g = sparse_game(rng)
        return g, P.ProductPolicy(P.random_policy(g, key=k2)), {}
    if name == "sparse_correlated_geometric":
        g = sparse_game(rng)
        return g, correlated(g, rng), geometric
    if name == "factored_autoregressive_truncation":
        g = factored_game(rng)
        return g, P.random_autoregressive(g, key=k2), {}
    raise AssertionError(name)


CASES = [
    "sparse_product_truncation",
    "sparse_correlated_geometric",
    "factored_autoregressive_truncation",
]


@functools.cache
def episodes(name):
    game, policy, kw = case(name)
    steps = game.episode_steps(kw.pop("num_steps", None))
    return (
        game,
        policy,
        S.simulate(game, policy, jax.random.key(5), EPISODES, **kw, num_steps=steps),
    )


def pearson_p(counts, probs):
    """p-value of Pearson's chi-square of the rows ``counts[r]`` against
    ``probs[r]`` pooled over the visited rows."""
    seen = counts.sum(-1) > 0
    counts, probs = counts[seen], probs[seen]
    assert not np.any(counts[probs == 0]), "an outcome of probability 0 occurred"
    expected = counts.sum(-1, keepdims=True) * probs
    pos = probs > 0
    stat = np.sum((counts[pos] - expected[pos]) ** 2 / expected[pos])
    return stats.chi2.sf(stat, int(pos.sum() - pos.shape[0]))


def joint_index(actions, num_actions):
    return np.ravel_multi_index(tuple(np.moveaxis(actions, -1, 0)), num_actions)


@pytest.mark.parametrize("name", CASES)
def test_discounted_means_within_four_standard_errors(name):
    game, policy, eps = episodes(name)
    est = S.estimate(eps.returns)
    exact = np.asarray(E.values(game, policy))
    z = np.asarray(est.zscore(exact))
    assert np.all(np.abs(z) < 4), (name, est.mean, exact, z)
    # The cut at T leaves at most gamma^T of the weight behind.
    assert GAMMA ** eps.states.shape[1] <= 1e-6


@pytest.mark.parametrize("name", CASES)
def test_discounted_transition_and_action_frequencies(name):
    game, policy, eps = episodes(name)
    live = np.asarray(eps.alive)
    s = np.asarray(eps.states)[live]
    a = joint_index(np.asarray(eps.actions)[live], game.num_actions)
    num_a = int(np.prod(game.num_actions))
    kernel = np.asarray(game.transitions.dense())[0].reshape(-1, game.num_states)
    counts = np.zeros_like(kernel)
    np.add.at(counts, (s * num_a + a, np.asarray(eps.next_states)[live]), 1)
    assert pearson_p(counts, kernel) > LEVEL, name
    joint = np.asarray(policy.joint()).reshape(game.num_states, num_a)
    counts = np.zeros_like(joint)
    np.add.at(counts, (s, a), 1)
    assert pearson_p(counts, joint) > LEVEL, name
