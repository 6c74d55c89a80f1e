"""marlmeta: batched solvers, exact metrics and meta-learning for Markov games."""

from marlmeta import evaluation as evaluation
from marlmeta import games as games
from marlmeta import meta as meta
from marlmeta import policies as policies
from marlmeta import solvers as solvers
from marlmeta._solve import (
    Solution as Solution,
)
from marlmeta._solve import (
    solve as solve,
)
from marlmeta._solve import (
    solve_batch as solve_batch,
)

__version__ = "0.1.0"
