"""Individual learning vs meta-learning on sequences of perturbed games.

Mao, Qiu, Wang et al., "Multi-Agent Meta-Reinforcement Learning: Sharper
Convergence Rates with Task Similarity" (NeurIPS 2023): every seed draws a
sequence of ``K`` games around one base game; individual learning starts each
game from uniform play, meta-learning from what the games before it taught.
Three variants, one config class each, which say what differs:

- ``zero_sum_meta``: the two-state zero-sum family of appendix F.1, optimistic
  OMD (Algorithm 1), sequential meta-initialisation (Theorem 2), NashConv;
- ``potential_meta``: the identical-interest family of appendix F.2, projected
  Q-descent (eq. 7), warm start (Theorem 3), the NE-gap of F.2;
- ``general_sum_meta``: a random N-player general-sum family, Algorithm 2,
  sequential meta-initialisation (Theorem 6), the CCE-gap.

Each chunk is ``run.chunk_seeds`` seeds.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, ClassVar

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
)
from marlmeta.experiments._protocol import Experiment, Plan
from marlmeta.experiments.registry import make_solver


@dataclasses.dataclass(frozen=True)
class TwoStateGameConfig:
    """A family of perturbed two-state two-player games (Mao et al. F.1, F.2).

    ``rewards[s][a][b]`` is the base reward (the max-player's in a zero-sum
    family, the common one in an identical-interest family); transitions keep the
    state with probability ``stay`` when the actions match and switch it with
    probability ``switch`` otherwise; rewards get Gaussian noise of standard
    deviation ``noise_std``, shared by all steps.
    """

    rewards: tuple[tuple[tuple[float, ...], ...], ...]
    horizon: int = 10
    stay: float = 0.9
    switch: float = 0.9
    noise_std: float = 0.1
    num_games: int = 10
    note: str = ""

    def sizes(self) -> dict[str, int]:
        return {"game.horizon": self.horizon}

    def build(self, dtype, make):
        """The base game: the experiment's generator ``make(self, dtype)``."""
        return make(self, dtype)

    def check(self, path: str) -> None:
        shape = [len(self.rewards)] + [len(r) for r in self.rewards]
        if shape != [2, 2, 2] or any(len(row) != 2 for r in self.rewards for row in r):
            raise ConfigError(
                f"{path}: key 'game.rewards' must be 2 states x 2 x 2 actions"
            )
        for key, v in (("game.stay", self.stay), ("game.switch", self.switch)):
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"{path}: key '{key}' is {v}; expected in [0, 1]")


@dataclasses.dataclass(frozen=True)
class GeneralSumGameConfig:
    """A family of perturbed N-player general-sum games around a random base.

    The base game is ``random_general_sum`` drawn with ``base_seed``; every game
    of a sequence adds independent Gaussian reward noise (std ``noise_std``,
    shared by all steps) for every player.
    """

    num_actions: tuple[int, ...] = (2, 2, 2)
    num_states: int = 3
    horizon: int = 5
    noise_std: float = 0.1
    num_games: int = 10
    base_seed: int = 0
    note: str = ""

    def build(self, dtype, make):
        """The base game: the experiment's generator ``make(self, dtype)``."""
        return make(self, dtype)

    def sizes(self) -> dict[str, int]:
        sizes = {"game.num_states": self.num_states, "game.horizon": self.horizon}
        sizes.update(
            {f"game.num_actions[{i}]": a for i, a in enumerate(self.num_actions)}
        )
        return sizes

    def check(self, path: str) -> None:
        del path


@dataclasses.dataclass(frozen=True)
class OMDConfig:
    """The ``solver`` section: step size ``eta`` and iterations ``T`` per game."""

    step_size: float = 0.02
    num_steps: int = 1000


