"""Simulation: Monte-Carlo means against exact values, kernel frequencies by a
chi-square test, and the checks of ``simulate``.

References: exact ``marlmeta.evaluation.values`` (backward induction or linear
solves, themselves tested against NumPy) for the means, within 4 standard
errors at 10^5 episodes and fixed seeds; the game's own kernel and policy
tables (read as NumPy arrays) for Pearson chi-square tests of the empirical
next-state and joint-action frequencies at level 10^-3.
"""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import marlmeta as M
from marlmeta import evaluation as E, games as G, policies as P, simulation as S

EPISODES = 100_000
LEVEL = 1e-3


def one(batch):
    return G.unstack(batch)[0]


def random_joint(game, key):
    shape = (*game.lead_shape, *game.num_actions)
    logits = jax.random.normal(key, shape, jnp.float64)
    flat = jax.nn.softmax(logits.reshape(*game.lead_shape, -1), axis=-1)
    return P.CorrelatedPolicy(flat.reshape(shape))


def factored_game(key):
    k_r, k_p, k_0 = jax.random.split(key, 3)
    local = [
        jax.random.dirichlet(k, jnp.ones(3), (3, 3, 2)) for k in jax.random.split(k_p)
    ]
    rewards = jax.random.uniform(k_r, (2, 3, 9, 2, 2), jnp.float64)
    initial = jax.random.dirichlet(k_0, jnp.ones(9))
    return G.markov_game(rewards, G.FactoredTransitions(local), initial)


def observed_policy(game, key):
    keys = jax.random.split(key, game.num_players)
    return P.observation_policy(
        game,
        [
            jax.nn.softmax(jax.random.normal(k, (game.horizon, o, a), jnp.float64))
            for k, o, a in zip(
                keys, game.num_observations, game.num_actions, strict=True
            )
        ],
    )


def case(name):
    """``(game, policy, simulate keyword arguments)`` of each game kind."""
    k = jax.random.key(7)
    k1, k2 = jax.random.split(k)
    if name == "finite_dense_product":
        g = one(G.random_general_sum(k1, 1, (2, 3), 4, 5, dtype=jnp.float64))
        return g, P.ProductPolicy(P.random_policy(g, key=k2)), {}
    if name == "finite_zero_sum_correlated":
        g = one(G.random_zero_sum(k1, 1, (2, 2), 3, 4, dtype=jnp.float64))
        return g, random_joint(g, k2), {}
    if name == "finite_sparse_autoregressive":
        g = one(G.random_sparse_general_sum(k1, 1, (2, 2), 40, 4, 3, dtype=jnp.float64))
        return g, P.random_autoregressive(g, key=k2), {}
    if name == "finite_factored_product":
        g = factored_game(k1)
        return g, P.ProductPolicy(P.random_policy(g, key=k2)), {}
    if name == "observation_kuhn":
        g = G.zoo.kuhn_poker(jnp.float64)
        return g, observed_policy(g, k2), {}
    if name == "discounted_general_sum_truncation":
        g = one(G.random_general_sum(k1, 1, (2, 3), 4, discount=0.6, dtype=jnp.float64))
        return g, P.ProductPolicy(P.random_policy(g, key=k2)), {}
    if name == "cooperative_autoregressive_geometric":
        g = one(G.random_cooperative(k1, 1, (2, 2, 2), 3, 0.7, dtype=jnp.float64))
        pol = P.random_autoregressive(g, key=k2)
        return g, pol, {"termination": S.GeometricTermination(), "num_steps": 40}
    raise AssertionError(name)


CASES = [
    "finite_dense_product",
    "finite_zero_sum_correlated",
    "finite_sparse_autoregressive",
    "finite_factored_product",
    "observation_kuhn",
    "discounted_general_sum_truncation",
    "cooperative_autoregressive_geometric",
]


@functools.cache
def episodes(name):
    game, policy, kw = case(name)
    kw = {"num_steps": game.episode_steps(kw.pop("num_steps", None)), **kw}
    run = jax.jit(lambda g, p, k: S.simulate(g, p, k, EPISODES, **kw))
    return game, policy, run(game, policy, jax.random.key(11))


