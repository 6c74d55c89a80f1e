"""Softmax gradient play on one-state potential games: the figures of Zhang,
Mei, Dai, Schuurmans, Li, "On the Global Convergence Rates of Decentralized
Softmax Gradient Play in Markov Potential Games" (NeurIPS 2022).

Each solver is one resumable chunk. Iterations follow the paper: ``t = 1`` is
the initial policy and ``t`` the iterate after ``t - 1`` updates. Results carry
every traced number (NE-gap, ``||grad Phi||``, ``c(theta)``, ``Phi``) and, for
each value the config quotes from the paper, the measured value beside it.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

import marlmeta as M
from marlmeta.experiments import _plots
from marlmeta.experiments._loader import (
    ConfigError,
    check_dtype,
    check_sizes,
    check_solver_entries,
    setting,
)
from marlmeta.experiments._protocol import Experiment, Plan
from marlmeta.experiments.registry import GAMES, make_solver

#: The registry names of the solvers a softmax experiment accepts.
SOFTMAX_SOLVERS = ("GradientPlay", "NaturalGradientPlay")
#: The zoo games a softmax experiment runs on (Zhang et al.'s G2, G3, G8).
SOFTMAX_GAMES = ("zhang2022_g2", "zhang2022_g3", "zhang2022_g8")


@dataclasses.dataclass(frozen=True)
class PaperValues:
    """Values the paper reports at its iteration ``t`` (pre-update iterate).

    ``tolerance`` is the absolute agreement expected (by default half a unit
    of the fifth significant digit, the precision the paper quotes).
    """

    t: int
    potential: float | None = None
    ne_gap: float | None = None
    tolerance: float = 5e-6
    note: str = ""


@dataclasses.dataclass(frozen=True)
class SoftmaxSolverEntry:
    """One curve of a figure.

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
class SoftmaxMPGConfig(Experiment, experiment="softmax_mpg"):
    """Zhang et al.'s figures: the four solvers on one game from one initialisation.

    ``init`` is one probability vector per player (one-state games); ``null``
    is the uniform policy. Traces cover every iteration up to ``plot_steps`` and
    every ``stride``-th after it. ``trajectory_of`` names the label of a solver
    whose first two players' ``Qbar`` and policies the figure also draws (the
    paper's appendix 8 does so for natural gradient play).
    """

    game_source_refusal = (
        "the softmax policy-gradient experiment of Zhang et al. runs on its "
        "named potential games (key 'game' is one of their names) and reads "
        "their potential function; an arbitrary game has none"
    )

    name: str
    experiment: str
    game: str = setting(
        "game", key="name", doc="the game's registry name (``marlmeta list games``)"
    )
    solvers: tuple[SoftmaxSolverEntry, ...]
    init: tuple[tuple[float, ...], ...] | None = setting(
        "run",
        None,
        doc="the initial policy, one probability vector per player (``null``: uniform)",
    )
    plot_steps: int = setting("output", 600, doc="every iteration up to it is recorded")
    stride: int = setting("output", 100)
    trajectory_of: str | None = setting(
        "output",
        None,
        doc="the label of the solver whose policy and ``Qbar`` paths are drawn too",
    )
    dtype: str = setting("run", "float64")
    description: str = ""

    def check(self, path: str) -> None:
        labels = [e.label for e in self.solvers]
        if self.trajectory_of is not None and self.trajectory_of not in labels:
            raise ConfigError(
                f"{path}: key 'output.trajectory_of' is {self.trajectory_of!r}; "
                f"expected one of the solver labels: {', '.join(labels)}"
            )
        if self.game not in SOFTMAX_GAMES:
            raise ConfigError(
                f"{path}: key 'game.name' is {self.game!r}; "
                f"expected one of: {', '.join(SOFTMAX_GAMES)}"
            )
        check_sizes(
            path, {"output.plot_steps": self.plot_steps, "output.stride": self.stride}
        )
        check_dtype(path, "run.dtype", self.dtype)
        check_solver_entries(path, self.solvers, SOFTMAX_SOLVERS)
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
                    f"{path}: key 'run.init[{i}]' is {list(p)}; expected positive "
                    "probabilities summing to 1"
                )

    def plan(self) -> Plan:
        return Plan(
            len(self.solvers),
            lambda i: _compute(self, i),
            lambda parts: _aggregate(self, parts),
            figure,
            self.dtype == "float64",
        )


