"""Random cooperative games: does local optimisation reach the global optimum?

The experiment Zhao, Yang, Wang, Lee, "Local Optimization Achieves Global
Optimality in Multi-Agent Reinforcement Learning" (ICML 2023) does not run:
on a batch of random fully cooperative games
(:func:`marlmeta.games.random_cooperative`), exact multi-agent PPO with
autoregressive policies against independent softmax policy gradient and
natural gradient play (product policies). Each traces the optimality gap
``J* - J(pi_t) = rho @ (V* - V_t)`` (:func:`marlmeta.evaluation.optimality_gap`)
at the checkpoints; results give its median and 90th percentile over games and
the fraction of games whose gap is below ``threshold`` (the global optimum
reached), against iterations. The paper's claim is that this fraction goes to
1 for MA-PPO; product-policy methods may stop at a suboptimal stationary point.
One chunk per solver and block of games; every solver sees the same games.

The same experiment runs their Algorithm 2 (:class:`marlmeta.solvers.PessimisticMAPPO`,
one-hot features shared by policy and critic, a pessimistic linear critic fitted
each iteration to ``n`` fresh queries of a mu-reset sampling oracle, uniform
``mu``) and draws their Theorem 5.5 (:func:`marlmeta.theory.zhao_theorem55`)
beside the average gap of its iterates, which the theorem bounds; exact MA-PPO
entries draw Theorem 4.5 (:func:`marlmeta.theory.zhao_theorem45`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

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
    check_solver_entries,
    setting,
)
from marlmeta.experiments._protocol import Experiment, Plan
from marlmeta.experiments.registry import make_solver

#: Solvers a ``cooperative_ppo`` config may name.
COOPERATIVE_SOLVERS = (
    "MultiAgentPPO",
    "GradientPlay",
    "NaturalGradientPlay",
    "PessimisticMAPPO",
)


@dataclasses.dataclass(frozen=True)
class CooperativeSolverEntry:
    """One solver of a ``cooperative_ppo`` config: its label, registry name and
    step size, and for ``PessimisticMAPPO`` (which requires them) the
    pessimism ``lambda`` and the oracle queries ``n`` per agent and iteration."""

    label: str
    solver: str
    step_size: float
    pessimism: float | None = None
    num_samples: int | None = None


@dataclasses.dataclass(frozen=True)
class CooperativePPOConfig(Experiment, experiment="cooperative_ppo"):
    """MA-PPO against independent methods on random cooperative games."""

    game_source_refusal = (
        "multi-agent PPO runs on cooperative games with networked (localized) "
        "rewards and factored transitions, which an arbitrary game does not "
        "have"
    )

    name: str
    experiment: str
    solvers: tuple[CooperativeSolverEntry, ...]
    checkpoints: tuple[int, ...] = setting("run")
    num_games: int = setting("game", 1000)
    num_actions: tuple[int, ...] = setting("game", (2, 2, 2))
    num_states: int = setting("game", 4)
    discount: float = setting("game", 0.9)
    threshold: float = setting(
        "output",
        1e-3,
        doc="a game counts as solved once its optimality gap is below it",
    )
    chunk_games: int = setting("run", 250)
    seed: int = setting("game", 0)
    dtype: str = setting("run", "float64")
    description: str = ""

    @property
    def num_steps(self) -> int:
        return self.checkpoints[-1]

    @property
    def num_chunks(self) -> int:
        return math.ceil(self.num_games / self.chunk_games)

    def check(self, path: str) -> None:
        check_dtype(path, "run.dtype", self.dtype)
        check_sizes(
            path,
            {
                "game.num_games": self.num_games,
                "game.num_states": self.num_states,
                "run.chunk_games": self.chunk_games,
            },
        )
        check_solver_entries(path, self.solvers, COOPERATIVE_SOLVERS)
        for k, entry in enumerate(self.solvers):
            for key, value in (
                ("step_size", entry.step_size),
                ("pessimism", entry.pessimism),
                ("num_samples", entry.num_samples),
            ):
                if value is not None and not value > 0:
                    raise ConfigError(
                        f"{path}: key 'solvers[{k}].{key}' is {value}; expected > 0"
                    )
        if not self.checkpoints:
            raise ConfigError(f"{path}: key 'run.checkpoints' is empty")
        check_checkpoints(
            path, "run.checkpoints", self.checkpoints, "last", self.checkpoints[-1]
        )
        if not 0.0 <= self.discount < 1.0:
            raise ConfigError(
                f"{path}: key 'game.discount' is {self.discount}; expected in [0, 1)"
            )
        if not self.num_actions or min(self.num_actions) < 1:
            raise ConfigError(
                f"{path}: key 'game.num_actions' is {list(self.num_actions)}; "
                "expected counts >= 1"
            )
        if not self.threshold > 0:
            raise ConfigError(
                f"{path}: key 'output.threshold' is {self.threshold}; expected > 0"
            )

    def plan(self) -> Plan:
        return Plan(
            len(self.solvers) * self.num_chunks,
            lambda i: _compute(self, i),
            lambda parts: _aggregate(self, parts),
            figure,
            self.dtype == "float64",
        )


class CooperativeChunk(eqx.Module):
    """One solver on one block of games: ``gap[g, c]`` at the checkpoints."""

    gap: Float[Array, "G C"]
    finite: Bool[Array, ""]


class PessimisticChunk(eqx.Module):
    """``PessimisticMAPPO`` on one block of games, at the checkpoints ``t``.

    Attributes:
        gap: ``J* - J(pi_t)``, the iterate after ``t`` updates.
        average_gap: ``(1/t) sum_{k<t} (J* - J(pi_k))``, what Theorem 5.5 bounds.
        bound: Theorem 5.5's certified bound on it.
        printed: the reconstructed statement (a constant taken as 1).
        finite: every number is finite.
    """

    gap: Float[Array, "G C"]
    average_gap: Float[Array, "G C"]
    bound: Float[Array, "G C"]
    printed: Float[Array, "G C"]
    finite: Bool[Array, ""]


def games(config):
    """The config's batch of random cooperative games (the same for every solver).

    ``config`` is any experiment config with ``seed``, ``num_games``,
    ``num_actions``, ``num_states``, ``discount`` and ``dtype`` (the cooperative
    and the sample-based PPO experiments share it).
    """
    dtype = jnp.float64 if config.dtype == "float64" else jnp.float32
    return eqx.filter_jit(M.games.random_cooperative)(
        jax.random.key(config.seed),
        config.num_games,
        config.num_actions,
        config.num_states,
        config.discount,
        dtype=dtype,
    )


def _compute(config: CooperativePPOConfig, i: int):
    entry = config.solvers[i // config.num_chunks]
    block = i % config.num_chunks
    start = block * config.chunk_games
    stop = min(start + config.chunk_games, config.num_games)
    batch = jax.tree.map(lambda x: x[start:stop], games(config))
    return _RUNS.get(entry.solver, _exact_chunk)(config, entry, batch)


def _exact_chunk(config: CooperativePPOConfig, entry, batch) -> CooperativeChunk:
    """An exact-gradient solver traced by :func:`marlmeta.solve_batch`."""
    solver = make_solver(entry.solver, batch.rewards.dtype, step_size=entry.step_size)
    sol = M.solve_batch(
        solver,
        batch,
        config.num_steps,
        checkpoints=config.checkpoints,
        metric=M.evaluation.optimality_gap,
    )
    return CooperativeChunk(gap=sol.trace, finite=jnp.all(sol.finite))


def pessimistic_solver(config: CooperativePPOConfig, entry, game):
    """The entry's :class:`~marlmeta.solvers.PessimisticMAPPO` on ``game``'s
    one-hot features, keyed by the config's seed (the same for every game)."""
    return make_solver(
        entry.solver,
        game.rewards.dtype,
        step_size=entry.step_size,
        pessimism=entry.pessimism,
        num_samples=entry.num_samples,
        features=M.solvers.one_hot_features(game),
        key=jax.random.key(config.seed + 1),
    )


