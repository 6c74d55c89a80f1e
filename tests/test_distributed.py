"""solve_batch and the experiment runner under jax.distributed: two CPU
processes on 127.0.0.1 against one process.

The workers (``tests/distributed_worker.py``) each hold a slice of the batch;
the gathered solve_batch output must equal, bit for bit, one process with the
same two devices (sharding a chunk across devices moves the last bit against
one device: measured 1.1e-16, checked to 1e-15), and the runner's files
(written by process 0 alone) must hold the numbers of a single-process run of
the same config.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
from marlmeta.experiments import load_config, run_experiment

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_two_processes_equal_one(tmp_path):
    port = _free_port()
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        JAX_PLATFORMS="cpu",
        # the suite's on-disk compilation cache (tests/conftest.py) is
        # inherited through JAX_COMPILATION_CACHE_DIR
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0.2",
    )
    # no device count from outside; the suite's own compiler flags (conftest)
    env["XLA_FLAGS"] = os.environ.get("MARLMETA_TEST_XLA_FLAGS", "")
    worker = ROOT / "tests" / "distributed_worker.py"
    procs = [
        subprocess.Popen(
            [sys.executable, str(worker), str(port), mode, str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for mode in ("0", "1", "single")
    ]
    # meanwhile, the single-process references
    games = M.games.random_sparse_zero_sum(
        jax.random.key(0), 7, (2, 2), 20, 4, 3, dtype=jnp.float64
    )
    want = M.solve_batch(M.solvers.ZeroSumOMD(0.2), games, 12, checkpoints=(5, 12))
    single = run_experiment(
        load_config(ROOT / "configs" / "smoke_lq_tracking.yaml"),
        tmp_path / "single",
        progress=False,
    )
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, out[-3000:]
    got = np.load(tmp_path / "solve_batch_0.npz")
    two_devices = np.load(tmp_path / "solve_batch_single.npz")
    leaves = jax.tree_util.tree_flatten_with_path(want)[0]
    assert sorted(got.files) == sorted(jax.tree_util.keystr(p) for p, _ in leaves)
    for path, x in leaves:
        key = jax.tree_util.keystr(path)
        np.testing.assert_array_equal(got[key], two_devices[key])
        np.testing.assert_allclose(got[key], np.asarray(x), rtol=0, atol=1e-15)
    # the runner: process 0 wrote every file; the numbers equal one process's
    dist = tmp_path / "runs" / "smoke_lq_tracking"
    assert sorted(p.name for p in (dist / "chunks").iterdir()) == [
        "chunk_000.npz",
        "chunk_001.npz",
    ]
    r = json.loads((dist / "results.json").read_text())
    assert r == json.loads((single / "results.json").read_text())
    # and they are the tracking experiment's (Mao et al. F.3 pipeline)
    assert r["metric"] == "ne_gap" and r["meta_update"] == "warm_start"
    assert r["finite"] is True
    ind = np.array(r["individual"]["ne_gap_mean"])
    meta = np.array(r["meta"]["ne_gap_mean"])
    assert np.all(np.diff(ind) < 0)  # projected Q-descent lowers the gap
    assert meta[0] < ind[0]  # the warm start pays at the first checkpoint
    assert (dist / "figure.png").stat().st_size > 0
