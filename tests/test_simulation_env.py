"""The environment view (JaxMARL's ``MultiAgentEnv`` convention) and tabulation.

References: exact ``marlmeta.evaluation.values`` of a fixed policy, reproduced
by a ``reset``/``step`` loop written here in the JaxMARL style (agents see only
their observation vectors) within 4 standard errors; the game's observation
maps for the no-leak check; the tables themselves for tabulation (to 1e-12);
JaxMARL's own ``LogWrapper`` where the package is installed.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
from marlmeta import evaluation as E, games as G, policies as P, simulation as S

EPISODES = 100_000
# Exact metrics compiled once per game shape (eagerly each operation compiles).
values_j = jax.jit(E.values)
nash_conv_j = jax.jit(E.nash_conv)


def one(batch):
    return G.unstack(batch)[0]


def table_fn(env, i, table):
    """A policy function of the observation vector that reads ``table``
    ``(*stages, O_i, A_i)`` (what a trained network would be replaced by)."""
    count = env.game.observation_counts[i]
    table = jnp.asarray(table)

    def fn(v):
        o = jnp.argmax(v[:count])
        idx = (o,) if not env.stages else (jnp.argmax(v[count:]), o)
        return table[idx]

    return fn


def observation_tables(policy):
    return [jnp.asarray(t) for t in policy.tables]


def env_returns(env, fns, key, num_episodes, discount):
    """Each episode's return through ``reset``/``step`` (vmapped over episodes):
    rewards discounted by ``discount`` until the first ``done``."""
    keys = jax.random.split(key, num_episodes + 1)
    obs, state = jax.vmap(env.reset)(keys[1:])
    n = env.num_agents

    def body(carry, k):
        obs, state, alive, ret, disc = carry
        k_act, k_env = jax.random.split(k)
        acts = {}
        for i, (a, ka) in enumerate(
            zip(env.agents, jax.random.split(k_act, n), strict=True)
        ):
            probs = jax.vmap(fns[i])(obs[a])
            acts[a] = jax.random.categorical(ka, jnp.log(probs), axis=-1)
        step_keys = jax.random.split(k_env, num_episodes)
        obs, state, rew, dones, _ = jax.vmap(env.step)(step_keys, state, acts)
        r = jnp.stack([rew[a] for a in env.agents], axis=-1)
        ret = ret + (alive * disc)[:, None] * r
        alive = alive & ~dones["__all__"]
        return (obs, state, alive, ret, disc * discount), None

    dtype = env.game.initial.dtype
    carry = (
        obs,
        state,
        jnp.ones(num_episodes, bool),
        jnp.zeros((num_episodes, n), dtype),
        jnp.ones((), dtype),
    )
    steps = jax.random.split(keys[0], env.num_steps)
    (_, _, alive, ret, _), _ = jax.lax.scan(body, carry, steps)
    return ret, alive


def check_loop(game, policy, env, discount, num_episodes=EPISODES, key=0):
    fns = [table_fn(env, i, t) for i, t in enumerate(observation_tables(policy))]
    run = jax.jit(lambda e, k: env_returns(e, fns, k, num_episodes, discount))
    ret, alive = run(env, jax.random.key(key))
    assert not bool(alive.any())  # every episode ended within num_steps
    est = S.estimate(ret)
    exact = values_j(game, policy)
    z = np.asarray(est.zscore(exact))
    assert np.all(np.abs(z) < 4), (est.mean, exact, z)


def test_env_loop_reproduces_values_finite_horizon():
    k1, k2 = jax.random.split(jax.random.key(21))
    game = one(G.random_general_sum(k1, 1, (2, 3), 4, 5, dtype=jnp.float64))
    policy = P.ProductPolicy(P.random_policy(game, key=k2))
    env = S.MarkovGameEnv(game)
    assert env.num_steps == 5 and env.stages == (5,)
    assert env.observation_space("agent_1").shape == (4 + 5,)
    assert env.action_space("agent_1").n == 3
    check_loop(game, policy, env, 1.0)


def test_env_loop_reproduces_values_observation_game():
    game = G.zoo.kuhn_poker(jnp.float64)
    keys = jax.random.split(jax.random.key(22), 2)
    policy = P.observation_policy(
        game,
        [jax.nn.softmax(jax.random.normal(k, (3, 13, 2), jnp.float64)) for k in keys],
    )
    check_loop(game, policy, S.MarkovGameEnv(game), 1.0)


@pytest.mark.parametrize("rule", ["truncation", "geometric"])
def test_env_loop_reproduces_values_discounted(rule):
    k1, k2 = jax.random.split(jax.random.key(23))
    game = one(G.random_cooperative(k1, 1, (2, 2), 3, 0.6, dtype=jnp.float64))
    policy = P.ProductPolicy(P.random_policy(game, key=k2))
    if rule == "truncation":
        env = S.MarkovGameEnv(game)  # cut at gamma^T <= 1e-6; learner discounts
        assert env.num_steps == 28
        check_loop(game, policy, env, 0.6)
    else:
        env = S.MarkovGameEnv(game, 40, S.GeometricTermination())
        check_loop(game, policy, env, 1.0)


def test_observation_games_never_leak_the_state():
    game = G.zoo.kuhn_poker(jnp.float64)
    env = S.MarkovGameEnv(game)
    for i, agent in enumerate(env.agents):
        assert env.observation_space(agent).shape == (13 + 3,)
        obs_map = np.asarray(game.observations[i])
        for h in range(game.horizon):
            for s in range(game.num_states):
                state = S.EnvState(jnp.asarray(s), jnp.asarray(h), jnp.asarray(False))
                vec = np.asarray(env.get_obs(state)[agent])
                want = np.zeros(16)
                want[obs_map[h, s]] = 1
                want[13 + h] = 1
                np.testing.assert_array_equal(vec, want)
    _, state = env.reset(jax.random.key(0))
    obs, *_ = env.step(jax.random.key(1), state, {"agent_0": 0, "agent_1": 1})
    assert set(obs) == {"agent_0", "agent_1"}


def test_step_auto_resets_and_jits():
    game = one(G.random_general_sum(jax.random.key(2), 1, (2, 2), 3, 2))
    env = S.MarkovGameEnv(game)
    obs, state = jax.jit(env.reset)(jax.random.key(0))
    acts = {a: env.action_space(a).sample(jax.random.key(1)) for a in env.agents}
    step = jax.jit(env.step)
    _, state, _, dones, _ = step(jax.random.key(2), state, acts)
    assert not bool(dones["__all__"]) and int(state.step) == 1
    _, state, rew, dones, infos = step(jax.random.key(3), state, acts)
    assert bool(dones["__all__"]) and int(state.step) == 0  # reset
    assert infos == {} and rew["agent_0"].dtype == jnp.float32
    avail = env.get_avail_actions(state)
    assert avail["agent_1"].shape == (2,) and bool(avail["agent_1"].all())
    assert env.agent_classes == {"agent_0": ["agent_0"], "agent_1": ["agent_1"]}


def test_env_vmaps_over_a_family_of_perturbed_games():
    base = one(G.random_cooperative(jax.random.key(4), 1, (2, 2), 3, 0.6))
    family = G.perturb_rewards(jax.random.key(5), base, 3, 0.2, coupling="identical")
    envs = S.MarkovGameEnv(family)
    policy = P.ProductPolicy(P.uniform(base))
    fns = [table_fn(envs, i, t) for i, t in enumerate(observation_tables(policy))]
    run = jax.jit(jax.vmap(lambda e, k: env_returns(e, fns, k, 20_000, 0.6)[0].mean(0)))
    means = run(envs, jax.random.split(jax.random.key(6), 3))
    exact = jax.jit(jax.vmap(E.values, in_axes=(0, None)))(family, policy)
    # Each game's mean within 4 standard errors (reward <= ~1.6, 1/(1-0.6) = 2.5).
    assert np.all(np.abs(np.asarray(means - exact)) < 4 * 2.5 * 1.6 / np.sqrt(20_000))
    assert float(jnp.std(exact[:, 0])) > 0.01  # the games differ


@pytest.mark.parametrize("kind", ["finite", "discounted", "observation"])
def test_tabulate_equals_the_table(kind):
    k1, k2 = jax.random.split(jax.random.key(8))
    if kind == "finite":
        game = one(G.random_general_sum(k1, 1, (2, 3), 4, 3, dtype=jnp.float64))
        policy = P.ProductPolicy(P.random_policy(game, key=k2))
    elif kind == "discounted":
        game = one(
            G.random_general_sum(k1, 1, (2, 3), 4, discount=0.9, dtype=jnp.float64)
        )
        policy = P.ProductPolicy(P.random_policy(game, key=k2))
    else:
        game = G.zoo.kuhn_poker(jnp.float64)
        keys = jax.random.split(k2, 2)
        policy = P.observation_policy(
            game,
            [
                jax.nn.softmax(jax.random.normal(k, (3, 13, 2), jnp.float64))
                for k in keys
            ],
        )
    env = S.MarkovGameEnv(game)
    fns = [table_fn(env, i, t) for i, t in enumerate(observation_tables(policy))]
    tab = S.tabulate(env, fns)
    assert type(tab) is type(policy)
    for a, b in zip(tab.tables, policy.tables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_allclose(values_j(game, tab), values_j(game, policy), atol=1e-12)
    np.testing.assert_allclose(
        nash_conv_j(game, tab), nash_conv_j(game, policy), atol=1e-12
    )


def test_tabulate_a_network_and_bad_functions():
    game = one(G.random_cooperative(jax.random.key(9), 1, (2, 3), 4, 0.9))
    env = S.MarkovGameEnv(game)
    w = jax.random.normal(jax.random.key(1), (4, 3))
    net = lambda v: jax.nn.softmax(v @ w)  # noqa: E731
    with pytest.raises(ValueError, match="policy_fn has 1 functions"):
        S.tabulate(env, [net])
    w0 = jax.random.normal(jax.random.key(2), (4, 2))
    pol = S.tabulate(env, [lambda v: jax.nn.softmax(v @ w0), net])
    np.testing.assert_allclose(pol.tables[1], jax.nn.softmax(w, axis=-1), atol=1e-6)
    assert float(E.optimality_gap(game, pol)) >= 0
    with pytest.raises(ValueError, match=r"policy_fn\[0\]"):
        S.tabulate(env, [lambda v: jnp.exp(v @ w0), net])


def test_runs_under_jaxmarl_log_wrapper():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        baselines = pytest.importorskip("jaxmarl.wrappers.baselines")
    game = one(G.random_general_sum(jax.random.key(2), 1, (2, 2), 3, 2))
    env = baselines.LogWrapper(S.MarkovGameEnv(game))
    obs, state = env.reset(jax.random.key(0))
    acts = {a: jnp.asarray(0) for a in env.agents}
    total = 0.0
    for t in range(2):
        obs, state, rew, dones, info = env.step(jax.random.key(t + 1), state, acts)
        total += np.asarray([rew[a] for a in env.agents])
    assert bool(info["returned_episode"].all())
    np.testing.assert_allclose(info["returned_episode_returns"], total, rtol=1e-6)
    assert M.simulation.MarkovGameEnv(game).num_agents == 2