@eqx.filter_jit
def _pessimistic_run(solver, batch, steps: tuple[int, ...]):
    t = np.asarray(steps)

    def one(game):
        traj = M.theory.pessimistic_trajectory(solver, game, int(t[-1]) + 1)
        bound = M.theory.zhao_theorem55(game, solver, t, trajectory=traj)
        average = jnp.cumsum(traj.gap)[t - 1] / t
        return traj.gap[t], average, bound.value, bound.printed

    return jax.vmap(one)(batch)


def _pessimistic_chunk(config: CooperativePPOConfig, entry, batch) -> PessimisticChunk:
    """Replay the run (:func:`marlmeta.theory.pessimistic_trajectory`: the
    iterates of :func:`marlmeta.solve` with the same key) and evaluate
    Theorem 5.5 at the checkpoints."""
    solver = pessimistic_solver(config, entry, M.games.unstack(batch)[0])
    gap, average, bound, printed = _pessimistic_run(solver, batch, config.checkpoints)
    finite = jnp.all(
        jnp.stack([jnp.all(jnp.isfinite(x)) for x in (gap, average, bound, printed)])
    )
    return PessimisticChunk(gap, average, bound, printed, finite)


#: How a solver's chunk is computed, where it is not by :func:`_exact_chunk`.
_RUNS: dict[str, Callable] = {"PessimisticMAPPO": _pessimistic_chunk}


