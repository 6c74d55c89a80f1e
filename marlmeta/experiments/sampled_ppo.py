"""Sample-based MA-PPO, exact MA-PPO and IPPO on the same random cooperative games.

Zhao, Yang, Wang, Lee, "Local Optimization Achieves Global Optimality in
Multi-Agent Reinforcement Learning" (ICML 2023) analyse Algorithm 1 with
sampled ``(s, a)`` and an estimated critic; this experiment runs it on
simulated trajectories (:class:`marlmeta.solvers.SampledMAPPO`, one-hot
features, ``T`` episodes per iteration, the episode's return as the critic)
beside the exact tabular algorithm (:class:`marlmeta.solvers.MultiAgentPPO`,
the limit as ``T`` grows) and an independent-PPO baseline trained through the
environment view (:class:`marlmeta.simulation.IPPO`, JaxMARL-style, a small
actor-critic per agent), all on one batch of random fully cooperative games
(:func:`marlmeta.games.random_cooperative`). Every learned policy is judged by
its exact optimality gap ``rho @ (V* - V_pi)``
(:func:`marlmeta.evaluation.optimality_gap`; IPPO's networks are tabulated
first), against the environment steps it used. One chunk per block of games.
"""

from __future__ import annotations

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

import marlmeta as M
from marlmeta.experiments import _plots
from marlmeta.experiments._loader import (
    ConfigError,
    check_checkpoints,
    check_dtype,
    check_sizes,
    setting,
)
from marlmeta.experiments._protocol import Experiment, Plan
from marlmeta.experiments.cooperative import games


@dataclasses.dataclass(frozen=True)
class SampledPPOConfig(Experiment, experiment="sampled_ppo"):
    """Sample-based vs exact MA-PPO vs IPPO, gap against samples used.

    ``solver.num_steps`` MA-PPO iterations (exact and sampled, step
    ``solver.step_size``); sampled MA-PPO once per entry of
    ``solver.sample_counts`` (``T``); IPPO for ``baseline.updates[-1]`` updates
    of ``baseline.envs x baseline.steps`` steps, judged at every entry of
    ``baseline.updates``. Episodes are cut at ``solver.rollout_steps``.
    """

    game_source_refusal = (
        "sample-based PPO runs on cooperative games with networked (localized) "
        "rewards and factored transitions, which an arbitrary game does not "
        "have"
    )

    name: str
    experiment: str
    iterations: int = setting(
        "solver", key="num_steps", doc="MA-PPO iterations (exact and sampled)"
    )
    sample_counts: tuple[int, ...] = setting(
        "solver",
        doc="sampled MA-PPO is run once per entry: ``T`` samples per iteration",
    )
    ippo_updates: tuple[int, ...] = setting(
        "baseline",
        key="updates",
        doc="IPPO is judged after each entry's number of updates",
    )
    num_games: int = setting("game", 32)
    num_actions: tuple[int, ...] = setting("game", (2, 2))
    num_states: int = setting("game", 3)
    discount: float = setting("game", 0.9)
    step_size: float = setting("solver", 1.0)
    rollout_steps: int = setting(
        "solver", 40, doc="episodes are cut after this many steps"
    )
    ippo_envs: int = setting(
        "baseline", 16, key="envs", doc="IPPO's parallel environments"
    )
    ippo_steps: int = setting(
        "baseline", 32, key="steps", doc="IPPO's steps per environment and update"
    )
    ippo_learning_rate: float = setting(
        "baseline", 3e-3, key="learning_rate", doc="IPPO's Adam learning rate"
    )
    chunk_games: int = setting("run", 16)
    seed: int = setting("game", 0)
    dtype: str = setting("run", "float32")
    description: str = ""

    @property
    def num_chunks(self) -> int:
        return math.ceil(self.num_games / self.chunk_games)

    def check(self, path: str) -> None:
        check_dtype(path, "run.dtype", self.dtype)
        sizes = {
            "game.num_games": self.num_games,
            "game.num_states": self.num_states,
            "solver.num_steps": self.iterations,
            "solver.rollout_steps": self.rollout_steps,
            "baseline.envs": self.ippo_envs,
            "baseline.steps": self.ippo_steps,
            "run.chunk_games": self.chunk_games,
        }
        sizes |= {
            f"solver.sample_counts[{k}]": t for k, t in enumerate(self.sample_counts)
        }
        sizes |= {f"game.num_actions[{k}]": a for k, a in enumerate(self.num_actions)}
        check_sizes(path, sizes)
        for key, value in (
            ("solver.sample_counts", self.sample_counts),
            ("baseline.updates", self.ippo_updates),
        ):
            if not value:
                raise ConfigError(f"{path}: key '{key}' is empty")
        last = self.ippo_updates[-1]
        check_checkpoints(path, "baseline.updates", self.ippo_updates, "last", last)
        if not 0.0 <= self.discount < 1.0:
            raise ConfigError(
                f"{path}: key 'game.discount' is {self.discount}; expected in [0, 1)"
            )
        for key, value in (
            ("solver.step_size", self.step_size),
            ("baseline.learning_rate", self.ippo_learning_rate),
        ):
            if not value > 0:
                raise ConfigError(f"{path}: key '{key}' is {value}; expected > 0")
        if (self.ippo_envs * self.ippo_steps) % 4:
            raise ConfigError(
                f"{path}: keys 'baseline.envs' x 'baseline.steps' is "
                f"{self.ippo_envs * self.ippo_steps}; expected a multiple of 4 "
                "(IPPO's minibatches)"
            )

    def plan(self) -> Plan:
        return Plan(
            self.num_chunks,
            lambda i: _compute(self, i),
            lambda parts: _aggregate(self, parts),
            figure,
            self.dtype == "float64",
        )


