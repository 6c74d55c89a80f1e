"""The one registry of names used by configs and the CLI.

Strings exist only at this boundary: a config names a solver, a game or an
optimiser, and this module maps the name to the class or function (and a
one-line description for ``marlmeta list``).
"""

from __future__ import annotations

import optax

from marlmeta import solvers
from marlmeta.games import zoo

#: Solver classes by name, with what they compute.
SOLVERS: dict[str, tuple[type, str]] = {
    "ZeroSumOMD": (
        solvers.ZeroSumOMD,
        "seed 000 Algorithm 1: optimistic OMD + stage-based Q (zero-sum NE)",
    ),
    "GeneralSumOMD": (solvers.GeneralSumOMD, "seed 000 Algorithm 2: the same for CCE"),
    "AdaptiveOFTRL": (
        solvers.AdaptiveOFTRL,
        "seed 002 DLRC-OMWU: adaptive OFTRL for CCE, online gap bound",
    ),
    "ProjectedQDescent": (
        solvers.ProjectedQDescent,
        "seed 000 eq. (7): independent projected Q-descent (potential games)",
    ),
    "GradientPlay": (
        solvers.GradientPlay,
        "seed 001 softmax gradient play (log barrier with barrier > 0)",
    ),
    "NaturalGradientPlay": (
        solvers.NaturalGradientPlay,
        "seed 001 natural gradient play (log barrier, clipped exponent)",
    ),
}

#: Games by name: zoo constructors (callable without arguments) and generators.
GAMES: dict[str, tuple[object | None, str]] = {
    "seed000_zero_sum": (zoo.seed000_zero_sum, "seed 000 F.1 two-state zero-sum game"),
    "seed000_identical_interest": (
        zoo.seed000_identical_interest,
        "seed 000 F.2 two-state identical-interest game",
    ),
    "seed001_g2": (zoo.seed001_g2, "seed 001 G2: 2 players, 3 x 2, identical interest"),
    "seed001_g3": (zoo.seed001_g3, "seed 001 G3: 3 players, 3 x 2 x 2"),
    "seed001_g8": (zoo.seed001_g8, "seed 001 G8: 8 players, 3 actions each"),
    "matching_pennies": (zoo.matching_pennies, "matching pennies"),
    "rock_paper_scissors": (zoo.rock_paper_scissors, "rock-paper-scissors"),
    "prisoners_dilemma": (zoo.prisoners_dilemma, "prisoner's dilemma"),
    "random_general_sum": (None, "random N-player general-sum games"),
    "random_zero_sum": (None, "random two-player zero-sum games"),
    "random_identical_interest": (None, "random identical-interest games"),
    "random_potential": (None, "random Markov potential games"),
}

#: optax optimisers for MAML's outer loop (called with the learning rate).
OPTIMISERS = {"sgd": optax.sgd, "adam": optax.adam, "adamw": optax.adamw}


def make_solver(name: str, **hyper):
    """The solver ``name`` built with the hyperparameters ``hyper``."""
    return SOLVERS[name][0](**hyper)