@dataclasses.dataclass(frozen=True)
class MetaConfig:
    """The ``meta`` section: the mixing weight ``alpha`` of ``[x]_alpha``."""

    alpha: float | None = None  # None: 1/sqrt(K)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """How to run: seeds (independent sequences), chunks, checkpoints, dtype."""

    seeds: int = 20
    seed: int = 0
    chunk_seeds: int = 5
    checkpoints: tuple[int, ...] = (10, 20, 50, 100, 200, 500, 1000)
    dtype: str = "float32"


class Learner(eqx.Module):
    """One learner's raw numbers over a chunk of seeds.

    Attributes:
        gap: the metric at every checkpoint, ``(seeds, K, C)``.
        values: every player's value of the output policy, ``(seeds, K, C, N)``.
        finite: whether every run of the seed stayed finite, ``(seeds,)``.
        similarity: ``Delta`` of the learner's own statistics, ``(seeds,)``;
            ``None`` where the similarity is a property of the family.
    """

    gap: Float[Array, "seeds K C"]
    values: Float[Array, "seeds K C N"]
    finite: Bool[Array, " seeds"]
    similarity: Float[Array, " seeds"] | None


class SequenceChunk(eqx.Module):
    """A chunk of seeds: both learners, and what belongs to the games.

    Attributes:
        individual, meta: the two learners.
        family_similarity: ``Delta_Phi`` of each seed's family (warm start), or
            ``None``.
        stage_rewards: player 0's step-0 rewards of each game ``(seeds, K, S,
            A, B)`` (zero-sum families, for the NE panel), or ``None``.
    """

    individual: Learner
    meta: Learner
    family_similarity: Float[Array, " seeds"] | None
    stage_rewards: Float[Array, "seeds K S A B"] | None
    bounds: TheoryBounds | CCEBounds | None = None


class CCEBounds(eqx.Module):
    """Mao et al. Theorem 5 on a chunk of seeds (general-sum families).

    Attributes:
        theorem5_individual, theorem5_meta: the bound of
            :func:`marlmeta.theory.mao_theorem5_trace` on the CCE-gap of every
            game at every checkpoint, ``(seeds, K, C)``, for each learner.
        largest_gap: ``H`` times the largest reward range of a player in the
            family, above any CCE-gap (a bound above it is vacuous).
        theorem6: Mao et al. Theorem 6's certified bound on the meta-learner's
            average CCE-gap over the ``K`` games
            (:func:`marlmeta.theory.mao_theorem6_trace`), ``(seeds, C)``.
        theorem6_printed: its right-hand side as printed (the proof's
            general-``eta`` line), ``(seeds, C)``.
        theorem6_applies: ``alpha < 1/2``, ``(seeds,)``.
    """

    theorem5_individual: Float[Array, "seeds K C"]
    theorem5_meta: Float[Array, "seeds K C"]
    largest_gap: Float[Array, " seeds"]
    theorem6: Float[Array, "seeds C"]
    theorem6_printed: Float[Array, "seeds C"]
    theorem6_applies: Bool[Array, " seeds"]


class TheoryBounds(eqx.Module):
    """The theorems' right-hand sides on a chunk of seeds (zero-sum families).

    Attributes:
        theorem1_individual, theorem1_meta: Mao et al. Theorem 1's certified
            bound (:func:`marlmeta.theory.mao_theorem1_trace`) of every game at
            every checkpoint, ``(seeds, K, C)``, for each learner.
        theorem1_applies: whether ``eta c <= 1/(8 H^2)`` for every game of the
            seed, ``(seeds,)``.
        theorem2: Theorem 2's certified bound on the meta-learner's average gap
            at ``T`` (:func:`marlmeta.theory.mao_theorem2`), ``(seeds,)``.
        theorem2_printed: its right-hand side as printed, ``(seeds,)``.
        theorem2_applies: ``(seeds,)``.
    """

    theorem1_individual: Float[Array, "seeds K C"]
    theorem1_meta: Float[Array, "seeds K C"]
    theorem1_applies: Bool[Array, " seeds"]
    theorem2: Float[Array, " seeds"]
    theorem2_printed: Float[Array, " seeds"]
    theorem2_applies: Bool[Array, " seeds"]


