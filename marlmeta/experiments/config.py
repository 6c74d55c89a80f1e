"""Typed, frozen experiment configs loaded from YAML.

A YAML file names its experiment (``experiment: zero_sum_meta``); the matching
dataclass tree is built from the file with every key checked: an unknown or
mistyped key, or a value of the wrong type, is a :class:`ConfigError` naming
the key and the file.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import yaml

from marlmeta.experiments._loader import (
    ConfigError,
    _build,
    check_checkpoints,
    check_dtype,
    check_sizes,
    check_solver_names,
)
from marlmeta.experiments.config_mpg import MAMLConfig, SoftmaxMPGConfig


@dataclasses.dataclass(frozen=True)
class TwoStateGameConfig:
    """A family of perturbed two-state two-player games (seed 000 F.1, F.2).

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


@dataclasses.dataclass(frozen=True)
class OMDConfig:
    step_size: float = 0.02
    num_steps: int = 1000


@dataclasses.dataclass(frozen=True)
class MetaConfig:
    alpha: float | None = None  # None: 1/sqrt(K)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """How to run: seeds (independent sequences), chunks, checkpoints, dtype."""

    seeds: int = 20
    seed: int = 0
    chunk_seeds: int = 5
    checkpoints: tuple[int, ...] = (10, 20, 50, 100, 200, 500, 1000)
    dtype: str = "float32"


@dataclasses.dataclass(frozen=True)
class ZeroSumMetaConfig:
    """Individual learning vs meta-learning on a sequence of zero-sum games."""

    name: str
    experiment: str
    game: TwoStateGameConfig
    solver: OMDConfig = OMDConfig()
    meta: MetaConfig = MetaConfig()
    run: RunConfig = RunConfig()
    description: str = ""


@dataclasses.dataclass(frozen=True)
class PotentialMetaConfig:
    """Individual learning vs warm-start meta-learning (seed 000 Theorem 3) with
    projected Q-descent on a sequence of identical-interest games."""

    name: str
    experiment: str
    game: TwoStateGameConfig
    solver: OMDConfig = OMDConfig(step_size=0.05)
    run: RunConfig = RunConfig()
    description: str = ""


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


@dataclasses.dataclass(frozen=True)
class GeneralSumMetaConfig:
    """Individual learning vs meta-learning for CCE (seed 000 Theorem 6)."""

    name: str
    experiment: str
    game: GeneralSumGameConfig
    solver: OMDConfig = OMDConfig(step_size=0.1)
    meta: MetaConfig = MetaConfig()
    run: RunConfig = RunConfig()
    description: str = ""


@dataclasses.dataclass(frozen=True)
class GameBatchConfig:
    """A batch of random general-sum games.

    With ``stay`` set, the transitions are action-independent: the state stays
    with probability ``stay`` and moves to another state uniformly otherwise
    (seed 002's experiment); with ``stay: null`` they are random.
    """

    num_games: int = 9
    num_actions: tuple[int, ...] = (2, 2)
    num_states: int = 2
    horizon: int = 2
    stay: float | None = None
    seed: int = 0


#: The registry names of the solvers a CCE comparison accepts.
SOLVER_NAMES = ("GeneralSumOMD", "AdaptiveOFTRL")


@dataclasses.dataclass(frozen=True)
class SolverEntry:
    """One solver of a comparison; ``step_size: null`` takes its theory default."""

    label: str
    solver: str
    step_size: float | None = None


@dataclasses.dataclass(frozen=True)
class CompareConfig:
    """Several CCE solvers on the same batch of games (exact CCE-gap curves)."""

    name: str
    experiment: str
    game: GameBatchConfig
    solvers: tuple[SolverEntry, ...]
    num_steps: int = 1000
    checkpoints: tuple[int, ...] = (10, 100, 1000)
    dtype: str = "float64"
    description: str = ""


EXPERIMENTS: dict[str, type] = {
    "compare": CompareConfig,
    "zero_sum_meta": ZeroSumMetaConfig,
    "potential_meta": PotentialMetaConfig,
    "softmax_mpg": SoftmaxMPGConfig,
    "maml_mpg": MAMLConfig,
    "general_sum_meta": GeneralSumMetaConfig,
}


def load_config(path: str | pathlib.Path):
    """Load and validate a YAML experiment config.

    Raises:
        ConfigError: naming the key and the file.
        FileNotFoundError: when the file does not exist.
    """
    path = pathlib.Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    kind = data.get("experiment")
    if kind not in EXPERIMENTS:
        raise ConfigError(
            f"{path}: key 'experiment' is {kind!r}; "
            f"expected one of: {', '.join(sorted(EXPERIMENTS))}"
        )
    config = _build(EXPERIMENTS[kind], data, str(path))
    _check_values(config, str(path))
    return config


def _check_values(config, path: str) -> None:
    """Range checks that types alone cannot express."""
    c = config
    if hasattr(c, "check"):
        c.check(path)
        return
    if isinstance(c, CompareConfig):
        _check_compare(c, path)
        return
    positive = {
        "game.horizon": c.game.horizon,
        "game.num_games": c.game.num_games,
        "solver.num_steps": c.solver.num_steps,
        "run.seeds": c.run.seeds,
        "run.chunk_seeds": c.run.chunk_seeds,
    }
    if isinstance(c, GeneralSumMetaConfig):
        positive["game.num_states"] = c.game.num_states
        for i, a in enumerate(c.game.num_actions):
            positive[f"game.num_actions[{i}]"] = a
    check_sizes(path, positive)
    check_checkpoints(
        path,
        "run.checkpoints",
        c.run.checkpoints,
        "solver.num_steps",
        c.solver.num_steps,
    )
    check_dtype(path, "run.dtype", c.run.dtype)
    if isinstance(c, ZeroSumMetaConfig | PotentialMetaConfig):
        shape = [len(c.game.rewards)] + [len(r) for r in c.game.rewards]
        if shape != [2, 2, 2] or any(
            len(row) != 2 for r in c.game.rewards for row in r
        ):
            raise ConfigError(
                f"{path}: key 'game.rewards' must be 2 states x 2 x 2 actions"
            )
        for key, v in (("game.stay", c.game.stay), ("game.switch", c.game.switch)):
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"{path}: key '{key}' is {v}; expected in [0, 1]")


def _check_compare(c: CompareConfig, path: str) -> None:
    g = c.game
    sizes = {
        "game.num_games": g.num_games,
        "game.num_states": g.num_states,
        "game.horizon": g.horizon,
        "num_steps": c.num_steps,
    }
    for i, a in enumerate(g.num_actions):
        sizes[f"game.num_actions[{i}]"] = a
    check_sizes(path, sizes)
    if g.stay is not None and not 0.0 <= g.stay <= 1.0:
        raise ConfigError(f"{path}: key 'game.stay' is {g.stay}; expected in [0, 1]")
    check_solver_names(path, c.solvers, SOLVER_NAMES)
    check_checkpoints(path, "checkpoints", c.checkpoints, "num_steps", c.num_steps)
    check_dtype(path, "dtype", c.dtype)


def to_dict(config) -> dict[str, Any]:
    """The config as plain data (tuples as lists), for ``config.yaml``."""

    def plain(x):
        if isinstance(x, tuple | list):
            return [plain(v) for v in x]
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        return x

    return plain(dataclasses.asdict(config))
