"""The experiment runner: the impure shell around the pure library.

``run_experiment(config)`` runs the :class:`~marlmeta.experiments._protocol.Plan`
of any experiment config (it knows no experiment) and writes ``runs/<name>/``:

- ``config.yaml``: the config as run (with its fingerprint), written with the
  first chunk, so a config that fails leaves nothing behind;
- ``chunks/chunk_NNN.npz``: the raw numbers of each chunk with their manifest
  (key paths, shapes, dtypes, checksums, finiteness: see
  :mod:`marlmeta.experiments._chunks`), so that an interrupted sweep resumes
  from the chunks already written; a chunk that is corrupt or of another
  config, layout or version is reported by name and recomputed;
- ``figure.png`` and then ``results.json`` (every plotted number, with the
  metric named): both or neither, ``results.json`` last.

Every file is written atomically (a temporary file in the same folder, then a
rename); the temporary file of a killed write is removed by the next run.
A rerun of a finished run computes nothing and says it is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import sys
import tempfile
from collections.abc import Callable

import jax
import numpy as np
import yaml
from jax.experimental import multihost_utils
from tqdm import tqdm

import marlmeta
from marlmeta.experiments import _chunks
from marlmeta.experiments._interrupt import Signals
from marlmeta.experiments._loader import ConfigError, check_name, to_file_layout
from marlmeta.experiments._protocol import Experiment, Plan, to_dict


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


def _stamp(fp: str) -> str:
    """What a chunk file records of its config, layout and package version."""
    return f"{fp}/chunks-v{_chunks.CHUNK_FORMAT}/marlmeta-{marlmeta.__version__}"


def _save_npz(path: pathlib.Path, data: bytes) -> None:
    """Write a chunk file (the bytes of :func:`_chunks.encode`)."""
    atomic_write(path, data)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _silent(line: str) -> None:
    pass


def _chunk_path(out: pathlib.Path, i: int) -> pathlib.Path:
    return out / "chunks" / f"chunk_{i:03d}.npz"


def _read_chunk(out: pathlib.Path, i: int, stamp: str, log):
    """Chunk ``i`` as saved, or ``None`` (reported unless simply absent)."""
    path = _chunk_path(out, i)
    try:
        return _chunks.decode(path.read_bytes(), stamp)
    except FileNotFoundError:
        return None
    except _chunks.ChunkError as err:
        log(f"{path}: {err}; recomputing it")
        return None


def _prepare(out: pathlib.Path, fp: str, fresh: bool, log) -> None:
    """Refuse a folder holding another config's run (unless ``fresh``), empty
    it with ``fresh``, and remove the temporary files of killed writes."""
    old = _recorded_fingerprint(out / "config.yaml")
    kept = [out / "results.json", out / "figure.png", *out.glob("chunks/*.npz")]
    if not fresh and old not in (None, fp) and any(p.exists() for p in kept):
        raise ConfigError(
            f"{out} holds a run of a different config; "
            "pass --fresh to overwrite it or change 'name'"
        )
    if fresh:
        for p in kept:
            p.unlink(missing_ok=True)
    stale = [*out.glob(".*.tmp"), *out.glob("chunks/.*.tmp")]
    for p in stale:
        p.unlink(missing_ok=True)
    if stale:
        log(f"{out}: removed {len(stale)} temporary file(s) of an interrupted write")


def _recorded_fingerprint(path: pathlib.Path) -> str | None:
    """The fingerprint in a run's ``config.yaml`` (``None`` when there is
    none; ``""`` when the file cannot be read as one)."""
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return ""
    return str(doc.get("fingerprint", "")) if isinstance(doc, dict) else ""


def run_experiment(
    config: Experiment,
    out_root: str | pathlib.Path = "runs",
    *,
    fresh: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = _stderr,
    on_signal: Callable[[int], None] | None = None,
) -> pathlib.Path:
    """Run (or resume) an experiment and write its files. Returns the run folder.

    Args:
        config: the experiment config.
        out_root: the folder holding run folders; the run's is ``out_root/name``.
        fresh: discard what the run folder holds and compute everything.
        progress: show a progress bar on stderr.
        log: receives one line per event (complete, resumed, a chunk recomputed
            and why, temporary files removed); stderr by default.
        on_signal: called with the signal number when SIGINT or SIGTERM arrives
            (the command line ends the process in it); by default the signal is
            recorded and :class:`~marlmeta.experiments._interrupt.Interrupted`
            raised before the next chunk.

    Raises:
        ConfigError: ``name`` is not one folder name, or the run folder holds a
            run of a different config (and not ``fresh``).
        OSError: a file cannot be written; the run keeps its finished chunks
            and has ``figure.png`` and ``results.json`` both or neither.
        Interrupted: SIGINT or SIGTERM, between chunks.
    """
    check_name("the config", config.name)
    plan = config.plan()
    if plan.float64:
        jax.config.update("jax_enable_x64", True)
    out = pathlib.Path(out_root) / config.name
    fp = fingerprint(config)
    stamp = _stamp(fp)
    writer = jax.process_index() == 0  # under jax.distributed only process 0 writes
    doc = yaml.safe_dump({"fingerprint": fp, **to_file_layout(config)}, sort_keys=False)
    with Signals(on_signal) as signals:
        if writer:
            _prepare(out, fp, fresh, log)
        parts = [
            _read_chunk(out, i, stamp, log) if writer else None
            for i in range(plan.units)
        ]
        missing = [i for i, c in enumerate(parts) if c is None]
        if jax.process_count() > 1:  # every process learns what process 0 lacks
            mask = np.array([c is None for c in parts])
            mask = np.asarray(multihost_utils.broadcast_one_to_all(mask))
            missing = [i for i in range(plan.units) if mask[i]]
        if not writer:
            log = _silent
        if not missing:
            log(f"{out}: complete ({plan.units} chunks); nothing to compute")
        elif len(missing) < plan.units:
            done = plan.units - len(missing)
            log(f"{out}: resuming; {done} of {plan.units} chunks already done")
        bar = tqdm(
            missing, desc=config.name, unit="chunk",
            disable=not progress or not missing, file=sys.stderr,
        )  # fmt: skip
        for k, i in enumerate(bar):
            signals.check()
            data = _compute_unit(plan, i, k, stamp)
            if writer:
                _write_config(out, doc)
                _save_npz(_chunk_path(out, i), data)
            parts[i] = _chunks.decode(data, stamp)
        signals.check()
        if writer:  # the other processes may lack the chunks it read
            results = plan.aggregate(parts)
            _write_config(out, doc)
            with signals.hold():
                _write_results(out, results, plan.figure)
    return out


def _write_config(out: pathlib.Path, doc: str) -> None:
    path = out / "config.yaml"
    if not path.exists() or path.read_text() != doc:
        atomic_write(path, doc.encode())


def _write_results(out: pathlib.Path, results: dict, figure) -> None:
    """``figure.png`` then ``results.json``: both or neither (a stale
    ``results.json`` is removed first; a failed one takes the figure with it).
    A run whose files already hold these results is left as it is."""
    text = json.dumps(results, indent=1).encode()
    target, png_path = out / "results.json", out / "figure.png"
    if png_path.exists() and target.exists() and target.read_bytes() == text:
        return
    png = figure(results)
    target.unlink(missing_ok=True)
    try:
        atomic_write(png_path, png)
        atomic_write(target, text)
    except BaseException:
        png_path.unlink(missing_ok=True)
        raise


def _compute_unit(plan: Plan, i: int, k: int, stamp: str) -> bytes:
    """Chunk ``i``, the ``k``-th to compute, as chunk-file bytes. One process
    computes it; under ``jax.distributed`` the ``k``-th missing chunk is
    process ``k % P``'s, and every process receives its bytes (a collective:
    all of them call this)."""
    count = jax.process_count()
    owner = k % count
    mine = b""
    if jax.process_index() == owner:
        mine = _chunks.encode(jax.device_get(plan.compute(i)), stamp)
    if count == 1:
        return mine
    sizes = np.asarray(multihost_utils.process_allgather(np.array(len(mine))))
    buf = np.zeros(int(sizes.max()), np.uint8)
    buf[: len(mine)] = np.frombuffer(mine, np.uint8)
    everyone = np.asarray(multihost_utils.process_allgather(buf))  # (P, bytes)
    return everyone[owner, : int(sizes[owner])].tobytes()
