"""One process of the two-process test (``tests/test_distributed.py``).

Usage: ``python distributed_worker.py PORT PROCESS_ID OUT_DIR``. Each process
joins ``jax.distributed`` on 127.0.0.1, takes its slice of a batch of 7 sparse
zero-sum games (4 and 3 games), runs ``solve_batch(process_local=True)`` and
the tracking experiment's smoke config through the runner; process 0 alone
writes the gathered numbers and the run's files.

``python distributed_worker.py - single OUT_DIR`` is the reference: one process
with two CPU devices (the same device count) running ``solve_batch`` on all 7
games.
"""

import os
import pathlib
import sys

port, mode, out = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
if mode == "single":
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    )

import jax  # noqa: E402

if mode != "single":
    jax.distributed.initialize(
        f"127.0.0.1:{port}", num_processes=2, process_id=int(mode)
    )
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import marlmeta as M  # noqa: E402
from marlmeta.experiments import load_config, run_experiment  # noqa: E402

games = M.games.random_sparse_zero_sum(
    jax.random.key(0), 7, (2, 2), 20, 4, 3, dtype=jnp.float64
)
solver = M.solvers.ZeroSumOMD(0.2)
if mode == "single":
    sol = M.solve_batch(solver, games, 12, checkpoints=(5, 12))
else:
    mine = slice(0, 4) if mode == "0" else slice(4, 7)
    local = jax.tree.map(lambda x: x[mine], games)
    sol = M.solve_batch(solver, local, 12, checkpoints=(5, 12), process_local=True)
if mode in ("0", "single"):
    leaves = jax.tree_util.tree_flatten_with_path(sol)[0]
    np.savez(
        out / f"solve_batch_{mode}.npz",
        **{jax.tree_util.keystr(p): np.asarray(x) for p, x in leaves},
    )
if mode == "single":
    sys.exit(0)
root = pathlib.Path(__file__).resolve().parents[1]
run_experiment(
    load_config(root / "configs" / "smoke_lq_tracking.yaml"),
    out / "runs",
    progress=False,
)
print(f"process {mode} done", flush=True)