class SoftmaxChunk(eqx.Module):
    """One solver's traces at the paper iterations ``t``.

    Attributes:
        t: the traced paper iterations, ``(C,)``.
        ne_gap, grad_norm, lojasiewicz, potential: ``(C,)`` each.
        pi, qbar: per player ``k``, the policy and ``Qbar_k`` of the only
            state, ``(C, A_k)``.
        finite: whether the run stayed finite.
    """

    t: Int[Array, " C"]
    ne_gap: Float[Array, " C"]
    grad_norm: Float[Array, " C"]
    lojasiewicz: Float[Array, " C"]
    potential: Float[Array, " C"]
    pi: tuple[Float[Array, "C Ak"], ...]
    qbar: tuple[Float[Array, "C Ak"], ...]
    finite: Bool[Array, ""]


_FIELDS = ("ne_gap", "grad_norm", "lojasiewicz", "potential")


def iterations(entry: SoftmaxSolverEntry, config: SoftmaxMPGConfig) -> list[int]:
    """Paper iterations traced for one solver: ``1..plot_steps``, then every
    ``stride``-th, the last one and every iteration the paper quotes."""
    last = entry.num_steps + 1
    ts = set(range(1, min(config.plot_steps, last) + 1))
    ts |= set(range(config.stride, last + 1, config.stride)) | {last}
    ts |= {p.t for p in entry.paper}
    return sorted(ts)


def _game_and_init(config: SoftmaxMPGConfig):
    dtype = jnp.float64 if config.dtype == "float64" else jnp.float32
    game = GAMES[config.game][0](dtype)
    if config.init is None:
        return game, M.policies.uniform(game)
    if len(config.init) != game.num_players or any(
        len(p) != a for p, a in zip(config.init, game.num_actions, strict=False)
    ):
        raise ValueError(
            f"init has sizes {[len(p) for p in config.init]}; game {config.game} "
            f"has action counts {list(game.num_actions)}"
        )
    return game, tuple(jnp.asarray([p], dtype) for p in config.init)


def _metric(game, policy):
    """The traced numbers of one iterate: the softmax report, the policy and
    every player's averaged ``Qbar`` (the paper's appendix 8 draws them)."""
    return (
        M.evaluation.softmax_report(game, policy),
        policy,
        M.evaluation.averaged_q(game, policy),
    )


@eqx.filter_jit
def _trajectory(solver, game, init, num_steps: int, checkpoints: tuple[int, ...]):
    """The metric of the initial policy, then at every checkpoint, and whether
    the run stayed finite: one compiled program (module level, so a second
    chunk or run of the same solver kind and shapes reuses it; the step size
    is an array, not part of the program)."""
    sol = M.solve(
        solver, game, num_steps, init=init, checkpoints=list(checkpoints),
        metric=_metric,
    )  # fmt: skip
    trace = jax.tree.map(
        lambda a, b: jnp.concatenate([a[None], b]), _metric(game, init), sol.trace
    )
    return trace, sol.finite


def _compute(config: SoftmaxMPGConfig, i: int) -> SoftmaxChunk:
    entry = config.solvers[i]
    game, init = _game_and_init(config)
    ts = iterations(entry, config)
    solver = make_solver(entry.solver, game.rewards.dtype, **dataclasses.asdict(entry))
    checkpoints = tuple(t - 1 for t in ts[1:])
    trace, finite = _trajectory(solver, game, init, entry.num_steps, checkpoints)
    report, pi, qbar = trace
    return SoftmaxChunk(
        t=jnp.asarray(ts),
        **{f: getattr(report, f) for f in _FIELDS},
        pi=tuple(p[:, 0] for p in pi),  # (C, A_k), the only state
        qbar=tuple(q[:, 0] for q in qbar),
        finite=finite,
    )


def _early(trace, keep: int) -> list:
    """Per player, the first ``keep`` rows of a ``(C, A_k)`` trace."""
    return [x[:keep].tolist() for x in trace]


