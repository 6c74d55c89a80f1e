"""No public call answers silently wrong on malformed input.

A catalogue of public calls (metrics, policy constructors, solvers'
hyperparameters, ``solve``/``solve_batch``) times malformed inputs: each gives
the documented ``ValueError`` (concrete input), a run-time ``eqx.error_if``
error (traced input), or a documented per-game flag (NaN and
``Solution.finite``/``Report.finite`` under ``vmap``); none returns a number.
A property test checks that NumPy arrays, lists, policy kinds built from NumPy,
JAX float32 and float64 give the same numbers, and that a batch passed where
one game is expected is the one documented error.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import marlmeta as M
import marlmeta.evaluation as E
import marlmeta.games as G
import marlmeta.policies as P

# The shapes of tests/test_api_contract.py (their compilations are shared).
FINITE = G.unstack(
    G.random_general_sum(jax.random.key(1), 1, (2, 3), 3, 4, dtype=jnp.float64)
)[0]
DISCOUNTED = G.unstack(
    G.random_potential(jax.random.key(2), 1, (2, 3), 3, discount=0.8, dtype=jnp.float64)
)[0]
BATCH = G.random_general_sum(jax.random.key(1), 4, (2, 3), 3, 4, dtype=jnp.float64)
METRICS = ("values", "gains", "nash_conv", "ne_gap", "best_response_values", "cce_gap")
BATCH_MESSAGE = r"got a batch of 4 games .*use jax.vmap or solve_batch"


def _policy(game, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(
        rng.dirichlet(np.ones(a), size=game.lead_shape) for a in game.num_actions
    )


def _malformed(game):
    """(label, product policy, message pattern) of concrete malformed policies."""
    mu, nu = _policy(game)
    first = (0,) * (mu.ndim - 1)
    neg, short, zeros, nan = mu.copy(), mu.copy(), mu.copy(), mu.copy()
    neg[first] = [1.25, -0.25]
    short[first] = [0.45, 0.45]  # sums to 0.9
    zeros[first] = 0.0
    nan[first + (0,)] = np.nan
    return [
        ("negative", (neg, nu), r"\[0\]\[[\d, ]+\] is -0.25"),
        ("sums to 0.9", (short, nu), r"\[0\]\[[\d, ]+\] sums to 0.9"),
        ("all zeros", (zeros, nu), r"\[0\]\[[\d, ]+\] sums to 0.0"),
        ("nan", (nan, nu), r"\[0\]\[[\d, ]+\] is nan"),
        ("complex", (mu.astype(complex), nu), "expected real numbers"),
        ("shape", (mu[..., :1], nu), r"\[0\] has shape"),
        ("players", (mu,), "1 per-player tables; the game has 2 players"),
    ]


@pytest.mark.parametrize("game", [FINITE, DISCOUNTED], ids=["finite", "discounted"])
@pytest.mark.parametrize("name", METRICS)
def test_metrics_refuse_malformed_policies_eagerly_and_under_jit(game, name):
    fn = getattr(E, name)
    for label, pol, pattern in _malformed(game):
        with pytest.raises(ValueError, match=pattern):
            fn(game, pol)
        if label in ("negative", "sums to 0.9", "all zeros"):
            # Traced tables: checked at run time, never a number.
            with pytest.raises(Exception, match="negative entry or a row off"):
                jax.jit(fn)(game, tuple(jnp.asarray(p) for p in pol))
    with pytest.raises(ValueError, match=name + " takes one game; " + BATCH_MESSAGE):
        fn(BATCH, _policy(FINITE))


def test_every_policy_taking_function_refuses_a_batch():
    pol = _policy(FINITE)
    calls = {
        "potential": lambda g: E.potential(g, pol),
        "averaged_q": lambda g: E.averaged_q(g, pol),
        "best_responses": lambda g: E.best_responses(g, pol),
        "report": lambda g: E.report(g, pol),
        "full_state_nash_conv": lambda g: E.full_state_nash_conv(g, pol),
        "uniform": P.uniform,
        "random_policy": lambda g: P.random_policy(g, key=jax.random.key(0)),
        "autoregressive_uniform": P.autoregressive_uniform,
        "random_autoregressive": lambda g: P.random_autoregressive(
            g, key=jax.random.key(0)
        ),
        "validate": lambda g: P.validate(g, pol),
        "solve": lambda g: M.solve(M.solvers.ZeroSumOMD(0.1), g, 2),
    }
    for name, call in calls.items():
        with pytest.raises(
            ValueError, match=name + " takes one game; " + BATCH_MESSAGE
        ):
            call(BATCH)


def test_policy_kinds_convert_numpy_and_lists_at_construction():
    mu, nu = _policy(FINITE)
    ref = E.nash_conv(FINITE, (jnp.asarray(mu), jnp.asarray(nu)))
    for kind in (
        P.ProductPolicy((mu, nu)),
        P.ProductPolicy([mu.tolist(), nu.tolist()]),
        P.CorrelatedPolicy(np.asarray(P.product_to_joint((mu, nu)))),
        P.AutoregressivePolicy([np.asarray(t) for t in P.from_product((mu, nu))]),
    ):
        assert all(isinstance(t, jax.Array) for t in jax.tree.leaves(kind))
        np.testing.assert_allclose(E.nash_conv(FINITE, kind), ref, atol=1e-12)
        np.testing.assert_allclose(jax.jit(E.nash_conv)(FINITE, kind), ref, atol=1e-12)


def test_softmax_refuses_logits_without_a_softmax():
    ok = jnp.zeros((3, 2))
    for bad, pattern in (
        (ok.at[1, 0].set(jnp.nan), r"theta\[0\]\[1, 0\] is nan"),
        (ok.at[2, 1].set(jnp.inf), r"theta\[0\]\[2, 1\] is inf"),
        (ok.at[0].set(-jnp.inf), r"theta\[0\]\[0\] is -inf everywhere"),
    ):
        with pytest.raises(ValueError, match=pattern):
            P.softmax((bad, ok))
        with pytest.raises(Exception, match="NaN or \\+inf logit"):
            jax.jit(P.softmax)((bad, ok))
        with pytest.raises(ValueError, match=pattern):
            P.autoregressive_softmax((bad,))
    # -inf is a zero probability, not an error.
    p = P.softmax((ok.at[0, 0].set(-jnp.inf),))[0]
    np.testing.assert_allclose(p[0], [0.0, 1.0])


def test_alpha_greedy_validates_alpha():
    pol = P.uniform(FINITE)
    for alpha, pattern in ((2, "alpha is 2"), (-0.1, "alpha is -0.1"), (np.nan, "nan")):
        with pytest.raises(
            ValueError, match=pattern + r".*expected a value in \[0, 1\]"
        ):
            P.alpha_greedy(pol, alpha)
    with pytest.raises(ValueError, match="expected a real number"):
        P.alpha_greedy(pol, 0.5 + 0.1j)
    with pytest.raises(Exception, match=r"alpha is not in \[0, 1\]"):
        jax.jit(P.alpha_greedy)(pol, 2.0)
    out = P.alpha_greedy((jnp.array([[1.0, 0.0]]),), 0.5)[0]
    np.testing.assert_allclose(out, [[0.75, 0.25]])


@pytest.mark.parametrize(
    "make",
    [
        M.solvers.ZeroSumOMD,
        M.solvers.GeneralSumOMD,
        M.solvers.GradientPlay,
        M.solvers.ProjectedQDescent,
        M.solvers.AdaptiveOFTRL,
    ],
    ids=lambda m: m.__name__,
)
def test_solver_step_sizes_are_finite_positive_reals(make):
    for bad, pattern in (
        (-0.1, "step_size is -0.1"),
        (0.0, "step_size is 0.0"),
        (np.nan, "step_size is nan"),
        (np.inf, "step_size is inf"),
        (0.1 + 1j, "step_size is"),
        ([0.1, -0.2], r"step_size\[1\] is -0.2"),
    ):
        with pytest.raises(ValueError, match=pattern):
            make(bad)


def test_solve_and_solve_batch_refuse_malformed_arguments():
    game = G.unstack(G.random_zero_sum(jax.random.key(0), 3, (2, 2), 2, 3))[0]
    games = G.random_zero_sum(jax.random.key(0), 3, (2, 2), 2, 3)
    solver = M.solvers.ZeroSumOMD(0.1)
    for kwargs, pattern in (
        ({"num_steps": 0}, "num_steps is 0"),
        ({"num_steps": 2.5}, "num_steps is 2.5"),
        ({"num_steps": 5, "checkpoints": (3, 2)}, r"checkpoints\[1\] is 2"),
        ({"num_steps": 5, "checkpoints": (6,)}, r"checkpoints\[0\] is 6"),
    ):
        with pytest.raises(ValueError, match=pattern):
            M.solve(solver, game, **kwargs)
        with pytest.raises(ValueError, match=pattern):
            M.solve_batch(solver, games, **kwargs)
    with pytest.raises(ValueError, match="chunk_size is 0"):
        M.solve_batch(solver, games, 5, chunk_size=0)
    # A batch of step sizes must match the batch of games.
    for eta, shape in (([0.1, 0.2], r"\(2,\)"), (0.1, r"\(\)")):
        with pytest.raises(ValueError, match=r"solver\.step_size has shape " + shape):
            M.solve_batch(M.solvers.ZeroSumOMD(eta), games, 5, batch_solver=True)


def _with_rewards(games, rewards):
    return eqx.tree_at(lambda g: g.reward_model, games, G.DenseRewards(rewards))


def test_zero_sum_solver_on_a_general_sum_game_raises_or_flags_per_game():
    general = G.random_general_sum(jax.random.key(0), 2, (2, 2), 2, 3)
    r = general.rewards  # (2 games, 2 players, H, S, A, B)
    mixed = _with_rewards(general, r.at[0, 1].set(-r[0, 0]))  # game 0 zero-sum
    solver = M.solvers.ZeroSumOMD(0.1)
    with pytest.raises(ValueError, match=r"game.rewards\[1, .*ZeroSumOMD needs a zero"):
        M.solve(solver, G.unstack(general)[0], 5)
    # Under vmap the precondition cannot raise: the general-sum game is NaN
    # and flagged, the zero-sum one is unaffected (compiled: an eager vmap
    # and solve dispatch op by op, some 100 small compilations).
    sol = jax.jit(jax.vmap(lambda g: M.solve(solver, g, 5)))(mixed)
    np.testing.assert_array_equal(sol.finite, [True, False])
    assert np.isnan(sol.trace.nash_conv[1]).all()
    ref = jax.jit(lambda g: M.solve(solver, g, 5))(G.unstack(mixed)[0])
    np.testing.assert_allclose(sol.trace.nash_conv[0], ref.trace.nash_conv, atol=1e-6)
    out = M.solve_batch(solver, mixed, 5)
    np.testing.assert_array_equal(out.finite, [True, False])


def test_cooperative_metrics_on_a_general_sum_game_raise_or_flag_per_game():
    general = G.random_general_sum(jax.random.key(0), 2, (2, 2), 2, discount=0.9)
    r = general.rewards  # (2 games, 2 players, S, A, B)
    mixed = _with_rewards(general, r.at[0, 1].set(r[0, 0]))  # game 0 shared
    with pytest.raises(ValueError, match="a cooperative game has one reward"):
        E.optimal_value(G.unstack(general)[0])
    v = jax.jit(jax.vmap(E.optimal_value))(mixed)  # compiled: one program
    assert np.isfinite(v[0]).all() and np.isnan(v[1]).all()
    # The shared game alone, compiled too (eagerly its loops re-trace and
    # re-compile on every call, and each operation compiles on its own).
    alone = jax.jit(E.optimal_value)(G.unstack(mixed)[0])
    np.testing.assert_allclose(v[0], alone, atol=1e-6)


def test_nan_and_overflowing_rewards_raise_instead_of_answering():
    pol = P.uniform(FINITE)
    bad = FINITE.rewards.at[0, 0, 0, 0, 0].set(jnp.nan)
    # Eagerly the reward model refuses NaN when it is built, naming the entry;
    # a game built under jit (no concrete values to check) reaches the metric,
    # whose own check then raises instead of answering.
    with pytest.raises(ValueError, match=r"rewards\[0, 0, 0, 0, 0\] is nan"):
        G.DenseRewards(bad)
    for name in METRICS:

        def metric(rewards, policy, name=name):
            game = eqx.tree_at(
                lambda g: g.reward_model, FINITE, G.DenseRewards(rewards)
            )
            return getattr(E, name)(game, policy)

        with pytest.raises(Exception, match=name + " is not finite"):
            jax.jit(metric)(bad, pol)
    # Finite float32 rewards whose values overflow float32.
    game = G.unstack(G.random_potential(jax.random.key(2), 1, (2, 3), 3, discount=0.8))[
        0
    ]
    huge = eqx.tree_at(
        lambda g: g.reward_model,
        game,
        G.DenseRewards(game.rewards / jnp.max(jnp.abs(game.rewards)) * 3e38),
    )
    with pytest.raises(ValueError, match="nash_conv is .*is not finite"):
        E.nash_conv(huge, P.uniform(huge))
    rep = E.report(huge, P.uniform(huge))  # never raises: the flag says it
    assert not bool(rep.finite)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**16),
    name=st.sampled_from(METRICS),
    discounted=st.booleans(),
)
def test_input_forms_agree_and_a_batch_is_refused(seed, name, discounted):
    game = DISCOUNTED if discounted else FINITE
    fn = getattr(E, name)
    pol = _policy(game, seed)
    ref = np.asarray(fn(game, tuple(jnp.asarray(p, jnp.float64) for p in pol)))
    forms = {
        "numpy": (pol, 1e-12),
        "list": ([p.tolist() for p in pol], 1e-12),
        "kind": (P.ProductPolicy(pol), 1e-12),
        "jax32": (tuple(jnp.asarray(p, jnp.float32) for p in pol), 1e-5),
    }
    for label, (form, tol) in forms.items():
        np.testing.assert_allclose(fn(game, form), ref, atol=tol, err_msg=label)
    with pytest.raises(ValueError, match=BATCH_MESSAGE):
        fn(BATCH, pol)
