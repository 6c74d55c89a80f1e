"""Griffe extensions used by the documentation build (and its tests).

All four are listed in ``mkdocs.yml``; :data:`EXTENSIONS` names them for
``griffe.load_extensions``.

- :class:`RedundantAliases`: ``from marlmeta.x._y import f as f`` in a package's
  ``__init__`` marks ``f`` as public (the re-export convention the package
  follows instead of ``__all__``), so the package page documents it.
- :class:`SphinxRoles`: the docstrings say ``:func:`solve``` and
  ``:class:`~marlmeta.games.MarkovGame``` (readable in ``help()``);
  mkdocstrings renders Markdown, so each role becomes inline code of its
  target (its last component when the target starts with ``~``), and
  reStructuredText's double backticks become single ones.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import re
import sys

import griffe

ROOT = pathlib.Path(__file__).resolve().parents[1]
ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc):`(~?)([^`]+)`")


def _code(match: re.Match) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _fence_doctests(text: str) -> str:
    """Wrap each doctest block (``>>>`` lines and their output) in a fence."""
    out, block, indent = [], False, ""
    for line in text.splitlines():
        stripped = line.strip()
        if not block and stripped.startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}```pycon")
            block = True
        elif block and not stripped:
            out.append(f"{indent}```")
            block = False
        out.append(line)
    if block:
        out.append(f"{indent}```")
    return "\n".join(out)


def markdown(text: str) -> str:
    """``text`` with Sphinx roles and double backticks as Markdown code and
    doctest examples as fenced code blocks."""
    return _fence_doctests(ROLE.sub(_code, text).replace("``", "`"))


class SphinxRoles(griffe.Extension):
    """Rewrite every docstring once, when its object is loaded."""

    def on_object(self, *, obj, **kwargs) -> None:
        """Rewrite ``obj``'s docstring in place."""
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)


class RedundantAliases(griffe.Extension):
    """Mark ``import x as x`` / ``from m import x as x`` aliases public."""

    def on_alias_instance(self, *, node, alias, **kwargs) -> None:
        """Set ``alias.public`` when the import that made it is redundant."""
        if isinstance(node, ast.ImportFrom | ast.Import):
            for name in node.names:
                if (
                    name.asname == alias.name
                    and name.name.split(".")[-1] == name.asname
                ):
                    alias.public = True


class CommentDocstrings(griffe.Extension):
    """``#: text`` comment lines right above a module-level assignment are its
    docstring (the Sphinx convention the package uses for constants)."""

    def on_attribute_instance(self, *, node, attr, agent, **kwargs) -> None:
        """Read the ``#:`` lines above ``attr``'s assignment."""
        if attr.docstring is not None or not attr.parent.is_module:
            return
        lines = agent.code.splitlines() if hasattr(agent, "code") else []
        comment, row = [], getattr(node, "lineno", 0) - 2
        while 0 <= row < len(lines) and lines[row].strip().startswith("#:"):
            comment.insert(0, lines[row].strip()[2:].strip())
            row -= 1
        if comment:
            attr.docstring = griffe.Docstring(
                " ".join(comment), lineno=row + 2, parent=attr
            )


class RuntimeFunctions(griffe.Extension):
    """A public module-level name bound to a function made at import time
    (``random_zero_sum = _generator(...)``) is documented from the runtime
    function: its signature and the docstring it was given."""

    def on_module(self, *, mod, **kwargs) -> None:
        """Replace such attributes of ``mod`` by the inspected functions."""
        names = [
            name
            for name, member in mod.members.items()
            if not member.is_alias
            and member.is_attribute
            and member.docstring is None
            and not name.startswith("_")
            and isinstance(member.value, griffe.ExprCall)
        ]
        if not names:
            return
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))  # this checkout's marlmeta, not another
        module = importlib.import_module(mod.path)
        for name in names:
            obj = getattr(module, name, None)
            if inspect.isfunction(obj) and obj.__doc__:
                inspected = griffe.inspect(obj.__module__, import_paths=[str(ROOT)])
                func = inspected.members[obj.__name__]
                lineno = mod.members[name].lineno
                mod.set_member(name, func)
                func.lineno = func.endlineno = lineno
                func.docstring = griffe.Docstring(
                    markdown(inspect.getdoc(obj)),
                    lineno=lineno,
                    parent=func,
                    parser=mod.docstring.parser if mod.docstring else None,
                    parser_options=mod.docstring.parser_options
                    if mod.docstring
                    else None,
                )


#: The extensions as ``griffe.load_extensions`` takes them.
EXTENSIONS = [
    f"{__file__}:{name}"
    for name in (
        "SphinxRoles",
        "RedundantAliases",
        "CommentDocstrings",
        "RuntimeFunctions",
    )
]
