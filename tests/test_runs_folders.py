"""Run folders that cannot escape or rot, and the command line around them:
run names, nothing written before a config validates, damaged chunks reported
by name and recomputed, stale temporary files, unwritable folders and full
disks, a folder given to ``run``, ``--version``, a finished run rerun."""

import dataclasses
import errno
import io
import json
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

import marlmeta
from marlmeta import cli
from marlmeta.experiments import ConfigError, load_config, run_experiment, runner as R
from tests.shared_plans import shared_plans

ROOT = pathlib.Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"


@pytest.fixture(scope="module", autouse=True)
def _one_plan_per_config():
    """The runs of one config in this module share its compiled programs
    (``tests/shared_plans.py``)."""
    with shared_plans():
        yield


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run of configs/smoke.yaml (two chunks) to copy from."""
    root = tmp_path_factory.mktemp("finished")
    return run_experiment(load_config(SMOKE), root, progress=False, log=print)


def _copy(finished, tmp_path) -> pathlib.Path:
    out = tmp_path / "smoke"
    shutil.copytree(finished, out)
    return out


def _counting(monkeypatch):
    """Record the chunks that the smoke config's plan computes."""
    calls = []
    cls = type(load_config(SMOKE))
    real = cls.plan

    def plan(self):
        p = real(self)
        return p._replace(compute=lambda i: calls.append(i) or p.compute(i))

    monkeypatch.setattr(cls, "plan", plan)
    return calls


