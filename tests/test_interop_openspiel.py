"""The OpenSpiel comparisons (``tests/openspiel_checks.py``) in a child process.

Loading ``pyspiel`` into a long-lived test worker coincided with intermittent
crashes inside later XLA compilations (both extensions carry abseil), so the
checks run in a fresh interpreter of their own; its output is shown on failure.
"""

import importlib.util
import pathlib
import subprocess
import sys

import pytest

CHECKS = pathlib.Path(__file__).with_name("openspiel_checks.py")


@pytest.mark.skipif(
    importlib.util.find_spec("pyspiel") is None,
    reason="open_spiel is not installed (pip install 'marlmeta[openspiel]')",
)
def test_openspiel_checks_pass_in_a_child_process():
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CHECKS)],
        cwd=CHECKS.parents[1],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
