"""A marlmeta family of games through ``jaxmarl.make``, trained on as JaxMARL's
baseline scripts do.

References: exact ``marlmeta.evaluation.values`` of the tabulated policy,
averaged over the family (each episode plays a member drawn uniformly), for
the mean of the episode returns JaxMARL's own ``LogWrapper`` reports from a
``jaxmarl.make -> LogWrapper -> vmap(reset) / vmap(step)`` loop written here
in the style of ``baselines/IPPO/ippo_ff_mpe.py`` (within 4 standard errors);
a NumPy softmax of the linear policy's weights for the tabulated tables; the
game's observation maps for the padding of observation vectors.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from marlmeta import evaluation as E, games as G, simulation as S

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    jaxmarl = pytest.importorskip("jaxmarl")
    baselines = pytest.importorskip("jaxmarl.wrappers.baselines")

NAME = "marlmeta_test_family"
NUM_ENVS, NUM_STEPS = 64, 96


def family():
    """Three members of a finite-horizon game (H = 2, S = 3, A = (2, 3)) in
    which player 0 sees the state and player 1 only whether it is 0."""
    base = G.unstack(G.random_general_sum(jax.random.key(3), 1, (2, 3), 3, 2))[0]
    maps = [np.tile(np.arange(3), (2, 1)), np.tile([0, 1, 1], (2, 1))]
    base = G.observe(base, maps, check=False)
    return G.perturb_rewards(jax.random.key(4), base, 3, 0.5)


def linear_policy(weights):
    """Per agent ``pi_i(. | x) = softmax(x @ W_i)`` on the padded vector ``x``."""
    return [lambda x, w=w: jax.nn.softmax(x @ w) for w in weights]


def rollout(env, weights, key):
    """The collection loop of the baseline scripts: batched reset, a scan of
    vmapped steps, actions drawn per agent from its policy."""
    k_reset, k_run = jax.random.split(key)
    obs, state = jax.vmap(env.reset)(jax.random.split(k_reset, NUM_ENVS))

    def step(carry, key):
        obs, state = carry
        k_act, k_step = jax.random.split(key)
        keys = jax.random.split(k_act, env.num_agents)
        actions = {
            a: jax.random.categorical(k, obs[a] @ w)[:, None]  # (NUM_ENVS, 1)
            for a, w, k in zip(env.agents, weights, keys, strict=True)
        }
        obs_next, state, reward, done, info = jax.vmap(env.step)(
            jax.random.split(k_step, NUM_ENVS), state, actions
        )
        return (obs_next, state), (info, reward, obs, actions)

    keys = jax.random.split(k_run, NUM_STEPS)
    _, out = jax.lax.scan(step, (obs, state), keys)
    return out


def test_jaxmarl_make_gives_the_family_and_other_names_pass_through():
    original = jaxmarl.make
    games = family()
    env = S.register_with_jaxmarl(NAME, games)
    try:
        made = jaxmarl.make(NAME)
        assert isinstance(made, S.FamilyEnv) and made.num_games == 3
        assert NAME in jaxmarl.registered_envs
        # Observation vectors: one-hot observation then one-hot step, padded to
        # the longer agent's (3 + 2); player 1's has 2 + 2 entries then a zero.
        assert env.width == 5
        assert {a: b.shape for a, b in env.observation_spaces.items()} == {
            "agent_0": (5,),
            "agent_1": (5,),
        }
        assert [env.action_space(a).n for a in env.agents] == [2, 3]
        obs, state = env.reset(jax.random.key(0))
        s = int(state.env.state)
        np.testing.assert_array_equal(obs["agent_0"], np.eye(3)[s].tolist() + [1, 0])
        np.testing.assert_array_equal(
            obs["agent_1"], np.eye(2)[int(s > 0)].tolist() + [1, 0, 0]
        )
        assert type(jaxmarl.make("MPE_simple_v3")).__name__ == "SimpleMPE"
        with pytest.raises(ValueError, match="MPE_simple_v3"):
            S.register_with_jaxmarl("MPE_simple_v3", games)
        with pytest.raises(ValueError, match="games is a tuple"):
            S.register_with_jaxmarl("other", (games,))
    finally:
        S.unregister_from_jaxmarl(NAME)
    assert jaxmarl.make is original and NAME not in jaxmarl.registered_envs
    with pytest.raises(ValueError, match="not in registered"):
        jaxmarl.make(NAME)


def test_script_style_loop_reproduces_exact_values_and_updates():
    S.register_with_jaxmarl(NAME, family())
    try:
        env = baselines.LogWrapper(jaxmarl.make(NAME))
        base = env._env
        keys = jax.random.split(jax.random.key(1), 2)
        weights = [
            0.8 * jax.random.normal(k, (base.width, base.action_space(a).n))
            for k, a in zip(keys, base.agents, strict=True)
        ]
        run = jax.jit(rollout, static_argnums=0)
        info, reward, obs, actions = run(env, weights, jax.random.key(2))

        # Every completed episode's return against the exact values.
        ended = np.asarray(info["returned_episode"])[..., 0]
        returns = np.asarray(info["returned_episode_returns"])[ended]
        assert returns.shape[0] >= NUM_ENVS * (NUM_STEPS // 2 - 1)
        policies = base.tabulate(linear_policy(weights))
        exact = np.mean(np.asarray(jax.vmap(E.values)(base.views.game, policies)), 0)
        stderr = returns.std(0, ddof=1) / np.sqrt(returns.shape[0])
        assert np.all(np.abs(returns.mean(0) - exact) < 4 * stderr), (
            returns.mean(0),
            exact,
        )

        # The tables are the linear policy on each padded observation vector.
        o1 = np.eye(2)
        for h in range(2):
            x = np.concatenate([o1, np.tile(np.eye(2)[h], (2, 1)), np.zeros((2, 1))], 1)
            logits = x @ np.asarray(weights[1])
            want = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
            got = np.asarray(policies.tables[1])[:, h]
            np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), 1e-6)

        # A tiny REINFORCE update on the batch, then the exact judge.
        def loss(ws):
            logp = sum(
                jnp.take_along_axis(jax.nn.log_softmax(obs[a] @ w), actions[a], -1)
                for a, w in zip(base.agents, ws, strict=True)
            )
            return -jnp.mean(logp[..., 0] * sum(reward.values()))

        grads = jax.grad(loss)(weights)
        new = [w - 0.1 * g for w, g in zip(weights, grads, strict=True)]
        assert all(
            bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).max()) > 0
            for g in grads
        )
        gains = jax.vmap(E.nash_conv)(
            base.views.game, base.tabulate(linear_policy(new))
        )
        assert np.all(np.isfinite(gains)) and np.all(np.asarray(gains) >= -1e-6)
    finally:
        S.unregister_from_jaxmarl(NAME)
