"""DESIGN.md conformance checks, run for every solver in the catalogue."""

import functools
import os
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
import marlmeta.games as G
from tests.test_observations import tree_game


def _features(shape, dim=3, seed=0):
    """Random log-linear features ``phi_m`` of shape ``(S, A_0..A_m, dim)`` for
    ``shape = (S, A_0, .., A_{N-1})``, rows of norm at most 1; float32 so that
    the state keeps the game's dtype (float32 or float64)."""
    rng = np.random.default_rng(seed)
    out = []
    for m in range(1, len(shape)):
        f = rng.normal(size=(*shape[: m + 1], dim))
        f /= np.maximum(1.0, np.linalg.norm(f, axis=-1, keepdims=True))
        out.append(jnp.asarray(f, jnp.float32))
    return tuple(out)


def _cast(game, dtype):
    """``game`` with its floating-point leaves in ``dtype``."""
    floating = lambda x: jnp.issubdtype(x.dtype, jnp.floating)  # noqa: E731
    return jax.tree.map(lambda x: x.astype(dtype) if floating(x) else x, game)


def _observed_games(key, n, dtype):
    """``n`` small two-player zero-sum games with observations and perfect
    recall (the random tree game of ``tests/test_observations.py``)."""
    seeds = jax.random.randint(key, (n,), 0, 2**16)
    return G.stack([_cast(tree_game(int(s), True)[0], dtype) for s in seeds])


def _cooperative_games(key, n, dtype):
    """``n`` discounted cooperative games (one shared reward), 2 agents x 2
    actions, 3 states."""
    return G.random_cooperative(key, n, (2, 2), 3, 0.9, dtype=dtype)


SOLVERS = [
    pytest.param(
        lambda: M.solvers.ZeroSumOMD(0.1),
        lambda key, n, dtype: G.random_zero_sum(key, n, (2, 3), 3, 4, dtype=dtype),
        id="ZeroSumOMD",
    ),
    pytest.param(
        lambda: M.solvers.GeneralSumOMD(0.1),
        lambda key, n, dtype: G.random_general_sum(
            key, n, (2, 3, 2), 2, 4, dtype=dtype
        ),
        id="GeneralSumOMD",
    ),
    pytest.param(
        lambda: M.solvers.AdaptiveOFTRL(0.1),
        lambda key, n, dtype: G.random_general_sum(
            key, n, (2, 3, 2), 2, 3, dtype=dtype
        ),
        id="AdaptiveOFTRL",
    ),
    pytest.param(
        lambda: M.solvers.ProjectedQDescent(0.1),
        lambda key, n, dtype: G.random_potential(key, n, (2, 3), 2, 4, dtype=dtype),
        id="ProjectedQDescent-finite",
    ),
    pytest.param(
        lambda: M.solvers.ProjectedQDescent(0.05),
        lambda key, n, dtype: G.random_potential(
            key, n, (2, 3), 3, discount=0.8, dtype=dtype
        ),
        id="ProjectedQDescent-discounted",
    ),
    pytest.param(
        lambda: M.solvers.GradientPlay(0.5, barrier=0.01),
        lambda key, n, dtype: G.random_potential(
            key, n, (2, 3, 2), 2, discount=0.8, dtype=dtype
        ),
        id="GradientPlay",
    ),
    pytest.param(
        lambda: M.solvers.NaturalGradientPlay(0.5, barrier=0.01, clip=1.0),
        lambda key, n, dtype: G.random_identical_interest(
            key, n, (3, 2), 3, discount=0.8, dtype=dtype
        ),
        id="NaturalGradientPlay",
    ),
    pytest.param(
        lambda: M.solvers.CounterfactualOMD(1.0),
        lambda key, n, dtype: _observed_games(key, n, dtype),
        id="CounterfactualOMD",
    ),
    pytest.param(
        lambda: M.solvers.MultiAgentPPO(0.5),
        lambda key, n, dtype: _cooperative_games(key, n, dtype),
        id="MultiAgentPPO",
    ),
    pytest.param(
        lambda: M.solvers.LogLinearMAPPO(0.5, _features((3, 2, 2)), 2.0),
        lambda key, n, dtype: _cooperative_games(key, n, dtype),
        id="LogLinearMAPPO",
    ),
    pytest.param(
        lambda: M.solvers.SampledMAPPO(
            0.5, _features((3, 2, 2)), jax.random.key(1), 2.0, num_samples=16
        ),
        lambda key, n, dtype: _cooperative_games(key, n, dtype),
        id="SampledMAPPO",
    ),
    pytest.param(
        lambda: M.solvers.PessimisticMAPPO(
            0.5, _features((3, 2, 2)), jax.random.key(1), num_samples=16, ridge=1e-3
        ),
        lambda key, n, dtype: _cooperative_games(key, n, dtype),
        id="PessimisticMAPPO",
    ),
]