@eqx.filter_jit  # eagerly each of the exact values' operations compiles
def _estimate_and_zscore(returns, game, policy):
    est = S.estimate(returns)
    exact = E.values(game, policy)
    return est, exact, est.zscore(exact)


@pytest.mark.parametrize("name", CASES)
def test_means_agree_with_exact_values(name):
    game, policy, eps = episodes(name)
    est, exact, z = _estimate_and_zscore(eps.returns, game, policy)
    assert np.all(np.abs(z) < 4), (name, est.mean, exact, z)
    assert np.all(np.asarray(est.stderr) > 0)
    assert eps.returns.shape == (EPISODES, game.num_players)


def pearson(counts, probs):
    """Pearson chi-square over rows ``counts[r, k]`` against ``probs[r, k]``
    (rows with no visit skipped; cells of zero probability must be empty)."""
    n = counts.sum(-1, keepdims=True)
    keep = n[:, 0] > 0
    counts, probs, n = counts[keep], probs[keep], n[keep]
    assert np.all(counts[probs == 0] == 0), "a zero-probability outcome was drawn"
    expected = n * probs
    pos = probs > 0
    stat = np.sum((counts[pos] - expected[pos]) ** 2 / expected[pos])
    dof = int(np.sum(pos.sum(-1) - 1))
    return stats.chi2.sf(stat, dof)


def flat_index(actions, num_actions):
    return np.ravel_multi_index(tuple(np.moveaxis(actions, -1, 0)), num_actions)


@pytest.mark.parametrize(
    "name",
    [
        "finite_dense_product",
        "finite_sparse_autoregressive",
        "finite_factored_product",
        "cooperative_autoregressive_geometric",
    ],
)
def test_transition_frequencies_match_the_kernel(name):
    game, _, eps = episodes(name)
    kernel = np.asarray(game.transitions.dense())  # (T, S, *A, S)
    steps, num_s = kernel.shape[0], game.num_states
    t_axis = eps.states.shape[1]
    h = np.broadcast_to(np.arange(t_axis), eps.states.shape)
    h = h if steps > 1 else np.zeros_like(h)
    live = np.asarray(eps.alive)
    a = flat_index(np.asarray(eps.actions), game.num_actions)
    row = np.ravel_multi_index(
        (h[live], np.asarray(eps.states)[live], a[live]),
        (steps, num_s, int(np.prod(game.num_actions))),
    )
    counts = np.zeros((steps * num_s * int(np.prod(game.num_actions)), num_s))
    np.add.at(counts, (row, np.asarray(eps.next_states)[live]), 1)
    assert pearson(counts, kernel.reshape(-1, num_s)) > LEVEL


@pytest.mark.parametrize(
    "name",
    ["finite_zero_sum_correlated", "finite_sparse_autoregressive", "observation_kuhn"],
)
def test_action_frequencies_match_the_policy(name):
    game, policy, eps = episodes(name)
    joint = np.asarray(policy.joint())  # (H, S, *A)
    num_a = int(np.prod(game.num_actions))
    h = np.broadcast_to(np.arange(game.horizon), eps.states.shape)
    row = np.ravel_multi_index(
        (h.ravel(), np.asarray(eps.states).ravel()), (game.horizon, game.num_states)
    )
    a = flat_index(np.asarray(eps.actions), game.num_actions).ravel()
    counts = np.zeros((game.horizon * game.num_states, num_a))
    np.add.at(counts, (row, a), 1)
    assert pearson(counts, joint.reshape(-1, num_a)) > LEVEL


def test_observations_are_the_players_maps():
    game, _, eps = episodes("observation_kuhn")
    h = np.broadcast_to(np.arange(game.horizon), eps.states.shape)
    for i, o in enumerate(game.observations):
        want = np.asarray(o)[h, np.asarray(eps.states)]
        np.testing.assert_array_equal(np.asarray(eps.observations)[..., i], want)
    plain, _, eps = episodes("finite_dense_product")
    obs = np.asarray(eps.observations)
    np.testing.assert_array_equal(
        obs, np.repeat(np.asarray(eps.states)[..., None], 2, -1)
    )


