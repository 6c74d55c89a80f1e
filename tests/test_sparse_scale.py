"""Random sparse games (fan-out K) and solve_batch's chunking by memory budget.

The full million-state runs are in ``benchmarks/million.py``; here the same
code paths run at small sizes against the NumPy references of
``tests/reference.py`` on a dense kernel rebuilt in NumPy from the successor
lists.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
import marlmeta.games as G
from tests import reference as ref


def numpy_dense(next_state, prob, num_states):
    """``P[t, s, a.., s']`` from the successor lists (repeats add up)."""
    lead = next_state.shape[:-1]
    p = np.zeros(lead + (num_states,))
    flat_p = p.reshape(-1, num_states)
    for row, (nxt, w) in enumerate(
        zip(
            next_state.reshape(-1, next_state.shape[-1]),
            prob.reshape(len(flat_p), -1),
            strict=True,
        )
    ):
        np.add.at(flat_p[row], nxt, w)
    return flat_p.reshape(p.shape)


@pytest.mark.parametrize("homogeneous", [False, True])
def test_sparse_zero_sum_nash_conv_and_omd(key, homogeneous):
    S, H, K = 7, 3, 3
    games = G.random_sparse_zero_sum(
        key, 2, (2, 2), S, H, K, time_homogeneous=homogeneous, dtype=jnp.float64
    )
    tr = games.transitions
    assert tr.next_state.shape == (2, 1 if homogeneous else H, S, 2, 2, K)
    assert G.random_sparse_zero_sum(key, 2, (2, 2), S, H, K).rewards.dtype == (
        jnp.float32
    )
    np.testing.assert_allclose(np.asarray(tr.prob).sum(-1), 1.0, atol=1e-12)
    game = jax.tree.map(lambda x: x[1], games)
    P = numpy_dense(
        np.asarray(game.transitions.next_state), np.asarray(game.transitions.prob), S
    )
    r, init = np.asarray(game.rewards), np.asarray(game.initial)
    np.testing.assert_array_equal(r[1], -r[0])
    pol = M.policies.random_policy(game, key=jax.random.key(2))
    want = (
        ref.finite_best_response_values(r, P, init, pol).sum()
        - ref.finite_values(r, P, init, pol).sum()
    )
    assert float(jax.jit(M.evaluation.nash_conv)(game, pol)) == pytest.approx(
        want, abs=1e-12
    )
    T = 15
    sol = M.solve(M.solvers.ZeroSumOMD(0.1), game, T)
    n = M.solvers.num_stages(H, T)
    u_mu, u_nu = np.full((n, H, S, 2), 0.5), np.full((n, H, S, 2), 0.5)
    mu, nu, _, _ = ref.omd_zero_sum(r[0], P, 0.1, T, u_mu, u_nu)
    np.testing.assert_allclose(sol.policy[0], mu, atol=1e-10)
    np.testing.assert_allclose(sol.policy[1], nu, atol=1e-10)


def test_sparse_general_sum(key):
    games = G.random_sparse_general_sum(key, 1, (2, 3, 2), 5, 2, 2, dtype=jnp.float64)
    game = jax.tree.map(lambda x: x[0], games)
    assert game.rewards.shape == (3, 2, 5, 2, 3, 2)
    P = numpy_dense(
        np.asarray(game.transitions.next_state), np.asarray(game.transitions.prob), 5
    )
    pol = M.policies.random_policy(game, key=key)
    r, init = np.asarray(game.rewards), np.asarray(game.initial)
    np.testing.assert_allclose(
        M.evaluation.gains(game, pol),
        ref.finite_best_response_values(r, P, init, pol)
        - ref.finite_values(r, P, init, pol),
        atol=1e-12,
    )


def test_sparse_bad_sizes(key):
    with pytest.raises(ValueError, match="fan_out is 0"):
        G.random_sparse_zero_sum(key, 1, fan_out=0)
    with pytest.raises(ValueError, match="a zero-sum game has 2 players"):
        G.random_sparse_zero_sum(key, 1, (2, 2, 2))


def test_chunked_equals_unchunked_exactly(key):
    games = G.random_sparse_zero_sum(key, 7, (2, 2), 20, 4, 3, dtype=jnp.float64)
    solver = M.solvers.ZeroSumOMD(0.2)
    whole = M.solve_batch(solver, games, 12, checkpoints=(5, 12))
    chunked = M.solve_batch(solver, games, 12, checkpoints=(5, 12), chunk_size=3)
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(chunked), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # a budget of a bit more than two games' working set gives chunks of two
    per = M.bytes_per_game(solver, games, 12, checkpoints=(5, 12))
    budget = M.solve_batch(
        solver, games, 12, checkpoints=(5, 12), memory_budget=int(2.5 * per)
    )
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(budget), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # one game over the budget: a clear error
    with pytest.raises(
        ValueError, match=r"memory_budget is 1000 bytes; one game needs"
    ):
        M.solve_batch(solver, games, 12, checkpoints=(5, 12), memory_budget=1000)