@pytest.mark.parametrize("make_solver, make_games", SOLVERS)
def test_state_structure_stable_and_finite(key, make_solver, make_games):
    solver = make_solver()
    game = G.unstack(make_games(key, 1, jnp.float32))[0]
    state = solver.init(game, solver.default_init(game, 40))
    step = jax.jit(lambda g, s: solver.step(g, s))
    for _ in range(12):  # crosses stage ends (H = 4)
        new = step(game, state)
        # identical treedef, shapes and dtypes: lax.cond accepts both branches.
        # lax.cond checks its branches' types when it traces them, so tracing
        # it under eval_shape is the same check without compiling (an eager
        # cond compiles a new program every iteration).
        jax.eval_shape(
            lambda a, b: jax.lax.cond(True, lambda: a, lambda: b), new, state
        )
        chex.assert_trees_all_equal_shapes_and_dtypes(new, state)
        state = new
    out = solver.output(game, state)
    chex.assert_tree_all_finite(out)
    # every floating leaf (an observation policy also holds its integer maps)
    leaves = jax.tree.leaves(out)
    assert all(x.dtype == jnp.float32 for x in leaves if x.dtype.kind != "i")


# One compiled run per solver class and game shape, shared by the two tests
# below (the solver is an argument, so every instance of a class reuses it);
# ``_TRACES`` counts its traces.
_TRACES = []
_STEPS, _CHECKPOINTS = 9, (4, 9)


@jax.jit
def _run(solver, game):
    _TRACES.append(1)
    return M.solve(solver, game, _STEPS, checkpoints=_CHECKPOINTS)


def _run_batch(solver, games):
    """``solve_batch`` in chunks of two (three games: a padded second chunk)."""
    return M.solve_batch(solver, games, _STEPS, checkpoints=_CHECKPOINTS, chunk_size=2)


@pytest.mark.parametrize("make_solver, make_games", SOLVERS)
def test_jit_equals_nojit_and_vmap_equals_loop(key, make_solver, make_games):
    solver = make_solver()
    games = make_games(key, 3, jnp.float64)
    # a batch of games with NumPy leaves (solve_batch slices each chunk from
    # them); the results' leaves as NumPy arrays: indexing them compiles nothing
    numpy_games = jax.tree.map(np.asarray, games)
    nbytes = M.bytes_per_game(solver, numpy_games, _STEPS, checkpoints=_CHECKPOINTS)
    assert nbytes == M.bytes_per_game(solver, games, _STEPS, checkpoints=_CHECKPOINTS)
    batched = jax.tree.map(np.asarray, _run_batch(solver, numpy_games))
    for k, g in enumerate(G.unstack(games)):
        jitted = _run(solver, g)
        if k == 0:  # eager dispatch is slow; one game shows jit changes nothing
            # and that a game with NumPy leaves runs eagerly (the loop bodies
            # close over the game; a NumPy leaf indexed by a traced step count
            # failed to trace in four solvers)
            numpy_game = jax.tree.map(np.asarray, g)
            eager = M.solve(solver, numpy_game, _STEPS, checkpoints=_CHECKPOINTS)
            chex.assert_trees_all_close(eager, jitted, atol=1e-12, rtol=0)
        one = jax.tree.map(lambda x, k=k: x[k], batched)
        chex.assert_trees_all_close(one, jitted, atol=1e-12, rtol=0)