def test_geometric_termination_and_returns_to_go():
    game, policy, eps = episodes("cooperative_autoregressive_geometric")
    c = np.asarray(eps.continuation)
    assert set(np.unique(c)) <= {0.0, 1.0}
    lengths = np.asarray(eps.alive).sum(1)
    # Episode length is geometric with mean 1 / (1 - gamma) (cut at 40 steps).
    np.testing.assert_allclose(lengths.mean(), 1 / 0.3, rtol=0.02)
    assert np.all(np.asarray(eps.dones).sum(1) == 1)
    g = np.asarray(eps.returns_to_go())
    np.testing.assert_allclose(g[:, 0], np.asarray(eps.returns), atol=1e-12)
    # Returns-to-go at t = 0 estimate Q(s_0, a_0): average by joint action.
    q = np.asarray(E.localized_q(game, policy)[-1])
    s0, a0 = np.asarray(eps.states)[:, 0], np.asarray(eps.actions)[:, 0]
    cell = (s0 == 0) & np.all(a0 == 0, axis=-1)
    est = S.estimate(jnp.asarray(g[cell, 0, 0]))
    assert abs(float(est.zscore(q[0, 0, 0, 0]))) < 4


def test_truncation_weights_are_discounts():
    game, _, eps = episodes("discounted_general_sum_truncation")
    w = np.asarray(eps.weights[0])
    np.testing.assert_allclose(w, 0.6 ** np.arange(w.shape[0]), rtol=1e-12)
    assert w.shape[0] == int(np.ceil(np.log(1e-6) / np.log(0.6)))
    assert int(eps.num_samples) == EPISODES * w.shape[0]


def test_float32_and_vmap_over_games():
    games = G.random_general_sum(jax.random.key(3), 3, (2, 3), 4, 5)
    pols = jax.vmap(P.uniform)(games)
    keys = jax.random.split(jax.random.key(4), 3)
    run = jax.jit(jax.vmap(lambda g, p, k: S.simulate(g, p, k, 20_000).returns))
    ret = run(games, pols, keys)
    assert ret.dtype == jnp.float32 and ret.shape == (3, 20_000, 2)
    exact = jax.vmap(E.values)(games, pols)
    se = np.asarray(ret.std(1)) / np.sqrt(20_000)
    assert np.all(np.abs(np.asarray(ret.mean(1) - exact)) < 4 * se + 1e-5)
    assert np.all(np.isfinite(np.asarray(ret)))


def test_top_level_name_and_numpy_policies():
    game = one(
        G.random_general_sum(jax.random.key(5), 1, (2, 2), 3, 2, dtype=jnp.float64)
    )
    tables = [np.full((2, 3, 2), 0.5), np.full((2, 3, 2), 0.5)]
    eps = M.simulate(game, tables, jax.random.key(0), 8)
    assert eps.actions.shape == (8, 2, 2)


def test_bad_input_is_named():
    games = G.random_general_sum(jax.random.key(5), 2, (2, 2), 3, 2, dtype=jnp.float64)
    game = one(games)
    pol = P.uniform(game)
    with pytest.raises(ValueError, match="takes one game"):
        S.simulate(games, pol, jax.random.key(0), 4)
    with pytest.raises(ValueError, match="num_episodes is 0"):
        S.simulate(game, pol, jax.random.key(0), 0)
    with pytest.raises(ValueError, match="num_steps is 3"):
        S.simulate(game, pol, jax.random.key(0), 4, num_steps=3)
    bad = [np.full((2, 3, 2), 0.5), np.full((2, 3, 2), 0.7)]
    with pytest.raises(ValueError, match=r"policy\[1\]\[0, 0\] sums to"):
        S.simulate(game, bad, jax.random.key(0), 4)
    disc = one(G.random_general_sum(jax.random.key(5), 1, (2, 2), 3, discount=0.5))
    with pytest.raises(ValueError, match="num_steps is -1"):
        S.simulate(disc, P.uniform(disc), jax.random.key(0), 4, num_steps=-1)
    with pytest.raises(ValueError, match="discount is traced"):
        jax.jit(lambda g: S.simulate(g, P.uniform(g), jax.random.key(0), 4).returns)(
            disc
        )
