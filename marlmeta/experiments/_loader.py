"""Typed config loading: YAML mappings to frozen dataclass trees, every key checked.

Every config file has the same layout: the header keys :data:`HEADER` and the
sections of :data:`SECTIONS` (each a mapping, or a list of entries for
``solvers`` and ``panels``). A config class says where each of its fields lives
in the file: a field whose type is a dataclass is a section of its own name;
a plain field made with :func:`setting` lives in the section it names, under
its own name or the ``key`` it gives. A key at the wrong place (the flat
layout of earlier versions) is refused with its new place.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing

from marlmeta.experiments.registry import SOLVERS, missing_hyperparameters

#: The keys at the top level of every config besides the sections.
HEADER: dict[str, str] = {
    "name": "the run's folder name under the output folder",
    "experiment": "the experiment kind (``marlmeta list experiments``)",
    "description": "one line on what the run shows (printed by ``marlmeta list``)",
}

#: The top-level sections of a config, in file order, and what each holds.
SECTIONS: dict[str, str] = {
    "game": "the game or the family of games, and how it is drawn",
    "solver": "the solver and its hyperparameters",
    "solvers": "the solvers compared: a list of (label, solver, hyperparameters)",
    "panels": "the figure's panels: a list of entries, one run each",
    "baseline": "the baseline learner the solver is compared with",
    "meta": "the meta-learning settings",
    "sweep": "the values swept, one point of the figure each",
    "run": "how the run is split and recorded: seeds, chunks, checkpoints, dtype",
    "output": "what the results and the figure show",
}

#: Keys that mean the same in every experiment and section they appear in.
GLOSSARY: dict[str, str] = {
    "game": (
        "the game: the experiment's own generator (its keys below), or a "
        "``file:`` written by ``marlmeta.games.save_game`` or an ``openspiel:`` "
        "game name, with the perturbation family's ``num_games``, "
        "``noise_std`` and ``seed``"
    ),
    "num_games": "the number of games of the family (or batch)",
    "num_actions": "each player's number of actions",
    "num_states": "the number of states",
    "num_players": "the number of players",
    "horizon": "the horizon ``H`` (steps per episode)",
    "discount": "the discount factor ``gamma``",
    "noise_std": "the standard deviation of the reward perturbation of the family",
    "seed": "the seed of the random draws",
    "base_seed": "the seed of the random base game",
    "note": "free text recorded with the results",
    "step_size": "the step size ``eta`` (``null``: the solver's theory default)",
    "num_steps": "the number of iterations",
    "label": "the entry's name in the results and the figure's legend",
    "solver": "the solver's registry name (``marlmeta list solvers``)",
    "seeds": "the number of independent repetitions",
    "chunk_seeds": "repetitions per saved chunk (an interrupted run resumes per chunk)",
    "chunk_games": "games per saved chunk (an interrupted run resumes per chunk)",
    "checkpoints": "the iteration counts at which the metric is recorded",
    "dtype": "``float32`` or ``float64``",
    "stride": "record every ``stride``-th iteration (after ``plot_steps``)",
    # two-state families (Mao et al. F.1, F.2)
    "rewards": "the base reward table ``rewards[s][a][b]``",
    "stay": "the probability that the state stays when the actions match",
    "switch": "the probability that the state switches when they differ",
    # MAML and meta-learning
    "alpha": "the meta-learning mixing weight ``alpha`` (``null``: ``1/sqrt(K)``)",
    "kind": "``identical_interest`` (common noise) or ``potential`` (noise on phi)",
    "train_games": "the games of the training pool",
    "test_games": "the held-out games",
    "inner_steps": "MAML's inner gradient steps ``T``",
    "inner_step_size": "the inner loop's step size",
    "meta_steps": "the outer loop's steps",
    "optimiser": "the outer loop's optax optimiser: ``sgd``, ``adam`` or ``adamw``",
    "learning_rate": "the outer loop's learning rate",
    "batch_size": "training games per outer step (``null``: all)",
    "first_order": "drop the second-order terms of the meta-gradient",
    # linear-quadratic tracking (Mao et al. F.3)
    "num_positions": "the positions on each player's line",
    "drift": "every player's base drift",
    "sigma": "the diffusion of the positions",
    "kappa": "the weight of the tracking cost",
    "dt": "the time step",
    # river endgames
    "board": "the five board cards, e.g. ``4s8hTc9h2s``",
    "pot": "the pot before the river betting",
    "stacks": "both players' stacks",
    "ranges": "``uniform`` or the path of a range file (its board and pot win)",
    "max_hands": "keep this many hands per player, drawn by weight (``null``: all)",
    "range_seed": "the seed of the ``max_hands`` draw",
    "variant": "the betting tree (``bet_call``, ...)",
    "stack_std": "the standard deviation of the stacks' perturbation",
    "stack_unit": "the chips the perturbation is normalised by (``null``: the pot)",
    "layout": "``generic`` (a list of deals) or ``structured`` (hand pairs x bets)",
    "average": "the output average: ``reach``-weighted or ``plain``",
    "reference_step_size": "the counterfactual reference's step size (``null``: none)",
    # solver entries
    "barrier": "the log-barrier weight ``lambda`` (0: none)",
    "clip": "the clip of the natural-gradient exponent (``null``: none)",
    "centred_clip": "clip the centred exponent (``false``: the un-centred one)",
    "pessimism": "the critic's pessimism weight ``lambda`` (larger: less pessimistic)",
    "num_samples": "the sampling oracle's queries per agent and iteration ``n``",
    # quoted values of a paper, checked against the run
    "paper": "values the paper reports, each checked against the run",
    "values": "values the reference reports, each checked against the run",
    "crossings": "threshold crossings the reference reports, checked against the run",
    "t": "the iteration the value refers to",
    "value": "the quoted value",
    "potential": "the quoted potential ``Phi``",
    "ne_gap": "the quoted NE-gap",
    "tolerance": "the absolute agreement expected",
    "method": "the update rule: ``seq``, ``joint``, ``indep`` or ``ma_ppo``",
    "threshold": "the value whose first crossing is quoted",
    "init": "the initialisation: ``uniform`` or ``near_stationary``",
}


class ConfigError(ValueError):
    """A config file is malformed; the message names the key and the file."""


def setting(
    section: str | None = None,
    default=dataclasses.MISSING,
    *,
    key: str | None = None,
    doc: str = "",
):
    """A config field that the file gives as ``section.key`` (or ``key``).

    Args:
        section: one of :data:`SECTIONS` (``None``: where its class is read).
        default: the default (none: the key is required).
        key: its name in the file (default: the field's name).
        doc: its meaning, for the generated reference (default: the
            :data:`GLOSSARY` entry of its key).
    """
    meta = {"section": section, "key": key, "doc": doc}
    return dataclasses.field(default=default, metadata=meta)


def file_key(f: dataclasses.Field) -> str:
    """Where field ``f`` lives in the file: ``section.key`` or ``key``."""
    key = f.metadata.get("key") or f.name
    section = f.metadata.get("section")
    return f"{section}.{key}" if section else key


def meaning(f: dataclasses.Field) -> str:
    """The documented meaning of field ``f`` (its ``doc`` or the glossary's)."""
    key = f.metadata.get("key") or f.name
    return f.metadata.get("doc") or GLOSSARY.get(key, "")


def _flatten(cls, data: dict, path: str) -> dict:
    """``data`` with the sections of ``cls``'s :func:`setting` fields read into
    the fields' names; a section key out of place is a ConfigError."""
    fields = [f for f in dataclasses.fields(cls) if file_key(f) != f.name]
    placed = {file_key(f): f.name for f in fields}
    moved = {f.name: file_key(f) for f in fields}
    sections = {k.split(".")[0] for k in placed if "." in k}
    out = {}
    for k, v in data.items():
        if k in placed:
            out[placed[k]] = v
        elif k in sections:
            known = sorted(p for p in placed if p.startswith(k + "."))
            if not isinstance(v, dict):
                raise ConfigError(
                    f"{path}: key '{k}' is {v!r}; expected a mapping with the "
                    f"keys {', '.join(known)}"
                )
            for sub, value in v.items():
                if f"{k}.{sub}" not in placed:
                    raise ConfigError(
                        f"{path}: unknown key '{k}.{sub}' "
                        f"(expected one of: {', '.join(known)})"
                    )
                out[placed[f"{k}.{sub}"]] = value
        elif k in moved:
            raise ConfigError(
                f"{path}: key '{k}' is now '{moved[k]}' (the same schema for "
                "every experiment: see the config reference)"
            )
        else:
            out[k] = v
    return out


def to_file_layout(config) -> dict:
    """The config as the mapping its file has (sections nested), plain data."""

    def plain(x):
        if dataclasses.is_dataclass(x):
            return to_file_layout(x)
        if isinstance(x, tuple | list):
            return [plain(v) for v in x]
        return x

    out: dict = {}
    for f in dataclasses.fields(config):
        value = plain(getattr(config, f.name))
        section = f.metadata.get("section")
        key = f.metadata.get("key") or f.name
        if section:
            out.setdefault(section, {})[key] = value
        else:
            out[key] = value
    return out


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
    data = _flatten(cls, data, path)
    for k in data:
        if k not in fields:
            keys = sorted({file_key(f).split(".")[0] for f in fields.values()})
            raise ConfigError(
                f"{path}: unknown key '{prefix}{k}' "
                f"(expected one of: {', '.join(keys)})"
            )
    kwargs = {}
    for name, f in fields.items():
        key = prefix + file_key(f)
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], key, path)
        elif (
            f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ):
            raise ConfigError(f"{path}: missing key '{key}'")
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
