"""Solver comparisons: several CCE solvers on the same batch of general-sum games.

Each solver is one resumable chunk. Results carry, per solver and checkpoint,
the mean, standard deviation, median and 90th percentile of the exact CCE-gap
over the games, every game's curve, the social welfare of the output policy,
and (for adaptive OFTRL) its online bound ``cce_gap_ub``. With
``output.exact_reference: true`` one more chunk computes every game's exact
welfare-maximising Markov CCE (:func:`marlmeta.exact.markov_cce`), the ground
truth the figure draws as a reference line.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Bool, Float

import marlmeta as M
from marlmeta.experiments import _plots
from marlmeta.experiments._game_source import GameSourceConfig
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


@dataclasses.dataclass(frozen=True)
class GameBatchConfig:
    """A batch of random general-sum games.

    With ``stay`` set, the transitions are action-independent: the state stays
    with probability ``stay`` and moves to another state uniformly otherwise
    (the experiment of Yorulmaz and Başar, "Near Optimal Convergence to Coarse
    Correlated Equilibrium in General-Sum Markov Games"); with ``stay: null``
    they are random.
    """

    num_games: int = 9
    num_actions: tuple[int, ...] = (2, 2)
    num_states: int = 2
    horizon: int = 2
    stay: float | None = None
    seed: int = 0

    def sizes(self) -> dict[str, int]:
        """The sizes to check (``>= 1``)."""
        sizes = {"game.num_states": self.num_states, "game.horizon": self.horizon}
        for i, a in enumerate(self.num_actions):
            sizes[f"game.num_actions[{i}]"] = a
        return sizes

    def check(self, path: str) -> None:
        """``stay`` is a probability."""
        if self.stay is not None and not 0.0 <= self.stay <= 1.0:
            raise ConfigError(
                f"{path}: key 'game.stay' is {self.stay}; expected in [0, 1]"
            )

    def batch(self, dtype):
        """The batch of random games."""
        return _random_batch(self, dtype)


#: The registry names of the solvers a CCE comparison accepts.
SOLVER_NAMES = ("GeneralSumOMD", "AdaptiveOFTRL")


@dataclasses.dataclass(frozen=True)
class SolverEntry:
    """One solver of a comparison; ``step_size: null`` takes its theory default
    (where the solver has one)."""

    label: str
    solver: str
    step_size: float | None = None


@dataclasses.dataclass(frozen=True)
class CompareConfig(Experiment, experiment="compare"):
    """Several CCE solvers on the same batch of games (exact CCE-gap curves)."""

    name: str
    experiment: str
    game: GameBatchConfig | GameSourceConfig
    solvers: tuple[SolverEntry, ...]
    num_steps: int = setting("run", 1000, doc="the iterations of every solver")
    checkpoints: tuple[int, ...] = setting("run", (10, 100, 1000))
    dtype: str = setting("run", "float64")
    exact_reference: bool = setting(
        "output",
        False,
        doc="also solve each game's welfare-maximising CCE exactly, as a reference",
    )
    description: str = ""

    def check(self, path: str) -> None:
        g = self.game
        sizes = {"game.num_games": g.num_games, "run.num_steps": self.num_steps}
        check_sizes(path, sizes | g.sizes())
        g.check(path)
        check_solver_entries(path, self.solvers, SOLVER_NAMES)
        check_checkpoints(
            path, "run.checkpoints", self.checkpoints, "run.num_steps", self.num_steps
        )
        check_dtype(path, "run.dtype", self.dtype)

    def plan(self) -> Plan:
        return Plan(
            len(self.solvers) + int(self.exact_reference),
            lambda i: _compute(self, i),
            lambda parts: _aggregate(self, parts),
            figure,
            # The exact reference is solved in float64 whatever the run's dtype.
            self.dtype == "float64" or self.exact_reference,
        )


class CompareChunk(eqx.Module):
    """One solver on the batch.

    Attributes:
        cce_gap: the exact CCE-gap of every game at every checkpoint, ``(G, C)``.
        finite: whether every run stayed finite.
        welfare: the sum of the players' values of the output, ``(G, C)``.
        cce_gap_ub: adaptive OFTRL's online bound, ``(G, C)``, or ``None``.
        nested_cce_gap: the exact CCE-gap of adaptive OFTRL's own nested-index
            output (:func:`marlmeta.theory.nested_index_cce_gap`), ``(G, C)``,
            or ``None`` (other solvers, or games too large for it).
    """

    cce_gap: Float[Array, "G C"]
    finite: Bool[Array, ""]
    welfare: Float[Array, "G C"]
    cce_gap_ub: Float[Array, "G C"] | None = None
    nested_cce_gap: Float[Array, "G C"] | None = None


class ExactChunk(eqx.Module):
    """The exact welfare-maximising Markov CCE of every game.

    Attributes:
        welfare: its social welfare, ``(G,)``.
        cce_gap: its exact CCE-gap (at most the LP tolerance), ``(G,)``.
        converged: whether every stage LP reached optimality.
    """

    welfare: Float[Array, " G"]
    cce_gap: Float[Array, " G"]
    converged: Bool[Array, ""]


def games_of(config: CompareConfig):
    """The batch of games a comparison runs on: random games, or a game from
    a file or OpenSpiel and its reward perturbations."""
    dtype = jnp.float64 if config.dtype == "float64" else jnp.float32
    return config.game.batch(dtype)


def _random_batch(g: GameBatchConfig, dtype):
    games = eqx.filter_jit(M.games.random_general_sum)(
        jr.key(g.seed), g.num_games, g.num_actions, g.num_states, g.horizon, dtype=dtype
    )
    if g.stay is not None:
        s = g.num_states
        move = (1.0 - g.stay) / max(s - 1, 1)
        kernel = jnp.full((s, s), move, dtype) + (g.stay - move) * jnp.eye(
            s, dtype=dtype
        )
        if s == 1:
            kernel = jnp.ones((1, 1), dtype)
        kernel = kernel.reshape((s,) + (1,) * len(g.num_actions) + (s,))
        probs = jnp.broadcast_to(kernel, games.transitions.probs.shape)
        games = eqx.tree_at(lambda x: x.transitions.probs, games, probs)
        first = jnp.zeros(s, dtype).at[0].set(1.0)  # Yorulmaz, Başar start in s_1
        games = eqx.tree_at(
            lambda x: x.initial, games, jnp.broadcast_to(first, games.initial.shape)
        )
    return games


#: The exact reference of a batch, one compiled program at module level (a
#: second run of the same shapes in a process reuses it).
_exact_cce = jax.jit(jax.vmap(M.exact.markov_cce))


def _compute(config: CompareConfig, i: int) -> CompareChunk | ExactChunk:
    games = games_of(config)
    if i == len(config.solvers):
        # The stage LPs are degenerate (zero right-hand sides): float32 pivoting
        # fails on some games, so the ground truth is always solved in float64.
        wide = jax.tree.map(
            lambda x: (
                x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x
            ),
            games,
        )
        eq = _exact_cce(wide)
        return ExactChunk(eq.welfare, eq.certificate, jnp.all(eq.converged))
    entry = config.solvers[i]
    solver = make_solver(entry.solver, games.rewards.dtype, **dataclasses.asdict(entry))
    sol = M.solve_batch(solver, games, config.num_steps, checkpoints=config.checkpoints)
    ub = nested = None
    if isinstance(sol.diagnostics, M.solvers.OFTRLDiagnostics):
        ub = sol.diagnostics.cce_gap_ub
        nested = _nested_gaps(config, solver, games)
    welfare = jnp.sum(sol.trace.values, axis=-1)
    return CompareChunk(sol.trace.cce_gap, jnp.all(sol.finite), welfare, ub, nested)


def _nested_gaps(config: CompareConfig, solver, games):
    """The exact CCE-gap of adaptive OFTRL's nested-index output at every
    checkpoint ``(G, C)`` (Yorulmaz and Başar's own output policy, which their
    Theorem 4 bounds), or ``None`` where its history tree is too large."""
    iterates = jax.jit(
        jax.vmap(lambda g: M.theory.oftrl_iterates(solver, g, config.num_steps))
    )(games)
    gaps = []
    for t in config.checkpoints:
        part = tuple(p[:, :t] for p in iterates)
        try:
            out = jax.jit(jax.vmap(M.theory.nested_index_cce_gap))(games, part)
        except ValueError:  # the history tree is too large: not computed
            return None
        gaps.append(out.cce_gap)
    return jnp.stack(gaps, axis=1)


def _aggregate(config: CompareConfig, parts: list[CompareChunk]) -> dict:
    results = {
        "experiment": config.experiment,
        "name": config.name,
        "metric": "cce_gap",
        "metric_description": (
            "exact CCE-gap of each solver's Markov correlated output policy "
            "(GeneralSumOMD: stage mixture; AdaptiveOFTRL: average joint), "
            "statistics over the games of the batch"
        ),
        "checkpoints": list(config.checkpoints),
        "num_games": config.game.num_games,
        "solvers": [],
    }
    finite = True
    exact = parts[len(config.solvers)] if config.exact_reference else None
    if exact is not None:
        results["exact_cce"] = {
            "description": (
                "exact welfare-maximising Markov CCE of every game (one LP per "
                "(h, s) on the Q-game of its own continuation values); its "
                "welfare is the sum of the players' values"
            ),
            "welfare_per_game": exact.welfare.tolist(),
            "welfare_mean": float(exact.welfare.mean()),
            "cce_gap_max": float(exact.cce_gap.max()),
            "converged": bool(exact.converged),
        }
    for entry, raw in zip(config.solvers, parts[: len(config.solvers)], strict=True):
        gap = raw.cce_gap
        finite &= bool(raw.finite)
        row = {
            "label": entry.label,
            "solver": entry.solver,
            "step_size": entry.step_size,
            "cce_gap_mean": gap.mean(0).tolist(),
            "cce_gap_std": gap.std(0).tolist(),
            "cce_gap_median": np.median(gap, 0).tolist(),
            "cce_gap_p90": np.percentile(gap, 90, axis=0).tolist(),
            "cce_gap_per_game": gap.tolist(),
            "welfare_mean": raw.welfare.mean(0).tolist(),
        }
        if exact is not None:
            below = exact.welfare[:, None] - raw.welfare
            row["welfare_below_exact_cce_mean"] = below.mean(0).tolist()
        if raw.cce_gap_ub is not None:
            ub = raw.cce_gap_ub
            row["cce_gap_ub_mean"] = ub.mean(0).tolist()
            row["cce_gap_ub_per_game"] = ub.tolist()
            # < 0 where the online bound is below the exact gap of the Markov
            # average-joint output (it bounds the paper's non-Markov output).
            row["cce_gap_ub_minus_exact_min"] = float(np.min(ub - gap))
        if raw.nested_cce_gap is not None:
            row["bounds"] = _oftrl_bounds(config, entry, raw.nested_cce_gap)
        results["solvers"].append(row)
    results["finite"] = finite
    return results


def _oftrl_bounds(config: CompareConfig, entry, nested) -> dict:
    """Yorulmaz and Başar's own output beside their Theorem 4: the exact
    CCE-gap of the nested-index policy (mean over games) and, where the
    theorem applies, its bound and the ratio at the last checkpoint."""
    game = jax.tree.map(lambda x: x[0], games_of(config))
    out = {
        "nested_cce_gap_description": "exact CCE-gap of the paper's own "
        "nested-index output policy (Algorithm 2; best history-dependent "
        "deviation that does not see the index)",
        "nested_cce_gap_mean": nested.mean(0).tolist(),
        "nested_cce_gap_per_game": nested.tolist(),
        "theorem4": {
            "theorem": "Yorulmaz and Başar, Theorem 4 (CCE-gap of the "
            "nested-index output)",
            "condition": "beta >= 70, eta = 1/(24 H^1.5 N), rewards in [0, 1]",
        },
    }
    bounds = [
        M.theory.oftrl_theorem4(game, t, step_size=entry.step_size)
        for t in config.checkpoints
    ]
    applies = all(bool(b.applies) for b in bounds)
    out["theorem4"]["applies"] = applies
    if applies:
        values = [float(b.value) for b in bounds]
        out["theorem4"] |= {
            "bound": values,
            "ratio_last": values[-1] / max(float(nested.mean(0)[-1]), 1e-300),
        }
    return out


def figure(results: dict) -> bytes:
    """(a) mean and median with the 90th percentile per solver; (b) per-game
    curves; (c) with an exact reference, the mean welfare beside the exact
    welfare-maximising CCE's."""
    plt = _plots.pyplot()
    x = results["checkpoints"]
    exact = results.get("exact_cce")
    fig, axes = plt.subplots(1, 3 if exact else 2, figsize=(18 if exact else 12, 4.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, color in zip(results["solvers"], colors, strict=False):
        label = row["label"]
        axes[0].plot(x, row["cce_gap_median"], color=color, label=f"{label}: median")
        axes[0].plot(
            x, row["cce_gap_mean"], color=color, ls=":", label=f"{label}: mean"
        )
        axes[0].fill_between(
            x, row["cce_gap_median"], row["cce_gap_p90"], color=color, alpha=0.2
        )
        bounds = row.get("bounds")
        if bounds:
            axes[0].plot(
                x,
                bounds["nested_cce_gap_mean"],
                color=color,
                ls="-.",
                label=f"{label}: mean, the paper's nested-index output",
            )
            if bounds["theorem4"]["applies"]:
                axes[0].plot(
                    x,
                    bounds["theorem4"]["bound"],
                    color=color,
                    ls="--",
                    label=f"{label}: Theorem 4 bound",
                )
        for k, curve in enumerate(row["cce_gap_per_game"]):
            axes[1].plot(
                x,
                curve,
                color=color,
                alpha=0.5,
                lw=0.8,
                label=label if k == 0 else None,
            )
    axes[0].set(
        xscale="log",
        xlabel="iterations T",
        ylabel="exact CCE-gap",
        title="(a) median (band up to the 90th percentile), mean dotted",
    )
    axes[1].set(
        xscale="log",
        xlabel="iterations T",
        ylabel="exact CCE-gap",
        title="(b) every game",
    )
    for ax in axes[:2]:
        ax.set_yscale("symlog", linthresh=1e-4)  # a CCE-gap may be negative
    if any(
        (row.get("bounds") or {}).get("theorem4", {}).get("applies")
        for row in results["solvers"]
    ):
        low = min(
            min(row["cce_gap_per_game"][k])
            for row in results["solvers"]
            for k in range(len(row["cce_gap_per_game"]))
        )
        axes[0].set_ylim(bottom=min(low, 0.0))  # the bound is orders above
    if exact:
        for row, color in zip(results["solvers"], colors, strict=False):
            axes[2].plot(x, row["welfare_mean"], color=color, label=row["label"])
        axes[2].axhline(
            exact["welfare_mean"], color="k", ls="--", label="exact max-welfare CCE"
        )
        axes[2].set(
            xscale="log",
            xlabel="iterations T",
            ylabel="mean social welfare",
            title="(c) welfare of the output vs the exact CCE",
        )
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _plots.png(
        fig, f"CCE-gap of the solvers on the same games ({results['name']})"
    )
