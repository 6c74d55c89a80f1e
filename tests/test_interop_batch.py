"""Families of one game in ``solve_batch``: the structure every game shares
(successor indices and probabilities, observation maps) is mapped once, not once per
game, and every game's run is the run of that game alone, bit for bit."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import marlmeta as M
import marlmeta.games as G
from marlmeta._solve import split_shared


def nash_conv(game, policy):
    return M.evaluation.nash_conv(game, policy)


def kuhn_family(num_games: int = 3):
    base = G.zoo.kuhn_poker(jnp.float64)
    return base, G.perturb_rewards(jax.random.key(7), base, num_games, 0.3)


def test_split_shared_keeps_only_the_numbers_batched():
    base, games = kuhn_family()
    varying, common = split_shared(games)
    # The perturbed rewards vary; the tree, the masks and the maps are shared.
    assert varying.reward_model.reward.shape == (3, *base.reward_model.reward.shape)
    assert common.reward_model.reward is None
    for leaf in (
        common.transitions.next_state,
        common.transitions.prob,
        common.initial,
        *common.observations,
    ):
        assert leaf is not None
    np.testing.assert_array_equal(
        common.transitions.next_state, base.transitions.next_state
    )
    np.testing.assert_array_equal(common.observations[1], base.observations[1])
    for k, game in enumerate(G.unstack(games)):
        one = eqx.combine(jax.tree.map(lambda x, k=k: x[k], varying), common)
        for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(game), strict=True):
            np.testing.assert_array_equal(a, b)


def test_split_shared_batches_a_leaf_that_differs_in_one_game():
    _, games = kuhn_family()
    initial = games.initial.at[2].set(games.initial[2, ::-1])
    varying, common = split_shared(eqx.tree_at(lambda g: g.initial, games, initial))
    assert common.initial is None and varying.initial.shape == initial.shape
    # Under jit nothing is known to be shared: every leaf stays batched.
    shapes = jax.jit(lambda g: split_shared(g)[0])(games)
    assert jax.tree.structure(shapes) == jax.tree.structure(games)


def test_family_batch_equals_each_game_alone():
    _, games = kuhn_family()
    solver = M.solvers.PredictiveCFRPlus()
    out = M.solve_batch(solver, games, 12, checkpoints=(4, 12), metric=nash_conv)

    @jax.jit
    def alone(game):
        return M.solve(solver, game, 12, checkpoints=(4, 12), metric=nash_conv)

    traces = []
    for k, game in enumerate(G.unstack(games)):
        ref = alone(game)
        got = jax.tree.map(lambda x, k=k: x[k], out)
        for a, b in zip(jax.tree.leaves(ref), jax.tree.leaves(got), strict=True):
            np.testing.assert_array_equal(a, b)
        traces.append(np.asarray(got.trace))
    # Each game was solved on its own rewards.
    assert len({t.tobytes() for t in traces}) == len(traces)
    assert np.all(np.isfinite(traces)) and bool(out.finite.all())
