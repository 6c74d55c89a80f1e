"""Families of one game in ``solve_batch``: the structure every game shares
(successor indices, observation maps, legal masks) is mapped once, not once per
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


def masked_kuhn_family():
    """Kuhn poker with its legal masks as arrays (every action legal), and a
    family of it from ``perturb_rewards``."""
    base = G.zoo.kuhn_poker(jnp.float64)
    mask = np.ones((base.horizon, base.num_states, 2), bool)
    base = eqx.tree_at(lambda g: g.legal, base, G.LegalActions((mask, mask)))
    return base, G.perturb_rewards(jax.random.key(7), base, 3, 0.3)


def test_split_shared_maps_the_structure_once_and_the_numbers_per_game():
    base, games = masked_kuhn_family()
    varying, common = split_shared(games)
    # Integer and boolean structure is shared; every number stays batched.
    for mine, theirs in (
        (common.transitions.next_state, base.transitions.next_state),
        (common.observations[0], base.observations[0]),
        (common.observations[1], base.observations[1]),
        (common.legal.legal[1], base.legal.legal[1]),
    ):
        np.testing.assert_array_equal(mine, theirs)
    assert common.reward_model.reward is None and common.initial is None
    assert common.transitions.prob is None
    assert varying.reward_model.reward.shape == (3, *base.reward_model.reward.shape)
    assert varying.transitions.prob.shape == (3, *base.transitions.prob.shape)
    assert varying.transitions.next_state is None and varying.observations == (
        None,
        None,
    )
    for k, game in enumerate(G.unstack(games)):
        one = eqx.combine(jax.tree.map(lambda x, k=k: x[k], varying), common)
        for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(game), strict=True):
            np.testing.assert_array_equal(a, b)


def test_split_shared_batches_structure_that_differs_in_one_game():
    _, games = masked_kuhn_family()
    maps = games.observations[0].at[2, 1, 0].set(0)
    varying, common = split_shared(
        eqx.tree_at(lambda g: g.observations[0], games, maps)
    )
    assert common.observations[0] is None and common.observations[1] is not None
    assert varying.observations[0].shape == maps.shape
    # Under jit nothing is known to be shared: every leaf stays batched.
    shapes = jax.jit(lambda g: split_shared(g)[0])(games)
    assert jax.tree.structure(shapes) == jax.tree.structure(games)


def test_family_batch_equals_each_game_alone():
    _, games = masked_kuhn_family()
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
