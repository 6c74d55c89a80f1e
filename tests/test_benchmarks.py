"""Every script in ``benchmarks/`` runs unchanged on the CPU at its ``--smoke``
sizes and writes its JSON table (device kind, JAX version, rows).

The scripts that choose their number of CPU devices (``force_cpu_devices``,
read by XLA once, when the CPU backend starts) each run in their own process,
as a user runs them. The others run one after the other in one shared child
process, each as ``__main__`` with its own ``sys.argv`` (what ``python
script.py --smoke`` does), with 64-bit mode reset before each (a script that
enables it must not decide another's dtypes): one Python and JAX start-up and
one copy of the programs they share instead of one per script.
"""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = sorted(
    p.name for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_")
)

_SHARED = """
import os, runpy, sys, traceback
import jax
sys.path.insert(0, os.getcwd())  # as for `python script.py`: the script's folder
failed = []
for name, out in zip(sys.argv[1::2], sys.argv[2::2]):
    jax.config.update("jax_enable_x64", False)
    sys.argv = [name, "--smoke", "--json", out]
    print(f"=== {name}", flush=True)
    try:
        runpy.run_path(name, run_name="__main__")
    except BaseException:  # SystemExit too: report it and run the next script
        traceback.print_exc()
        failed.append(name)
    print(f"=== {name} {'failed' if name in failed else 'ok'}", flush=True)
sys.exit(1 if failed else 0)
"""


def _own_devices(name):
    """Whether the script sets its CPU device count before JAX starts."""
    return "force_cpu_devices(" in (ROOT / "benchmarks" / name).read_text()


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
    # no device count from outside; the suite's own compiler flags (conftest)
    env["XLA_FLAGS"] = os.environ.get("MARLMETA_TEST_XLA_FLAGS", "")
    out = {name: str(tmp_path / f"{name}.json") for name in SCRIPTS}
    commands = {
        name: [sys.executable, name, "--smoke", "--json", out[name]]
        for name in SCRIPTS
        if _own_devices(name)
    }
    shared = [name for name in SCRIPTS if not _own_devices(name)]
    assert len(shared) >= 5, shared  # the shared process is most of them
    commands["shared"] = [
        sys.executable,
        "-c",
        _SHARED,
        *(arg for name in shared for arg in (name, out[name])),
    ]
    procs = {
        label: subprocess.Popen(
            command,
            cwd=ROOT / "benchmarks",
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for label, command in commands.items()
    }
    logs = {}
    for label, proc in procs.items():
        logs[label], _ = proc.communicate()
        assert proc.returncode == 0, f"{label} failed:\n{logs[label][-5000:]}"
    for name in shared:  # each script of the shared process ran to its end
        assert f"=== {name} ok" in logs["shared"], name
    for name in SCRIPTS:
        data = json.loads(pathlib.Path(out[name]).read_text())
        assert data["device_kind"] and data["jax_version"], name
        assert data["rows"], name
        for row in data["rows"]:
            assert row["compile_s"] >= 0 and row["steady_s"] > 0, (name, row)