def _aggregate(config: CooperativePPOConfig, parts: list[CooperativeChunk]) -> dict:
    results = {
        "experiment": config.experiment,
        "name": config.name,
        "num_games": config.num_games,
        "num_actions": list(config.num_actions),
        "num_states": config.num_states,
        "discount": config.discount,
        "threshold": config.threshold,
        "checkpoints": list(config.checkpoints),
        "metric_description": (
            "optimality gap rho @ (V* - V_t) of the output policy after t "
            "iterations (exact; V* of the joint-action MDP); median and p90 over "
            "games; fraction_optimal = fraction of games with gap < threshold"
        ),
        "solvers": [],
    }
    finite = True
    n = config.num_chunks
    for k, entry in enumerate(config.solvers):
        chunks = parts[k * n : (k + 1) * n]
        gap = np.concatenate([np.asarray(c.gap) for c in chunks])
        finite &= all(bool(c.finite) for c in chunks)
        results["solvers"].append(
            {
                "label": entry.label,
                "solver": entry.solver,
                "step_size": entry.step_size,
                "median_gap": np.median(gap, axis=0).tolist(),
                "p90_gap": np.percentile(gap, 90, axis=0).tolist(),
                "mean_gap": gap.mean(axis=0).tolist(),
                "fraction_optimal": (gap < config.threshold).mean(axis=0).tolist(),
                "min_gap": float(gap.min()),
            }
        )
        theorem = _THEOREMS.get(entry.solver)
        if theorem is not None:
            results["solvers"][-1]["bound"] = theorem(config, entry, gap, chunks)
    results["finite"] = finite
    return results


def _largest_gap(config: CooperativePPOConfig, fam) -> float:
    """``max_g (r_max - r_min) / (1 - gamma)``: no gap of the family exceeds it."""
    r = np.asarray(fam.rewards[:, 0]).reshape(config.num_games, -1)
    return float(np.max(r.max(1) - r.min(1))) / (1 - config.discount)


def _theorem45(config: CooperativePPOConfig, entry, gap: np.ndarray, chunks) -> dict:
    """Zhao et al. Theorem 4.5 for every game at every checkpoint ``t``.

    The theorem bounds the average gap of the iterates ``k < t`` (the
    expected gap of a uniformly drawn iterate), not the last iterate's gap
    the experiment traces; both are at most ``(r_max - r_min) / (1 - gamma)``,
    and a bound above that is vacuous.
    """
    t = np.asarray(config.checkpoints)
    fam = games(config)
    bound = jax.vmap(lambda g: M.theory.zhao_theorem45(g, entry.step_size, t))(fam)
    value = np.median(np.asarray(bound.value), axis=0)
    largest = _largest_gap(config, fam)
    last = float(np.median(gap[:, -1]))
    return {
        "theorem": "Zhao et al. Theorem 4.5 (marlmeta.theory.zhao_theorem45)",
        "short": "Thm 4.5",
        "quantity": (
            "average optimality gap of the iterates k < t (the measured curve "
            "is the last iterate's gap, below it wherever the average is)"
        ),
        "applies": bool(np.all(bound.applies)),
        "bound_median": value.tolist(),
        "printed_median": np.median(np.asarray(bound.printed), axis=0).tolist(),
        "bound_last": float(value[-1]),
        "measured_last": last,
        "ratio_last": float(value[-1] / last) if last > 0 else None,
        "largest_possible_gap": largest,
        "vacuous_last": bool(value[-1] >= largest),
    }


