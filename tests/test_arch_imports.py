"""The package's import graph, read from the source with ``ast``.

Three rules (imports under ``if TYPE_CHECKING:`` are annotations, not
dependencies, and are left out; every other import counts, also inside a
function):

- no cycle among the modules of ``marlmeta``;
- no module imports a private module (a path component starting with ``_``)
  of another subpackage, nor an underscored name of another package's module;
  the root's private modules (``marlmeta._solve``, ``marlmeta._sampling``, ...)
  are the root package's shared core and may be imported by name;
- the subpackages depend on each other only as :data:`ALLOWED` says (the
  layering: games -> policies, evaluation -> games, solvers -> evaluation,
  drivers -> solvers, experiments on top).
"""

from __future__ import annotations

import ast
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "marlmeta"

_LEAVES = {"_sampling", "_placement", "_checks", "_linalg"}
_GAMES = {"games", "policies", *_LEAVES}
_EVALUATION = {"evaluation", *_GAMES}
_SOLVERS = {"solvers", "simulation", *_EVALUATION}
_DRIVERS = {"_solve", "_adjoint", *_SOLVERS}
_LIBRARY = {
    "aggregative",
    "exact",
    "lp",
    "meta",
    "theory",
    "interop",
    "__init__",
    *_DRIVERS,
}

#: Which units (subpackages, and the root's own modules) each unit may import.
ALLOWED: dict[str, set[str]] = {
    "_sampling": set(),
    "_placement": set(),
    "_checks": set(),
    "_linalg": set(),
    "policies": {"_sampling", "_checks"},
    "games": _GAMES,
    "evaluation": _EVALUATION,
    "lp": {"_checks", "_linalg"},
    "simulation": _EVALUATION,
    "solvers": _SOLVERS,
    "_adjoint": set(),
    "_solve": _DRIVERS,
    "exact": {"lp", *_SOLVERS},
    "theory": {"aggregative", *_DRIVERS},
    "meta": _DRIVERS,
    "interop": _EVALUATION,
    "aggregative": {"lp", *_DRIVERS},
    "__init__": _LIBRARY,
    "experiments": _LIBRARY | {"experiments"},
    "cli": _LIBRARY | {"experiments"},
    "__main__": {"cli"},
}


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def imports(name: str) -> list[tuple[str, str | None, int]]:
    """``(module, imported name or None, line)`` for each marlmeta import."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.append(
                    (sub, None, node.lineno)
                    if sub in MODULES
                    else (base, a.name, node.lineno)
                )
    return [x for x in out if x[0].split(".")[0] == "marlmeta"]


def unit(module: str) -> str:
    """The subpackage of a module, or the root module's own name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_unit_is_in_the_table():
    assert {unit(m) for m in MODULES} <= set(ALLOWED)


def test_no_import_of_another_package_private_module():
    bad = []
    for name in MODULES:
        for target, item, line in imports(name):
            if unit(target) == unit(name):
                continue
            private = [p for p in target.split(".")[2:] if p.startswith("_")]
            hidden = item is not None and item.startswith("_")
            if private or (hidden and not item.startswith("__")):
                bad.append(f"{name}:{line} imports {target} {item or ''}")
    assert not bad, "\n".join(bad)


def test_layering():
    bad = []
    for name in MODULES:
        for target, _, line in imports(name):
            if unit(target) != unit(name) and unit(target) not in ALLOWED[unit(name)]:
                bad.append(f"{name}:{line} ({unit(name)}) imports {target}")
    assert not bad, "\n".join(bad)


def test_no_cycle():
    graph = {}
    for name in MODULES:
        deps = set()
        for target, _, _ in imports(name):
            # ``from pkg import name`` runs ``pkg/__init__``: an edge to it.
            while target not in MODULES:
                target = target.rpartition(".")[0]
            if target != name:
                deps.add(target)
        graph[name] = deps
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycle = stack[stack.index(d) :] + [d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_checker_sees_a_cycle_and_a_private_import(monkeypatch):
    """The rules fail on a planted violation (the test can fail)."""
    assert ("marlmeta.games._game", "MarkovGame") in {
        (t, i) for t, i, _ in imports("marlmeta.games")
    }
    planted = {
        "marlmeta.games._game": [("marlmeta.evaluation._metrics", None, 1)],
        "marlmeta.evaluation._metrics": [("marlmeta.games._game", None, 1)],
    }
    monkeypatch.setattr(
        sys.modules[__name__], "imports", lambda name: planted.get(name, [])
    )
    with pytest.raises(AssertionError):
        test_no_import_of_another_package_private_module()
    with pytest.raises(AssertionError):
        test_layering()
    with pytest.raises(pytest.fail.Exception):
        test_no_cycle()
