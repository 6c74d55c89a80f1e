"""Game files: any game (or batch of games) to a versioned ``.npz`` and back.

A game file is a NumPy ``.npz`` archive, read with ``allow_pickle=False``:

- ``header``: UTF-8 JSON as a ``uint8`` array, with ``format``
  (``"marlmeta-game"``), ``version`` (:data:`FORMAT_VERSION`), ``kind`` (the
  game class: ``FiniteHorizonGame``, ``DiscountedMarkovGame``,
  ``ObservedGame``, ``TurnBasedGame`` or ``PrivateTypeGame``), ``tree`` (the
  game's structure: every module's class and fields in order (the
  ``linear_solver`` strategy too), static fields such as ``num_actions`` or
  ``horizon`` as JSON values, array fields as ``{"array": name}``; fields a
  constructor derives, such as a ``TurnBasedGame``'s ``parents``, are not
  stored but derived again) and ``sha256`` (per array, the SHA-256 of its
  dtype, shape and bytes);
- one array per array leaf, named by its path in the game
  (``reward_model.tables``, ``transitions.local.1``,
  ``observations.0``, ...).

Every reward model (dense, zero-sum, identical-interest, stationary), every
kernel (dense, sparse, factored), observation maps, legal-action masks and
cooperative games (a discounted game with identical rewards) are stored
exactly: loading gives the same leaves (dtype, shape and bits) and the same
static structure. Loading rebuilds the game through its classes'
constructors, which check shapes and values, and through
:func:`marlmeta.games.observe` for observation maps (perfect recall is checked
again); any problem is a ``ValueError`` that names the file and what is wrong.
A field added to a class since a file was written (the games' ``legal``)
takes its default when the file lacks it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import pathlib
import zipfile

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from marlmeta.games._families import unstack
from marlmeta.games._game import (
    AbstractMarkovGame,
    DiscountedMarkovGame,
    FiniteHorizonGame,
)
from marlmeta.games._legal import AllLegal, LegalActions
from marlmeta.games._linear_solves import AutoSolve, DenseSolve, MatrixFreeSolve
from marlmeta.games._observations import ObservedGame, observe
from marlmeta.games._private_type_matrices import TypeFactorRewards
from marlmeta.games._private_types import PrivateTypeGame, PublicTransitions
from marlmeta.games._rewards import (
    DenseRewards,
    IdenticalRewards,
    StationaryRewards,
    ZeroSumRewards,
)
from marlmeta.games._transitions import (
    DenseTransitions,
    FactoredTransitions,
    SparseTransitions,
)
from marlmeta.games._turn_based import TurnBasedGame, TurnStep

#: The ``format`` of a game file's header.
FORMAT_NAME = "marlmeta-game"
#: The version this release writes and reads.
FORMAT_VERSION = 1

_GAMES = {
    c.__name__: c
    for c in (
        FiniteHorizonGame,
        DiscountedMarkovGame,
        ObservedGame,
        TurnBasedGame,
        PrivateTypeGame,
    )
}
_MODULES = _GAMES | {
    c.__name__: c
    for c in (
        DenseRewards,
        ZeroSumRewards,
        IdenticalRewards,
        StationaryRewards,
        DenseTransitions,
        SparseTransitions,
        FactoredTransitions,
        AutoSolve,
        DenseSolve,
        MatrixFreeSolve,
        AllLegal,
        LegalActions,
        TurnStep,
        TypeFactorRewards,
        PublicTransitions,
    )
}


def _stored_fields(cls) -> list[str]:
    """The fields a file stores: those the constructor takes (a trailing ``_``
    dropped), not those it derives (a ``TurnBasedGame``'s ``parents``)."""
    params = inspect.signature(cls.__init__).parameters
    return [
        f.name
        for f in dataclasses.fields(cls)
        if f.name in params or f.name.rstrip("_") in params
    ]


def _digest(a: np.ndarray) -> str:
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _encode(value, name: str, arrays: dict[str, np.ndarray]):
    """The JSON node of ``value``; its arrays go into ``arrays``."""
    if isinstance(value, eqx.Module):
        cls = type(value).__name__
        if _MODULES.get(cls) is not type(value):
            raise ValueError(
                f"{name} is a {cls}; game files store only {sorted(_MODULES)}"
            )
        fields = {
            k: _encode(getattr(value, k), f"{name}.{k}", arrays)
            for k in _stored_fields(type(value))
        }
        return {"module": cls, "fields": fields}
    if isinstance(value, tuple | list):
        return {
            "tuple": [_encode(v, f"{name}.{i}", arrays) for i, v in enumerate(value)]
        }
    if value is None or isinstance(value, bool | int | float | str):
        return value
    key = name.removeprefix("game.")
    arrays[key] = np.asarray(value)
    if arrays[key].dtype.kind not in "biuf":
        raise ValueError(
            f"{name} is a {type(value).__name__} of dtype {arrays[key].dtype}; "
            "game files store numeric arrays only"
        )
    return {"array": key}


def save_game(path: str | os.PathLike, game: AbstractMarkovGame) -> None:
    """Write ``game`` (one game or a batch) to the ``.npz`` game file ``path``.

    Args:
        path: the file to write (NumPy adds ``.npz`` when it is missing).
        game: a :class:`~marlmeta.games.FiniteHorizonGame`,
            :class:`~marlmeta.games.DiscountedMarkovGame`,
            :class:`~marlmeta.games.ObservedGame`,
            :class:`~marlmeta.games.PrivateTypeGame` or (one game)
            :class:`~marlmeta.games.TurnBasedGame` of any reward model and
            kernel, with concrete arrays.

    Raises:
        ValueError: ``game`` is not a game, or holds a module of another kind.
    """
    if _GAMES.get(type(game).__name__) is not type(game):
        raise ValueError(
            f"game is a {type(game).__name__}; expected one of {sorted(_GAMES)}"
        )
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(game, "game", arrays)
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "kind": type(game).__name__,
        "tree": tree,
        "sha256": {k: _digest(a) for k, a in arrays.items()},
    }
    text = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(path, header=text, **arrays)


