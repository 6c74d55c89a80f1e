"""The pygambit comparisons (``tests/gambit_checks.py``) in a child process.

pygambit is a C++ extension too; as with ``pyspiel`` (whose presence in a test
worker coincided with crashes in later XLA compilations), its checks run in a
fresh interpreter of their own; its output is shown on failure.
"""

import importlib.util
import pathlib
import subprocess
import sys

import pytest

CHECKS = pathlib.Path(__file__).with_name("gambit_checks.py")


@pytest.mark.skipif(
    importlib.util.find_spec("pygambit") is None,
    reason="pygambit is not installed (pip install 'marlmeta[gambit]')",
)
def test_pygambit_checks_pass_in_a_child_process():
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CHECKS)],
        cwd=CHECKS.parents[1],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