def _aggregate(config: SoftmaxMPGConfig, parts: list[SoftmaxChunk]) -> dict:
    results = {
        "experiment": config.experiment,
        "name": config.name,
        "game": config.game,
        "init": "uniform" if config.init is None else [list(p) for p in config.init],
        "plot_steps": config.plot_steps,
        "metric_description": (
            "at paper iteration t (t = 1 is the initial policy): ne_gap = "
            "max_i (best-response value - value), grad_norm = ||grad Phi||_2 "
            "over all logits (closed form), lojasiewicz = c(theta) with the "
            "first-argmax rule of the authors' code, potential = Phi; all exact. "
            "policy_trace[k] and qbar_trace[k]: player k's policy and averaged "
            "Q-function Qbar_k at every t <= plot_steps (Zhang et al. 2022, App. 8)"
        ),
        "trajectory_of": config.trajectory_of,
        "solvers": [],
        "paper_values_agree": True,
    }
    finite = True
    for entry, raw in zip(config.solvers, parts, strict=True):
        finite &= bool(raw.finite)
        t = raw.t.tolist()
        keep = sum(1 for x in t if x <= config.plot_steps)
        row = {
            "label": entry.label,
            "solver": entry.solver,
            "step_size": entry.step_size,
            "barrier": entry.barrier,
            "clip": entry.clip,
            "centred_clip": entry.centred_clip,
            "t": t,
            **{f: getattr(raw, f).tolist() for f in _FIELDS},
            # The last traced iterate is the final policy (t = num_steps + 1).
            "final_policy": [p[-1].tolist() for p in raw.pi],
            "policy_trace": _early(raw.pi, keep),
            "qbar_trace": _early(raw.qbar, keep),
            "paper": [],
        }
        for p in entry.paper:
            j = t.index(p.t)
            check = {"t": p.t, "note": p.note, "tolerance": p.tolerance}
            agrees = True
            for f in ("potential", "ne_gap"):
                if getattr(p, f) is not None:
                    measured = float(getattr(raw, f)[j])
                    check[f"paper_{f}"] = getattr(p, f)
                    check[f"measured_{f}"] = measured
                    agrees &= abs(measured - getattr(p, f)) <= p.tolerance
            check["agrees"] = bool(agrees)
            row["paper"].append(check)
            results["paper_values_agree"] &= bool(agrees)
        row["bound"] = (
            _barrier_theorem(config, entry)
            if entry.barrier > 0
            else _theorem5(config, entry)
        )
        if entry.barrier == 0 and entry.clip is None:
            row["theorem4"] = _theorem4(config, entry, raw)
        results["solvers"].append(row)
    results["finite"] = finite
    return results


#: Zhang et al. Theorem 5's step-size rules and calculators, by solver.
_THEOREM5 = {
    "GradientPlay": ("gradient_play_step_size", "zhang_theorem5_gradient_play"),
    "NaturalGradientPlay": (
        "natural_gradient_play_step_size",
        "zhang_theorem5_natural_gradient_play",
    ),
}


def _theorem5(config: SoftmaxMPGConfig, entry: SoftmaxSolverEntry) -> dict:
    """Zhang et al. Theorem 5 for an unregularised, unclipped solver: whether it
    applies (the step size within the theorem's rule) and, where it does, the
    certified and printed bounds on the average squared NE-gap of the iterates
    ``t < T`` beside the measured one (:mod:`marlmeta.theory`)."""
    out = {
        "theorem": f"Zhang et al. 2022, Theorem 5 ({entry.solver}): "
        "(1/T) sum_{t<T} NE-gap(theta^t)^2",
        "condition": "no barrier, no clip, step size at most the theorem's rule",
    }
    game, init = _game_and_init(config)
    rule, calculator = (getattr(M.theory, n) for n in _THEOREM5[entry.solver])
    # the theory calculators are written op by op: each compiled as one
    # program (eagerly every operation is a compilation of its own)
    out["rule_step_size"] = float(eqx.filter_jit(rule)(game))
    out["applies"] = bool(
        entry.barrier == 0
        and entry.clip is None
        and entry.step_size <= out["rule_step_size"] * (1 + 1e-9)
    )
    if out["applies"]:
        solver = make_solver(
            entry.solver, game.rewards.dtype, **dataclasses.asdict(entry)
        )
        traj = eqx.filter_jit(M.theory.softmax_trajectory)(
            solver, game, entry.num_steps, init
        )
        bound = eqx.filter_jit(calculator)(game, entry.step_size, traj)
        measured = float(eqx.filter_jit(M.theory.mean_squared_gap)(traj))
        out |= {
            "measured_mean_squared_gap": measured,
            "bound": float(bound.value),
            "printed": float(bound.printed),
            "ratio": float(bound.value) / max(measured, 1e-300),
            "drawn": float(np.sqrt(bound.value)),
            "drawn_label": "Theorem 5 bound on the RMS NE-gap over T",
        }
    return out