def _config_with(tmp_path, **changes) -> pathlib.Path:
    data = yaml.safe_load(SMOKE.read_text())
    data.update(changes)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _main(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", ["", ".", "..", "../../x", "a/b", "a\\b", "/abs"])
def test_run_name_is_one_folder(tmp_path, capsys, name):
    (tmp_path / "cfg").mkdir()
    path = _config_with(tmp_path / "cfg", name=name)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "key 'name'" in str(err.value) and str(path) in str(err.value)
    out = tmp_path / "deep" / "er" / "out"
    code, _, stderr = _main(capsys, "run", str(path), "--out", str(out))
    assert code == 2 and stderr.count("\n") == 1 and "key 'name'" in stderr
    assert "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["cfg", "config.yaml"]
    good = dataclasses.replace(load_config(SMOKE), name=name)
    with pytest.raises(ConfigError, match="key 'name'"):
        run_experiment(good, out, progress=False)
    assert not out.exists()


def test_a_config_that_fails_writes_nothing(tmp_path, monkeypatch, capsys):
    # a config whose error shows only when its first chunk is computed
    cls = type(load_config(SMOKE))
    real = cls.plan

    def failing(self):
        p = real(self)

        def compute(i):
            if self.solver.step_size > 1:
                raise ValueError("solver.step_size too large for this game")
            return p.compute(i)

        return p._replace(compute=compute)

    monkeypatch.setattr(cls, "plan", failing)
    bad = _config_with(tmp_path, solver={"step_size": 5.0, "num_steps": 60})
    code, _, err = _main(
        capsys, "run", str(bad), "--out", str(tmp_path / "runs"), "--quiet"
    )
    assert code == 2 and "step_size too large" in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()
    # the corrected config is accepted in the same run folder
    code, _, err = _main(capsys, "run", str(SMOKE), "--out", str(tmp_path / "runs"))
    assert code == 0, err


def _resave(path: pathlib.Path, change) -> None:
    """Rewrite a chunk file with ``change(members)`` applied to its arrays."""
    with np.load(path) as z:
        members = {k: z[k] for k in z.files}
    change(members)
    buf = io.BytesIO()
    np.savez(buf, **members)
    path.write_bytes(buf.getvalue())


def _first_float(members) -> str:
    manifest = json.loads(str(members["manifest"]))
    return next(e["key"] for e in manifest["leaves"] if e.get("dtype", "")[1] == "f")


def _nan(members):
    key = _first_float(members)
    members[key] = members[key].copy()
    members[key].flat[0] = np.nan


def _nan_with_checksum(members):
    """NaN where the computation had none, with a checksum that matches it."""
    _nan(members)
    key = _first_float(members)
    manifest = json.loads(str(members["manifest"]))
    for e in manifest["leaves"]:
        if e["key"] == key:
            e["sha256"] = R._chunks._digest(members[key])
    members["manifest"] = np.array(json.dumps(manifest))


def _reshape(members):
    key = _first_float(members)
    members[key] = np.concatenate([members[key].ravel(), [0.0]])


def _old_layout(members):
    for k in list(members):
        if k not in ("fingerprint", ".meta.gap"):
            del members[k]


def _other_version(members):
    members["fingerprint"] = np.array(str(members["fingerprint"]) + "-old")


DAMAGE = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:200]), "not a readable"),
    "empty": (lambda p: p.write_bytes(b""), "empty file"),
    "garbage": (lambda p: p.write_bytes(b"\x00garbage" * 40), "not an npz archive"),
    "nan": (lambda p: _resave(p, _nan), "does not match its checksum"),
    "nan_flag": (lambda p: _resave(p, _nan_with_checksum), "holds NaN or inf"),
    "wrong_shape": (lambda p: _resave(p, _reshape), "has shape"),
    "old_layout": (lambda p: _resave(p, _old_layout), "another version"),
    "other_version": (lambda p: _resave(p, _other_version), "another config"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_chunk_is_reported_and_recomputed(
    finished, tmp_path, monkeypatch, damage
):
    out = _copy(finished, tmp_path)
    chunk = out / "chunks" / "chunk_001.npz"
    harm, reason = DAMAGE[damage]
    harm(chunk)
    calls = _counting(monkeypatch)
    lines = []
    run_experiment(load_config(SMOKE), tmp_path, progress=False, log=lines.append)
    assert calls == [1]
    assert (
        len(lines) == 2 and lines[1] == f"{out}: resuming; 1 of 2 chunks already done"
    )
    assert lines[0].startswith(f"{chunk}: ") and reason in lines[0], lines[0]
    assert lines[0].endswith("; recomputing it")
    got = (out / "results.json").read_bytes()
    assert got == (finished / "results.json").read_bytes()
    assert chunk.read_bytes()[:2] == b"PK"
    lines.clear()  # repaired: the next rerun computes nothing
    run_experiment(load_config(SMOKE), tmp_path, progress=False, log=lines.append)
    assert lines == [f"{out}: complete (2 chunks); nothing to compute"]


def test_damaged_results_are_rewritten(finished, tmp_path, monkeypatch):
    out = _copy(finished, tmp_path)
    (out / "results.json").write_text('{"truncated": ')
    (out / "figure.png").unlink()
    calls = _counting(monkeypatch)
    run_experiment(load_config(SMOKE), tmp_path, progress=False, log=print)
    assert calls == []
    assert (out / "results.json").read_bytes() == (
        finished / "results.json"
    ).read_bytes()
    assert (out / "figure.png").read_bytes()[:4] == b"\x89PNG"


def test_stale_temporary_files_are_removed(finished, tmp_path):
    out = _copy(finished, tmp_path)
    stale = [
        out / "chunks" / ".chunk_001.npz.k3j2h1.tmp",
        out / ".results.json.x8y7z6.tmp",
        out / ".figure.png.abcdef.tmp",
    ]
    for p in stale:
        p.write_bytes(b"half written")
    lines = []
    run_experiment(load_config(SMOKE), tmp_path, progress=False, log=lines.append)
    assert not any(p.exists() for p in stale)
    assert lines[0] == f"{out}: removed 3 temporary file(s) of an interrupted write"


def test_rerun_of_a_finished_run_says_complete(finished, tmp_path, capsys):
    _copy(finished, tmp_path)
    code, out, err = _main(capsys, "run", str(SMOKE), "--out", str(tmp_path))
    assert code == 0
    assert err == f"{tmp_path / 'smoke'}: complete (2 chunks); nothing to compute\n"
    assert "chunk/s" not in err  # no empty progress bar


def test_out_that_is_a_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = _main(capsys, "run", str(SMOKE), "--out", str(blocker), "--quiet")
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("marlmeta: error: cannot write ") and str(blocker) in err


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        PermissionError(errno.EACCES, "Permission denied"),
    ],
    ids=["disk_full", "permission"],
)
@pytest.mark.parametrize("target", ["figure.png", "results.json", "chunk_001.npz"])
def test_write_errors_leave_no_half_result(
    finished, tmp_path, monkeypatch, capsys, error, target
):
    out = _copy(finished, tmp_path)
    for name in ("results.json", "figure.png", "chunks/chunk_001.npz"):
        (out / name).unlink()
    real = R.atomic_write

    def failing(path, data):
        if path.name == target:
            error.filename = str(path)
            raise error
        real(path, data)

    monkeypatch.setattr(R, "atomic_write", failing)
    code, _, err = _main(capsys, "run", str(SMOKE), "--out", str(tmp_path), "--quiet")
    assert code == 1 and err.count("\n") == 2 and "Traceback" not in err  # + resuming
    where = out / "chunks" / target if "chunk" in target else out / target
    why = error.strerror[0].lower() + error.strerror[1:]
    assert err.splitlines()[-1] == f"marlmeta: error: cannot write {where}: {why}"
    assert not (out / "results.json").exists() and not (out / "figure.png").exists()
    assert not list(out.rglob("*.tmp"))
    monkeypatch.setattr(R, "atomic_write", real)
    code, _, err = _main(capsys, "run", str(SMOKE), "--out", str(tmp_path), "--quiet")
    assert code == 0, err
    assert (out / "results.json").read_bytes() == (
        finished / "results.json"
    ).read_bytes()


def test_folder_and_bad_paths_given_to_run(tmp_path, capsys):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    cases = [
        (ROOT / "configs", "is a directory"),
        (tmp_path / "missing.yaml", "no such file"),
        (binary, "not a text file"),
    ]
    for path, fragment in cases:
        code, _, err = _main(capsys, "run", str(path), "--out", str(tmp_path / "o"))
        assert code == 2 and err.count("\n") == 1 and fragment in err, err
        assert str(path) in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"marlmeta {marlmeta.__version__}\n"
    proc = subprocess.run(
        [sys.executable, "-m", "marlmeta", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0 and proc.stdout == f"marlmeta {marlmeta.__version__}\n"
