"""Configs, the runner, the CLI, resuming, and the meta-learning effect."""

import json
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest
import yaml

import marlmeta as M
from marlmeta import cli
from marlmeta.experiments import ConfigError, load_config, run_experiment
from marlmeta.games import zoo
from tests.shared_plans import shared_plans

ROOT = pathlib.Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"


@pytest.fixture(scope="module", autouse=True)
def _one_plan_per_config():
    """The runs of one config in this module share its compiled programs
    (``tests/shared_plans.py``)."""
    with shared_plans():
        yield


def test_all_configs_load():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        config = load_config(path)
        assert config.name == path.stem


@pytest.mark.parametrize(
    "section, key, value, fragment",
    [
        ("solver", "stepsize", 0.1, "unknown key 'solver.stepsize'"),
        ("solver", "step_size", "abc", "key 'solver.step_size' must be a number"),
        ("run", "checkpoints", [30, 10], "key 'run.checkpoints[1]' is 10"),
        ("game", "num_games", 2.5, "key 'game.num_games' must be an integer"),
        (None, "bogus", 1, "unknown key 'bogus'"),
    ],
)
def test_config_errors_name_key_and_file(tmp_path, section, key, value, fragment):
    data = yaml.safe_load(SMOKE.read_text())
    (data if section is None else data[section])[key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and fragment in str(err.value)


def _cli(*args, cwd):
    """The ``marlmeta`` executable in a child process (its exit code and
    stderr as the shell sees them)."""
    return subprocess.run(
        [sys.executable, "-m", "marlmeta", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )


def _main(capsys, *args):
    """``marlmeta ARGS`` in this process (the executable is ``sys.exit`` of
    this, checked by ``test_cli_errors_are_one_line``): exit code, stdout and
    stderr. The runs share the compiled programs of the module's other runs
    of the same config instead of paying a child's imports and compilations."""
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# The theorems' bounds each smoke run records: smoke's eta = 0.1 > 1/(8 H^2)
# is outside Mao et al.'s Theorems 1 and 2 (the entries say so and carry no
# number); Theorem 5 holds for every eta > 0.
OUTSIDE = ("theorem1_individual", "theorem1_meta", "theorem2_meta")
INSIDE = ("theorem5_individual", "theorem5_meta")


@pytest.mark.parametrize(
    "config, metric, cps, outside, inside",
    [
        ("smoke", "nash_conv", [10, 30, 60], OUTSIDE, ()),
        ("smoke_general_sum", "cce_gap", [10, 40], (), INSIDE),
        ("smoke_potential", "mpg_ne_gap", [10, 40], (), ()),
    ],
)
def test_cli_runs_smoke_config_end_to_end(
    tmp_path, capsys, config, metric, cps, outside, inside
):
    path = ROOT / "configs" / f"{config}.yaml"
    code, _, err = _main(capsys, "run", str(path), "--out", str(tmp_path), "--quiet")
    assert code == 0, err
    out = tmp_path / config
    results = json.loads((out / "results.json").read_text())
    assert results["metric"] == metric
    assert results["checkpoints"] == cps
    for key in outside:
        entry = results["bounds"][key]
        assert entry["applies"] is False
        assert "bound_mean" not in entry and "bound_last" not in entry
    for key in inside:  # every game's bound is above its gap, so the means are too
        entry, label = results["bounds"][key], key.split("_")[1]
        gap = np.asarray(results[label][f"{metric}_mean"])
        bound = np.asarray(entry["bound_mean"])
        assert entry["applies"] is True and bound.shape == gap.shape
        assert np.all(bound >= gap)
        np.testing.assert_allclose(entry["ratio_last"], bound[-1] / gap[-1])
        assert entry["vacuous_last"] == bool(bound[-1] >= entry["largest_possible_gap"])
    for label in ("individual", "meta"):
        for key in (f"{metric}_mean", f"{metric}_std", "value_mean"):
            assert len(results[label][key]) == len(cps)
            assert all(np.isfinite(results[label][key]))
    assert results["finite"] is True
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "fingerprint" in (out / "config.yaml").read_text()
    assert not list(out.rglob("*.tmp"))
    umask = os.umask(0)
    os.umask(umask)
    for name in ("results.json", "figure.png", "config.yaml"):  # not mkstemp's 0600
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~umask
    code, listing, _ = _main(capsys, "list")
    assert code == 0 and "GeneralSumOMD" in listing
    assert f"{config}.yaml" in listing


def test_compare_runs_from_the_cli(tmp_path, capsys):
    path = ROOT / "configs" / "smoke_compare.yaml"
    code, _, err = _main(capsys, "run", str(path), "--out", str(tmp_path), "--quiet")
    assert code == 0, err
    out = tmp_path / "smoke_compare"
    results = json.loads((out / "results.json").read_text())
    assert results["metric"] == "cce_gap" and results["finite"] is True
    omd, oftrl = results["solvers"]
    for row in (omd, oftrl):
        assert len(row["cce_gap_per_game"]) == 3
        for key in ("cce_gap_mean", "cce_gap_median", "cce_gap_p90"):
            assert len(row[key]) == 2
        assert all(
            p >= m - 1e-12
            for p, m in zip(row["cce_gap_p90"], row["cce_gap_median"], strict=True)
        )
    assert "cce_gap_ub_mean" in oftrl and "cce_gap_ub_mean" not in omd
    exact = results["exact_cce"]  # the ground-truth reference line
    assert exact["converged"] is True and exact["cce_gap_max"] < 1e-9
    assert len(exact["welfare_per_game"]) == 3
    for row in (omd, oftrl):
        np.testing.assert_allclose(
            row["welfare_below_exact_cce_mean"],
            exact["welfare_mean"] - np.array(row["welfare_mean"]),
            atol=1e-12,
        )
    # adaptive OFTRL at Theorem 4's step size (rewards in [0, 1]): the exact
    # gap of the nested-index output is never above the paper's online bound
    # cce_gap_ub, and Theorem 4's bound is above it.
    assert "bounds" not in omd
    nested = np.asarray(oftrl["bounds"]["nested_cce_gap_per_game"])
    assert nested.shape == (3, 2)
    assert np.all(nested <= np.asarray(oftrl["cce_gap_ub_per_game"]) + 1e-8)
    thm = oftrl["bounds"]["theorem4"]
    assert thm["applies"] is True
    assert np.all(np.asarray(thm["bound"]) >= nested.mean(0))
    np.testing.assert_allclose(
        thm["ratio_last"], thm["bound"][-1] / np.mean(nested[:, -1])
    )
    assert (out / "figure.png").read_bytes()[:4] == b"\x89PNG"
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text().replace("solver: GeneralSumOMD", "solver: Nope"))
    code, _, err = _main(capsys, "run", str(bad), "--out", str(tmp_path))
    assert code != 0 and "key 'solvers[0].solver' is 'Nope'" in err


def test_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMOKE.read_text() + "extra_key: 1\n")
    proc = _cli("run", str(bad), "--out", str(tmp_path), cwd=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert "unknown key 'extra_key'" in proc.stderr and str(bad) in proc.stderr


def test_missing_config_is_one_line(tmp_path, capsys):
    # in this process: the executable is ``sys.exit(main())``, checked above
    code, _, err = _main(capsys, "run", str(tmp_path / "nope.yaml"))
    assert code != 0 and "no such file" in err
    assert "Traceback" not in err and err.strip().count("\n") == 0


class Killed(BaseException):
    """A simulated kill: no handler of the runner catches it (the real SIGKILL
    of a child process is ``tests/test_runs_signals.py``'s)."""


def test_killed_run_resumes(tmp_path, monkeypatch):
    import marlmeta.experiments.runner as R

    real = R._save_npz

    def save_then_die(path, data):
        real(path, data)
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(R, "_save_npz", save_then_die)
        with pytest.raises(Killed):
            run_experiment(load_config(SMOKE), tmp_path / "a", progress=False)
    out = tmp_path / "a" / "smoke"
    assert sorted(p.name for p in out.glob("chunks/*.npz")) == ["chunk_000.npz"]
    assert not (out / "results.json").exists()
    first = (out / "chunks" / "chunk_000.npz").stat().st_mtime_ns
    run_experiment(load_config(SMOKE), tmp_path / "a", progress=False)
    assert (out / "chunks" / "chunk_000.npz").stat().st_mtime_ns == first  # reused
    resumed = json.loads((out / "results.json").read_text())
    run_experiment(load_config(SMOKE), tmp_path / "b", progress=False)
    fresh = json.loads((tmp_path / "b" / "smoke" / "results.json").read_text())
    assert resumed["meta"] == fresh["meta"]
    assert resumed["individual"] == fresh["individual"]


def test_changed_config_is_not_mixed_with_old_chunks(tmp_path):
    run_experiment(load_config(SMOKE), tmp_path, progress=False)
    text = SMOKE.read_text().replace("step_size: 0.1", "step_size: 0.2")
    path = tmp_path / "smoke.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="different config"):
        run_experiment(load_config(path), tmp_path, progress=False)
    run_experiment(load_config(path), tmp_path, fresh=True, progress=False)


def test_meta_learning_halves_the_gap_on_the_pure_saddle_family():
    # Seed 000 F.1 at reduced size (T=300, 4 sequences of K=10 games): from
    # iteration 50 on, meta-learning's average NashConv is clearly below
    # individual learning's (measured ratio ~0.5 on the full config).
    solver = M.solvers.ZeroSumOMD(0.02)
    base = zoo.mao2023_zero_sum()
    cps = [50, 100, 200, 300]

    def one(key):
        fam = M.games.perturb_rewards(key, base, 10, 0.1, coupling="zero_sum")
        ind = M.meta.individual(solver, fam, 300, checkpoints=cps)
        met = M.meta.sequential_meta(solver, fam, 300, checkpoints=cps)
        return ind.solutions.trace.nash_conv.mean(
            0
        ), met.solutions.trace.nash_conv.mean(0)

    ind, met = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(1), 4))
    ratio = np.asarray(met.mean(0) / ind.mean(0))
    assert np.all(ratio < 0.7), ratio
    assert np.all(np.asarray(met) < np.asarray(ind))  # every sequence, every checkpoint


