"""JaxMARL's own IPPO baseline, unchanged, on a family of marlmeta games;
then the learned policy judged exactly.

The user's copy of JaxMARL's ``baselines/IPPO/ippo_ff_mpe.py`` (from the
JaxMARL repository; it is not in the pip package, and it imports ``flax``,
``distrax``, ``hydra``, ``omegaconf`` and ``wandb``) is imported as a module and
its ``make_train(config)`` is run as is: ``jaxmarl.make`` gives a
:class:`marlmeta.simulation.FamilyEnv` over a family of perturbed cooperative
games (each episode plays a member drawn at reset), wrapped in JaxMARL's own
``MPELogWrapper``. The trained actor is then tabulated on every member and
judged by the exact NashConv and optimality gap, beside the uniform policy.

    python examples/jaxmarl_ippo.py --script /path/to/ippo_ff_mpe.py
"""

import argparse
import importlib.util

import jax
import jax.numpy as jnp
import jaxmarl

import marlmeta as M

NAME = "marlmeta_cooperative_family"


def load_script(path: str):
    """Import the user's training script as a module (its ``main`` is not run)."""
    spec = importlib.util.spec_from_file_location("jaxmarl_user_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--script", required=True, help="path of ippo_ff_mpe.py")
    parser.add_argument("--games", type=int, default=8, help="members of the family")
    parser.add_argument("--updates", type=int, default=100, help="PPO updates")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    key = jax.random.key(args.seed)
    k_base, k_family, k_train = jax.random.split(key, 3)
    base = M.games.unstack(M.games.random_cooperative(k_base, 1, (2, 2), 3, 0.8))[0]
    family = M.games.perturb_rewards(
        k_family, base, args.games, 0.1, coupling="identical"
    )
    M.simulation.register_with_jaxmarl(NAME, family, num_steps=40)

    script = load_script(args.script)
    if hasattr(script, "wandb"):  # the script logs every update to wandb
        script.wandb.init(mode="disabled")
    num_envs, num_steps = 16, 40
    config = {
        "ENV_NAME": NAME,
        "ENV_KWARGS": {},
        "NUM_ENVS": num_envs,
        "NUM_STEPS": num_steps,
        "TOTAL_TIMESTEPS": args.updates * num_envs * num_steps,
        "UPDATE_EPOCHS": 4,
        "NUM_MINIBATCHES": 4,
        "LR": 2.5e-3,
        "ANNEAL_LR": True,
        "MAX_GRAD_NORM": 0.5,
        "ACTIVATION": "tanh",
        "GAMMA": 0.8,  # the games' discount
        "GAE_LAMBDA": 0.95,
        "CLIP_EPS": 0.2,
        "ENT_COEF": 0.01,
        "VF_COEF": 0.5,
    }
    out = jax.jit(script.make_train(config))(jax.random.key_data(k_train))
    params = out["runner_state"][0].params
    returns = out["metrics"]["returned_episode_returns"]  # per update

    env = jaxmarl.make(NAME)
    network = script.ActorCritic(
        env.action_space(env.agents[0]).n, activation=config["ACTIVATION"]
    )
    learned = env.tabulate(lambda x: network.apply(params, x)[0].probs)
    games = env.views.game
    uniform = jax.vmap(M.policies.uniform)(games)
    nash_conv = jax.vmap(M.evaluation.nash_conv)
    gap = jax.vmap(M.evaluation.optimality_gap)
    rows = {
        "IPPO (ippo_ff_mpe.py)": (nash_conv(games, learned), gap(games, learned)),
        "uniform": (nash_conv(games, uniform), gap(games, uniform)),
    }
    print(
        f"{env.name}: {config['TOTAL_TIMESTEPS']} environment steps, "
        f"logged return (x N, as MPELogWrapper) first {float(returns[0]):.3f} "
        f"last {float(returns[-1]):.3f}"
    )
    print(
        f"{'policy':<24}{'NashConv mean':>14}{'max':>10}"
        f"{'opt. gap mean':>15}{'max':>10}"
    )
    for name, (nc, g) in rows.items():
        print(
            f"{name:<24}{float(jnp.mean(nc)):>14.4f}{float(jnp.max(nc)):>10.4f}"
            f"{float(jnp.mean(g)):>15.4f}{float(jnp.max(g)):>10.4f}"
        )
    M.simulation.unregister_from_jaxmarl(NAME)


if __name__ == "__main__":
    main()