_AVERAGED = (
    "; averaged over the K games of a sequence, then mean and standard "
    "deviation over seeds"
)


@functools.singledispatch
def _algorithm1(game) -> str:
    """Algorithm 1 of Mao et al. for a game kind: on states ``ZeroSumOMD``, on a
    game with observations (an OpenSpiel imperfect-information game)
    ``ObservedZeroSumOMD``."""
    del game
    return "ZeroSumOMD"


@_algorithm1.register
def _(game: M.games.AbstractObservedGame) -> str:
    del game
    return "ObservedZeroSumOMD"


class SequenceExperiment(Experiment):
    """What the three variants share; subclasses say what differs.

    Class attributes: ``metric`` (the results.json name of the gap),
    ``metric_description``, ``metric_label`` (the figure's axis),
    ``solver_name`` (a registry name), ``coupling`` (of
    :func:`marlmeta.games.perturb_rewards`), ``meta_update`` and
    ``similarity_definition``.
    """

    metric: ClassVar[str]
    metric_description: ClassVar[str]
    metric_label: ClassVar[str]
    solver_name: ClassVar[str]
    coupling: ClassVar[str]
    meta_update: ClassVar[str] = "sequential_meta"
    similarity_definition: ClassVar[str] = (
        "Delta = sum_k KL(br^k || mean_k br^k) (Mao et al. 2023, Theorem 2)"
    )

    def base_game(self, dtype):
        """The unbatched game the family perturbs."""
        raise NotImplementedError

    def read(self, report):
        """The metric of a :class:`marlmeta.evaluation.Report` trace."""
        raise NotImplementedError

    def solver_for(self, game) -> str:
        """The registry name of the solver that runs on ``game``'s kind."""
        del game
        return self.solver_name

    def meta_learn(self, solver, games, num_steps, checkpoints) -> M.meta.MetaRun:
        """The meta-learner on one sequence: sequential meta-initialisation
        with the config's ``meta.alpha``."""
        return M.meta.sequential_meta(
            solver, games, num_steps, checkpoints=checkpoints, alpha=self.meta.alpha
        )

    def similarities(self, individual, meta):
        """``(individual's, meta's, the family's)`` similarity, ``None`` where
        it does not apply."""
        return individual.similarity, meta.similarity, None

    def stage_rewards(self, games):
        return None

    def bounds(self, solver, games, individual, meta) -> TheoryBounds | None:
        """The theorems' bounds beside the measured gaps (``None``: none drawn)."""
        return None

    def learner_bounds(self, trace_fn, solver, games, individual, meta):
        """A theorem's bound at every checkpoint for both learners:
        ``trace_fn(game, step_size, num_steps, checkpoints, init, stats)`` per
        game, from uniform play (individual) and from the meta-learner's
        initialisations."""
        steps, cps = self.solver.num_steps, self.run.checkpoints
        uniform = solver.default_init(jax.tree.map(lambda x: x[0], games), steps)

        def per_game(inits, stats, init_axis):
            return jax.vmap(trace_fn, in_axes=(0, None, None, None, init_axis, 0))(
                games, solver.step_size, steps, cps, inits, stats
            )

        return (
            per_game(uniform, individual.solutions.stats, None),
            per_game(meta.inits, meta.solutions.stats, 0),
        )

    def bounds_results(self, raw) -> dict[str, Any]:
        """The ``bounds`` entry of results.json from a decoded chunk."""
        return _bounds_results(raw)

    def family(self, key, base):
        """The sequence of ``game.num_games`` games of one seed: ``base`` plus
        reward noise of standard deviation ``game.noise_std``."""
        g = self.game
        return M.games.perturb_rewards(
            key, base, g.num_games, g.noise_std, coupling=self.coupling
        )

    def check(self, path: str) -> None:
        sizes = {
            "game.num_games": self.game.num_games,
            "solver.num_steps": self.solver.num_steps,
            "run.seeds": self.run.seeds,
            "run.chunk_seeds": self.run.chunk_seeds,
        }
        check_sizes(path, sizes | self.game.sizes())
        check_checkpoints(
            path,
            "run.checkpoints",
            self.run.checkpoints,
            "solver.num_steps",
            self.solver.num_steps,
        )
        check_dtype(path, "run.dtype", self.run.dtype)
        self.game.check(path)

    def plan(self) -> Plan:
        seeds, per = self.run.seeds, self.run.chunk_seeds
        keys = jr.split(jr.key(self.run.seed), seeds)
        fn = functools.cache(lambda: _chunk_fn(self))

        def compute(i):
            return fn()(keys[i * per : (i + 1) * per])

        def aggregate(parts):
            return _aggregate(self, jax.tree.map(lambda *x: np.concatenate(x), *parts))

        return Plan(
            math.ceil(seeds / per),
            compute,
            aggregate,
            functools.partial(figure, ylabel=self.metric_label),
            self.run.dtype == "float64",
        )


