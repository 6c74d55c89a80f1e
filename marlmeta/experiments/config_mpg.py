"""Configs of the Markov-potential-game experiments: seed 001's softmax gradient
play figures and MAML on a family of discounted potential games."""

from __future__ import annotations

import dataclasses

from marlmeta.experiments._loader import (
    ConfigError,
    check_dtype,
    check_sizes,
    check_solver_names,
)

SOFTMAX_SOLVERS = ("GradientPlay", "NaturalGradientPlay")
SOFTMAX_GAMES = ("seed001_g2", "seed001_g3", "seed001_g8")


@dataclasses.dataclass(frozen=True)
class PaperValues:
    """Values the paper reports at its iteration ``t`` (pre-update iterate).

    ``tolerance`` is the absolute agreement expected (by default half a unit
    of the fifth significant digit, the precision seed-001.md quotes).
    """

    t: int
    potential: float | None = None
    ne_gap: float | None = None
    tolerance: float = 5e-6
    note: str = ""


@dataclasses.dataclass(frozen=True)
class SoftmaxSolverEntry:
    """One curve of a seed 001 figure.

    ``clip`` and ``centred_clip`` apply to ``NaturalGradientPlay`` only.
    """

    label: str
    solver: str
    step_size: float
    num_steps: int
    barrier: float = 0.0
    clip: float | None = None
    centred_clip: bool = True
    paper: tuple[PaperValues, ...] = ()


@dataclasses.dataclass(frozen=True)
class SoftmaxMPGConfig:
    """Seed 001 figures: the four solvers on one game from one initialisation.

    ``init`` is one probability vector per player (one-state games); ``null``
    is the uniform policy. Traces cover every iteration up to ``plot_steps`` and
    every ``stride``-th after it. ``trajectory_of`` names the label of a solver
    whose first two players' ``Qbar`` and policies the figure also draws (seed
    001 App. 8 does so for natural gradient play).
    """

    name: str
    experiment: str
    game: str
    solvers: tuple[SoftmaxSolverEntry, ...]
    init: tuple[tuple[float, ...], ...] | None = None
    plot_steps: int = 600
    stride: int = 100
    trajectory_of: str | None = None
    dtype: str = "float64"
    description: str = ""

    def check(self, path: str) -> None:
        labels = [e.label for e in self.solvers]
        if self.trajectory_of is not None and self.trajectory_of not in labels:
            raise ConfigError(
                f"{path}: key 'trajectory_of' is {self.trajectory_of!r}; "
                f"expected one of the solver labels: {', '.join(labels)}"
            )
        if self.game not in SOFTMAX_GAMES:
            raise ConfigError(
                f"{path}: key 'game' is {self.game!r}; "
                f"expected one of: {', '.join(SOFTMAX_GAMES)}"
            )
        check_sizes(path, {"plot_steps": self.plot_steps, "stride": self.stride})
        check_dtype(path, "dtype", self.dtype)
        check_solver_names(path, self.solvers, SOFTMAX_SOLVERS)
        for k, e in enumerate(self.solvers):
            check_sizes(path, {f"solvers[{k}].num_steps": e.num_steps})
            for j, p in enumerate(e.paper):
                if not 1 <= p.t <= e.num_steps + 1:
                    raise ConfigError(
                        f"{path}: key 'solvers[{k}].paper[{j}].t' is {p.t}; "
                        f"expected in [1, num_steps + 1 = {e.num_steps + 1}]"
                    )
        for i, p in enumerate(self.init or ()):
            if any(x <= 0 for x in p) or abs(sum(p) - 1.0) > 1e-6:
                raise ConfigError(
                    f"{path}: key 'init[{i}]' is {list(p)}; expected positive "
                    "probabilities summing to 1"
                )


@dataclasses.dataclass(frozen=True)
class MAMLGameConfig:
    """A family of perturbed discounted games around a random base game.

    ``kind`` is ``identical_interest`` (the common reward gets the noise) or
    ``potential`` (``r_i = phi + u_i``; the noise goes to ``phi``, hence to
    every player alike). The first ``train_games`` games are the training
    pool, the next ``test_games`` are held out.
    """

    kind: str = "identical_interest"
    num_actions: tuple[int, ...] = (3, 3)
    num_states: int = 3
    discount: float = 0.8
    noise_std: float = 0.05
    train_games: int = 32
    test_games: int = 32
    base_seed: int = 0


@dataclasses.dataclass(frozen=True)
class MAMLSettings:
    """MAML's loops: ``T`` inner steps of eq. (44), an optax outer loop."""

    inner_steps: int = 5
    inner_step_size: float = 0.5
    meta_steps: int = 200
    optimiser: str = "adam"
    learning_rate: float = 0.1
    batch_size: int | None = 8
    first_order: bool = False


@dataclasses.dataclass(frozen=True)
class MAMLConfig:
    """MAML on a family of discounted potential games (seed 000 section 4.2)."""

    name: str
    experiment: str
    game: MAMLGameConfig = MAMLGameConfig()
    maml: MAMLSettings = MAMLSettings()
    eval_steps: tuple[int, ...] = (0, 1, 2, 5, 10, 20)
    seed: int = 0
    dtype: str = "float64"
    description: str = ""

    def check(self, path: str) -> None:
        from marlmeta.experiments.registry import OPTIMISERS

        g, m = self.game, self.maml
        if g.kind not in ("identical_interest", "potential"):
            raise ConfigError(
                f"{path}: key 'game.kind' is {g.kind!r}; "
                "expected identical_interest or potential"
            )
        sizes = {
            "game.num_states": g.num_states,
            "game.train_games": g.train_games,
            "game.test_games": g.test_games,
            "maml.meta_steps": m.meta_steps,
        }
        sizes.update({f"game.num_actions[{i}]": a for i, a in enumerate(g.num_actions)})
        check_sizes(path, sizes)
        if not 0.0 <= g.discount < 1.0:
            raise ConfigError(
                f"{path}: key 'game.discount' is {g.discount}; expected in [0, 1)"
            )
        if m.inner_steps < 0:
            raise ConfigError(
                f"{path}: key 'maml.inner_steps' is {m.inner_steps}; expected >= 0"
            )
        if m.optimiser not in OPTIMISERS:
            raise ConfigError(
                f"{path}: key 'maml.optimiser' is {m.optimiser!r}; "
                f"expected one of: {', '.join(OPTIMISERS)}"
            )
        if m.batch_size is not None and not 1 <= m.batch_size <= g.train_games:
            raise ConfigError(
                f"{path}: key 'maml.batch_size' is {m.batch_size}; "
                f"expected in [1, game.train_games = {g.train_games}]"
            )
        if any(t < 0 for t in self.eval_steps):
            raise ConfigError(f"{path}: key 'eval_steps' has a negative entry")
        check_dtype(path, "dtype", self.dtype)
