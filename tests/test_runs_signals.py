"""SIGINT, SIGTERM and SIGKILL during a run: a clean exit (130 or 143, one
line, no traceback, no SIGSEGV) or a kill, then a resume to the results of an
uninterrupted run."""

import json
import os
import pathlib
import signal
import subprocess
import sys

import pytest

from marlmeta import cli
from marlmeta.experiments import load_config, run_experiment
from marlmeta.experiments._interrupt import Interrupted
from tests.shared_plans import shared_plans
from tests.xla_log import without_xla_log

ROOT = pathlib.Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"


@pytest.fixture(scope="module", autouse=True)
def _one_plan_per_config():
    """The runs of one config in this module share its compiled programs
    (``tests/shared_plans.py``)."""
    with shared_plans():
        yield


# Runs `marlmeta run SMOKE --out OUT --quiet` as the executable does, with a
# hook in the runner that sends the signal to the process itself: "term" and
# "kill" once the first chunk file is written, "int" from another thread while
# the second chunk is computed.
HOOKED = """
import os, signal, sys, threading
import marlmeta.experiments.runner as R
how, config, out = sys.argv[1:]
save, compute = R._save_npz, R._compute_unit

def save_then_signal(path, data):
    save(path, data)
    if how != "int":
        os.kill(os.getpid(), {"term": signal.SIGTERM, "kill": signal.SIGKILL}[how])

def compute_while_signalled(plan, i, k, stamp):
    if how == "int" and k == 1:
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
    return compute(plan, i, k, stamp)

R._save_npz, R._compute_unit = save_then_signal, compute_while_signalled
sys.argv = ["marlmeta", "run", config, "--out", out, "--quiet"]
from marlmeta.cli import console
console()
"""


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = run_experiment(
        load_config(SMOKE), tmp_path_factory.mktemp("whole"), progress=False
    )
    return json.loads((out / "results.json").read_text())


@pytest.mark.parametrize(
    "how, code",
    [("term", 143), ("int", 130), ("kill", -signal.SIGKILL)],
)
def test_signalled_process_exits_cleanly_and_resumes(
    tmp_path, uninterrupted, how, code
):
    proc = subprocess.run(
        [sys.executable, "-c", HOOKED, how, str(SMOKE), str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert proc.returncode == code, proc.stderr[-3000:]
    out = tmp_path / "smoke"
    if how != "kill":
        name = {"term": "SIGTERM", "int": "SIGINT"}[how]
        assert without_xla_log(proc.stderr).strip() == (
            f"marlmeta: interrupted ({name}); run the same command again to resume"
        )
    assert (out / "chunks" / "chunk_000.npz").exists()
    first = (out / "chunks" / "chunk_000.npz").stat().st_mtime_ns
    if how != "int":  # SIGINT may land anywhere after the first chunk
        assert not (out / "results.json").exists()
    lines = []
    run_experiment(load_config(SMOKE), tmp_path, progress=False, log=lines.append)
    assert (out / "chunks" / "chunk_000.npz").stat().st_mtime_ns == first  # reused
    assert lines[-1].startswith(f"{out}: ")
    assert json.loads((out / "results.json").read_text()) == uninterrupted
    assert not list(out.rglob("*.tmp"))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_in_process_stops_before_the_next_chunk(
    tmp_path, monkeypatch, capsys, uninterrupted, signum
):
    """Without ``on_signal`` (a library call), the runner records the signal
    and raises ``Interrupted`` before the next chunk; ``main`` returns the
    exit code with one line."""
    cls = type(load_config(SMOKE))
    real = cls.plan
    calls = []

    def plan(self):
        p = real(self)

        def compute(i):
            calls.append(i)
            if len(calls) == 1:
                os.kill(os.getpid(), signum)  # handled by the runner
            return p.compute(i)

        return p._replace(compute=compute)

    before = signal.getsignal(signum)
    with monkeypatch.context() as m:
        m.setattr(cls, "plan", plan)
        with pytest.raises(Interrupted) as err:
            run_experiment(load_config(SMOKE), tmp_path / "lib", progress=False)
        assert err.value.exit_code == 128 + signum and calls == [0]
        out = tmp_path / "lib" / "smoke"
        assert [p.name for p in out.glob("chunks/*")] == ["chunk_000.npz"]
        calls.clear()
        code = cli.main(["run", str(SMOKE), "--out", str(tmp_path / "cli"), "--quiet"])
    assert code == 128 + signum
    name = signal.Signals(signum).name
    assert capsys.readouterr().err == (
        f"marlmeta: interrupted ({name}); run the same command again to resume\n"
    )
    assert signal.getsignal(signum) is before  # the runner restored it
    run_experiment(load_config(SMOKE), tmp_path / "lib", progress=False, log=print)
    results = json.loads((out / "results.json").read_text())
    assert results == uninterrupted


# A program whose compilation takes seconds, and SIGINT 0.3 s into it.
# Python's default handler raises KeyboardInterrupt inside XLA's compilation,
# which aborts it half-way; the process then dies with SIGSEGV at exit
# (measured: exit -11 even after sleeping 30 s first). Under ``Signals`` the
# compilation finishes and the signal is acted on afterwards.
COMPILING = """
import os, signal, sys, threading
import jax, jax.numpy as jnp
from marlmeta.experiments._interrupt import Interrupted, Signals
from marlmeta import cli

def f(x):
    for i in range(600):
        x = jnp.sin(x) * (i % 7) + jnp.cos(x @ x.T)[:, : x.shape[1]]
    return x

lowered = jax.jit(f).lower(jnp.ones((4, 4)))
with Signals(cli._stop if sys.argv[1] == "exit" else None) as signals:
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    lowered.compile()
    print("compiled", flush=True)
    timer.join()
    try:
        signals.check()
    except Interrupted as err:
        print("interrupted", err.exit_code, flush=True)
"""


@pytest.mark.parametrize("mode", ["record", "exit"])
def test_sigint_during_compilation_is_no_segfault(mode):
    proc = subprocess.run(
        [sys.executable, "-c", COMPILING, mode],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "JAX_PLATFORMS": "cpu",
            "JAX_ENABLE_COMPILATION_CACHE": "0",
            # the full optimizing compiler: the compilation must last seconds
            "JAX_DISABLE_MOST_OPTIMIZATIONS": "0",
        },
    )
    assert "Fatal Python error" not in proc.stderr and "Traceback" not in proc.stderr
    if mode == "record":  # the compilation finished, then the run stopped
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout == "compiled\ninterrupted 130\n"
    else:  # the command line's handler ends the process at once
        assert proc.returncode == 130, proc.stderr[-3000:]
        assert "marlmeta: interrupted (SIGINT)" in proc.stderr