@dataclasses.dataclass(frozen=True)
class ZeroSumMetaConfig(SequenceExperiment, experiment="zero_sum_meta"):
    """Individual learning vs meta-learning on a sequence of zero-sum games."""

    name: str
    experiment: str
    game: TwoStateGameConfig | GameSourceConfig
    solver: OMDConfig = OMDConfig()
    meta: MetaConfig = MetaConfig()
    run: RunConfig = RunConfig()
    description: str = ""

    metric = "nash_conv"
    metric_description = (
        "NashConv = V^{dagger,nu} - V^{mu,dagger} of the output policy "
        "(the NE-gap of Mao et al. 2023), exact"
    )
    metric_label = "NashConv (NE-gap) of the output policy"
    solver_name = "ZeroSumOMD"
    coupling = "zero_sum"

    def solver_for(self, game) -> str:
        return _algorithm1(game)

    def base_game(self, dtype):
        return self.game.build(dtype, _two_state_zero_sum)

    def read(self, report):
        return report.nash_conv

    def stage_rewards(self, games):
        return games.rewards[:, 0, 0]  # (K, S, A, B)

    def bounds(self, solver, games, individual, meta):
        """Mao et al. Theorems 1 (both learners, every checkpoint) and 2."""
        ind, met = self.learner_bounds(
            M.theory.mao_theorem1_trace, solver, games, individual, meta
        )
        thm2 = M.theory.mao_theorem2(
            games,
            solver.step_size,
            self.solver.num_steps,
            meta.similarity,
            self.meta.alpha,
        )
        return TheoryBounds(
            theorem1_individual=ind.value,
            theorem1_meta=met.value,
            theorem1_applies=jnp.all(ind.applies),
            theorem2=thm2.value,
            theorem2_printed=thm2.printed,
            theorem2_applies=thm2.applies,
        )


@dataclasses.dataclass(frozen=True)
class PotentialMetaConfig(SequenceExperiment, experiment="potential_meta"):
    """Individual learning vs warm-start meta-learning (Mao et al. Theorem 3)
    with projected Q-descent on a sequence of identical-interest games."""

    name: str
    experiment: str
    game: TwoStateGameConfig | GameSourceConfig
    solver: OMDConfig = OMDConfig(step_size=0.05)
    run: RunConfig = RunConfig()
    description: str = ""

    metric = "mpg_ne_gap"
    metric_description = (
        "Mao et al. 2023 F.2 NE-gap = 1/2 (V^{dagger,nu} + V^{mu,dagger}) - V^{mu,nu} "
        "(half the sum of the two players' gains) of the last iterate, exact"
    )
    metric_label = "NE-gap (Mao et al. F.2) of the last iterate"
    solver_name = "ProjectedQDescent"
    coupling = "identical"
    meta_update = "warm_start"
    similarity_definition = (
        "Delta_Phi = sum_k max_pi (Phi(pi; G^k) - Phi(pi; G^k+1)) "
        "(Mao et al. 2023, eq. 8); a property of the family of games, mean over seeds"
    )

    def base_game(self, dtype):
        return self.game.build(dtype, _two_state_identical)

    def read(self, report):
        return 0.5 * report.nash_conv

    def meta_learn(self, solver, games, num_steps, checkpoints):
        return M.meta.warm_start(solver, games, num_steps, checkpoints=checkpoints)

    def similarities(self, individual, meta):
        return None, None, meta.similarity  # Delta_Phi belongs to the games


