"""DESIGN.md conformance checks, run for every solver in the catalogue."""

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
        jax.lax.cond(True, lambda a, b: a, lambda a, b: b, new, state)
        chex.assert_trees_all_equal_shapes_and_dtypes(new, state)
        state = new
    chex.assert_tree_all_finite(solver.output(game, state))
    assert all(
        x.dtype == jnp.float32 for x in jax.tree.leaves(solver.output(game, state))
    )


@pytest.mark.parametrize("make_solver, make_games", SOLVERS)
def test_jit_equals_nojit_and_vmap_equals_loop(key, make_solver, make_games):
    solver = make_solver()
    games = make_games(key, 3, jnp.float64)
    run = lambda g: M.solve(solver, g, 9, checkpoints=[4, 9])  # noqa: E731
    batched = M.solve_batch(solver, games, 9, checkpoints=[4, 9])
    jitted_run = jax.jit(run)
    for k, g in enumerate(G.unstack(games)):
        jitted = jitted_run(g)
        if k == 0:  # eager dispatch is slow; one game shows jit changes nothing
            chex.assert_trees_all_close(run(g), jitted, atol=1e-12)
        one = jax.tree.map(lambda x, k=k: x[k], batched)
        chex.assert_trees_all_close(one, jitted, atol=1e-12)


@pytest.mark.parametrize("make_solver, make_games", SOLVERS)
def test_no_retrace_on_second_call(key, make_solver, make_games):
    solver = make_solver()
    games = make_games(key, 4, jnp.float32)
    traces = []

    @jax.jit
    def run(g):
        traces.append(1)
        return M.solve(solver, g, 10)

    g = G.unstack(games)
    run(g[0])
    run(g[1])
    assert len(traces) == 1
    M.solve_batch(solver, games, 10, chunk_size=2)
    from marlmeta._solve import _solve_chunk

    before = _solve_chunk._cached._cache_size()
    M.solve_batch(solver, games, 10, chunk_size=2)
    assert _solve_chunk._cached._cache_size() == before


def test_solve_batch_chunks_and_batched_step_sizes(key):
    games = G.random_zero_sum(key, 5, (2, 2), 2, 3, dtype=jnp.float64)
    full = M.solve_batch(M.solvers.ZeroSumOMD(0.1), games, 20, chunk_size=5)
    chunked = M.solve_batch(M.solvers.ZeroSumOMD(0.1), games, 20, chunk_size=2)
    chex.assert_trees_all_close(full, chunked, atol=1e-12)
    etas = jnp.array([0.05, 0.1, 0.2, 0.1, 0.3])
    grid = M.solve_batch(M.solvers.ZeroSumOMD(etas), games, 20, batch_solver=True)
    for k, g in enumerate(G.unstack(games)):
        one = M.solve(M.solvers.ZeroSumOMD(etas[k]), g, 20)
        np.testing.assert_allclose(grid.trace.gains[k], one.trace.gains, atol=1e-12)


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
        for k, g in enumerate(G.unstack(games)):
            one = M.solve(M.solvers.ZeroSumOMD(0.1), g, 20)
            np.testing.assert_allclose(out.trace.gains[k], one.trace.gains, atol=1e-12)
        print("sharded ok", out.trace.gains.shape)
        """
    )
    env = {
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
    }
    import os

    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert proc.returncode == 0, proc.stderr
    assert "sharded ok (10, 1, 2)" in proc.stdout
