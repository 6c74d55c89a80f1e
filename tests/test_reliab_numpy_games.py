"""Games whose leaves are NumPy arrays (``jax.tree.map(np.asarray, game)``,
e.g. after saving or building them by hand) run eagerly through the exact
solvers and the meta-learners, whose loops close over the game, with the
numbers of the same game held in JAX arrays. (The solvers' eager ``solve``
and ``solve_batch`` on such games are checked for every solver in
tests/test_conformance.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
import marlmeta.games as G


def _numpy(tree):
    return jax.tree.map(np.asarray, tree)


def _assert_identical(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_zero_sum_equilibrium_of_a_numpy_game(key):
    game = G.unstack(G.random_zero_sum(key, 1, (2, 3), 2, 3, dtype=jnp.float64))[0]
    numpy_game = _numpy(game)
    assert all(isinstance(x, np.ndarray) for x in jax.tree.leaves(numpy_game))
    got = M.exact.zero_sum_equilibrium(numpy_game)
    assert bool(got.converged)
    _assert_identical(got, M.exact.zero_sum_equilibrium(game))


@pytest.mark.parametrize("solve", [M.exact.markov_cce, M.exact.markov_ce])
def test_correlated_equilibria_of_a_numpy_game(key, solve):
    games = G.random_general_sum(key, 1, (2, 2), 2, 2, dtype=jnp.float64)
    game = G.unstack(games)[0]
    got = solve(_numpy(game))
    assert bool(got.converged)
    _assert_identical(got, solve(game))


def test_meta_learning_on_numpy_games(key):
    """MAML's inner loop closes over the game (a NumPy leaf became a constant
    folded into the compiled loop: other last bits than the JAX game's run)
    and its outer loop indexes the pool (a NumPy pool failed to trace)."""
    import optax

    games = G.random_identical_interest(key, 2, (2, 2), 2, discount=0.8)
    theta = (jnp.zeros((2, 2)), jnp.zeros((2, 2)))
    game = G.unstack(games)[0]
    inner = M.meta.inner_loop(_numpy(game), _numpy(theta), 3, 0.1)
    _assert_identical(inner, M.meta.inner_loop(game, theta, 3, 0.1))

    def run(pool):
        return M.meta.maml(pool, theta, optax.sgd(0.1), 1, 1, 0.1, key=key)

    _assert_identical(run(_numpy(games)), run(games))