@dataclasses.dataclass(frozen=True)
class GeneralSumMetaConfig(SequenceExperiment, experiment="general_sum_meta"):
    """Individual learning vs meta-learning for CCE (Mao et al. Theorem 6)."""

    name: str
    experiment: str
    game: GeneralSumGameConfig | GameSourceConfig
    solver: OMDConfig = OMDConfig(step_size=0.1)
    meta: MetaConfig = MetaConfig()
    run: RunConfig = RunConfig()
    description: str = ""

    metric = "cce_gap"
    metric_description = (
        "CCE-gap = max_i (V_i^{dagger, sigma_-i} - V_i^sigma) of the stage-mixture "
        "Markov correlated output policy, exact"
    )
    metric_label = "CCE-gap of the output policy"
    solver_name = "GeneralSumOMD"
    coupling = "independent"

    def base_game(self, dtype):
        return self.game.build(dtype, _random_general_sum)

    def read(self, report):
        return report.cce_gap

    def bounds(self, solver, games, individual, meta):
        """Mao et al. Theorem 5 (both learners) and Theorem 6 (the
        meta-learner's average), every checkpoint."""
        ind, met = self.learner_bounds(
            M.theory.mao_theorem5_trace, solver, games, individual, meta
        )
        steps, cps = self.solver.num_steps, self.run.checkpoints
        thm6 = M.theory.mao_theorem6_trace(
            games, solver.step_size, steps, cps, meta.solutions.stats, self.meta.alpha
        )
        return CCEBounds(
            theorem5_individual=ind.value,
            theorem5_meta=met.value,
            largest_gap=games.horizon
            * jnp.max(jax.vmap(M.theory.largest_reward_range)(games)),
            theorem6=thm6.value,
            theorem6_printed=thm6.printed,
            theorem6_applies=jnp.all(thm6.applies),
        )

    def bounds_results(self, raw) -> dict[str, Any]:
        """Theorem 5's bound averaged as the gaps are; it holds for any step."""
        out: dict[str, Any] = {
            "description": "Mao et al. 2023 Theorem 5, certified for the "
            "stage-mixture output (marlmeta.theory.mao_theorem5: Lemma 17 "
            "bounds on the exact regret chain); it holds for every eta > 0",
        }
        for label in ("individual", "meta"):
            gap = getattr(raw, label).gap.mean(axis=1).mean(0)  # (C,)
            bound = getattr(raw.bounds, f"theorem5_{label}").mean(axis=1).mean(0)
            out[f"theorem5_{label}"] = {
                "theorem": "Mao et al. 2023, Theorem 5 (CCE-gap of Algorithm 2)",
                "applies": True,
                "bound_mean": bound.tolist(),
                "ratio_last": float(bound[-1] / max(gap[-1], 1e-300)),
                "largest_possible_gap": float(np.max(raw.bounds.largest_gap)),
                "vacuous_last": bool(bound[-1] >= np.max(raw.bounds.largest_gap)),
            }
        gap = raw.meta.gap.mean(axis=1).mean(0)
        applies = bool(np.all(raw.bounds.theorem6_applies))
        out["theorem6_meta"] = {
            "theorem": "Mao et al. 2023, Theorem 6 (average CCE-gap with "
            "meta-learning; marlmeta.theory.mao_theorem6: Theorem 5's chain on "
            "the similarity, follow-the-leader and alpha-greedy terms)",
            "applies": applies,
            "condition": "alpha < 1/2",
        }
        if applies:
            bound = raw.bounds.theorem6.mean(0)
            out["theorem6_meta"] |= {
                "bound_mean": bound.tolist(),
                "printed_mean": raw.bounds.theorem6_printed.mean(0).tolist(),
                "ratio_last": float(bound[-1] / max(gap[-1], 1e-300)),
                "largest_possible_gap": float(np.max(raw.bounds.largest_gap)),
                "vacuous_last": bool(bound[-1] >= np.max(raw.bounds.largest_gap)),
            }
        return out


