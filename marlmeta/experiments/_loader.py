"""Typed config loading: YAML mappings to frozen dataclass trees, every key checked."""

from __future__ import annotations

import dataclasses
import os
import types
import typing

from marlmeta.experiments.registry import SOLVERS, missing_hyperparameters


class ConfigError(ValueError):
    """A config file is malformed; the message names the key and the file."""


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
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(
                f"{path}: key '{key}' must be true or false, got {value!r}"
            )
        return value
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
    _refuse_game_source(cls, data, path)
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


def _refuse_game_source(cls, data: dict, path: str) -> None:
    """A clear ConfigError where an experiment that cannot use an arbitrary
    game is given one (``game: {file: ..}`` or ``game: {openspiel: ..}``)."""
    game = data.get("game")
    reason = getattr(cls, "game_source_refusal", None)
    if reason and isinstance(game, dict) and {"file", "openspiel"} & game.keys():
        raise ConfigError(
            f"{path}: experiment '{cls.experiment_name}' cannot take a game from "
            f"a file or an OpenSpiel name (key 'game'): {reason}"
        )


def check_name(path: str, name: str) -> None:
    """``name`` is one folder name: the run folder stays inside the output
    folder (not empty, ``.`` or ``..``; no path separator or NUL)."""
    seps = {"/", "\\", "\0", os.sep, os.altsep} - {None}
    if name in ("", ".", "..") or any(s in name for s in seps):
        raise ConfigError(
            f"{path}: key 'name' is {name!r}; expected one folder name "
            "(not empty, '.' or '..', without '/' or '\\')"
        )


def check_sizes(path: str, sizes: dict[str, int]) -> None:
    """Every named size is ``>= 1``."""
    for key, v in sizes.items():
        if v < 1:
            raise ConfigError(f"{path}: key '{key}' is {v}; expected >= 1")


def check_dtype(path: str, key: str, dtype: str) -> None:
    if dtype not in ("float32", "float64"):
        raise ConfigError(
            f"{path}: key '{key}' is {dtype!r}; expected float32 or float64"
        )


def check_checkpoints(path: str, key: str, cps, steps_key: str, steps: int) -> None:
    """Checkpoints increase strictly inside ``[1, steps]``."""
    for k, t in enumerate(cps):
        if not 1 <= t <= steps or (k and t <= cps[k - 1]):
            raise ConfigError(
                f"{path}: key '{key}[{k}]' is {t}; expected increasing "
                f"values in [1, {steps_key}={steps}]"
            )


def check_solver_entries(path: str, entries, names: tuple[str, ...]) -> None:
    """``solvers`` is non-empty, every ``solvers[k].solver`` is in ``names``,
    gives what the solver requires and leaves at their defaults the
    hyperparameters the solver does not take (the registry's
    :class:`~marlmeta.experiments.registry.SolverSpec` says which)."""
    if not entries:
        raise ConfigError(f"{path}: key 'solvers' is empty; expected at least one")
    known = {h for spec in SOLVERS.values() for h in spec.arrays + spec.static}
    for k, entry in enumerate(entries):
        if entry.solver not in names:
            raise ConfigError(
                f"{path}: key 'solvers[{k}].solver' is {entry.solver!r}; "
                f"expected one of: {', '.join(names)}"
            )
        values = dataclasses.asdict(entry)
        for key in missing_hyperparameters(entry.solver, values):
            raise ConfigError(
                f"{path}: key 'solvers[{k}].{key}' is missing or null; "
                f"{entry.solver} needs it"
            )
        for f in dataclasses.fields(entry):
            if f.name in known and not SOLVERS[entry.solver].takes(f.name):
                if values[f.name] != f.default:
                    raise ConfigError(
                        f"{path}: key 'solvers[{k}].{f.name}' is "
                        f"{values[f.name]!r}; {entry.solver} does not take it"
                    )
