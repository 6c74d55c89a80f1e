"""``marlmeta list`` prints every registered game, solver, metric, experiment
and config with its one-line description."""

import inspect
import pathlib

import yaml

from marlmeta import cli, evaluation, solvers
from marlmeta.experiments import EXPERIMENTS
from marlmeta.experiments.registry import GAMES, METRICS, SOLVERS
from marlmeta.games import zoo

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: zoo functions that build parts of games or read files, not games.
ZOO_HELPERS = {
    "matching_transitions",
    "identical_interest_matrix",
    "hand_ranks",
    "load_range_file",
    "perturbed_stacks",
    "river_deals",
}


#: Modules whose functions the zoo re-exports as games.
GAME_MODULES = (
    "marlmeta.games.zoo",
    "marlmeta.games._poker",
    "marlmeta.games._lq_tracking",
)


def _printed(capsys, *args) -> dict[str, str]:
    assert cli.main(["list", *args]) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("  "):
            name, _, doc = line.strip().partition(" ")
            rows[name] = doc.strip()
    return rows


def test_list_prints_every_registry_entry_with_its_description(capsys):
    rows = _printed(capsys)
    expected = {name: doc for name, (_, doc) in GAMES.items()}
    expected |= {name: spec.doc for name, spec in SOLVERS.items()}
    for name in METRICS:
        expected[name] = " ".join(
            getattr(evaluation, name).__doc__.strip().split("\n\n")[0].split()
        )
    for name, cls in EXPERIMENTS.items():
        expected[name] = " ".join(cls.__doc__.strip().split("\n\n")[0].split())
    for path in (ROOT / "configs").glob("*.yaml"):
        expected[path.name] = yaml.safe_load(path.read_text())["description"]
    for name, doc in expected.items():
        assert name in rows, name
        assert doc and rows[name] == doc, name


def test_one_section(capsys):
    rows = _printed(capsys, "solvers")
    assert set(rows) == set(SOLVERS)


def test_registries_cover_the_package():
    """Every concrete solver class and every zoo game has a registry entry;
    every metric name is a public function of marlmeta.evaluation."""
    concrete = {
        name
        for name, obj in vars(solvers).items()
        if inspect.isclass(obj)
        and issubclass(obj, solvers.AbstractSolver)
        and not inspect.isabstract(obj)
        and not name.startswith(("Abstract", "_"))
    }
    assert concrete <= set(SOLVERS), concrete - set(SOLVERS)
    for name, spec in SOLVERS.items():
        assert spec.cls is getattr(solvers, name)
    games = {
        name
        for name, obj in vars(zoo).items()
        if inspect.isfunction(obj)
        and not name.startswith("_")
        and name not in ZOO_HELPERS
        and obj.__module__ in GAME_MODULES
    }
    assert games <= set(GAMES), games - set(GAMES)
    for name in METRICS:
        assert callable(getattr(evaluation, name)) and getattr(evaluation, name).__doc__
    for path in (ROOT / "configs").glob("*.yaml"):
        assert yaml.safe_load(path.read_text()).get("description"), path.name