#: Zhang et al. Theorem 4's rule (a field of ``zhang_theorem4_step_size``), by solver.
_THEOREM4 = {
    "GradientPlay": "gradient_play",
    "NaturalGradientPlay": "natural_gradient_play",
}


def _theorem4(config: SoftmaxMPGConfig, entry: SoftmaxSolverEntry, raw) -> dict:
    """Zhang et al. Theorem 4 (asymptotic convergence to a NE, no rate, so
    nothing is drawn) for an unregularised, unclipped solver: its step-size
    condition and what the traced checkpoints show
    (:func:`marlmeta.theory.zhang_theorem4`)."""
    game, _ = _game_and_init(config)
    rules = eqx.filter_jit(M.theory.zhang_theorem4_step_size)(game)
    rule = getattr(rules, _THEOREM4[entry.solver])
    check = eqx.filter_jit(M.theory.zhang_theorem4)(
        raw.ne_gap, raw.potential, raw.lojasiewicz, entry.step_size, rule
    )
    return {
        "theorem": f"Zhang et al. 2022, Theorem 4 ({entry.solver}): theta^t "
        "converges to a NE (asymptotic; no bound to draw)",
        "condition": "every state visited (M < inf), isolated stationary "
        "policies (not checked), step size at most the rule",
        "rule_step_size": float(rule),
        "visits_every_state": bool(rules.visits_every_state),
        "applies": bool(check.applies) and bool(rules.visits_every_state),
        "potential_monotone": bool(check.potential_monotone),
        "min_potential_increase": float(check.min_potential_increase),
        "last_ne_gap": float(check.last_ne_gap),
        "tail_max_ne_gap": float(check.tail_ne_gap),
        "last_lojasiewicz": float(check.last_lojasiewicz),
    }


#: Zhang et al. Theorems 6 and 7 (log barrier): rule, calculator, what the
#: bound bounds, and its name on the figure.
_BARRIER = {
    "GradientPlay": (
        "barrier_gradient_play_step_size", "zhang_theorem6", "min_gap",
        "Theorem 6 bound on the least NE-gap over T",
    ),
    "NaturalGradientPlay": (
        "barrier_natural_gradient_play_step_size", "zhang_theorem7", "mean_gap",
        "Theorem 7 bound on the mean NE-gap over T",
    ),
}  # fmt: skip


