"""Games are the same whatever form their arrays come in, eagerly or under jit.

NumPy arrays, nested lists and JAX arrays give identical games (float64), and
float32 inputs from NumPy or JAX identical float32 games; a game built inside
``jax.jit`` (including from a kernel without the step axis) has the numbers of
the eagerly built one, checked against the input arrays themselves and through
NashConv; the properties of a batch read the right axes.
"""

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import marlmeta as M
import marlmeta.games as G


def _arrays(seed, H, S, A, B):
    rng = np.random.default_rng(seed)
    r = rng.uniform(-1, 1, size=(2, H, S, A, B))
    p = rng.dirichlet(np.ones(S), size=(H, S, A, B))
    init = rng.dirichlet(np.ones(S))
    return r, p, init


#: Each constructor, with the slices of (rewards, kernel, initial) it takes.
BUILDERS = {
    "markov_game": (G.markov_game, lambda r, p, i: (r, p, i)),
    "markov_game_homogeneous": (G.markov_game, lambda r, p, i: (r, p[0], i)),
    "zero_sum_game": (G.zero_sum_game, lambda r, p, i: (r[0], p, i)),
    "discounted_game": (
        lambda r, p, i: G.discounted_game(r, p, i, 0.75),
        lambda r, p, i: (r[:, 0], p[0], i),
    ),
    "cooperative_game": (
        lambda r, p, i: G.cooperative_game(r, p, i, 0.5),
        lambda r, p, i: (r[0, 0], p[0], i),
    ),
    "matrix_game": (G.matrix_game, lambda r, p, i: (r[:, 0, 0],)),
}


def _as(form, x):
    if form == "list":
        return np.asarray(x).tolist()
    if form == "jax64":
        return jnp.asarray(x, jnp.float64)
    if form == "jax32":
        return jnp.asarray(x, jnp.float32)
    if form == "numpy32":
        return np.asarray(x, np.float32)
    return np.asarray(x, np.float64)


def _assert_identical(a, b):
    la, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    assert ta == tb  # same kinds, static fields and reward model
    for x, y in zip(la, lb, strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**16),
    H=st.integers(1, 2),
    S=st.integers(1, 2),
    A=st.integers(1, 2),
    name=st.sampled_from(sorted(BUILDERS)),
)
def test_numpy_lists_and_jax_arrays_give_the_same_game(seed, H, S, A, name):
    build, take = BUILDERS[name]
    arrays = take(*_arrays(seed, H, S, A, 2))
    ref = build(*arrays)
    assert ref.rewards.dtype == jnp.float64
    for form in ("list", "jax64"):
        _assert_identical(build(*(_as(form, x) for x in arrays)), ref)
    g32 = build(*(_as("numpy32", x) for x in arrays))
    _assert_identical(build(*(_as("jax32", x) for x in arrays)), g32)
    assert g32.rewards.dtype == jnp.float32 and g32.initial.dtype == jnp.float32
    np.testing.assert_allclose(g32.rewards, ref.rewards, rtol=1e-6)
    np.testing.assert_allclose(
        g32.transitions.dense(), ref.transitions.dense(), rtol=1e-6
    )
    # The game's rewards are the input's (an independent reading of the arrays).
    r = _arrays(seed, H, S, A, 2)[0]
    expect = {
        "zero_sum_game": np.stack([r[0], -r[0]]),
        "discounted_game": r[:, 0],
        "cooperative_game": np.stack([r[0, 0]] * 2),
        "matrix_game": r[:, None, None, 0, 0],
    }.get(name, r)
    np.testing.assert_array_equal(ref.rewards, expect)
    # A batch where one game is expected: the documented message.
    batch = G.stack([ref, ref])
    assert batch.num_states == ref.num_states and batch.batch_shape == (2,)
    with pytest.raises(ValueError, match="perturb_rewards takes one game; got a batch"):
        G.perturb_rewards(jax.random.key(0), batch, 2, 0.1)


# N = 2, H = 3, S = 2, A = B = 2 (the shapes of tests/test_games.py).
R, P, INIT = _arrays(0, 3, 2, 2, 2)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_jit_built_game_equals_eager_built_game(name):
    build, take = BUILDERS[name]
    eager = build(*take(R, P, INIT))
    jitted = jax.jit(build)(*take(R, P, INIT))
    assert type(jitted) is type(eager)
    assert jitted.num_actions == eager.num_actions
    assert jitted.lead_shape == eager.lead_shape
    np.testing.assert_array_equal(jitted.rewards, eager.rewards)
    np.testing.assert_array_equal(jitted.initial, eager.initial)
    np.testing.assert_array_equal(jitted.transitions.dense(), eager.transitions.dense())
    # ... and those are the input arrays (kernel axes read correctly).
    kernel = {
        "markov_game": P,
        "zero_sum_game": P,
        "markov_game_homogeneous": P[:1],
        "discounted_game": P[:1],
        "cooperative_game": P[:1],
        "matrix_game": np.ones((1, 1, 2, 2, 1)),
    }[name]
    np.testing.assert_array_equal(eager.transitions.dense(), kernel)


def test_kernel_without_step_axis_nash_conv_jit_equals_eager():
    # Item 11 of issue 30: a kernel (S, A, B, S) given to markov_game inside jit
    # was read as (H, S, A, B) with H = S.
    def make(r, p, i):
        return G.markov_game(r, p, i)

    eager, jitted = make(R, P[0], INIT), jax.jit(make)(R, P[0], INIT)
    pol = M.policies.random_policy(eager, key=jax.random.key(1))
    nc = M.evaluation.nash_conv(eager, pol)
    np.testing.assert_allclose(M.evaluation.nash_conv(jitted, pol), nc, rtol=1e-12)
    # The same game with the step axis spelled out (H copies of the kernel).
    full = G.markov_game(R, np.broadcast_to(P[0], P.shape), INIT)
    np.testing.assert_allclose(M.evaluation.nash_conv(full, pol), nc, rtol=1e-12)
    # A Module built directly needs the step axis, eagerly and under jit alike.
    for run in (lambda f: f, jax.jit):
        with pytest.raises(ValueError, match=r"transitions has shape \(2, 2, 2, 2\)"):
            run(
                lambda p: G.FiniteHorizonGame(
                    R, G.DenseTransitions(p), INIT, None, (2, 2), 3
                )
            )(P[0])


@pytest.mark.parametrize("discount", [None, 0.9])
def test_properties_of_a_batch_read_the_right_axes(discount):
    # The shapes of tests/test_games.py's generator test (compilations shared).
    key = jax.random.key(0)
    for gen in (G.random_general_sum, G.random_identical_interest, G.random_potential):
        batch = gen(key, 5, (2, 3, 2), 3, 4, discount=discount, dtype=jnp.float64)
        one = G.unstack(batch)[0]
        assert batch.batch_shape == (5,) and one.batch_shape == ()
        assert batch.num_states == one.num_states == 3
        assert batch.num_players == one.num_players == 3
        assert batch.num_actions == one.num_actions == (2, 3, 2)
        assert batch.lead_shape == one.lead_shape
        assert batch.transitions.num_states == 3
        assert batch.rewards.shape == (5, *one.rewards.shape)
        with pytest.raises(ValueError, match="unstack takes a batch of games"):
            G.unstack(one)
    sparse = G.random_sparse_zero_sum(key, 2, (2, 2), 7, 3, 3)  # test_sparse_scale
    assert sparse.num_states == sparse.transitions.num_states == 7