def _floating(x) -> bool:
    """Whether a solver leaf is a floating-point number or array."""
    return jnp.issubdtype(getattr(x, "dtype", type(x)), jnp.floating)


@pytest.mark.parametrize("make_solver, make_games", SOLVERS)
def test_no_retrace_on_second_call(key, make_solver, make_games):
    # The games and programs of test_jit_equals_nojit_and_vmap_equals_loop:
    # after it, the first calls below are compiled already (run alone, the
    # first call traces once); a second call with another game of the same
    # shapes, or a second solve_batch, must not trace or compile again.
    solver = make_solver()
    games = make_games(key, 3, jnp.float64)
    g = G.unstack(games)
    before = len(_TRACES)
    _run(solver, g[0])
    assert len(_TRACES) - before <= 1
    first = len(_TRACES)
    _run(solver, g[1])
    assert len(_TRACES) == first
    _run_batch(solver, games)  # two chunks of two: one program
    from marlmeta._solve import _solve_chunk

    before = _solve_chunk._cached._cache_size()
    _run_batch(solver, games)
    assert _solve_chunk._cached._cache_size() == before
    # nor with other hyperparameters: a sweep over step sizes is one program
    # (a hyperparameter held as a Python float is static under filter_jit)
    halved = jax.tree.map(lambda x: x / 2 if _floating(x) else x, solver)
    _run_batch(halved, games)
    assert _solve_chunk._cached._cache_size() == before


# ---------------------------------------------------------------------------
# Catalogue: every solver on every game kind it applies to, and every metric on
# sparse and factored kernels against their dense equivalent.

H_CAT, S_CAT, STEPS_CAT = 3, 4, 7  # stages of lengths 3, 4: two stage ends


def _kernel(rep, rng, steps, acts):
    """A random kernel of representation ``rep`` over ``S_CAT`` states."""
    if rep == "dense":
        return G.DenseTransitions(rng.dirichlet(np.ones(S_CAT), (steps, S_CAT, *acts)))
    if rep == "sparse":  # fan-out 2 < S; repeated successors add up
        nxt = rng.integers(0, S_CAT, (steps, S_CAT, *acts, 2))
        return G.SparseTransitions(nxt, rng.dirichlet(np.ones(2), nxt.shape[:-1]))
    local_states = (2, 2) if len(acts) == 2 else (2, 2, 1)  # prod = S_CAT
    return G.FactoredTransitions(
        tuple(
            rng.dirichlet(np.ones(si), (steps, si, a))
            for si, a in zip(local_states, acts, strict=True)
        )
    )


@functools.cache
def _catalogue_game(spec, seed, dense=False):
    """Game ``spec = (rep, players, discounted, zero_sum, kind)`` for ``seed``;
    with ``dense``, the same game with ``DenseTransitions(transitions.dense())``.
    Built once per module (cached): several solvers share each game, and a
    game's construction runs eagerly, op by op.
    ``kind`` is ``"markov"``, ``"cooperative"`` (one shared reward) or
    ``"observed"`` (the random tree game with observations, dense only)."""
    rep, n, discounted, zero_sum, kind = spec
    if kind == "observed":
        return tree_game(seed, True)[0]
    rng = np.random.default_rng([seed, n, discounted, zero_sum])
    acts = (2, 3) if n == 2 else (2, 2, 2)
    trans = _kernel(rep, rng, 1 if discounted else H_CAT, acts)
    if dense:
        trans = G.DenseTransitions(trans.dense())
    initial = rng.dirichlet(np.ones(S_CAT))
    if discounted:
        rewards = rng.uniform(size=(n, S_CAT, *acts))
        if kind == "cooperative":
            return G.cooperative_game(rewards[0], trans, initial, 0.8)
        return G.discounted_game(rewards, trans, initial, 0.8)
    if zero_sum:
        return G.zero_sum_game(
            rng.uniform(-1, 1, (H_CAT, S_CAT, *acts)), trans, initial
        )
    return G.markov_game(rng.uniform(size=(n, H_CAT, S_CAT, *acts)), trans, initial)


