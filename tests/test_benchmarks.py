"""Every script in ``benchmarks/`` runs unchanged on the CPU at its ``--smoke``
sizes and writes its JSON table (device kind, JAX version, rows)."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = sorted(
    p.name for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_")
)


def test_every_benchmark_script_runs_at_smoke_size(tmp_path):
    assert {
        "cooperative.py",
        "evaluation.py",
        "million.py",
        "poker.py",
        "zero_sum.py",
    } <= set(SCRIPTS)
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        JAX_PLATFORMS="cpu",
        # the suite's on-disk compilation cache (tests/conftest.py) is
        # inherited through JAX_COMPILATION_CACHE_DIR and
        # JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS
    )
    env.pop("XLA_FLAGS", None)
    procs = {
        name: subprocess.Popen(
            [sys.executable, name, "--smoke", "--json", str(tmp_path / f"{name}.json")],
            cwd=ROOT / "benchmarks",
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in SCRIPTS
    }
    for name, proc in procs.items():
        out, _ = proc.communicate()
        assert proc.returncode == 0, f"{name} failed:\n{out[-3000:]}"
        data = json.loads((tmp_path / f"{name}.json").read_text())
        assert data["device_kind"] and data["jax_version"], name
        assert data["rows"], name
        for row in data["rows"]:
            assert row["compile_s"] >= 0 and row["steady_s"] > 0, (name, row)
