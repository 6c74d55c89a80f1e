"""The OpenSpiel and pygambit comparisons (``tests/openspiel_checks.py``,
``tests/openspiel_gains_checks.py``, ``tests/gambit_checks.py``), in one child
process.

Both are C++ extensions; loading ``pyspiel`` into a long-lived test worker
coincided with crashes in later XLA compilations, so the files of checks run
in a fresh interpreter of their own (one for all of them: one Python, JAX and
marlmeta start-up instead of one per file); its output is shown on failure.
A file whose extension is not installed is left out of the child (and this
test says which were skipped and why); every test of every file run must
pass.
"""

import importlib.util
import pathlib
import subprocess
import sys
import warnings

import pytest

HERE = pathlib.Path(__file__).parent

#: ``(file of checks, module it needs, the extra that installs it)``
CHECKS = (
    ("openspiel_checks.py", "pyspiel", "openspiel"),
    ("openspiel_gains_checks.py", "pyspiel", "openspiel"),
    ("gambit_checks.py", "pygambit", "gambit"),
)


def test_checks_pass_in_one_child_process():
    run, missing = [], []
    for name, module, extra in CHECKS:
        if importlib.util.find_spec(module) is None:
            missing.append(f"{name}: {module} is not installed (marlmeta[{extra}])")
        else:
            run.append(name)
    if not run:
        pytest.skip("; ".join(missing))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"]
        + [f"tests/{name}" for name in run],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:] + proc.stderr[-4000:]
    assert " passed" in out and "failed" not in out, out[-6000:]
    for name in run:  # each file's tests ran and every one passed
        assert f"tests/{name}::" in out, out[-6000:]
        for line in out.splitlines():
            if line.startswith(f"tests/{name}::"):
                assert " PASSED" in line, line
    if missing:
        warnings.warn("; ".join(missing), stacklevel=1)
