"""marlmeta: batched solvers, exact metrics and meta-learning for Markov games.

The subpackages and the names re-exported here load on first use (a
module-level ``__getattr__``, PEP 562), so ``import marlmeta`` and
``marlmeta --version`` do not import JAX; ``marlmeta.solve`` or
``marlmeta.games`` import what they need the first time they are read.
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names below, for type checkers and the API reference
    from marlmeta import (
        aggregative as aggregative,
        evaluation as evaluation,
        exact as exact,
        games as games,
        interop as interop,
        lp as lp,
        meta as meta,
        policies as policies,
        simulation as simulation,
        solvers as solvers,
        theory as theory,
    )
    from marlmeta._adjoint import (
        AbstractAdjoint as AbstractAdjoint,
        ForwardOnly as ForwardOnly,
        RecursiveCheckpointAdjoint as RecursiveCheckpointAdjoint,
    )
    from marlmeta._solve import (
        Solution as Solution,
        bytes_per_game as bytes_per_game,
        solve as solve,
        solve_batch as solve_batch,
    )
    from marlmeta.simulation import simulate as simulate

__version__ = "0.1.0"

#: The public subpackages, imported on first access.
_SUBPACKAGES = (
    "aggregative",
    "evaluation",
    "exact",
    "games",
    "interop",
    "lp",
    "meta",
    "policies",
    "simulation",
    "solvers",
    "theory",
)

#: The names re-exported from modules, and the module each comes from.
_NAMES = {
    "AbstractAdjoint": "marlmeta._adjoint",
    "ForwardOnly": "marlmeta._adjoint",
    "RecursiveCheckpointAdjoint": "marlmeta._adjoint",
    "Solution": "marlmeta._solve",
    "bytes_per_game": "marlmeta._solve",
    "solve": "marlmeta._solve",
    "solve_batch": "marlmeta._solve",
    "simulate": "marlmeta.simulation",
}

#: The public names: ``from marlmeta import *`` and the API reference.
__all__ = [*_SUBPACKAGES, *_NAMES]


def __getattr__(name: str):
    """Import a subpackage or a re-exported name the first time it is read."""
    if name in _SUBPACKAGES:
        value = importlib.import_module(f"{__name__}.{name}")
    elif name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


#: This module's own helpers, left out of ``dir(marlmeta)``.
_HELPERS = {"TYPE_CHECKING", "importlib", "_SUBPACKAGES", "_NAMES", "_HELPERS"}


def __dir__() -> list[str]:
    """The module's names, the ones not yet imported included."""
    names = set(globals()) - _HELPERS - {"__getattr__", "__dir__"}
    return sorted(names | set(_SUBPACKAGES) | set(_NAMES))