def test_meta_does_not_help_on_the_mixed_family():
    solver = M.solvers.ZeroSumOMD(0.02)
    cps = [100, 300]

    def one(key, base):
        fam = M.games.perturb_rewards(key, base, 10, 0.1, coupling="zero_sum")
        ind = M.meta.individual(solver, fam, 300, checkpoints=cps)
        met = M.meta.sequential_meta(solver, fam, 300, checkpoints=cps)
        return (
            ind.solutions.trace.nash_conv.mean(),
            met.solutions.trace.nash_conv.mean(),
            met.similarity,
        )

    keys = jax.random.split(jax.random.key(2), 3)
    # both families through one compiled program (the base game an argument)
    run = jax.jit(jax.vmap(one, in_axes=(0, None)))
    _, _, d_pure = run(keys, zoo.mao2023_zero_sum(zoo.ZERO_SUM_PURE))
    ind, met, d_mixed = run(keys, zoo.mao2023_zero_sum(zoo.ZERO_SUM_MIXED))
    assert float(met.mean()) > float(ind.mean())
    assert float(d_mixed.mean()) > 3 * float(d_pure.mean())


EXPERIMENTS_DIR = ROOT / "marlmeta" / "experiments"


def _module_imports(path: pathlib.Path) -> set[str]:
    """The ``marlmeta.experiments`` modules ``path`` imports at module level."""
    import ast

    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "marlmeta.experiments":
                found |= {a.name for a in node.names}
            elif node.module.startswith("marlmeta.experiments."):
                found.add(node.module.rsplit(".", 1)[1])
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("marlmeta.experiments."):
                    found.add(a.name.rsplit(".", 1)[1])
    return found


