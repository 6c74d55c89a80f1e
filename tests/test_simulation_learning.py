"""Learning from simulated samples: the IPPO baseline through the environment
view, and sample-based MA-PPO's sampling schemes and critics.

References: exact ``optimality_gap`` (against the uniform policy's), exact
tabular ``MultiAgentPPO`` (the limit of sample-based MA-PPO), NumPy per-cell
means for the fitted one-hot critic, and a chi-square test of the occupancy
sampling times against ``gamma^t``.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import marlmeta as M
from marlmeta import evaluation as E, games as G, simulation as S, solvers as V


def test_ippo_runs_end_to_end_on_a_family_of_games():
    base = G.unstack(G.random_cooperative(jax.random.key(0), 1, (2, 2), 3, 0.9))[0]
    family = G.perturb_rewards(jax.random.key(1), base, 2, 0.1, coupling="identical")
    envs = S.MarkovGameEnv(family, 30)
    ippo = S.IPPO(num_updates=25, num_envs=8, num_steps=16, update_epochs=2)
    runs = jax.jit(jax.vmap(ippo.train))(envs, jax.random.split(jax.random.key(2), 2))
    assert runs.mean_reward.shape == (2, 25, 2)
    np.testing.assert_array_equal(runs.env_steps[0], 128 * np.arange(1, 26))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(runs.params))

    @eqx.filter_jit  # one program for both games (eagerly every op compiles)
    def gaps(game, env, params):
        pol = S.tabulate(env, ippo.policy_fns(params))
        uniform = M.policies.uniform(game)
        return E.optimality_gap(game, pol), E.optimality_gap(game, uniform)

    for k, game in enumerate(G.unstack(family)):
        env = S.MarkovGameEnv(game, 30)
        params = jax.tree.map(lambda x, k=k: x[k], runs.params)
        trained, uniform = gaps(game, env, params)
        assert float(trained) < 0.5 * float(uniform)
        # The history's last entry is the final parameters.
        last = jax.tree.map(lambda x, k=k: x[k, -1], runs.history)
        for a, b in zip(jax.tree.leaves(last), jax.tree.leaves(params), strict=True):
            np.testing.assert_array_equal(a, b)


def test_ippo_rejects_bad_hyperparameters():
    with pytest.raises(ValueError, match="num_minibatches is 3"):
        S.IPPO(num_envs=4, num_steps=4, num_minibatches=3)
    with pytest.raises(ValueError, match="num_updates is 0"):
        S.IPPO(num_updates=0)


def _game(seed=0):
    g = G.random_cooperative(jax.random.key(seed), 1, (2, 2), 3, 0.9, dtype=jnp.float64)
    return G.unstack(g)[0]


def test_occupancy_sampling_times_are_geometric():
    t = V.OccupancySampling().times(jax.random.key(0), jnp.asarray(0.7), 50_000, 20)
    counts = np.bincount(np.asarray(t), minlength=20)
    p = 0.7 ** np.arange(20)
    p /= p.sum()
    assert stats.chisquare(counts, 50_000 * p).pvalue > 1e-3
    s = V.StationarySampling(7).times(jax.random.key(0), jnp.asarray(0.7), 5, 20)
    np.testing.assert_array_equal(s, 7)
    with pytest.raises(ValueError, match="burn_in is -1"):
        V.StationarySampling(-1)


def test_fitted_one_hot_critic_is_the_cell_mean():
    rng = np.random.default_rng(0)
    cells = rng.integers(0, 6, 400)
    returns = rng.normal(size=400) + cells
    phi = np.eye(6)[cells]
    q = V.FittedCritic(0.0).values(None, None, 0, None, None, returns, jnp.asarray(phi))
    means = np.array([returns[cells == c].mean() for c in range(6)])
    np.testing.assert_allclose(q, means[cells], atol=1e-10)


def _one_step(solver, game):
    sol = jax.jit(lambda g: M.solve(solver, g, 1, metric=lambda g, p: tuple(p)))(game)
    return sol.trace


@pytest.mark.parametrize(
    "sampling, critic",
    [
        (V.OccupancySampling(), V.MonteCarloCritic()),
        (V.StationarySampling(30), V.FittedCritic()),
    ],
)
def test_sampled_ma_ppo_approaches_exact_as_samples_grow(sampling, critic):
    g = _game(3)
    f = V.one_hot_features(g)
    exact = _one_step(V.MultiAgentPPO(0.5), g)

    def error(num_samples):
        s = V.SampledMAPPO(
            0.5,
            f,
            jax.random.key(5),
            num_samples=num_samples,
            rollout_steps=60,
            sampling=sampling,
            critic=critic,
        )
        out = _one_step(s, g)
        return max(
            float(jnp.max(jnp.abs(a - b))) for a, b in zip(out, exact, strict=True)
        )

    small, large = error(100), error(10_000)
    assert large < 0.4 * small and large < 0.05, (small, large)