class _FileError(ValueError):
    """A problem of the file itself (its message already names the file)."""


class _Reader(eqx.Module):
    """Decodes a header tree against the arrays of one file (``file`` names it
    in messages)."""

    file: str
    arrays: dict

    def fail(self, what: str):
        raise _FileError(f"game file {self.file}: {what}")

    def decode(self, node, name: str):
        if isinstance(node, str | int | float | bool) or node is None:
            return node
        if not isinstance(node, dict) or len(node) not in (1, 2):
            self.fail(f"{name} is malformed in the header: {node!r:.80}")
        if "array" in node:
            key = node["array"]
            if key not in self.arrays:
                self.fail(f"the array {key!r} is missing")
            return jnp.asarray(self.arrays[key])
        if "tuple" in node:
            items = node["tuple"]
            return tuple(self.decode(v, f"{name}.{i}") for i, v in enumerate(items))
        cls = _MODULES.get(node.get("module"))
        if cls is None:
            self.fail(f"{name} has the unknown module {node.get('module')!r}")
        fields = node.get("fields")
        names = _stored_fields(cls)
        params = inspect.signature(cls.__init__).parameters
        # Fields added since a file was written (e.g. ``legal``) take their
        # defaults when they are absent.
        required = [
            k
            for k in names
            if params.get(k) is None or params[k].default is inspect.Parameter.empty
        ]
        if not isinstance(fields, dict) or not _fits(list(fields), names, required):
            self.fail(
                f"{name} ({cls.__name__}) has fields {fields!r:.80}; expected {names}"
            )
        args = {
            (k if k in params else k.rstrip("_")): self.decode(v, f"{name}.{k}")
            for k, v in fields.items()
        }
        return _build(cls, args)


def _fits(given: list, names: list, required: list) -> bool:
    """Whether a file's field names are the class's in order, some fields that
    have defaults left out (fields added since the file was written)."""
    return set(required) <= set(given) and given == [k for k in names if k in given]


def _build(cls, args: dict):
    """``cls(**args)``; observation maps go through :func:`observe` (one game)
    or each member's :func:`observe` (a batch), which check them."""
    game = cls(**args)
    if cls is not ObservedGame:
        return game
    if not game.batch_shape:
        return observe(game.states(), game.observations, game.num_observations)
    for b, one in enumerate(unstack(game.states())):
        observe(one, [o[b] for o in game.observations], game.num_observations)
    return game


def load_game(path: str | os.PathLike) -> AbstractMarkovGame:
    """Read a game written by :func:`save_game`, checking it.

    Args:
        path: a ``.npz`` game file.

    Returns:
        The game (or batch of games), equal leaf by leaf to the one saved.

    Raises:
        ValueError: naming the file and the problem: not a readable ``.npz``
            archive (a truncated or foreign file), no header, another format or
            version, a missing, unexpected or modified array (SHA-256
            mismatch), a malformed structure, or values the game's
            constructors refuse.
    """
    file = str(pathlib.Path(path))
    try:
        with open(path, "rb") as fh:
            data = np.load(fh, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("it holds one .npy array")
            with data:
                arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(
            f"game file {file} is not a readable .npz game file ({err})"
        ) from None
    reader = _Reader(file, arrays)
    header = _header(reader, arrays.pop("header", None))
    sums = header.get("sha256")
    if not isinstance(sums, dict):
        reader.fail("the header has no sha256 table")
    for key in sorted(set(sums) - set(arrays)):
        reader.fail(f"the array {key!r} is missing")
    for key in sorted(set(arrays) - set(sums)):
        reader.fail(f"the array {key!r} is not in the header")
    for key, digest in sums.items():
        if _digest(arrays[key]) != digest:
            reader.fail(
                f"the array {key!r} (shape {arrays[key].shape}, dtype "
                f"{arrays[key].dtype}) fails its SHA-256 checksum: it was modified"
            )
    kind = header.get("kind")
    if kind not in _GAMES or header["tree"].get("module") != kind:
        reader.fail(f"kind is {kind!r}; expected one of {sorted(_GAMES)}")
    try:
        return reader.decode(header["tree"], "game")
    except _FileError:
        raise
    except (ValueError, TypeError) as err:
        reader.fail(f"the stored game is invalid: {err}")


def _header(reader: _Reader, raw) -> dict:
    if raw is None:
        reader.fail("the 'header' array is missing (not a marlmeta game file)")
    try:
        header = json.loads(np.asarray(raw, np.uint8).tobytes().decode())
    except (ValueError, UnicodeDecodeError) as err:
        reader.fail(f"the header is not UTF-8 JSON ({err})")
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        fmt = header.get("format") if isinstance(header, dict) else None
        reader.fail(f"format is {fmt!r}; expected {FORMAT_NAME!r}")
    if header.get("version") != FORMAT_VERSION:
        reader.fail(
            f"version is {header.get('version')!r}; this release reads version "
            f"{FORMAT_VERSION}"
        )
    if not isinstance(header.get("tree"), dict):
        reader.fail("the header has no game tree")
    return header