class SampledPPOChunk(eqx.Module):
    """One block of games: every method's exact optimality gap."""

    exact_gap: Float[Array, " G"]
    sampled_gap: Float[Array, "G T"]
    ippo_gap: Float[Array, "G C"]
    uniform_gap: Float[Array, " G"]
    finite: Bool[Array, ""]


def sampled_solver(config: SampledPPOConfig, features, num_samples: int):
    """Sample-based MA-PPO with ``T = num_samples`` episodes per iteration."""
    return M.solvers.SampledMAPPO(
        jnp.asarray(config.step_size, features[0].dtype),
        features,
        jax.random.key(config.seed + 1),
        num_samples=num_samples,
        rollout_steps=config.rollout_steps,
    )


def ippo(config: SampledPPOConfig) -> M.simulation.IPPO:
    """The IPPO baseline's hyperparameters."""
    return M.simulation.IPPO(
        num_updates=config.ippo_updates[-1],
        num_envs=config.ippo_envs,
        num_steps=config.ippo_steps,
        learning_rate=config.ippo_learning_rate,
    )


@eqx.filter_jit
def _ippo_and_uniform_gaps(config: SampledPPOConfig, envs, keys):
    """IPPO trained on every game of ``envs`` and judged at
    ``config.ippo_updates``, ``(G, C)``, and the uniform policy's gap, ``(G,)``:
    one compiled program (module level, the config static, so a second run of
    the same config reuses it; op by op, the uniform gap was dozens of
    compilations)."""
    gap = M.evaluation.optimality_gap
    baseline = ippo(config)
    runs = jax.vmap(baseline.train)(envs, keys)

    def judge(env, params):
        fns = baseline.policy_fns(params)
        return gap(env.game, M.simulation.tabulate(env, fns, check=False))

    at = jnp.asarray(config.ippo_updates) - 1
    history = jax.tree.map(lambda x: x[:, at], runs.history)  # (G, C, ..)
    ippo_gap = jax.vmap(jax.vmap(judge, in_axes=(None, 0)))(envs, history)
    uniform = jax.vmap(lambda g: gap(g, M.policies.uniform(g)))(envs.game)
    return ippo_gap, uniform


