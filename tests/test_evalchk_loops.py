"""Every loop is bounded and says when it stopped without converging; solver
outputs stay on the simplex; chunking changes no number.

- Policy iteration that never settles (an improvement step that flips between
  two policies, as rounding can make near-ties do) stops after
  ``MAX_POLICY_ITERATIONS`` rounds and reports it; the best-response values of
  that game are NaN and :attr:`Report.finite` is ``False`` for it alone.
- A batch of random potential games under ``jit(vmap(report))`` returns with
  every member's status.
- ``ZeroSumOMD`` on Kuhn poker in float32 after 3,000 iterations gives a policy
  that ``nash_conv`` accepts (the average is renormalised).
- ``solve_batch`` gives the same float32 bits for every chunk size.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
import marlmeta.evaluation as E
import marlmeta.games as G
import marlmeta.policies as P
from marlmeta.games import _linear_solves as _discounted


def _potential_batch(n, dtype=jnp.float32):
    """The issue's family: random potential games, ``(2, 2)`` actions, 3 states."""
    games = G.random_potential(
        jax.random.key(0), n, (2, 2), 3, discount=0.9, dtype=dtype
    )
    keys = jax.random.split(jax.random.key(1), n)
    policies = jax.vmap(lambda g, k: P.random_policy(g, key=k))(games, keys)
    return games, policies


def test_a_flipping_search_stops_at_the_cap_and_says_so():
    # ties broken the other way every round
    flip = _discounted._rounds(lambda d, _: 1 - d)
    d, converged = jax.jit(_discounted._policy_iteration, static_argnums=0)(
        flip, jnp.zeros(3, jnp.int32)
    )
    assert not bool(converged)
    # The cap is even: the search stopped where it started, after the cap.
    np.testing.assert_array_equal(
        d, np.zeros(3) + _discounted.MAX_POLICY_ITERATIONS % 2
    )
    settle = _discounted._rounds(lambda d, _: jnp.minimum(d + 1, 4))
    d, converged = _discounted._policy_iteration(settle, jnp.zeros(3, jnp.int32))
    assert bool(converged)
    np.testing.assert_array_equal(d, [4, 4, 4])


def _report():
    """A fresh compiled ``vmap(report)`` (traced again: it reads the cap anew)."""
    return jax.jit(jax.vmap(lambda g, p: E.report(g, p)))


def test_an_unconverged_best_response_is_flagged_per_game(monkeypatch):
    # General-sum games: their best responses need several rounds (in a
    # potential game of this family the first greedy guess is already optimal).
    games = G.random_general_sum(jax.random.key(0), 16, (2, 2), 3, discount=0.9)
    keys = jax.random.split(jax.random.key(1), 16)
    policies = jax.vmap(lambda g, k: P.random_policy(g, key=k))(games, keys)
    ref = _report()(games, policies)
    assert bool(jnp.all(ref.finite))
    # One round only: the games whose search needs more stop unconverged.
    monkeypatch.setattr(_discounted, "MAX_POLICY_ITERATIONS", 1)
    capped = _report()(games, policies)
    flags = np.asarray(capped.finite)
    assert flags.any() and not flags.all(), flags
    assert np.isnan(np.asarray(capped.gains)[~flags]).any(axis=-1).all()
    np.testing.assert_array_equal(capped.gains[flags], ref.gains[flags])
    np.testing.assert_array_equal(capped.values, ref.values)  # no search in values
    # The scalar metrics raise rather than answer for the unconverged games.
    with pytest.raises(Exception, match="nash_conv is not finite"):
        jax.jit(jax.vmap(lambda g, p: E.nash_conv(g, p)))(games, policies)


def test_a_batch_of_random_potential_games_returns_with_every_status():
    games, policies = _potential_batch(512)
    rep = jax.jit(jax.vmap(E.report))(games, policies)
    assert rep.finite.shape == (512,) and bool(jnp.all(rep.finite))
    nash_conv = jax.jit(jax.vmap(E.nash_conv))(games, policies)
    np.testing.assert_allclose(nash_conv, rep.nash_conv, rtol=1e-6)
    assert bool(jnp.all(nash_conv >= -1e-5))


def test_float32_solver_output_after_many_iterations_is_on_the_simplex():
    game = G.zoo.kuhn_poker()  # float32
    sol = jax.jit(lambda g: M.solve(M.solvers.ObservedZeroSumOMD(0.1), g, 3000))(game)
    tol = P.simplex_tolerance(jnp.float32)
    for table in sol.policy:
        assert table.dtype == jnp.float32
        assert (
            float(jnp.max(jnp.abs(table.sum(-1) - 1))) <= 8 * np.finfo(np.float32).eps
        )
        assert float(jnp.min(table)) >= -tol
    gap = E.nash_conv(game, sol.policy)  # accepted: no ValueError
    np.testing.assert_allclose(gap, sol.trace.nash_conv[-1], rtol=1e-4, atol=1e-6)
    assert 0 <= float(gap) < float(E.nash_conv(game, P.observation_uniform(game)))


def test_simplex_tolerance_is_stated_per_dtype():
    assert P.simplex_tolerance(jnp.float64) == P.PROB_TOL == 1e-6
    assert P.simplex_tolerance(jnp.float32) == 1e-5
    assert P.simplex_tolerance(jnp.float16) == 1e-2
    game = G.zoo.matching_pennies()
    mu = np.array([[[0.5 + 4e-6, 0.5]]])  # off by 4e-6: float32 yes, float64 no
    nu = np.full((1, 1, 2), 0.5)
    E.nash_conv(game, (mu.astype(np.float32), nu.astype(np.float32)))
    with pytest.raises(ValueError, match=r"sums to 1.000004.*tolerance 1e-06"):
        E.nash_conv(game, (mu, nu))


def test_chunking_changes_no_float32_number():
    games = G.random_potential(jax.random.key(3), 5, (2, 3), 4, discount=0.9)
    solver = M.solvers.GradientPlay(0.1)
    ref = M.solve_batch(solver, games, 10, checkpoints=(5, 10))
    for chunk in (1, 2):  # both compile a chunk of two games
        out = M.solve_batch(solver, games, 10, checkpoints=(5, 10), chunk_size=chunk)
        for a, b in zip(jax.tree.leaves(ref), jax.tree.leaves(out), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=f"chunk_size={chunk}")