def _name(rep, n, disc, zs, kind):
    time = "discounted" if disc else "finite"
    extra = "" if kind == "markov" else f"-{kind}"
    return f"{rep}-{n}p-{time}{'-zero-sum' if zs else ''}{extra}"


CATALOGUE = {
    _name(*spec): spec
    for spec in [
        ("dense", 2, False, True, "markov"),
        ("sparse", 2, False, True, "markov"),
        ("factored", 2, False, True, "markov"),
        ("dense", 3, False, False, "markov"),
        ("sparse", 3, False, False, "markov"),
        ("factored", 3, False, False, "markov"),
        ("dense", 3, True, False, "markov"),
        ("sparse", 2, True, False, "markov"),
        ("factored", 2, True, False, "markov"),
        ("dense", 2, True, False, "cooperative"),
        ("dense", 2, False, True, "observed"),
    ]
}
_COOP_SHAPE = (S_CAT, 2, 3)  # the cooperative catalogue game: S x A_0 x A_1


def _markov(s):
    return s[4] == "markov"


# Which catalogue games each solver applies to.
CATALOGUE_SOLVERS = {
    "ZeroSumOMD": (lambda: M.solvers.ZeroSumOMD(0.3), lambda s: s[3] and _markov(s)),
    "ObservedZeroSumOMD": (
        lambda: M.solvers.ObservedZeroSumOMD(0.3),
        lambda s: s[4] == "observed",
    ),
    "GeneralSumOMD": (
        lambda: M.solvers.GeneralSumOMD(0.3),
        lambda s: not s[2] and _markov(s),
    ),
    "AdaptiveOFTRL": (
        lambda: M.solvers.AdaptiveOFTRL(0.1),
        lambda s: not s[2] and _markov(s),
    ),
    "ProjectedQDescent": (lambda: M.solvers.ProjectedQDescent(0.1), _markov),
    "GradientPlay": (
        lambda: M.solvers.GradientPlay(0.5, barrier=0.01),
        lambda s: s[2],
    ),
    "NaturalGradientPlay": (
        lambda: M.solvers.NaturalGradientPlay(0.5, barrier=0.01, clip=1.0),
        lambda s: s[2],
    ),
    "CounterfactualOMD": (
        lambda: M.solvers.CounterfactualOMD(1.0),
        lambda s: s[4] == "observed",
    ),
    "CFRPlus": (lambda: M.solvers.CFRPlus(), lambda s: s[4] == "observed"),
    "PredictiveCFRPlus": (
        lambda: M.solvers.PredictiveCFRPlus(),
        lambda s: s[4] == "observed",
    ),
    "DiscountedCFR": (lambda: M.solvers.DiscountedCFR(), lambda s: s[4] == "observed"),
    "MultiAgentPPO": (
        lambda: M.solvers.MultiAgentPPO(0.5),
        lambda s: s[4] == "cooperative",
    ),
    "LogLinearMAPPO": (
        lambda: M.solvers.LogLinearMAPPO(0.5, _features(_COOP_SHAPE), 2.0),
        lambda s: s[4] == "cooperative",
    ),
    "SampledMAPPO": (
        lambda: M.solvers.SampledMAPPO(
            0.5, _features(_COOP_SHAPE), jax.random.key(1), 2.0, num_samples=16
        ),
        lambda s: s[4] == "cooperative",
    ),
    "PessimisticMAPPO": (
        lambda: M.solvers.PessimisticMAPPO(
            0.5, _features(_COOP_SHAPE), jax.random.key(1), num_samples=16, ridge=1e-3
        ),
        lambda s: s[4] == "cooperative",
    ),
}