def _two_state_zero_sum(g: TwoStateGameConfig, dtype):
    return M.games.zoo.mao2023_zero_sum(g.rewards, g.horizon, g.stay, g.switch, dtype)


def _two_state_identical(g: TwoStateGameConfig, dtype):
    return M.games.zoo.mao2023_identical_interest(
        g.rewards, g.horizon, g.stay, g.switch, dtype
    )


def _random_general_sum(g: GeneralSumGameConfig, dtype):
    games = eqx.filter_jit(M.games.random_general_sum)(
        jr.key(g.base_seed), 1, g.num_actions, g.num_states, g.horizon, dtype=dtype
    )
    return jax.tree.map(lambda x: x[0], games)


def _chunk_fn(config: SequenceExperiment):
    """The compiled function of one chunk of seeds (pure inside).

    It is cached across chunks and may first be built while the runner traces
    a chunk for its structure: the base game and the solver it closes over are
    computed eagerly, never as values of that trace.
    """
    dtype = jnp.float64 if config.run.dtype == "float64" else jnp.float32
    with jax.ensure_compile_time_eval():
        base = config.base_game(dtype)
        solver = make_solver(
            config.solver_for(base), dtype, step_size=config.solver.step_size
        )
    steps, cps = config.solver.num_steps, config.run.checkpoints

    def learner(run, similarity):
        return Learner(
            gap=config.read(run.solutions.trace),  # (K, C)
            values=run.solutions.trace.values,  # (K, C, N)
            finite=jnp.all(run.solutions.finite),
            similarity=similarity,
        )

    def one_seed(key):
        fam = config.family(key, base)
        ind = M.meta.individual(solver, fam, steps, checkpoints=cps)
        met = config.meta_learn(solver, fam, steps, cps)
        s_ind, s_met, s_fam = config.similarities(ind, met)
        return SequenceChunk(
            individual=learner(ind, s_ind),
            meta=learner(met, s_met),
            family_similarity=s_fam,
            stage_rewards=config.stage_rewards(fam),
            bounds=config.bounds(solver, fam, ind, met),
        )

    return jax.jit(jax.vmap(one_seed))


def _ne_2x2(m: np.ndarray) -> tuple[float, float]:
    """Probability of action 0 for each player at an NE of a 2x2 zero-sum game."""
    lower = np.max(np.min(m, axis=1))
    upper = np.min(np.max(m, axis=0))
    if np.isclose(lower, upper):  # pure saddle point
        return float(np.argmax(np.min(m, axis=1)) == 0), float(
            np.argmin(np.max(m, axis=0)) == 0
        )
    (a, b), (c, d) = m
    den = a - b - c + d
    return float((d - c) / den), float((d - b) / den)


