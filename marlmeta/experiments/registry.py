"""The one registry of names used by configs and the CLI.

Strings exist only at this boundary: a config names a solver, a game or an
optimiser, and this module maps the name to the class or function (and a
one-line description for ``marlmeta list``). Every solver an experiment runs is
built by :func:`make_solver`, from what its entry in :data:`SOLVERS` says the
solver takes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import optax

from marlmeta import solvers
from marlmeta.games import zoo


class SolverSpec(NamedTuple):
    """A solver class and the hyperparameters a config may give it.

    Attributes:
        cls: the solver class.
        doc: what it computes, one line.
        arrays: numeric hyperparameters, passed as arrays of the run's dtype.
        static: structural hyperparameters, passed as they are.
        required: hyperparameters without a default (``None`` is not a value).
    """

    cls: type
    doc: str
    arrays: tuple[str, ...] = ("step_size",)
    static: tuple[str, ...] = ()
    required: tuple[str, ...] = ("step_size",)

    def takes(self, name: str) -> bool:
        return name in self.arrays or name in self.static


_SOFTMAX = ("step_size", "barrier")

#: Solver classes by name, with what they compute and what they take.
SOLVERS: dict[str, SolverSpec] = {
    "ZeroSumOMD": SolverSpec(
        solvers.ZeroSumOMD,
        "Mao et al. 2023 Algorithm 1: optimistic OMD + stage-based Q (zero-sum NE)",
    ),
    # Theorem 6's step size for Algorithm 2 has no closed form: required.
    "GeneralSumOMD": SolverSpec(
        solvers.GeneralSumOMD, "Mao et al. 2023 Algorithm 2: the same for CCE"
    ),
    "AdaptiveOFTRL": SolverSpec(
        solvers.AdaptiveOFTRL,
        "Yorulmaz, Basar 2026 DLRC-OMWU: adaptive OFTRL for CCE, online gap bound "
        "(step_size null: Theorem 4's)",
        required=(),
    ),
    "ProjectedQDescent": SolverSpec(
        solvers.ProjectedQDescent,
        "Mao et al. 2023 eq. (7): independent projected Q-descent (potential games)",
    ),
    "GradientPlay": SolverSpec(
        solvers.GradientPlay,
        "Zhang et al. 2022 softmax gradient play (log barrier with barrier > 0)",
        arrays=_SOFTMAX,
    ),
    "NaturalGradientPlay": SolverSpec(
        solvers.NaturalGradientPlay,
        "Zhang et al. 2022 natural gradient play (log barrier, clipped exponent)",
        arrays=_SOFTMAX,
        static=("clip", "centred_clip"),
    ),
    "MultiAgentPPO": SolverSpec(
        solvers.MultiAgentPPO,
        "Zhao et al. 2023 Algorithm 1, exact tabular MA-PPO (autoregressive policies)",
    ),
    "LogLinearMAPPO": SolverSpec(
        solvers.LogLinearMAPPO,
        "Zhao et al. 2023 Algorithm 1 with log-linear policies (eq. 4 solved "
        "exactly; Python API: needs features)",
        required=("step_size", "features"),
    ),
    "SampledMAPPO": SolverSpec(
        solvers.SampledMAPPO,
        "Zhao et al. 2023 Algorithms 1 and 3: log-linear MA-PPO from sampled "
        "episodes (Python API: needs features, key)",
        required=("step_size", "features", "key"),
    ),
    # A config gives the pessimism and the sample count; the experiment
    # supplies the features (one-hot) and the key.
    "PessimisticMAPPO": SolverSpec(
        solvers.PessimisticMAPPO,
        "Zhao et al. 2023 Algorithm 2: off-policy MA-PPO with a pessimistic "
        "critic (configs: cooperative_ppo, one-hot features)",
        arrays=("step_size", "pessimism"),
        static=("num_samples", "features", "key"),
        required=("step_size", "pessimism", "num_samples"),
    ),
    "CounterfactualOMD": SolverSpec(
        solvers.CounterfactualOMD,
        "counterfactual-regret OMD on observations: the exploitability reference "
        "of imperfect-information (poker) games",
    ),
    "ObservedZeroSumOMD": SolverSpec(
        solvers.ObservedZeroSumOMD,
        "Mao et al. 2023 Algorithm 1 with local observations (games with "
        "observations, e.g. poker endgames)",
    ),
    "CFRPlus": SolverSpec(
        solvers.CFRPlus,
        "Tammelin et al. 2015 CFR+: regret-matching+, alternating updates, "
        "linear averaging, on observations (no step size)",
        arrays=(),
        required=(),
    ),
    "PredictiveCFRPlus": SolverSpec(
        solvers.PredictiveCFRPlus,
        "Farina et al. 2021 predictive CFR+: regret-matching+ on the regrets "
        "plus the last instantaneous regret, t^gamma averaging (no step size)",
        arrays=("gamma",),
        required=(),
    ),
    "DiscountedCFR": SolverSpec(
        solvers.DiscountedCFR,
        "Brown and Sandholm 2019 discounted CFR(alpha, beta, gamma) on "
        "observations (no step size)",
        arrays=("alpha", "beta", "gamma"),
        required=(),
    ),
}

#: Games by name: zoo constructors (callable without arguments) and generators.
GAMES: dict[str, tuple[object | None, str]] = {
    "mao2023_zero_sum": (
        zoo.mao2023_zero_sum,
        "Mao et al. 2023 F.1 two-state zero-sum game",
    ),
    "mao2023_identical_interest": (
        zoo.mao2023_identical_interest,
        "Mao et al. 2023 F.2 two-state identical-interest game",
    ),
    "zhang2022_g2": (
        zoo.zhang2022_g2,
        "Zhang et al. 2022 G2: 2 players, 3 x 2, identical interest",
    ),
    "zhang2022_g3": (zoo.zhang2022_g3, "Zhang et al. 2022 G3: 3 players, 3 x 2 x 2"),
    "zhang2022_g8": (
        zoo.zhang2022_g8,
        "Zhang et al. 2022 G8: 8 players, 3 actions each",
    ),
    "ratio_game": (
        zoo.ratio_game,
        "Zhao et al. 2023 App. E: von Neumann's ratio game, 2 agents, cooperative",
    ),
    "lq_tracking": (
        zoo.lq_tracking,
        "Mao et al. 2023 F.3 linear-quadratic tracking: 4 players, 625 states",
    ),
    "matching_pennies": (zoo.matching_pennies, "matching pennies"),
    "rock_paper_scissors": (zoo.rock_paper_scissors, "rock-paper-scissors"),
    "prisoners_dilemma": (zoo.prisoners_dilemma, "prisoner's dilemma"),
    "kuhn_poker": (
        zoo.kuhn_poker,
        "Kuhn 1950 three-card poker with observations (value -1/18)",
    ),
    "river_endgame": (
        None,
        "a heads-up no-limit hold'em river endgame (board, pot, stacks, ranges)",
    ),
    "river_endgame_family": (
        None,
        "river endgames around one board with perturbed stacks",
    ),
    "random_general_sum": (None, "random N-player general-sum games"),
    "random_zero_sum": (None, "random two-player zero-sum games"),
    "random_identical_interest": (None, "random identical-interest games"),
    "random_potential": (None, "random Markov potential games"),
    "random_cooperative": (None, "random fully cooperative discounted games"),
    "random_sparse_zero_sum": (None, "random sparse zero-sum games (fan-out K)"),
    "random_sparse_general_sum": (None, "random sparse general-sum games (fan-out K)"),
}

#: The exact metrics of :mod:`marlmeta.evaluation` (one game, one policy), by
#: name; ``marlmeta list`` prints each with its docstring's first line.
METRICS = (
    "report",
    "nash_conv",
    "ne_gap",
    "gains",
    "cce_gap",
    "ce_gap",
    "ce_gains",
    "exploitability",
    "full_state_nash_conv",
    "full_state_gains",
    "values",
    "best_response_values",
    "best_responses",
    "potential",
    "optimality_gap",
    "optimal_value",
    "lojasiewicz",
    "softmax_report",
    "policy_gradient",
)

#: optax optimisers for MAML's outer loop (called with the learning rate).
OPTIMISERS = {"sgd": optax.sgd, "adam": optax.adam, "adamw": optax.adamw}


def missing_hyperparameters(name: str, hyper: dict[str, Any]) -> list[str]:
    """The hyperparameters solver ``name`` requires that ``hyper`` leaves ``None``."""
    return [k for k in SOLVERS[name].required if hyper.get(k) is None]


def make_solver(name: str, dtype=None, **hyper):
    """The solver ``name`` built from those of ``hyper`` it takes.

    A config entry passes all its fields; the solver gets the ones its
    :class:`SolverSpec` lists, numeric ones as arrays of ``dtype`` and ``None``
    left to the solver's default.

    Raises:
        ValueError: a required hyperparameter is missing or ``None``.
    """
    spec = SOLVERS[name]
    missing = missing_hyperparameters(name, hyper)
    if missing:
        raise ValueError(f"solver {name} needs {', '.join(missing)}")
    kwargs = {}
    for key, value in hyper.items():
        if key in spec.arrays:
            kwargs[key] = None if value is None else jnp.asarray(value, dtype)
        elif key in spec.static:
            kwargs[key] = value
    return spec.cls(**kwargs)
