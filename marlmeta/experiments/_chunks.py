"""The chunk file: one chunk's raw numbers, self-describing and checked.

A chunk file is an ``.npz`` archive (no pickles) holding

- ``fingerprint``: the stamp of the config, the file layout and the package
  version that wrote it (a chunk of another stamp is recomputed);
- ``manifest``: JSON listing every array of the chunk pytree: its key path
  (the member name, e.g. ``.meta.gap``, and the path as data), shape, dtype,
  SHA-256 of its bytes and whether all its values were finite when written;
- one member per array, named by its key path.

Reading a chunk back needs nothing but the file: :func:`decode` checks every
array against the manifest (shape, dtype, checksum, finiteness) and rebuilds
the pytree from the key paths. Attribute nodes (the experiments'
``eqx.Module`` chunks) come back as :class:`Record`, a pytree with the same
attributes; sequences as tuples, dicts as dicts, ``None`` as ``None``. The
runner hands ``aggregate`` the decoded form of every chunk, freshly computed or
read from disk, so a resumed run aggregates exactly what a fresh one does.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

import jax
import numpy as np

#: The layout of chunk files; a chunk of another layout is recomputed.
CHUNK_FORMAT = 3


class ChunkError(ValueError):
    """A chunk file that cannot be used; the message says why."""


@jax.tree_util.register_pytree_with_keys_class
class Record:
    """A decoded attribute node: the fields of a saved chunk ``eqx.Module``,
    read as attributes (``chunk.gap``) and mapped over as a pytree."""

    def __init__(self, fields: dict[str, Any]):
        self.__dict__.update(fields)

    def tree_flatten_with_keys(self):
        return (
            [(jax.tree_util.GetAttrKey(k), v) for k, v in self.__dict__.items()],
            tuple(self.__dict__),
        )

    @classmethod
    def tree_unflatten(cls, names, children):
        return cls(dict(zip(names, children, strict=True)))

    def __repr__(self) -> str:
        return f"Record({', '.join(self.__dict__)})"


def _step(key) -> list:
    """One key-path entry as JSON data."""
    if isinstance(key, jax.tree_util.GetAttrKey):
        return ["attr", key.name]
    if isinstance(key, jax.tree_util.SequenceKey):
        return ["index", key.idx]
    if isinstance(key, jax.tree_util.DictKey) and isinstance(key.key, str):
        return ["key", key.key]
    raise ChunkError(f"chunk key {key!r} is not an attribute, index or string key")


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _finite(a: np.ndarray) -> bool:
    return not np.issubdtype(a.dtype, np.inexact) or bool(np.all(np.isfinite(a)))


def encode(chunk, stamp: str) -> bytes:
    """The chunk pytree as the bytes of a chunk file stamped ``stamp``."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(chunk, is_leaf=lambda x: x is None)
    arrays, entries = {}, []
    for path, x in leaves:
        name = jax.tree_util.keystr(path)
        entry = {"key": name, "path": [_step(k) for k in path]}
        if x is None:
            entries.append({**entry, "none": True})
            continue
        a = np.asarray(x)
        if a.dtype.hasobject:
            raise ChunkError(f"chunk array {name} has dtype object")
        arrays[name] = a
        entries.append({
            **entry, "shape": list(a.shape), "dtype": a.dtype.str,
            "sha256": _digest(a), "finite": _finite(a),
        })  # fmt: skip
    manifest = {"format": CHUNK_FORMAT, "leaves": entries}
    buf = io.BytesIO()
    np.savez(
        buf,
        fingerprint=np.array(stamp),
        manifest=np.array(json.dumps(manifest)),
        **arrays,
    )
    return buf.getvalue()


def decode(data: bytes, stamp: str):
    """The chunk pytree stored in ``data``, checked against its manifest.

    Raises:
        ChunkError: the bytes are not a chunk file, were written for another
            config, layout or version (``stamp`` differs), or an array differs
            from its manifest entry (missing, shape, dtype, checksum, or a
            non-finite value where the computation had none).
    """
    if not data:
        raise ChunkError("empty file")
    if not data.startswith(b"PK\x03\x04"):
        raise ChunkError("not an npz archive")
    try:
        with np.load(io.BytesIO(data)) as z:
            members = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise ChunkError(f"not a readable chunk file ({err})") from None
    if "fingerprint" not in members or "manifest" not in members:
        raise ChunkError("written by another version (no manifest)")
    if str(members.pop("fingerprint")) != stamp:
        raise ChunkError("written for another config or version")
    try:
        manifest = json.loads(str(members.pop("manifest")))
        entries = manifest["leaves"]
    except (ValueError, KeyError, TypeError) as err:
        raise ChunkError(f"unreadable manifest ({err})") from None
    listed = {e["key"] for e in entries if not e.get("none")}
    if set(members) != listed:
        extra = sorted(set(members) ^ listed)
        raise ChunkError(f"arrays {extra} differ from the manifest")
    leaves = []
    for e in entries:
        leaves.append((e["path"], None if e.get("none") else _check(members, e)))
    return _rebuild(leaves)


def _check(members: dict[str, np.ndarray], e: dict) -> np.ndarray:
    a, name = members[e["key"]], e["key"]
    if list(a.shape) != e["shape"] or a.dtype.str != e["dtype"]:
        raise ChunkError(
            f"array {name} has shape {tuple(a.shape)} and dtype {a.dtype.str}; "
            f"the manifest says {tuple(e['shape'])} and {e['dtype']}"
        )
    if _digest(a) != e["sha256"]:
        raise ChunkError(f"array {name} does not match its checksum")
    if e["finite"] and not _finite(a):
        raise ChunkError(f"array {name} holds NaN or inf; the computation's did not")
    return a


def _sequence(children: dict[int, Any]) -> tuple:
    if sorted(children) != list(range(len(children))):
        raise ChunkError("the manifest's sequence indices are not 0..n-1")
    return tuple(children[i] for i in range(len(children)))


#: How each kind of key-path step rebuilds its node from its children.
_NODES = {"attr": Record, "index": _sequence, "key": dict}


def _rebuild(leaves: list[tuple[list, Any]]):
    """The pytree whose leaves sit at the given key paths (JSON steps)."""
    if len(leaves) == 1 and not leaves[0][0]:
        return leaves[0][1]
    if not all(path for path, _ in leaves):
        raise ChunkError("the manifest's key paths do not form a tree")
    kinds = {path[0][0] for path, _ in leaves}
    if len(kinds) != 1 or not kinds <= _NODES.keys():
        raise ChunkError(f"the manifest mixes key-path steps {sorted(kinds)}")
    groups: dict[Any, list] = {}
    for path, x in leaves:
        groups.setdefault(path[0][1], []).append((path[1:], x))
    return _NODES[kinds.pop()]({k: _rebuild(v) for k, v in groups.items()})