def _barrier_theorem(config: SoftmaxMPGConfig, entry: SoftmaxSolverEntry) -> dict:
    """Zhang et al. Theorem 6 (log-barrier gradient play: the least NE-gap of
    the iterates ``t < T``) or 7 (log-barrier natural gradient play, no clip:
    their mean NE-gap): whether it applies (uniform start, step size within
    the rule, rewards spanning at most 1) and, where it does, the bound beside
    the measured quantity (:mod:`marlmeta.theory`)."""
    rule, name, quantity, label = _BARRIER[entry.solver]
    out = {
        "theorem": f"Zhang et al. 2022, {name} ({entry.solver}, log barrier): "
        f"{quantity} of the iterates t < T",
        "condition": "uniform start, no clip, step size at most the theorem's "
        "rule, every reward range at most 1",
    }
    game, init = _game_and_init(config)
    out["rule_step_size"] = float(
        eqx.filter_jit(getattr(M.theory, rule))(game, entry.barrier)
    )
    theorem = getattr(M.theory, name)
    # the hypotheses, read before any trajectory is computed (the calculator
    # checks the same and its answer is kept below)
    out["applies"] = bool(
        config.init is None
        and entry.clip is None
        and entry.step_size <= out["rule_step_size"] * (1 + 1e-9)
        and float(eqx.filter_jit(M.theory.largest_reward_range)(game)) <= 1 + 1e-9
    )
    if out["applies"]:
        solver = make_solver(
            entry.solver, game.rewards.dtype, **dataclasses.asdict(entry)
        )
        traj = eqx.filter_jit(M.theory.softmax_trajectory)(
            solver, game, entry.num_steps, init
        )
        bound = eqx.filter_jit(theorem)(game, entry.step_size, entry.barrier, traj)
        out["applies"] = bool(bound.applies)
        if not out["applies"]:
            return out
        measured = float(eqx.filter_jit(getattr(M.theory, quantity))(traj))
        out[f"measured_{quantity}"] = measured
        if not np.isfinite(float(bound.value)):
            out["note"] = "threshold not reached: the theorem says nothing at T"
            return out
        out |= {
            "bound": float(bound.value),
            "printed": float(bound.printed),
            "ratio": float(bound.value) / max(measured, 1e-300),
            "drawn": float(bound.value),
            "drawn_label": label,
        }
    return out


_PANELS = (
    ("ne_gap", "(a) NE-gap", "linear", "NE-gap"),
    ("grad_norm", "(b) ||grad Phi||", "linear", "gradient norm of the potential"),
    ("lojasiewicz", "(c) c(theta)", "log", "least probability of a best reply"),
    ("potential", "(d) Phi", "linear", "potential Phi"),
)


def figure(results: dict) -> bytes:
    """The paper's Figures 1-3: four panels over iterations ``1..plot_steps``;
    unregularised solvers dashed, log-barrier ones solid. With
    ``trajectory_of``, a second figure half draws that solver's ``Qbar`` and
    policy of the first two players (appendix 8)."""
    plt = _plots.pyplot()
    traj = results.get("trajectory_of")
    fig, axes = plt.subplots(4 if traj else 2, 2, figsize=(11, 16 if traj else 8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    stop = results["plot_steps"]
    for row, color in zip(results["solvers"], colors, strict=False):
        t = np.asarray(row["t"])
        keep = t <= stop
        style = "-" if row["barrier"] > 0 else "--"
        for ax, (field, *_) in zip(axes.flat, _PANELS, strict=False):
            y = np.asarray(row[field])[keep]
            ax.plot(t[keep], y, style, color=color, label=row["label"])
        bound = row.get("bound") or {}
        if "drawn" in bound:
            axes[0, 0].axhline(
                bound["drawn"],
                linestyle=(0, (8, 3)),
                linewidth=1,
                color=color,
                label=f"{bound['drawn_label']}, {row['label']}",
            )
        if row["label"] == traj:
            for k in range(min(2, len(row["qbar_trace"]))):
                for col, (key, name) in enumerate(
                    (("qbar_trace", "Qbar"), ("policy_trace", "pi"))
                ):
                    ax = axes[2 + k, col]
                    y = np.asarray(row[key][k])
                    for a in range(y.shape[1]):
                        ax.plot(t[keep], y[:, a], label=f"action {a + 1}")
                    ax.set(
                        xlabel="iteration t",
                        ylabel=f"{name}_{k + 1}(a)",
                        title=f"{name}_{k + 1} ({traj})",
                    )
                    ax.grid(alpha=0.3)
                    ax.legend(fontsize=8)
    drawn = any("drawn" in (row.get("bound") or {}) for row in results["solvers"])
    panels = zip(axes.flat, _PANELS, strict=False)
    for k, (ax, (_, title, scale, ylabel)) in enumerate(panels):
        if k == 0 and drawn:  # the bounds can be orders of magnitude above
            scale = "log"
        ax.set(xlabel="iteration t", ylabel=ylabel, title=title, yscale=scale)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    title = f"Softmax gradient play on {results['game']} from {results['init']}"
    return _plots.png(fig, f"{title} ({results['name']})")