# Solvers whose step is not smooth in its hyperparameters or initial policy,
# and why; tests/test_adjoint_gradients.py checks the gradients of all others.
NON_SMOOTH = {
    "CFRPlus": "regret matching+ clips the regrets at 0 (kinks) and has no "
    "hyperparameter to differentiate",
    "PredictiveCFRPlus": "regret matching+ clips the regrets at 0 (kinks)",
    "DiscountedCFR": "regret matching takes the positive part of the regrets (kinks)",
    "AdaptiveOFTRL": "lambda is found by a bisection while_loop of "
    "data-dependent length: piecewise constant in eta, and reverse mode "
    "cannot pass a while_loop",
    "ProjectedQDescent": "Euclidean projection onto the simplex (kinks where "
    "the support changes)",
    "LogLinearMAPPO": "ball-constrained least squares: an eigenvalue rank "
    "cut-off, a bisection for the multiplier and a switch between the free "
    "and the boundary solution",
    "SampledMAPPO": "samples (s, a) by categorical draws from the iterate: "
    "piecewise constant in the policy",
    "PessimisticMAPPO": "samples the mu-reset data by categorical draws from "
    "the iterate: piecewise constant in the policy",
}


def _keys(tree):
    """``tree`` with PRNG keys (in a sampling solver's state) as their data."""
    is_key = lambda x: jnp.issubdtype(x.dtype, jax.dtypes.prng_key)  # noqa: E731
    return jax.tree.map(lambda x: jax.random.key_data(x) if is_key(x) else x, tree)


# Shared compiled functions: the solver is an argument, so one trace serves
# every solver instance of a class and game of a shape.
_step = jax.jit(lambda solver, game, state: solver.step(game, state))
_vstep = jax.jit(
    jax.vmap(lambda solver, game, state: solver.step(game, state), (None, 0, 0))
)


@pytest.mark.parametrize(
    "solver_name, game_name",
    [
        (s, g)
        for s, (_, applies) in CATALOGUE_SOLVERS.items()
        for g, spec in CATALOGUE.items()
        if applies(spec)
    ],
)
def test_catalogue_solver_conformance(solver_name, game_name):
    solver = CATALOGUE_SOLVERS[solver_name][0]()
    games = [_catalogue_game(CATALOGUE[game_name], seed) for seed in (0, 1)]
    states = [solver.init(g, solver.default_init(g, STEPS_CAT)) for g in games]
    batched, stacked = G.stack(states), G.stack(games)
    for t in range(STEPS_CAT):
        new = [_step(solver, g, s) for g, s in zip(games, states, strict=True)]
        for a, b in zip(new, states, strict=True):  # structure stable
            assert jax.tree.structure(a) == jax.tree.structure(b)
            chex.assert_trees_all_equal_shapes_and_dtypes(a, b)
        if t == H_CAT - 1:  # jit == eager on the step that ends stage 0 (one
            # eager step only: eager dispatch re-traces every scan and cond)
            eager = solver.step(games[0], states[0])
            chex.assert_trees_all_close(_keys(eager), _keys(new[0]), atol=1e-12, rtol=0)
        states = new
        batched = _vstep(solver, stacked, batched)
    # the batch's leaves as NumPy arrays: indexing them compiles nothing
    batched = jax.tree.map(np.asarray, _keys(batched))
    for k, state in enumerate(states):  # vmap == loop
        chex.assert_trees_all_close(
            jax.tree.map(lambda x, k=k: x[k], batched), _keys(state), atol=1e-12, rtol=0
        )
        out = solver.output(games[k], state)
        chex.assert_tree_all_finite(out)
        leaves = jax.tree.leaves(out)  # observation maps are integers
        assert all(x.dtype == jnp.float64 for x in leaves if x.dtype.kind != "i")


