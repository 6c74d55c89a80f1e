"""Typed, frozen experiment configs loaded from YAML.

A YAML file names its experiment (``experiment: zero_sum_meta``); the matching
dataclass tree is built from the file with every key checked: an unknown or
mistyped key, or a value of the wrong type, is a :class:`ConfigError` naming
the key and the file.
"""

from __future__ import annotations

import dataclasses
import pathlib
import types
import typing
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config file is malformed; the message names the key and the file."""


@dataclasses.dataclass(frozen=True)
class ZeroSumGameConfig:
    """A family of perturbed two-state zero-sum games (seed 000 F.1).

    ``rewards[s][a][b]`` is the max-player's base reward; transitions keep the
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
    game: ZeroSumGameConfig
    solver: OMDConfig = OMDConfig()
    meta: MetaConfig = MetaConfig()
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
    "general_sum_meta": GeneralSumMetaConfig,
}


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(value, tp, key: str, path: str):
    """``value`` converted to the annotated type ``tp`` or a ConfigError."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key, path)
            except ConfigError as err:
                errors.append(err)
        raise errors[0]
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path, key + ".")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: key '{key}' must be a list, got {value!r}")
        args = typing.get_args(tp)
        item = args[0]
        return tuple(
            _convert(v, item, f"{key}[{i}]", path) for i, v in enumerate(value)
        )
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: key '{key}' must be a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: key '{key}' must be an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: key '{key}' must be a string, got {value!r}")
        return value
    raise ConfigError(f"{path}: key '{key}' has unsupported type {_type_name(tp)}")


def _build(cls, data, path: str, prefix: str = ""):
    if not isinstance(data, dict):
        where = prefix.rstrip(".") or "the top level"
        raise ConfigError(f"{path}: '{where}' must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for k in data:
        if k not in fields:
            raise ConfigError(
                f"{path}: unknown key '{prefix}{k}' "
                f"(expected one of: {', '.join(sorted(fields))})"
            )
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], prefix + name, path)
        elif (
            f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ):
            raise ConfigError(f"{path}: missing key '{prefix}{name}'")
    return cls(**kwargs)


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
    for key, v in positive.items():
        if v < 1:
            raise ConfigError(f"{path}: key '{key}' is {v}; expected >= 1")
    for k, t in enumerate(c.run.checkpoints):
        if not 1 <= t <= c.solver.num_steps or (k and t <= c.run.checkpoints[k - 1]):
            raise ConfigError(
                f"{path}: key 'run.checkpoints[{k}]' is {t}; expected increasing "
                f"values in [1, solver.num_steps={c.solver.num_steps}]"
            )
    if c.run.dtype not in ("float32", "float64"):
        raise ConfigError(
            f"{path}: key 'run.dtype' is {c.run.dtype!r}; expected float32 or float64"
        )
    if isinstance(c, ZeroSumMetaConfig):
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
    for key, v in sizes.items():
        if v < 1:
            raise ConfigError(f"{path}: key '{key}' is {v}; expected >= 1")
    if g.stay is not None and not 0.0 <= g.stay <= 1.0:
        raise ConfigError(f"{path}: key 'game.stay' is {g.stay}; expected in [0, 1]")
    if not c.solvers:
        raise ConfigError(f"{path}: key 'solvers' is empty; expected at least one")
    for k, entry in enumerate(c.solvers):
        if entry.solver not in SOLVER_NAMES:
            raise ConfigError(
                f"{path}: key 'solvers[{k}].solver' is {entry.solver!r}; "
                f"expected one of: {', '.join(SOLVER_NAMES)}"
            )
    for k, t in enumerate(c.checkpoints):
        if not 1 <= t <= c.num_steps or (k and t <= c.checkpoints[k - 1]):
            raise ConfigError(
                f"{path}: key 'checkpoints[{k}]' is {t}; expected increasing "
                f"values in [1, num_steps={c.num_steps}]"
            )
    if c.dtype not in ("float32", "float64"):
        raise ConfigError(
            f"{path}: key 'dtype' is {c.dtype!r}; expected float32 or float64"
        )


def to_dict(config) -> dict[str, Any]:
    """The config as plain data (tuples as lists), for ``config.yaml``."""

    def plain(x):
        if isinstance(x, tuple | list):
            return [plain(v) for v in x]
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        return x

    return plain(dataclasses.asdict(config))
