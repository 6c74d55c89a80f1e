"""The command line before JAX is loaded: ``import marlmeta`` and ``marlmeta
--version`` do not import JAX (the package loads its subpackages on first
use), and a Ctrl-C while the command imports JAX ends it with one line and
exit code 130, not a traceback."""

import os
import pathlib
import signal
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"

# Runs the executable's entry point with a finder that sends SIGINT to the
# process itself the moment anything asks for ``jax`` (what a Ctrl-C during
# the import of JAX does), and reports which heavy modules were imported.
CHILD = """
import os, signal, sys
how, config, out = sys.argv[1:]

class CtrlCAtJax:
    def find_spec(self, name, path=None, target=None):
        if name == "jax" and how == "interrupt":
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlCAtJax())
sys.argv = ["marlmeta", *(["--version"] if how == "version" else ["run", config])]
sys.argv += [] if how == "version" else ["--out", out, "--quiet"]
import marlmeta
print("after import:", "jax" in sys.modules, flush=True)
from marlmeta.cli import console
try:
    console()
except SystemExit as e:
    print("exit", e.code, "jax" in sys.modules, flush=True)
"""


def _child(how: str, out: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CHILD, how, str(SMOKE), str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )


def test_import_and_version_do_not_load_jax(tmp_path):
    proc = _child("version", tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "after import: False"
    assert lines[1].startswith("marlmeta ")
    assert lines[2] == "exit 0 False"


def test_ctrl_c_while_jax_loads_is_one_line_and_exit_130(tmp_path):
    proc = _child("interrupt", tmp_path)
    assert proc.returncode == 128 + signal.SIGINT, proc.stderr[-3000:]
    assert proc.stderr.strip() == (
        "marlmeta: interrupted (SIGINT); run the same command again to resume"
    )
    assert proc.stdout.splitlines() == ["after import: False"]
    assert not (tmp_path / "smoke").exists()


def test_python_m_marlmeta_version_and_lazy_attributes():
    proc = subprocess.run(
        [sys.executable, "-m", "marlmeta", "--version"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("marlmeta "), proc.stderr
    import marlmeta

    for name in marlmeta.__all__:
        assert name in dir(marlmeta)
        assert getattr(marlmeta, name) is not None
    assert marlmeta.games.__name__ == "marlmeta.games"
    assert marlmeta.solve.__module__ == "marlmeta._solve"