def _compute(config: SampledPPOConfig, i: int) -> SampledPPOChunk:
    start = i * config.chunk_games
    stop = min(start + config.chunk_games, config.num_games)
    batch = jax.tree.map(lambda x: x[start:stop], games(config))
    gap = M.evaluation.optimality_gap
    exact = M.solve_batch(
        M.solvers.MultiAgentPPO(jnp.asarray(config.step_size, batch.initial.dtype)),
        batch,
        config.iterations,
        metric=gap,
    )
    features = M.solvers.one_hot_features(M.games.unstack(batch)[0])
    sampled = [
        M.solve_batch(
            sampled_solver(config, features, t), batch, config.iterations, metric=gap
        )
        for t in config.sample_counts
    ]
    envs = M.simulation.MarkovGameEnv(batch, config.rollout_steps)
    keys = jax.random.split(jax.random.key(config.seed + 2), stop - start)
    ippo_gap, uniform = _ippo_and_uniform_gaps(config, envs, keys)
    sampled_gap = jnp.stack([s.trace[:, -1] for s in sampled], axis=1)
    finite = jnp.all(exact.finite) & jnp.all(jnp.isfinite(ippo_gap))
    for s in sampled:
        finite &= jnp.all(s.finite)
    return SampledPPOChunk(exact.trace[:, -1], sampled_gap, ippo_gap, uniform, finite)


def _stats(gap: np.ndarray) -> dict:
    return {
        "median_gap": np.median(gap, axis=0).tolist(),
        "p90_gap": np.percentile(gap, 90, axis=0).tolist(),
        "mean_gap": gap.mean(axis=0).tolist(),
    }


def _aggregate(config: SampledPPOConfig, parts: list[SampledPPOChunk]) -> dict:
    cat = {
        k: np.concatenate([np.asarray(getattr(p, k)) for p in parts])
        for k in ("exact_gap", "sampled_gap", "ippo_gap", "uniform_gap")
    }
    features = M.solvers.one_hot_features(M.games.unstack(games(config))[0])
    per_iteration = [
        sampled_solver(config, features, t).samples_per_step()
        for t in config.sample_counts
    ]
    steps = ippo(config).env_steps_per_update
    return {
        "experiment": config.experiment,
        "name": config.name,
        "num_games": config.num_games,
        "num_actions": list(config.num_actions),
        "num_states": config.num_states,
        "discount": config.discount,
        "iterations": config.iterations,
        "step_size": config.step_size,
        "rollout_steps": config.rollout_steps,
        "metric_description": (
            "exact optimality gap rho @ (V* - V_pi) of the learned policy (IPPO's "
            "networks tabulated) against environment steps used per game; median, "
            "p90 and mean over games"
        ),
        "exact_ma_ppo": _stats(cat["exact_gap"][:, None])
        | {"label": f"exact MA-PPO, {config.iterations} iterations"},
        "uniform": _stats(cat["uniform_gap"][:, None]) | {"label": "uniform policy"},
        "sampled_ma_ppo": _stats(cat["sampled_gap"])
        | {
            "label": "sample-based MA-PPO",
            "samples_per_iteration": list(config.sample_counts),
            "env_steps": [config.iterations * s for s in per_iteration],
        },
        "ippo": _stats(cat["ippo_gap"])
        | {
            "label": "IPPO (environment view)",
            "updates": list(config.ippo_updates),
            "env_steps": [c * steps for c in config.ippo_updates],
        },
        "finite": all(bool(p.finite) for p in parts),
    }


def figure(results: dict) -> bytes:
    """Median and p90 gap against environment steps; exact MA-PPO and the
    uniform policy as horizontal lines."""
    plt = _plots.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    floor = 1e-8
    for ax, stat in zip(axes, ("median_gap", "p90_gap"), strict=True):
        for key, style in (("sampled_ma_ppo", "o-"), ("ippo", "s-")):
            row = results[key]
            ax.plot(
                row["env_steps"],
                np.maximum(row[stat], floor),
                style,
                ms=4,
                label=row["label"],
            )
        for key, style in (("exact_ma_ppo", "--"), ("uniform", ":")):
            row = results[key]
            ax.axhline(max(row[stat][0], floor), ls=style, c="k", label=row["label"])
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="environment steps per game",
            ylabel="optimality gap J* - J",
            title=stat.replace("_", " ").replace("p90", "90th percentile"),
        )
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    title = (
        f"{results['name']}: {results['num_games']} random cooperative games, "
        f"A={results['num_actions']}, S={results['num_states']}, "
        f"gamma={results['discount']}, K={results['iterations']}"
    )
    return _plots.png(fig, title)
