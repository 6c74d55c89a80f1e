"""The library never jits itself (docs/design.md, principle 9), read with ``ast``.

Every use of ``jax.jit``, ``eqx.filter_jit`` or ``jax.pmap`` in ``marlmeta`` (as a
decorator or a call) is listed; only the impure shell (``marlmeta.experiments``,
``marlmeta.cli``) and the two drivers that compile their own calls may have
one: ``solve_batch``'s compiled chunk (a host loop over chunks, each sharded
over the devices) and ``simulate``'s episodes. Docstrings and comments do not
count.
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent / "marlmeta"

#: The shell: it owns ``jit``.
SHELL = ("experiments", "cli.py", "__main__.py")
#: ``(module, function)`` of the drivers allowed to compile their own call.
DRIVERS = {("_solve.py", "_solve_chunk"), ("simulation/_simulate.py", "_batch")}
JITS = {"jit", "filter_jit", "pmap", "filter_pmap"}


def _is_jit(node: ast.AST) -> bool:
    """A reference to a jit transform: ``jax.jit``, ``eqx.filter_jit``, ``jit``."""
    if isinstance(node, ast.Attribute):
        return node.attr in JITS
    return isinstance(node, ast.Name) and node.id in JITS


def self_jits(source: str, module: str) -> list[str]:
    """``module:line code`` for each reference to a jit transform in ``source``
    (every use, as a decorator, a call or a ``functools.partial``, names one),
    except in the decorators of the allowed drivers."""
    tree = ast.parse(source)
    allowed = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and (module, node.name) in DRIVERS:
            for d in node.decorator_list:
                allowed.update(id(n) for n in ast.walk(d))
    return [
        f"{module}:{node.lineno} {ast.unparse(node)}"
        for node in ast.walk(tree)
        if _is_jit(node) and id(node) not in allowed
    ]


def _library_modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if not rel.startswith(SHELL):
            yield rel, path.read_text()


def test_no_self_jitting_in_the_library():
    bad = [b for rel, src in _library_modules() for b in self_jits(src, rel)]
    assert not bad, "the library jits itself:\n" + "\n".join(bad)


def test_the_drivers_are_still_found():
    """The two allowed drivers exist (the allowance is not stale)."""
    for module, function in DRIVERS:
        tree = ast.parse((ROOT / module).read_text())
        names = {
            n.name
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef)
            and any(_is_jit(x) for d in n.decorator_list for x in ast.walk(d))
        }
        assert function in names, (module, function)


def test_the_checker_sees_planted_jits():
    """Each form is caught (the test can fail)."""
    planted = {
        "import functools, jax\n@functools.partial(jax.jit, static_argnums=1)\n"
        "def f(x, n): return x\n": 1,
        "import equinox as eqx\n@eqx.filter_jit\ndef f(x): return x\n": 1,
        "import jax\ng = jax.jit(abs)\n": 1,
        "import jax\ndef f(x):\n    return jax.jit(lambda y: y)(x)\n": 1,
        "import jax\nh = jax.jit\n": 1,
        "from jax import jit\ng = jit(abs)\n": 1,
        '"""jax.jit in a docstring"""\n# jax.jit in a comment\n': 0,
    }
    for source, count in planted.items():
        assert len(self_jits(source, "games/_x.py")) == count, source
    driver = "import equinox as eqx\n@eqx.filter_jit\ndef _batch(x): return x\n"
    assert self_jits(driver, "simulation/_simulate.py") == []
    assert len(self_jits(driver, "simulation/_other.py")) == 1