def test_experiment_modules_form_no_import_cycle():
    modules = {
        p.stem: _module_imports(p)
        for p in EXPERIMENTS_DIR.glob("*.py")
        if p.stem != "__init__"
    }
    experiments = {"sequence", "compare", "softmax", "maml"}
    assert experiments <= set(modules)
    assert not modules["runner"] & experiments  # the runner knows no experiment
    assert not modules["config"] & experiments
    for name in experiments:
        assert "runner" not in modules[name], name
    # depth-first search for a cycle in the module-level import graph
    state = {}

    def visit(m, trail):
        if state.get(m) == "open":
            raise AssertionError(f"import cycle: {' -> '.join([*trail, m])}")
        if state.get(m) == "done" or m not in modules:
            return
        state[m] = "open"
        for n in modules[m]:
            visit(n, [*trail, m])
        state[m] = "done"

    for m in modules:
        visit(m, [])


def test_every_experiment_is_registered_by_its_class():
    from marlmeta.experiments import EXPERIMENTS, Experiment

    assert set(EXPERIMENTS) == {
        "compare",
        "zero_sum_meta",
        "potential_meta",
        "general_sum_meta",
        "softmax_mpg",
        "maml_mpg",
        "poker_endgame",
        "lq_tracking_meta",
        "aggre_vi",
        "aggregative_scaling",
        "congestion_welfare",
        "ratio_game",
        "cooperative_ppo",
        "sampled_ppo",
    }
    for name, cls in EXPERIMENTS.items():
        assert issubclass(cls, Experiment) and cls.experiment_name == name
    with pytest.raises(TypeError, match="registered twice"):

        class Again(Experiment, experiment="compare"):
            pass


