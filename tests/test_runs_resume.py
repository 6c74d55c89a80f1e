"""Every registered experiment, at its smoke size, three ways: fresh, rerun
(nothing recomputed, the same ``results.json``) and crashed after its first
chunk then resumed (the same ``results.json`` as the fresh run).

The crash is simulated in-process (an exception the runner does not catch,
raised where the next chunk would start or, for a one-chunk plan, where the
results would be aggregated), so the programs compiled by the fresh run are
shared; ``tests/test_runs_signals.py`` kills a real process with SIGKILL.
"""

import json
import pathlib

import pytest

from marlmeta.experiments import EXPERIMENTS, load_config, run_experiment
from tests.shared_plans import shared_plans

ROOT = pathlib.Path(__file__).resolve().parents[1]
SMOKES = sorted((ROOT / "configs").glob("smoke*.yaml"))


@pytest.fixture(scope="module", autouse=True)
def _one_plan_per_config():
    """The runs of one config in this module share its compiled programs
    and the figure of equal results, drawn once (``tests/shared_plans.py``;
    every run's ``figure.png`` is still written by the runner, and the fresh
    run's is checked to be a PNG)."""
    with shared_plans(same_figures=True):
        yield


class Crash(BaseException):
    """The simulated kill: no handler of the runner catches it."""


def _timeless(results):
    """``results`` without wall-clock measurements (keys naming seconds),
    which no two runs share."""
    if isinstance(results, dict):
        return {k: _timeless(v) for k, v in results.items() if "seconds" not in k}
    if isinstance(results, list):
        return [_timeless(v) for v in results]
    return results


def _patch_plan(monkeypatch, cls, compute=None, aggregate=None):
    """Make ``cls.plan`` return its plan with ``compute`` and ``aggregate``
    wrapped (each wrapper gets the real function and the arguments)."""
    real = cls.plan

    def plan(self):
        p = real(self)
        return p._replace(
            compute=(lambda i: compute(p.compute, i)) if compute else p.compute,
            aggregate=(lambda c: aggregate(p.aggregate, c))
            if aggregate
            else p.aggregate,
        )

    monkeypatch.setattr(cls, "plan", plan)


def test_every_registered_experiment_has_a_smoke_config():
    covered = {load_config(p).experiment for p in SMOKES}
    assert set(EXPERIMENTS) <= covered, set(EXPERIMENTS) - covered


@pytest.mark.parametrize("path", SMOKES, ids=lambda p: p.stem)
def test_fresh_rerun_and_crashed_run_agree(tmp_path, monkeypatch, path):
    config = load_config(path)
    units = config.plan().units
    lines = []
    out = run_experiment(config, tmp_path / "fresh", progress=False, log=lines.append)
    fresh = (out / "results.json").read_bytes()
    assert (out / "figure.png").read_bytes()[:4] == b"\x89PNG"
    chunks = sorted(out.glob("chunks/chunk_*.npz"))
    assert len(chunks) == units and not lines
    stamps = [p.stat().st_mtime_ns for p in chunks]

    # rerun: complete, nothing computed, the same files
    def never(compute, i):
        raise AssertionError(f"chunk {i} recomputed")

    with monkeypatch.context() as m:
        _patch_plan(m, type(config), compute=never)
        run_experiment(config, tmp_path / "fresh", progress=False, log=lines.append)
    assert lines == [f"{out}: complete ({units} chunks); nothing to compute"]
    assert (out / "results.json").read_bytes() == fresh
    assert [p.stat().st_mtime_ns for p in chunks] == stamps

    # crash after the first chunk, then resume
    done = []

    def crash_after_first(compute, i):
        if done:
            raise Crash
        done.append(i)
        return compute(i)

    def crash_before_aggregating(aggregate, parts):
        raise Crash

    with monkeypatch.context() as m:
        _patch_plan(m, type(config), crash_after_first, crash_before_aggregating)
        with pytest.raises(Crash):
            run_experiment(config, tmp_path / "crashed", progress=False)
    run = tmp_path / "crashed" / config.name
    assert [p.name for p in run.glob("chunks/*.npz")] == ["chunk_000.npz"]
    assert not (run / "results.json").exists() and not (run / "figure.png").exists()
    lines.clear()
    run_experiment(config, tmp_path / "crashed", progress=False, log=lines.append)
    if units > 1:
        assert lines == [f"{run}: resuming; 1 of {units} chunks already done"]
    else:
        assert lines == [f"{run}: complete (1 chunks); nothing to compute"]
    resumed = json.loads((run / "results.json").read_text())
    assert _timeless(resumed) == _timeless(json.loads(fresh))
    assert (run / "figure.png").exists()
    assert not list(run.rglob("*.tmp"))


def test_maml_smoke_results(tmp_path):
    """What ``smoke_maml``'s results hold. It lives here, not with the other
    MAML tests, because the run shares the compiled programs of this module's
    ``smoke_maml`` plan (compiling the meta-gradient's programs again in
    another module took about half of that module's CPU seconds)."""
    out = run_experiment(
        load_config(ROOT / "configs" / "smoke_maml.yaml"), tmp_path, progress=False
    )
    r = json.loads((out / "results.json").read_text())
    assert r["finite"] is True
    assert len(r["objective"]) == 15
    assert r["objective"][-1] > r["objective"][0]
    for name in ("maml", "random", "uniform"):
        assert len(r["test"][name]["ne_gap_mean"]) == 3
        assert len(r["train_ne_gap"][name]) == 15
    assert set(r["test_ne_gap_at_T"]) == {"maml", "random", "uniform"}
    assert (out / "figure.png").read_bytes()[:4] == b"\x89PNG"
