"""marlmeta: batched solvers, exact metrics and meta-learning for Markov games."""

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
