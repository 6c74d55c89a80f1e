"""Games: validation, transition representations, generators, families."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import marlmeta.evaluation as E
import marlmeta.games as G
import marlmeta.policies as P


def _valid(rng, n=2, H=2, S=2, acts=(2, 2)):
    r = rng.uniform(size=(n, H, S, *acts))
    p = rng.uniform(0.1, 1, size=(H, S, *acts, S))
    p /= p.sum(-1, keepdims=True)
    init = np.full(S, 1.0 / S)
    return r, p, init


shapes = st.tuples(
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)
)


@settings(max_examples=30, deadline=None)
@given(shapes, st.integers(0, 2**31 - 1))
def test_valid_inputs_never_raise(shape, seed):
    H, S, A, B = shape
    r, p, init = _valid(np.random.default_rng(seed), 2, H, S, (A, B))
    g = G.markov_game(r, p, init)
    assert (g.horizon, g.num_states, g.num_actions) == (H, S, (A, B))


CORRUPTIONS = ["nan_reward", "inf_transition", "negative", "row_sum", "initial"]


@settings(max_examples=60, deadline=None)
@given(shapes, st.integers(0, 2**31 - 1), st.sampled_from(CORRUPTIONS), st.data())
def test_malformed_inputs_name_the_index(shape, seed, kind, data):
    H, S, A, B = shape
    r, p, init = _valid(np.random.default_rng(seed), 2, H, S, (A, B))
    if kind == "nan_reward":
        idx = data.draw(st.tuples(*[st.integers(0, d - 1) for d in r.shape]))
        r[idx] = np.nan
        expect = ("rewards", idx)
    elif kind == "inf_transition":
        idx = data.draw(st.tuples(*[st.integers(0, d - 1) for d in p.shape]))
        p[idx] = np.inf
        expect = ("transitions", idx)
    elif kind == "negative":
        idx = data.draw(st.tuples(*[st.integers(0, d - 1) for d in p.shape]))
        p[idx] = -0.5
        expect = ("transitions", idx)
    elif kind == "row_sum":
        idx = data.draw(st.tuples(*[st.integers(0, d - 1) for d in p.shape]))
        p[idx] += 0.25
        expect = ("transitions", idx[:-1])
    else:
        if S == 1:
            init = np.array([0.5])
            idx = ()
        else:
            init = init * 0.5
            idx = (0,)
        expect = ("initial", idx)
    with pytest.raises(ValueError) as err:
        G.markov_game(r, p, init)
    msg = str(err.value)
    name, idx = expect
    assert msg.startswith(name)
    assert str(list(idx)) in msg or (kind == "initial" and "sums to" in msg)


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda r, p, i: G.markov_game(r[:, :0], p[:0], i), "horizon 0"),
        (
            lambda r, p, i: G.markov_game(r[..., :0], p[..., :0, :], i),
            "empty action set for player 1",
        ),
        (lambda r, p, i: G.markov_game(r, p[:, :, :1], i), "transitions has shape"),
        (lambda r, p, i: G.markov_game(r, p, np.ones(3) / 3), "initial has shape"),
        (lambda r, p, i: G.discounted_game(r[:, 0], p[:1], i, 1.0), "discount is 1.0"),
        (
            lambda r, p, i: G.discounted_game(r[:, 0], p[:1], i, -0.1),
            "discount is -0.1",
        ),
        (lambda r, p, i: G.markov_game(r[:1], p, i), "rewards has shape"),
    ],
)
def test_structural_errors(make, fragment):
    r, p, init = _valid(np.random.default_rng(0))
    with pytest.raises(ValueError, match=fragment):
        make(r, p, init)


def test_sparse_and_factored_agree_with_dense(key):
    # A factored 2-player game: local states (2, 3), actions (2, 2).
    ks = jr.split(key, 4)
    local = (
        jr.dirichlet(ks[0], jnp.ones(2), (3, 2, 2)),
        jr.dirichlet(ks[1], jnp.ones(3), (3, 3, 2)),
    )
    fac = G.FactoredTransitions(local)
    dense = np.asarray(fac.dense())
    S = 6
    # brute-force dense kernel from the definition.
    ref = np.zeros((3, S, 2, 2, S))
    for h in range(3):
        for s0 in range(2):
            for s1 in range(3):
                for a in range(2):
                    for b in range(2):
                        for t0 in range(2):
                            for t1 in range(3):
                                ref[h, s0 * 3 + s1, a, b, t0 * 3 + t1] = (
                                    local[0][h, s0, a, t0] * local[1][h, s1, b, t1]
                                )
    np.testing.assert_allclose(dense, ref, atol=1e-14)
    # sparse with full fan-out K = S.
    nxt = np.broadcast_to(np.arange(S), ref.shape)
    sparse = G.SparseTransitions(nxt, ref)
    rewards = jr.uniform(ks[2], (2, 3, S, 2, 2), jnp.float64)
    init = jnp.ones(S) / S
    games = [
        G.markov_game(rewards, t, init) for t in (G.DenseTransitions(ref), sparse, fac)
    ]
    v = jr.normal(ks[3], (S,), jnp.float64)
    outs = [np.asarray(g.transitions.expectation(1, v)) for g in games]
    np.testing.assert_allclose(outs[1], outs[0], atol=1e-13)
    np.testing.assert_allclose(outs[2], outs[0], atol=1e-13)
    pol = P.random_policy(games[0], key=ks[3])
    gains = [np.asarray(jax.jit(E.gains)(g, pol)) for g in games]
    np.testing.assert_allclose(gains[1], gains[0], atol=1e-12)
    np.testing.assert_allclose(gains[2], gains[0], atol=1e-12)


def test_sparse_validation():
    nxt = np.zeros((1, 2, 2, 2, 1), int)
    nxt[0, 1, 0, 1, 0] = 5
    with pytest.raises(ValueError, match=r"next_state\[0, 1, 0, 1, 0\] is 5"):
        G.markov_game(
            np.zeros((2, 1, 2, 2, 2)),
            G.SparseTransitions(nxt, np.ones_like(nxt, float)),
            [1, 0],
        )


@pytest.mark.parametrize("discount", [None, 0.9])
def test_generators_shapes_and_validity(key, discount):
    for gen in (G.random_general_sum, G.random_identical_interest, G.random_potential):
        b = gen(key, 5, (2, 3, 2), 3, 4, discount=discount, dtype=jnp.float64)
        assert b.rewards.shape[:2] == (5, 3)
        for g in G.unstack(b):
            probs = np.asarray(g.transitions.dense())
            if discount is None:
                G.markov_game(g.rewards, probs, g.initial)  # re-validates
            else:
                G.discounted_game(g.rewards, probs, g.initial, g.discount)
    b = G.random_zero_sum(key, 3, (2, 3), 2, 4, discount=discount)
    np.testing.assert_array_equal(b.rewards[:, 1], -b.rewards[:, 0])


@pytest.mark.parametrize("discount", [None, 0.8])
def test_potential_property_exact(key, discount):
    b = G.random_potential(
        key, 3, (2, 3, 2), 3, 4, discount=discount, dtype=jnp.float64
    )
    values, potential = jax.jit(E.values), jax.jit(E.potential)
    for k, g in enumerate(G.unstack(b)):
        keys = jr.split(jr.fold_in(key, k), 4)
        pi = P.random_policy(g, key=keys[0])
        for i in range(3):
            dev = P.random_policy(g, key=keys[1 + i])[i]
            pi2 = pi[:i] + (dev,) + pi[i + 1 :]
            dv = values(g, pi2)[i] - values(g, pi)[i]
            dphi = potential(g, pi2) - potential(g, pi)
            np.testing.assert_allclose(dv, dphi, atol=1e-12)


def test_perturbation_families(key):
    base = G.zoo.mao2023_zero_sum()
    fam = G.perturb_rewards(key, base, 50, 0.1, coupling="zero_sum")
    np.testing.assert_array_equal(fam.rewards[:, 1], -fam.rewards[:, 0])
    noise = np.asarray(fam.rewards[:, 0] - base.rewards[0])
    np.testing.assert_allclose(noise[:, 0], noise[:, 5], atol=1e-7)  # shared over h
    assert 0.07 < noise[:, 0].std() < 0.13
    ii = G.zoo.mao2023_identical_interest()
    fam2 = G.perturb_rewards(key, ii, 4, 0.1, coupling="identical")
    np.testing.assert_array_equal(fam2.rewards[:, 0], fam2.potential_reward)
    with pytest.raises(ValueError, match="coupling"):
        G.perturb_rewards(key, ii, 4, 0.1, coupling="independent")
    fam3 = G.perturb_transitions(key, base, 7, 0.3)
    sums = np.asarray(fam3.transitions.probs.sum(-1))
    np.testing.assert_allclose(sums, 1, atol=1e-6)
    assert np.all(np.asarray(fam3.transitions.probs) >= 0)


def test_stack_roundtrip(key):
    b = G.random_general_sum(key, 4)
    again = G.stack(G.unstack(b))
    assert jax.tree.all(jax.tree.map(lambda x, y: bool(jnp.all(x == y)), b, again))
    with pytest.raises(ValueError, match="games is empty"):
        G.stack([])


def test_zero_sum_and_identical_games_store_one_table(key):
    rng = np.random.default_rng(0)
    r = rng.uniform(size=(3, 2, 2, 3))  # H, S, A, B
    p = rng.dirichlet(np.ones(2), size=(3, 2, 2, 3))
    zs = G.markov_game(np.stack([r, -r]), p, [0.5, 0.5])
    assert isinstance(zs.reward_model, G.ZeroSumRewards)
    np.testing.assert_array_equal(zs.rewards, np.stack([r, -r]))
    ii = G.markov_game(np.stack([r, r]), p, [0.5, 0.5])
    assert isinstance(ii.reward_model, G.IdenticalRewards)
    np.testing.assert_array_equal(ii.rewards, np.stack([r, r]))
    gs = G.markov_game(np.stack([r, 1 - r]), p, [0.5, 0.5])
    assert isinstance(gs.reward_model, G.DenseRewards)
    # One table in the pytree, N players' worth in the dense view.
    stored = sum(x.size for x in jax.tree.leaves(zs.reward_model))
    assert stored == r.size and zs.rewards.size == 2 * r.size
    # Batches: the dense view keeps the batch axis in front; a zero-sum family
    # stays compact, independent noise makes it general-sum.
    fam = G.perturb_rewards(key, zs, 4, 0.1, coupling="zero_sum")
    assert isinstance(fam.reward_model, G.ZeroSumRewards)
    assert fam.rewards.shape == (4, 2, 3, 2, 2, 3)
    np.testing.assert_array_equal(fam.rewards[:, 1], -fam.rewards[:, 0])
    mixed = G.perturb_rewards(key, zs, 4, 0.1, coupling="independent")
    assert isinstance(mixed.reward_model, G.DenseRewards)
    one = jax.tree.map(lambda x: x[2], fam)
    np.testing.assert_array_equal(one.rewards, fam.rewards[2])
    batch = G.random_identical_interest(key, 3, (2, 3, 2), 2, discount=0.9)
    assert isinstance(batch.reward_model, G.IdenticalRewards)
    assert batch.rewards.shape == (3, 3, 2, 2, 3, 2)
    np.testing.assert_array_equal(batch.rewards[:, 2], batch.potential_reward)