@jax.jit
def _all_metrics(game, policy, sigma):
    return {
        "values": M.evaluation.values(game, policy),
        "gains": M.evaluation.gains(game, policy),
        "nash_conv": M.evaluation.nash_conv(game, policy),
        "ne_gap": M.evaluation.ne_gap(game, policy),
        "best_responses": M.evaluation.best_responses(game, policy),
        "values_joint": M.evaluation.values(game, sigma),
        "cce_gap": M.evaluation.cce_gap(game, sigma),
        "cce_gap_product": M.evaluation.cce_gap(game, policy),
        "best_responses_joint": M.evaluation.best_responses(game, sigma),
    }


@pytest.mark.parametrize(
    "game_name", [g for g, spec in CATALOGUE.items() if spec[0] != "dense"]
)
def test_catalogue_metrics_agree_with_dense_equivalent(key, game_name):
    game = _catalogue_game(CATALOGUE[game_name], 0)
    dense = _catalogue_game(CATALOGUE[game_name], 0, dense=True)
    assert isinstance(dense.transitions, G.DenseTransitions)
    assert type(game.transitions) is not G.DenseTransitions
    k1, k2 = jax.random.split(key)
    policy = M.policies.random_policy(game, key=k1)
    lead = policy[0].shape[:-1]
    logits = jax.random.normal(k2, (*lead, int(np.prod(game.num_actions))))
    sigma = jax.nn.softmax(logits, -1).reshape(*lead, *game.num_actions)
    got, want = _all_metrics(game, policy, sigma), _all_metrics(dense, policy, sigma)
    chex.assert_trees_all_close(got, want, atol=1e-12, rtol=0)
    chex.assert_tree_all_finite(got)


def test_solve_batch_chunks_and_batched_step_sizes(key):
    games = G.random_zero_sum(key, 5, (2, 2), 2, 3, dtype=jnp.float64)
    full = M.solve_batch(M.solvers.ZeroSumOMD(0.1), games, 20, chunk_size=5)
    chunked = M.solve_batch(M.solvers.ZeroSumOMD(0.1), games, 20, chunk_size=2)
    chex.assert_trees_all_close(full, chunked, atol=1e-12, rtol=0)
    etas = jnp.array([0.05, 0.1, 0.2, 0.1, 0.3])
    grid = M.solve_batch(M.solvers.ZeroSumOMD(etas), games, 20, batch_solver=True)
    # one compiled program for the five references (eager solves run op by op)
    solve_one = jax.jit(lambda eta, g: M.solve(M.solvers.ZeroSumOMD(eta), g, 20))
    for k, g in enumerate(G.unstack(games)):
        one = solve_one(etas[k], g)
        np.testing.assert_allclose(
            grid.trace.gains[k], one.trace.gains, atol=1e-12, rtol=0
        )


def test_solve_batch_shards_over_devices():
    code = textwrap.dedent(
        """
        import jax, jax.numpy as jnp, numpy as np
        jax.config.update("jax_enable_x64", True)
        import marlmeta as M, marlmeta.games as G
        assert len(jax.devices()) == 4, jax.devices()
        key = jax.random.key(0)
        games = G.random_zero_sum(key, 10, (2, 2), 2, 3, dtype=jnp.float64)
        out = M.solve_batch(M.solvers.ZeroSumOMD(0.1), games, 20, chunk_size=8)
        # one compiled program for the ten single-game runs (an eager solve
        # dispatches op by op: 17.6 s CPU for the child instead of 7.5 s)
        solve_one = jax.jit(lambda g: M.solve(M.solvers.ZeroSumOMD(0.1), g, 20))
        for k, g in enumerate(G.unstack(games)):
            one = solve_one(g)
            np.testing.assert_allclose(
                out.trace.gains[k], one.trace.gains, atol=1e-12, rtol=0
            )
        print("sharded ok", out.trace.gains.shape)
        """
    )
    env = {
        "XLA_FLAGS": os.environ.get("MARLMETA_TEST_XLA_FLAGS", "")
        + " --xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
    }
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert proc.returncode == 0, proc.stderr
    assert "sharded ok (10, 1, 2)" in proc.stdout
