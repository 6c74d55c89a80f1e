"""Individual vs warm-start meta-learning on the linear-quadratic tracking game.

Mao, Qiu, Zhang, Başar, "Multi-Agent Meta-Reinforcement Learning: Sharper
Convergence Rates with Task Similarity" (NeurIPS 2023), appendix F.3, Figures
4(b) and 4(c): ``K`` tracking games whose per-player drifts get ``N(0, 0.5)``
noise (:func:`marlmeta.games.lq_tracking_family`), independent projected
Q-descent (eq. 7) on each, started from uniform play (individual learning) or
from the last iterate of the game before (warm start, Theorem 3). Reported: the
NE-gap (largest gain of a unilateral deviation) and the players' values of the
last iterate, averaged over the ``K`` games of a sequence, then mean and
standard deviation over seeds. The game is only approximately a Markov
potential game (:mod:`marlmeta.games._lq_tracking`), so no ``Delta_Phi`` is
reported.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

import marlmeta as M
from marlmeta.experiments._loader import ConfigError
from marlmeta.experiments.sequence import OMDConfig, RunConfig, SequenceExperiment


@dataclasses.dataclass(frozen=True)
class LQTrackingGameConfig:
    """The drift-perturbed family of tracking games (Mao et al. F.3).

    ``drift`` is every player's base drift; each game adds Gaussian noise of
    standard deviation ``noise_std`` to each player's drift.
    """

    num_players: int = 4
    num_positions: int = 5
    horizon: int = 10
    drift: float = 1.0
    sigma: float = 1.0
    kappa: float = 0.5
    dt: float = 1.0
    noise_std: float = 0.5
    num_games: int = 10
    note: str = ""

    def sizes(self) -> dict[str, int]:
        return {
            "game.num_players": self.num_players,
            "game.num_positions": self.num_positions,
        }

    def check(self, path: str) -> None:
        if self.num_positions % 2 == 0:
            raise ConfigError(
                f"{path}: key 'game.num_positions' is {self.num_positions}; "
                "expected an odd number (positions -m..m)"
            )
        if self.dt <= 0:
            raise ConfigError(f"{path}: key 'game.dt' is {self.dt}; expected > 0")

    def arguments(self) -> dict:
        """The keyword arguments of the game constructors."""
        return {
            "num_players": self.num_players,
            "num_positions": self.num_positions,
            "horizon": self.horizon,
            "drift": self.drift,
            "sigma": self.sigma,
            "kappa": self.kappa,
            "dt": self.dt,
        }


@dataclasses.dataclass(frozen=True)
class LQTrackingMetaConfig(SequenceExperiment, experiment="lq_tracking_meta"):
    """Individual vs warm-start meta-learning with projected Q-descent on the
    drift-perturbed tracking family (Mao et al. Figures 4(b), 4(c))."""

    game_source_refusal = (
        "its games are discretised linear-quadratic tracking games built from "
        "their physical parameters"
    )

    name: str
    experiment: str
    game: LQTrackingGameConfig = LQTrackingGameConfig()
    solver: OMDConfig = OMDConfig(step_size=0.05)
    run: RunConfig = RunConfig()
    description: str = ""

    metric = "ne_gap"
    metric_description = (
        "NE-gap = max_i (V_i^{dagger, pi_-i} - V_i^pi) of the last iterate "
        "(the largest gain of a unilateral deviation), exact"
    )
    metric_label = "NE-gap (largest gain) of the last iterate"
    solver_name = "ProjectedQDescent"
    coupling = "identical"  # unused: the family perturbs transitions
    meta_update = "warm_start"
    similarity_definition = (
        "none reported: the tracking game is only approximately a Markov "
        "potential game and its family perturbs the transitions"
    )

    def base_game(self, dtype):
        return M.games.zoo.lq_tracking(**self.game.arguments(), dtype=dtype)

    def family(self, key, base):
        del base
        g = self.game
        return M.games.lq_tracking_family(
            key, g.num_games, g.noise_std, **g.arguments(), dtype=self.dtype()
        )

    def dtype(self):
        """The run's floating dtype."""
        return jnp.float64 if self.run.dtype == "float64" else jnp.float32

    def read(self, report):
        return report.ne_gap

    def meta_learn(self, solver, games, num_steps, checkpoints):
        return M.meta.warm_start(solver, games, num_steps, checkpoints=checkpoints)

    def similarities(self, individual, meta):
        return None, None, None
