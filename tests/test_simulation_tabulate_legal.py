"""``tabulate`` renormalises a network's probabilities over the legal actions.

Reference: the network evaluated in NumPy on its one-hot observation vectors
(observation, then step), the illegal entries zeroed and each row divided by
its sum (uniform over the legal actions where none has mass), the legal sets
of an observation taken as the actions legal at every state it covers. The
exact metrics refuse the raw table and accept the tabulated one, which
evaluates like the NumPy table.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from marlmeta import evaluation as E, games as G, policies as P, simulation as S

jax.config.update("jax_enable_x64", True)

# Player 0 loses action 2 in state 0 and action 0 in state 1; player 1 loses
# action 1 in state 2.
M0 = np.array([[1, 1, 0], [0, 1, 1], [1, 1, 1]], bool)
M1 = np.array([[1, 1], [1, 1], [1, 0]], bool)


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _masked(p, m):
    """NumPy: ``p`` zeroed off ``m`` and renormalised (uniform if no mass)."""
    q = np.where(m, p, 0.0)
    s = q.sum(-1, keepdims=True)
    return np.where(s > 0, q / np.where(s > 0, s, 1), m / m.sum(-1, keepdims=True))


def _nets(weights):
    return [lambda v, w=w: jax.nn.softmax(v @ w) for w in weights]


def test_discounted_network_on_illegal_actions_is_masked_and_evaluated():
    rng = np.random.default_rng(0)
    r = rng.uniform(size=(2, 3, 3, 2))
    p = rng.dirichlet(np.ones(3), (3, 3, 2))
    rho = rng.dirichlet(np.ones(3))
    game = G.discounted_game(r, p, rho, 0.7, legal=G.LegalActions([M0, M1]))
    env = S.MarkovGameEnv(game, num_steps=4)
    weights = [rng.normal(size=(3, 3)), rng.normal(size=(3, 2))]
    # Agent 0's network: all its mass on action 2 (illegal) in state 0.
    weights[0][0] = [-1e3, -1e3, 0.0]  # exp(-1e3) is 0 in float64
    raw = [_softmax(w) for w in weights]  # observation vector of s: e_s
    want = [_masked(q, m) for q, m in zip(raw, (M0, M1), strict=True)]
    np.testing.assert_allclose(want[0][0], [0.5, 0.5, 0.0])

    tab = S.tabulate(env, _nets(weights))
    for got, w in zip(tab.tables, want, strict=True):
        np.testing.assert_allclose(got, w, rtol=1e-12, atol=1e-15)
    # Agent 1's state 0 and 1 rows had no illegal mass: kept bit for bit.
    net1 = np.asarray(jax.nn.softmax(jnp.asarray(weights[1])))
    np.testing.assert_array_equal(np.asarray(tab.tables[1])[:2], net1[:2])
    with pytest.raises(ValueError, match="illegal"):
        E.nash_conv(game, P.ProductPolicy(raw))
    np.testing.assert_allclose(
        E.nash_conv(game, tab), E.nash_conv(game, P.ProductPolicy(want)), rtol=1e-12
    )


def test_observed_network_uses_the_observation_legal_sets():
    rng = np.random.default_rng(1)
    H = 2
    base = G.markov_game(
        rng.uniform(size=(2, H, 3, 3, 2)),
        rng.dirichlet(np.ones(3), (H, 3, 3, 2)),
        rng.dirichlet(np.ones(3)),
    )
    masks = [np.broadcast_to(m, (H, *m.shape)) for m in (M0, M1)]
    masked = dataclasses.replace(base, legal=G.LegalActions(masks))
    # Player 0 sees states 1 and 2 as one observation; player 1 sees the state.
    obs0 = np.array([[0, 1, 1], [0, 1, 1]])
    game = G.observe(masked, [obs0, np.tile(np.arange(3), (H, 1))], check=False)
    env = S.MarkovGameEnv(game)
    weights = [rng.normal(size=(2 + H, 3)), rng.normal(size=(3 + H, 2))]
    tab = S.tabulate(env, _nets(weights))
    # Observation vector of (h, o): e_o then e_h, so logits w[o] + w[O + h].
    legal = [np.array([M0[0], M0[1] & M0[2]]), M1]
    want = []
    for i, (w, m) in enumerate(zip(weights, legal, strict=True)):
        count = m.shape[0]
        logits = w[None, :count] + w[count:, None]  # (H, O_i, A_i)
        want.append(_masked(_softmax(logits), m[None]))
        np.testing.assert_allclose(tab.tables[i], want[i], rtol=1e-12, atol=1e-15)
    assert float(np.asarray(tab.tables[0])[:, 1, 0].max()) == 0.0
    raw = [
        _softmax(w[None, : m.shape[0]] + w[m.shape[0] :, None])
        for w, m in zip(weights, legal, strict=True)
    ]
    with pytest.raises(ValueError, match="illegal"):
        E.nash_conv(game, game.observation_policy(raw))
    np.testing.assert_allclose(
        E.nash_conv(game, tab),
        E.nash_conv(game, game.observation_policy(want)),
        rtol=1e-12,
    )


def test_all_legal_rows_are_unchanged_and_bad_functions_are_named():
    game = G.zoo.kuhn_poker(jnp.float32)
    env = S.MarkovGameEnv(game)
    w = np.random.default_rng(2).normal(size=(13 + 3, 2)).astype(np.float32)
    tab = S.tabulate(env, _nets([w, w]))
    vectors = S.observation_table(env, 0)
    raw = jax.vmap(lambda v: jax.nn.softmax(v @ w))(vectors.reshape(-1, 16))
    np.testing.assert_array_equal(tab.tables[0], raw.reshape(3, 13, 2))
    assert tab.tables[0].dtype == jnp.float32
    with pytest.raises(ValueError, match=r"policy_fn\[1\] gives 3 probabilities"):
        S.tabulate(env, [lambda v: jax.nn.softmax(v @ w), lambda v: jnp.ones(3) / 3])