def _aggregate(config: SequenceExperiment, raw: SequenceChunk) -> dict[str, Any]:
    metric = config.metric
    out: dict[str, Any] = {
        "experiment": config.experiment,
        "name": config.name,
        "metric": metric,
        "metric_description": config.metric_description + _AVERAGED,
        "value_description": "player 0's value of the output policy (value_*); "
        "every player's in values_mean",
        "checkpoints": list(config.run.checkpoints),
        "seeds": config.run.seeds,
        "num_games": config.game.num_games,
        "meta_update": config.meta_update,
    }
    finite = True
    for label in ("individual", "meta"):
        learner: Learner = getattr(raw, label)
        gap = learner.gap.mean(axis=1)  # (seeds, C)
        vals = learner.values.mean(axis=1)  # (seeds, C, N)
        finite &= bool(np.all(learner.finite))
        out[label] = {
            f"{metric}_mean": gap.mean(0).tolist(),
            f"{metric}_std": gap.std(0).tolist(),
            "value_mean": vals[..., 0].mean(0).tolist(),
            "value_std": vals[..., 0].std(0).tolist(),
            "values_mean": vals.mean(0).tolist(),
        }
        if learner.similarity is not None:
            out[label]["similarity_mean"] = float(learner.similarity.mean())
    similarity = {"definition": config.similarity_definition}
    for label in ("meta", "individual"):
        if "similarity_mean" in out[label]:
            similarity[label] = out[label]["similarity_mean"]
    if raw.family_similarity is not None:
        similarity["family"] = float(raw.family_similarity.mean())
    ratio = np.array(out["meta"][f"{metric}_mean"]) / np.maximum(
        np.array(out["individual"][f"{metric}_mean"]), 1e-300
    )
    out[f"meta_over_individual_{metric}"] = ratio.tolist()
    out["similarity"] = similarity
    if raw.stage_rewards is not None:
        stage = raw.stage_rewards[0]  # first seed: (K, S, A, B)
        ne = np.array(
            [
                [_ne_2x2(stage[k, s]) for s in range(stage.shape[1])]
                for k in range(stage.shape[0])
            ]
        )
        out["ne_policies"] = {
            "description": "NE (mu_0*, nu_0*) of each perturbed stage game, first seed",
            "mu0": ne[..., 0].tolist(),
            "nu0": ne[..., 1].tolist(),
        }
    if raw.bounds is not None:
        out["bounds"] = config.bounds_results(raw)
    out["finite"] = finite
    return out


def _bounds_results(raw: SequenceChunk) -> dict[str, Any]:
    """The ``bounds`` entry of results.json: each theorem's bound averaged as
    the gaps are (over the K games, then over seeds), whether its hypotheses
    hold, and the ratio bound / measured gap at the last checkpoint."""
    b: TheoryBounds = raw.bounds
    out: dict[str, Any] = {
        "description": "right-hand sides of Mao et al. 2023's theorems, certified "
        "form (the proof with exact constants and its corrections, see "
        "marlmeta.theory); a bound is recorded and drawn only where its "
        "hypotheses hold",
    }
    theorem1_applies = bool(np.all(b.theorem1_applies))
    for label in ("individual", "meta"):
        gap = getattr(raw, label).gap.mean(axis=1).mean(0)  # (C,)
        bound = getattr(b, f"theorem1_{label}").mean(axis=1).mean(0)
        out[f"theorem1_{label}"] = {
            "theorem": "Mao et al. 2023, Theorem 1 (NE-gap of Algorithm 1)",
            "applies": theorem1_applies,
            "condition": "eta c <= 1/(8 H^2), c = player 0's reward range",
        }
        if theorem1_applies:
            out[f"theorem1_{label}"] |= {
                "bound_mean": bound.tolist(),
                "ratio_last": float(bound[-1] / max(gap[-1], 1e-300)),
            }
    gap_meta = raw.meta.gap.mean(axis=1).mean(0)[-1]
    theorem2_applies = bool(np.all(b.theorem2_applies))
    out["theorem2_meta"] = {
        "theorem": "Mao et al. 2023, Theorem 2 (average NE-gap with meta-learning)",
        "applies": theorem2_applies,
        "condition": "eta c <= 1/(8 H^2) and alpha < 1/2",
    }
    if theorem2_applies:
        out["theorem2_meta"] |= {
            "bound_last": float(b.theorem2.mean()),
            "printed_last": float(b.theorem2_printed.mean()),
            "ratio_last": float(b.theorem2.mean() / max(gap_meta, 1e-300)),
        }
    return out