def _theorem55(config: CooperativePPOConfig, entry, gap: np.ndarray, chunks) -> dict:
    """Zhao et al. Theorem 5.5 for every game at every checkpoint ``t``, beside
    the average gap of the iterates ``k < t`` it bounds (per game)."""
    del gap

    def cat(name):
        return np.concatenate([np.asarray(getattr(c, name)) for c in chunks])

    average, value, printed = cat("average_gap"), cat("bound"), cat("printed")
    bound_median = np.median(value, axis=0)
    measured = np.median(average, axis=0)
    largest = _largest_gap(config, games(config))
    last = float(measured[-1])
    return {
        "theorem": "Zhao et al. Theorem 5.5 (marlmeta.theory.zhao_theorem55)",
        "short": "Thm 5.5",
        "quantity": (
            "average optimality gap of the iterates k < t (drawn dotted); "
            "bound: the certified form (exact quantities of the run), printed: "
            "the statement with Lemma C.1's constant taken as 1, delta = 0.05"
        ),
        "applies": True,
        "pessimism": entry.pessimism,
        "num_samples": entry.num_samples,
        "bound_median": bound_median.tolist(),
        "printed_median": np.median(printed, axis=0).tolist(),
        "average_gap_median": measured.tolist(),
        "bound_holds_every_game": bool(np.all(value >= average)),
        "bound_last": float(bound_median[-1]),
        "printed_last": float(np.median(printed[:, -1])),
        "measured_last": last,
        "ratio_last": float(bound_median[-1] / last) if last > 0 else None,
        "largest_possible_gap": largest,
        "vacuous_last": bool(bound_median[-1] >= largest),
    }


#: The theorem each solver's entry draws (a function of the config, the entry,
#: the gaps ``(G, C)`` and the entry's chunks), where its paper proves one.
_THEOREMS: dict[str, Callable] = {
    "MultiAgentPPO": _theorem45,
    "PessimisticMAPPO": _theorem55,
}


def figure(results: dict) -> bytes:
    """Median and p90 gap (log scale) and the fraction of games at the optimum."""
    plt = _plots.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    t = results["checkpoints"]
    for row in results["solvers"]:
        floor = 1e-16
        (line,) = axes[0].plot(t, np.maximum(row["median_gap"], floor), "o-", ms=3)
        color = line.get_color()
        axes[1].plot(t, np.maximum(row["p90_gap"], floor), "o-", ms=3, color=color)
        axes[2].plot(
            t, row["fraction_optimal"], "o-", ms=3, color=color, label=row["label"]
        )
        if "bound" in row:
            b = row["bound"]
            note = ", vacuous" if b["vacuous_last"] else ""
            axes[0].plot(
                t, b["bound_median"], "--", color=color, lw=1,
                label=f"{b['short']} bound, {row['label']} (avg. iterate{note})",
            )  # fmt: skip
            if "average_gap_median" in b:
                axes[0].plot(
                    t, np.maximum(b["average_gap_median"], floor), ":",
                    color=color, lw=1.2, label=f"{row['label']}: avg. iterate gap",
                )  # fmt: skip
            axes[0].legend(fontsize=7)
    titles = ("median optimality gap", "p90 optimality gap", "fraction gap < thr")
    ylabels = ("J* - J (median over games)", "J* - J (90th percentile)", "fraction")
    for ax, title, ylabel in zip(axes, titles, ylabels, strict=True):
        ax.set(xlabel="iteration", ylabel=ylabel, title=title, xscale="log")
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    axes[2].set(ylim=(-0.02, 1.02))
    axes[2].legend(fontsize=8)
    title = (
        f"{results['name']}: {results['num_games']} random cooperative games, "
        f"A={results['num_actions']}, S={results['num_states']}, "
        f"gamma={results['discount']}, thr={results['threshold']:g}"
    )
    return _plots.png(fig, title)
