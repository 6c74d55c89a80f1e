"""Figure 4(a) of Mao, Qiu, Zhang, Başar ("Multi-Agent Meta-Reinforcement
Learning", NeurIPS 2023, appendix F.3): individual vs meta-learning on a
sequence of river endgames whose stacks are perturbed.

Every seed draws ``K`` games (:func:`marlmeta.games.zoo.river_endgame_family`:
pot-normalised stacks plus ``N(0, stack_std)``, clipped at 0.05; only the
rewards change). Algorithm 1 with local observations
(:class:`marlmeta.solvers.ObservedZeroSumOMD`) runs on
each game from uniform play (individual learning) and from the averaged
``alpha``-greedy stage best responses of the games before it (sequential
meta-initialisation, Theorem 2). The metric is the exact exploitability
``nash_conv`` of the imperfect-information game (best responses over
observation policies), with the full-state NashConv beside it; the
counterfactual OMD reference (:class:`marlmeta.solvers.CounterfactualOMD`)
shows how far Algorithm 1 on observations stays from an equilibrium, run
individually and meta-initialised (each game from the averaged
``alpha``-greedy output policies of the games before it). Each chunk is one
seed.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

import marlmeta as M
from marlmeta.experiments import _plots
from marlmeta.experiments._loader import (
    ConfigError,
    check_checkpoints,
    check_dtype,
    check_sizes,
)
from marlmeta.experiments._protocol import Experiment, Plan
from marlmeta.experiments.sequence import MetaConfig
from marlmeta.games import HANDS, parse_cards

#: The number of two-card hands (1,326).
NUM_HANDS = len(HANDS)


@dataclasses.dataclass(frozen=True)
class RiverGameConfig:
    """The river endgame family.

    ``ranges`` is ``"uniform"`` or the path of a LibratusEndgames file (its
    ``-reach``; its board and pot then replace ``board`` and ``pot``);
    ``max_hands`` keeps ``max_hands`` hands per player, drawn without
    replacement with probability proportional to the weight (NumPy
    ``default_rng(range_seed)``; ``null``: all), a pruned range for small runs.
    ``stacks`` are chips behind each player (``[19750, 19750]``: the real
    size of LibratusEndgames subgame 3, 20,000-chip starting stacks minus half
    the pot 500); ``stack_std`` is the noise on stacks normalised by
    ``stack_unit`` chips (``null``: the pot; ``20000``: the starting stack).
    ``layout``: ``"generic"`` (the list of deals, pooled by scatter; default)
    or ``"structured"`` (a :class:`~marlmeta.games.PrivateTypeGame`: every
    contraction a product with an ``n_0 x n_1`` hand-pair matrix): the same
    game and numbers to rounding, the structured layout 16-53x faster on a CPU
    (``benchmarks/results/poker.json``; ``configs/poker_endgame.yaml`` uses it).
    """

    board: str = "4s8hTc9h2s"
    pot: float = 500.0
    stacks: tuple[float, float] = (500.0, 500.0)
    ranges: str = "uniform"
    max_hands: int | None = None
    range_seed: int = 0
    variant: str = "bet_call"
    stack_std: float = 0.5
    stack_unit: float | None = None
    num_games: int = 10
    layout: str = "generic"
    note: str = ""

    def weights(self) -> tuple[str, float, Any]:
        """``(board, pot, ranges)`` for :func:`river_endgame_family`."""
        board, pot = self.board, self.pot
        if self.ranges == "uniform":
            w = np.ones((2, NUM_HANDS))
        else:
            loaded = M.games.zoo.load_range_file(self.ranges)
            board, pot, w = loaded["board"], loaded["pot"], loaded["reach"]
        if self.max_hands is not None:
            clash = np.isin(HANDS, parse_cards(board))
            w = np.where(clash.any(axis=1), 0.0, w)
            rng = np.random.default_rng(self.range_seed)
            for i in range(2):
                size = min(self.max_hands, int((w[i] > 0).sum()))
                keep = rng.choice(NUM_HANDS, size, replace=False, p=w[i] / w[i].sum())
                mask = np.zeros(NUM_HANDS, bool)
                mask[keep] = True
                w[i] = np.where(mask, w[i], 0.0)
        return board, pot, (w[0], w[1])


@dataclasses.dataclass(frozen=True)
class PokerSolverConfig:
    """Algorithm 1 on observations (``step_size``, ``average``: ``"reach"`` or
    ``"plain"``) and the counterfactual reference's step size (``None``: no
    reference run)."""

    step_size: float = 0.1
    num_steps: int = 1000
    average: str = "reach"
    reference_step_size: float | None = 1.0  # None: no reference run


@dataclasses.dataclass(frozen=True)
class PokerRunConfig:
    """Seeds (one family of ``K`` games each, one chunk each), checkpoints, dtype."""

    seeds: int = 1
    seed: int = 0
    checkpoints: tuple[int, ...] = (10, 30, 100, 300, 1000)
    dtype: str = "float32"


class Exploitability(eqx.Module):
    """The metric traced at every checkpoint."""

    nash_conv: Float[Array, ""]
    full_state_nash_conv: Float[Array, ""]
    value: Float[Array, ""]


def exploitability(game, policy) -> Exploitability:
    """Exact ``nash_conv`` (observation deviations), the full-state bound, and
    player 0's value (never raises: a non-finite entry shows in the results'
    ``finite``)."""
    v, b, _ = game.initial_values(policy, best=True, caller="exploitability")
    on_states = M.policies.validate(game, policy, caller="exploitability").on_states()
    _, full, _ = game.initial_values(on_states, best=True, caller="exploitability")
    return Exploitability(
        nash_conv=jnp.sum(b - v),
        full_state_nash_conv=jnp.sum(full - v),
        value=v[0],
    )


class PokerChunk(eqx.Module):
    """One seed: ``(K, C)`` traces of every learner, and the stacks."""

    individual: Exploitability
    meta: Exploitability
    reference: Exploitability | None
    reference_meta: Exploitability | None
    stacks: Float[Array, "K 2"]
    similarity: Float[Array, ""]


@dataclasses.dataclass(frozen=True)
class PokerEndgameConfig(Experiment, experiment="poker_endgame"):
    """Individual vs meta-learning on stack-perturbed river endgames."""

    game_source_refusal = (
        "its family perturbs the stacks of a structured river endgame, not "
        "rewards; convert a poker game with marlmeta.interop.from_openspiel and "
        "run zero_sum_meta on it instead"
    )

    name: str
    experiment: str
    game: RiverGameConfig = RiverGameConfig()
    solver: PokerSolverConfig = PokerSolverConfig()
    meta: MetaConfig = MetaConfig()
    run: PokerRunConfig = PokerRunConfig()
    description: str = ""

    def check(self, path: str) -> None:
        sizes = {
            "game.num_games": self.game.num_games,
            "solver.num_steps": self.solver.num_steps,
            "run.seeds": self.run.seeds,
        }
        if self.game.max_hands is not None:
            sizes["game.max_hands"] = self.game.max_hands
        check_sizes(path, sizes)
        check_checkpoints(
            path,
            "run.checkpoints",
            self.run.checkpoints,
            "solver.num_steps",
            self.solver.num_steps,
        )
        check_dtype(path, "run.dtype", self.run.dtype)
        if self.game.variant not in ("bet_call", "check_bet_call"):
            raise ConfigError(
                f"{path}: key 'game.variant' is {self.game.variant!r}; expected "
                "'bet_call' or 'check_bet_call'"
            )
        if self.game.layout not in ("structured", "generic"):
            raise ConfigError(
                f"{path}: key 'game.layout' is {self.game.layout!r}; expected "
                "'structured' or 'generic'"
            )
        if self.solver.average not in M.solvers.AVERAGES:
            raise ConfigError(
                f"{path}: key 'solver.average' is {self.solver.average!r}; "
                f"expected one of {sorted(M.solvers.AVERAGES)}"
            )

    def plan(self) -> Plan:
        fn = functools.cache(lambda: _seed_fn(self))

        def compute(i):
            return fn()(self.run.seed + i)

        def aggregate(parts):
            return _aggregate(self, jax.tree.map(lambda *x: np.stack(x), *parts))

        return Plan(
            self.run.seeds, compute, aggregate, figure, self.run.dtype == "float64"
        )


def _seed_fn(config: PokerEndgameConfig):
    """``seed -> PokerChunk``: builds the family in NumPy, runs compiled code."""
    dtype = jnp.float64 if config.run.dtype == "float64" else jnp.float32
    g, s = config.game, config.solver
    board, pot, ranges = g.weights()
    steps, cps = s.num_steps, config.run.checkpoints
    solver = M.solvers.ObservedZeroSumOMD(
        jnp.asarray(s.step_size, dtype), average=M.solvers.AVERAGES[s.average]
    )

    kw = {"checkpoints": cps, "metric": exploitability}

    def individual(learner, games):
        # One game at a time (lax.map), not side by side (vmap): the games
        # share their deals, kernel and observation maps, and under vmap every
        # gather and scatter over the ~10^6 states carries a batch axis of
        # indices, about 14x slower per game on a CPU
        # (benchmarks/_poker_profile.py).
        return jax.lax.map(lambda g: M.solve(learner, g, steps, **kw).trace, games)

    @jax.jit
    def learn(games):
        met = M.meta.sequential_meta(
            solver, games, steps, alpha=config.meta.alpha, **kw
        )
        return individual(solver, games), met.solutions.trace, met.similarity

    @jax.jit
    def reference(games):
        ref = M.solvers.CounterfactualOMD(jnp.asarray(s.reference_step_size, dtype))
        met = M.meta.sequential_meta(ref, games, steps, alpha=config.meta.alpha, **kw)
        return individual(ref, games), met.solutions.trace

    def one_seed(seed):
        with jax.ensure_compile_time_eval():
            games = M.games.zoo.river_endgame_family(
                int(seed), g.num_games, g.stack_std, board=board, pot=pot,
                stack_unit=g.stack_unit,
                stacks=g.stacks, ranges=ranges, variant=g.variant, dtype=dtype,
                structured=g.layout == "structured",
            )  # fmt: skip
            stacks = M.games.zoo.perturbed_stacks(
                int(seed), g.num_games, pot, g.stacks, g.stack_std, g.stack_unit
            )
        ind, met, sim = learn(games)
        ref = (None, None) if s.reference_step_size is None else reference(games)
        return PokerChunk(
            individual=ind,
            meta=met,
            reference=ref[0],
            reference_meta=ref[1],
            stacks=jnp.asarray(stacks, dtype),
            similarity=sim,
        )

    return one_seed


_METRIC = (
    "exploitability NashConv = sum_i (max over observation policies of player i's "
    "value - its value), exact (best responses over observation policies); "
    "full_state_nash_conv lets the deviator see both hands (an upper bound). "
    "Mean and standard deviation over the K games of every seed."
)


def _aggregate(config: PokerEndgameConfig, raw: PokerChunk) -> dict[str, Any]:
    out: dict[str, Any] = {
        "experiment": config.experiment,
        "name": config.name,
        "metric": "nash_conv",
        "metric_description": _METRIC,
        "checkpoints": list(config.run.checkpoints),
        "seeds": config.run.seeds,
        "num_games": config.game.num_games,
        "stacks": np.asarray(raw.stacks).tolist(),
        "similarity": {
            "definition": "Delta = sum_k KL(br^k || mean_k br^k) (Mao et al. 2023, "
            "Theorem 2), meta-learner, mean over seeds",
            "meta": float(np.mean(raw.similarity)),
        },
    }
    finite = True
    for label in ("individual", "meta", "reference", "reference_meta"):
        trace: Exploitability | None = getattr(raw, label)
        if trace is None:
            continue
        entry = {}
        for key in ("nash_conv", "full_state_nash_conv", "value"):
            x = np.asarray(getattr(trace, key))  # (seeds, K, C)
            x = x.reshape(-1, x.shape[-1])
            finite &= bool(np.all(np.isfinite(x)))
            entry[f"{key}_mean"] = x.mean(0).tolist()
            entry[f"{key}_std"] = x.std(0).tolist()
        entry["nash_conv_per_game"] = np.asarray(trace.nash_conv).mean(0).tolist()
        out[label] = entry
    ind, met = out["individual"]["nash_conv_mean"], out["meta"]["nash_conv_mean"]
    out["meta_vs_individual"] = {
        "definition": "mean NashConv of meta-learning minus that of individual "
        "learning at each checkpoint (negative: meta-initialisation helps)",
        "difference": [m - i for m, i in zip(met, ind, strict=True)],
        "meta_better_at": [
            t for t, m, i in zip(config.run.checkpoints, met, ind, strict=True) if m < i
        ],
    }
    if "reference_meta" in out:
        ind = out["reference"]["nash_conv_mean"]
        met = out["reference_meta"]["nash_conv_mean"]
        out["reference_meta_vs_individual"] = {
            "definition": "as meta_vs_individual, for the counterfactual OMD "
            "reference (meta-initialised from the averaged alpha-greedy output "
            "policies of the games before)",
            "difference": [m - i for m, i in zip(met, ind, strict=True)],
            "meta_better_at": [
                t
                for t, m, i in zip(config.run.checkpoints, met, ind, strict=True)
                if m < i
            ],
        }
    out["finite"] = finite
    return out


_STYLE = {
    "individual": ("tab:blue", "individual learning (Alg. 1, observations)"),
    "meta": ("tab:red", "meta-learning (Alg. 1, observations)"),
    "reference": ("tab:gray", "counterfactual OMD reference (individual)"),
    "reference_meta": ("tab:green", "counterfactual OMD reference (meta-learning)"),
}


def figure(results: dict) -> bytes:
    """(a) exact exploitability vs iterations; (b) the full-state NashConv."""
    plt = _plots.pyplot()
    x = results["checkpoints"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for label, (color, text) in _STYLE.items():
        if label not in results:
            continue
        r = results[label]
        over = "the seeds' games"
        _plots.band(
            axes[0], x, r["nash_conv_mean"], r["nash_conv_std"], text, color, over
        )
        _plots.band(
            axes[1],
            x,
            r["full_state_nash_conv_mean"],
            r["full_state_nash_conv_std"],
            text,
            color,
            over,
        )
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel="iterations T",
        ylabel="exploitability (NashConv, observation deviations)",
        title=f"(a) exact exploitability, K={results['num_games']} games",
    )
    axes[1].set(
        xscale="log",
        yscale="log",
        xlabel="iterations T",
        ylabel="NashConv with full-state deviations",
        title="(b) full-state upper bound",
    )
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _plots.png(
        fig, f"River endgames: individual vs meta-learning ({results['name']})"
    )
