"""The experiment runner: the impure shell around the pure library.

``run_experiment(config)`` runs the :class:`~marlmeta.experiments._protocol.Plan`
of any experiment config (it knows no experiment) and writes ``runs/<name>/``:

- ``config.yaml``: the config as run (with its fingerprint);
- ``chunks/chunk_NNN.npz``: the raw numbers of each chunk, keyed by their key
  path in the experiment's chunk pytree, so that an interrupted sweep resumes
  from the chunks already written (a chunk of another config or layout is
  recomputed);
- ``results.json``: every plotted number, with the metric named;
- ``figure.png``: the figure.

Every file is written atomically (a temporary file in the same folder, then a
rename), so a killed run never leaves a half-written file behind.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import pathlib
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import yaml
from jax.experimental import multihost_utils
from tqdm import tqdm

from marlmeta.experiments._loader import ConfigError
from marlmeta.experiments._protocol import Experiment, to_dict


def atomic_write(path: pathlib.Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def fingerprint(config) -> str:
    """A hash of everything in the config that changes the numbers."""
    data = to_dict(config)
    data.pop("name", None)
    data.pop("description", None)
    text = json.dumps(data, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _save_npz(path: pathlib.Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(path, buf.getvalue())


#: The layout of chunk files; a chunk of another layout is recomputed.
CHUNK_FORMAT = 2


def _stamp(fp: str) -> str:
    """What a chunk file records of its config and layout."""
    return f"{fp}/chunks-v{CHUNK_FORMAT}"


def _flatten(chunk) -> dict[str, np.ndarray]:
    """A chunk's arrays keyed by their key path in the pytree (``.meta.gap``)."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(chunk)
    return {jax.tree_util.keystr(path): np.asarray(x) for path, x in leaves}


def _load_chunk(path: pathlib.Path, stamp: str, shape: Callable[[], Any]):
    """The chunk saved at ``path``, or ``None`` when there is none of this
    config and layout. ``shape()`` gives the chunk's pytree structure."""
    if not path.exists():
        return None
    with np.load(path) as z:
        if "fingerprint" not in z.files or str(z["fingerprint"]) != stamp:
            return None
        arrays = {k: z[k] for k in z.files if k != "fingerprint"}
    leaves, treedef = jax.tree_util.tree_flatten_with_path(shape())
    keys = [jax.tree_util.keystr(p) for p, _ in leaves]
    if sorted(keys) != sorted(arrays):
        return None
    return jax.tree_util.tree_unflatten(treedef, [arrays[k] for k in keys])


def run_experiment(
    config: Experiment,
    out_root: str | pathlib.Path = "runs",
    *,
    fresh: bool = False,
    progress: bool = True,
) -> pathlib.Path:
    """Run (or resume) an experiment and write its files. Returns the run folder."""
    plan = config.plan()
    if plan.float64:
        jax.config.update("jax_enable_x64", True)
    out = pathlib.Path(out_root) / config.name
    fp = fingerprint(config)
    writer = jax.process_index() == 0  # under jax.distributed only process 0 writes
    written = out / "config.yaml"
    if writer and written.exists() and not fresh:
        old = yaml.safe_load(written.read_text()) or {}
        if old.get("fingerprint") != fp:
            raise ConfigError(
                f"{out} holds a run of a different config; "
                "pass --fresh to overwrite it or change 'name'"
            )
    if writer and fresh:
        for p in sorted(out.glob("chunks/*.npz")):
            p.unlink()
        (out / "results.json").unlink(missing_ok=True)
    doc = {"fingerprint": fp, **to_dict(config)}
    if writer:
        atomic_write(written, yaml.safe_dump(doc, sort_keys=False).encode())

    def shape(i):
        return jax.eval_shape(functools.partial(plan.compute, i))

    parts = [
        _load_chunk(
            out / "chunks" / f"chunk_{i:03d}.npz",
            _stamp(fp),
            functools.partial(shape, i),
        )
        if writer
        else None
        for i in range(plan.units)
    ]
    missing = [i for i, c in enumerate(parts) if c is None]
    if jax.process_count() > 1:  # every process learns what process 0 lacks
        mask = np.array([c is None for c in parts])
        mask = np.asarray(multihost_utils.broadcast_one_to_all(mask))
        missing = [i for i in range(plan.units) if mask[i]]
    bar = tqdm(
        missing, desc=config.name, unit="chunk", disable=not progress,
        file=sys.stderr,
    )  # fmt: skip
    for k, i in enumerate(bar):
        chunk = _compute_unit(plan, i, k, shape)
        if writer:
            path = out / "chunks" / f"chunk_{i:03d}.npz"
            _save_npz(path, {**_flatten(chunk), "fingerprint": np.array(_stamp(fp))})
        parts[i] = chunk
    results = plan.aggregate(parts)
    if writer:
        atomic_write(out / "results.json", json.dumps(results, indent=1).encode())
        atomic_write(out / "figure.png", plan.figure(results))
    return out


def _compute_unit(plan, i: int, k: int, shape):
    """Chunk ``i``, the ``k``-th to compute. One process computes it; under
    ``jax.distributed`` the ``k``-th missing chunk is process ``k % P``'s, and
    every process receives it (a collective: all of them call this)."""
    count = jax.process_count()
    if count == 1:
        return jax.tree.map(np.asarray, jax.device_get(plan.compute(i)))
    owner = k % count
    if jax.process_index() == owner:
        mine = jax.tree.map(np.asarray, jax.device_get(plan.compute(i)))
    else:
        mine = jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), shape(i))
    stacked = multihost_utils.process_allgather(mine)  # (processes, ...)
    return jax.tree.map(lambda x: np.asarray(x)[owner], stacked)