def test_make_solver_builds_only_what_a_solver_takes():
    from marlmeta.experiments.registry import make_solver

    ngp = make_solver(
        "NaturalGradientPlay", jax.numpy.float32, step_size=0.1, clip=1.0, label="x"
    )
    assert ngp.clip == 1.0 and ngp.step_size.dtype == jax.numpy.float32
    gp = make_solver("GradientPlay", None, step_size=0.1, barrier=0.5, clip=None)
    assert float(gp.barrier) == 0.5
    assert make_solver("AdaptiveOFTRL", None, step_size=None).step_size is None
    with pytest.raises(ValueError, match="GeneralSumOMD needs step_size"):
        make_solver("GeneralSumOMD", None, step_size=None)


@pytest.mark.parametrize(
    "config, edit, fragment",
    [
        (
            "smoke_compare",
            lambda d: d["solvers"][0].update(step_size=None),
            "key 'solvers[0].step_size' is missing or null; GeneralSumOMD needs it",
        ),
        (
            "softmax_mpg_g2",
            lambda d: d["solvers"][0].update(clip=1.0),
            "key 'solvers[0].clip' is 1.0; GradientPlay does not take it",
        ),
    ],
)
def test_solver_entries_are_checked_against_the_registry(
    tmp_path, config, edit, fragment
):
    data = yaml.safe_load((ROOT / "configs" / f"{config}.yaml").read_text())
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and fragment in str(err.value)


def test_stale_chunks_are_recomputed_not_misread(tmp_path):
    out = run_experiment(load_config(SMOKE), tmp_path, progress=False)
    first = json.loads((out / "results.json").read_text())
    chunk = out / "chunks" / "chunk_000.npz"
    with np.load(chunk) as z:
        keys = [k for k in z.files if k != "fingerprint"]
        assert ".meta.gap" in keys and ".individual.values" in keys
        fp = str(z["fingerprint"]).split("/")[0]
    # a chunk of the old layout: the config's fingerprint, f-string keys
    np.savez(chunk, fingerprint=np.array(fp), meta_nash_conv=np.zeros(3))
    run_experiment(load_config(SMOKE), tmp_path, progress=False)
    assert json.loads((out / "results.json").read_text()) == first
    with np.load(chunk) as z:
        assert sorted(k for k in z.files if k != "fingerprint") == sorted(keys)