def _draw_bounds(ax, x, bounds: dict | None) -> bool:
    """Each theorem whose hypotheses hold as a dashed line (Theorem 2, a bound
    at ``T`` only, as a marker); returns whether anything was drawn."""
    drawn = False
    for label in ("individual", "meta"):
        for n, style in ((1, "--"), (5, "--"), (6, "-.")):
            entry = (bounds or {}).get(f"theorem{n}_{label}")
            if entry and entry["applies"]:
                note = " (vacuous)" if entry.get("vacuous_last") else ""
                ax.plot(
                    x,
                    entry["bound_mean"],
                    linestyle=style,
                    color=_COLORS[label],
                    label=f"Theorem {n} bound, {_LABELS[label]}{note}",
                )
                drawn = True
    entry = (bounds or {}).get("theorem2_meta")
    if entry and entry["applies"]:
        ax.plot(
            [x[-1]],
            [entry["bound_last"]],
            marker="x",
            linestyle="none",
            color="black",
            label="Theorem 2 bound (meta, at T)",
        )
        drawn = True
    return drawn


_COLORS = {"individual": "tab:blue", "meta": "tab:red"}
_LABELS = {"individual": "individual learning", "meta": "meta-learning"}


def figure(results: dict, ylabel: str) -> bytes:
    """Individual vs meta-learning: (a) the gap, (b) player 0's value, and for
    the zero-sum family (c) the NE policies of the perturbed stage games
    (Mao et al. Figure 2)."""
    plt = _plots.pyplot()
    x, metric = results["checkpoints"], results["metric"]
    panels = 3 if "ne_policies" in results else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4.2))
    for label in ("individual", "meta"):
        r, color = results[label], _COLORS[label]
        over = f"{results['seeds']} seeds"
        _plots.band(
            axes[0],
            x,
            r[f"{metric}_mean"],
            r[f"{metric}_std"],
            _LABELS[label],
            color,
            over,
        )
        _plots.band(
            axes[1], x, r["value_mean"], r["value_std"], _LABELS[label], color, over
        )
    if _draw_bounds(axes[0], x, results.get("bounds")):
        axes[0].set_yscale("log")
    sim = results["similarity"]
    if "family" in sim:
        delta = f"   [Delta_Phi: family {sim['family']:.3g}]"
    elif "meta" in sim:
        delta = f"   [Delta: meta {sim['meta']:.3g}]"
    else:
        delta = ""
    axes[0].set(
        xscale="log",
        xlabel="iterations T",
        ylabel=ylabel,
        title=f"(a) {_plots.words(metric)}{delta}",
    )
    axes[1].set(
        xscale="log",
        xlabel="iterations T",
        ylabel="player 0's value",
        title="(b) value",
    )
    if panels == 3:
        ne = results["ne_policies"]
        mu0, nu0 = np.asarray(ne["mu0"]), np.asarray(ne["nu0"])
        for s, marker in zip(range(mu0.shape[1]), "os", strict=False):
            axes[2].scatter(
                mu0[:, s], nu0[:, s], marker=marker, label=f"state {s}", alpha=0.7
            )
        axes[2].set(
            xlim=(-0.05, 1.05),
            ylim=(-0.05, 1.05),
            xlabel="mu_0*",
            ylabel="nu_0*",
            title="(c) NE of the perturbed stage games",
        )
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    title = f"Individual vs meta-learning: {_plots.words(metric)} against iterations"
    return _plots.png(fig, f"{title} ({results['name']})")
