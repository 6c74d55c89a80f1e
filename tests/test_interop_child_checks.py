"""The OpenSpiel and pygambit comparisons (``tests/openspiel_checks.py``,
``tests/gambit_checks.py``), each in a child process.

Both are C++ extensions; loading ``pyspiel`` into a long-lived test worker
coincided with crashes in later XLA compilations, so each file of checks runs
in a fresh interpreter of its own; its output is shown on failure.
"""

import importlib.util
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).parent


def _checks(name, module, extra):
    missing = importlib.util.find_spec(module) is None
    reason = f"{module} is not installed (pip install 'marlmeta[{extra}]')"
    return pytest.param(
        HERE / name, id=name, marks=pytest.mark.skipif(missing, reason=reason)
    )


@pytest.mark.parametrize(
    "checks",
    [
        _checks("openspiel_checks.py", "pyspiel", "openspiel"),
        _checks("openspiel_gains_checks.py", "pyspiel", "openspiel"),
        _checks("gambit_checks.py", "pygambit", "gambit"),
    ],
)
def test_checks_pass_in_a_child_process(checks):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(checks)],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
