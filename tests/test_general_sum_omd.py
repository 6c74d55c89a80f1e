"""Seed 000 Algorithm 2 against the NumPy reference; CCE-gap behaviour."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import marlmeta as M
import marlmeta.games as G
from tests import reference as ref


@pytest.mark.parametrize("T, acts", [(3, (2, 3)), (7, (2, 2, 3)), (12, (2, 2, 3))])
def test_matches_numpy_reference(key, T, acts):
    H = 3  # stages 3, 4, 5, ...: T=3 ends stage 0, T=12 ends stage 2, T=7 inside
    games = G.random_general_sum(key, 2, acts, 2, H, dtype=jnp.float64)
    solver = M.solvers.GeneralSumOMD(0.4)
    K = M.solvers.num_stages(H, T)
    run = jax.jit(lambda g, i: M.solve(solver, g, T, init=i))
    for k, g in enumerate(G.unstack(games)):
        keys = jr.split(jr.fold_in(key, k), len(acts))
        inits = tuple(
            jax.nn.softmax(jr.normal(kk, (K, H, 2, a), jnp.float64), -1)
            for kk, a in zip(keys, acts, strict=True)
        )
        sol = run(g, inits)
        sigma, brs = ref.omd_general_sum(
            np.asarray(g.rewards),
            np.asarray(g.transitions.dense()),
            0.4,
            T,
            [np.asarray(x) for x in inits],
        )
        np.testing.assert_allclose(sol.policy, sigma, atol=1e-9)
        for got, want in zip(sol.stats, brs, strict=True):
            np.testing.assert_allclose(got, want, atol=1e-9)


def test_cce_gap_falls_with_T_and_is_non_negative(key):
    games = G.random_general_sum(key, 6, (2, 2, 2), 2, 3, dtype=jnp.float64)
    cps = [30, 300, 3000]
    out = M.solve_batch(M.solvers.GeneralSumOMD(0.1), games, cps[-1], checkpoints=cps)
    gaps = np.asarray(out.trace.cce_gap)  # (games, checkpoints)
    assert np.all(gaps >= -1e-12)
    assert np.all(gaps[:, -1] < gaps[:, 0])
    assert np.mean(gaps[:, -1]) < 0.25 * np.mean(gaps[:, 0])
    assert bool(jnp.all(out.finite))


def test_exact_cce_gap_of_output_matches_evaluation(key):
    g = G.unstack(G.random_general_sum(key, 1, (2, 3), 2, 3, dtype=jnp.float64))[0]
    sol = M.solve(M.solvers.GeneralSumOMD(0.2), g, 40)
    np.testing.assert_allclose(
        sol.trace.cce_gap[-1], M.evaluation.cce_gap(g, sol.policy), atol=1e-12
    )
    # sigma is a distribution per (h, s)
    np.testing.assert_allclose(sol.policy.reshape(3, 2, -1).sum(-1), 1.0, atol=1e-12)


def test_meta_learning_lowers_the_cce_gap_on_a_similar_family(key):
    # Seed 000 Theorem 6: per-player sequential meta-initialisation on a
    # perturbed three-player family (noise std 0.1) lowers the average CCE-gap.
    base = G.unstack(G.random_general_sum(key, 1, (2, 2, 2), 3, 4))[0]
    solver = M.solvers.GeneralSumOMD(0.1)

    def one(k):
        fam = G.perturb_rewards(k, base, 8, 0.1)
        met = M.meta.sequential_meta(solver, fam, 200, checkpoints=[50, 200])
        ind = M.meta.individual(solver, fam, 200, checkpoints=[50, 200])
        return met.solutions.trace.cce_gap.mean(0), ind.solutions.trace.cce_gap.mean(0)

    met, ind = jax.jit(jax.vmap(one))(jr.split(key, 3))
    assert np.all(np.asarray(met.mean(0)) < 0.9 * np.asarray(ind.mean(0)))
