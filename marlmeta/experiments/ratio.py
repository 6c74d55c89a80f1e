"""Von Neumann's ratio game: Figure 1 of Zhao, Yang, Wang, Lee, "Local
Optimization Achieves Global Optimality in Multi-Agent Reinforcement Learning"
(ICML 2023, App. E), with exact multi-agent PPO beside it.

Three dynamics per panel, on ``V(x, y) = x^T R y / x^T S y``
(:func:`marlmeta.games.zoo.ratio_game`):

- ``seq``: the authors' sequential update as their code runs it: agent 1's
  logits ``theta_i += eta V(e_i, pibar_2)`` against agent 2's marginal
  ``pibar_2``, agent 2's conditional logits ``z_a += eta R[a] / S[a]`` (the
  pure-strategy values); plotted value ``V(pi_1, pibar_2)`` (product of the
  marginals), and ``joint`` the correlated joint value;
- ``indep``: independent softmax policy gradient with exact gradients, which
  is :class:`~marlmeta.solvers.GradientPlay` on the embedded game;
- ``ma_ppo``: exact :class:`~marlmeta.solvers.MultiAgentPPO` on the embedded
  game with the same step size (joint value).

Iteration ``t`` is the value after ``t`` updates (``t = 0``: the start). The
"near the stationary point" start is the research note's calibration: agent
2's logits (independent) and conditional logits (sequential) ``[-5, 0]``, all
others 0.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

import marlmeta as M
from marlmeta.experiments import _plots
from marlmeta.experiments._loader import ConfigError, check_dtype, check_sizes, setting
from marlmeta.experiments._protocol import Experiment, Plan
from marlmeta.games import zoo

#: Update rules compared on the ratio game: the authors' sequential update,
#: its joint-policy form, independent policy gradient and exact MA-PPO.
METHODS = ("seq", "joint", "indep", "ma_ppo")
#: Initialisations: uniform play and "near the stationary point".
INITS = ("uniform", "near_stationary")
#: Iterations reported in results.json (with the last one of each panel).
REPORTED = (1000, 2000, 5000, 10000)
#: Values whose first crossing iteration results.json reports.
THRESHOLDS = (0.9, 0.99)


@dataclasses.dataclass(frozen=True)
class RatioValue:
    """A value the research note's table quotes: ``method`` at iteration ``t``."""

    method: str
    t: int
    value: float
    tolerance: float = 5e-5
    note: str = ""


@dataclasses.dataclass(frozen=True)
class RatioCrossing:
    """The first iteration ``t`` at which ``method`` reaches ``threshold``
    (``t = -1``: never within the panel)."""

    method: str
    threshold: float
    t: int
    note: str = ""


@dataclasses.dataclass(frozen=True)
class RatioPanel:
    """One panel of Zhao et al.'s Figure 1: an initialisation and a step size."""

    label: str
    init: str
    step_size: float
    num_steps: int
    values: tuple[RatioValue, ...] = ()
    crossings: tuple[RatioCrossing, ...] = ()


@dataclasses.dataclass(frozen=True)
class RatioGameConfig(Experiment, experiment="ratio_game"):
    """Zhao et al.'s Figure 1: one chunk per panel."""

    game_source_refusal = (
        "it reproduces Figure 1 of Zhao et al. on von Neumann's ratio game, one "
        "fixed game with stopping probabilities"
    )

    name: str
    experiment: str
    panels: tuple[RatioPanel, ...]
    near_stationary_logits: tuple[float, ...] = setting(
        "run",
        (-5.0, 0.0),
        doc="the two actions' logits of the ``near_stationary`` initialisation",
    )
    stride: int = setting("output", 20, doc="record every ``stride``-th iteration")
    dtype: str = setting("run", "float64")
    description: str = ""

    def check(self, path: str) -> None:
        check_dtype(path, "run.dtype", self.dtype)
        check_sizes(path, {"output.stride": self.stride})
        if not self.panels:
            raise ConfigError(f"{path}: key 'panels' is empty")
        if len(self.near_stationary_logits) != 2:
            raise ConfigError(
                f"{path}: key 'run.near_stationary_logits' has "
                f"{len(self.near_stationary_logits)} entries; expected 2"
            )
        for k, p in enumerate(self.panels):
            check_sizes(path, {f"panels[{k}].num_steps": p.num_steps})
            if p.init not in INITS:
                raise ConfigError(
                    f"{path}: key 'panels[{k}].init' is {p.init!r}; expected one "
                    f"of: {', '.join(INITS)}"
                )
            if not p.step_size > 0:
                raise ConfigError(
                    f"{path}: key 'panels[{k}].step_size' is {p.step_size}; "
                    "expected > 0"
                )
            for key, entries in (("values", p.values), ("crossings", p.crossings)):
                for j, e in enumerate(entries):
                    where = f"panels[{k}].{key}[{j}]"
                    if e.method not in METHODS:
                        raise ConfigError(
                            f"{path}: key '{where}.method' is {e.method!r}; "
                            f"expected one of: {', '.join(METHODS)}"
                        )
                    if not -1 <= e.t <= p.num_steps:
                        raise ConfigError(
                            f"{path}: key '{where}.t' is {e.t}; expected in "
                            f"[-1, num_steps = {p.num_steps}]"
                        )

    def plan(self) -> Plan:
        return Plan(
            len(self.panels),
            lambda i: _compute(self, i),
            lambda parts: _aggregate(self, parts),
            figure,
            self.dtype == "float64",
        )


class RatioChunk(eqx.Module):
    """One panel's value traces at every iteration ``t = 0..T``."""

    seq: Float[Array, " T1"]
    joint: Float[Array, " T1"]
    indep: Float[Array, " T1"]
    ma_ppo: Float[Array, " T1"]
    finite: Bool[Array, ""]


def _ratio(joint, r, s):
    return jnp.sum(joint * r) / jnp.sum(joint * s)


def authors_sequential(step_size, num_steps: int, z0, dtype=jnp.float64):
    """The authors' sequential update; ``(V(pi_1, pibar_2), joint value)`` at
    ``t = 0..num_steps``."""
    r = jnp.asarray(zoo.RATIO_REWARD, dtype)
    s = jnp.asarray(zoo.RATIO_STOP, dtype)
    eye = jnp.eye(2, dtype=dtype)

    def values(theta, z):
        p1, cond = jax.nn.softmax(theta), jax.nn.softmax(z, axis=-1)
        pbar = p1 @ cond
        return (
            p1,
            pbar,
            _ratio(jnp.outer(p1, pbar), r, s),
            _ratio(p1[:, None] * cond, r, s),
        )

    def body(carry, _):
        theta, z = carry
        _, pbar, v, vj = values(theta, z)
        q1 = jax.vmap(lambda e: _ratio(jnp.outer(e, pbar), r, s))(eye)
        return (theta + step_size * q1, z + step_size * r / s), (v, vj)

    z = jnp.broadcast_to(jnp.asarray(z0, dtype), (2, 2))
    start = (jnp.zeros(2, dtype), z)
    _, (v, vj) = jax.lax.scan(body, start, None, length=num_steps + 1)
    return v, vj


def _library_trace(solver, game, init, num_steps: int):
    """``V(0)`` of ``solver``'s output at ``t = 0..num_steps`` via ``solve``."""
    metric = lambda g, p: M.evaluation.values(g, p)[0]  # noqa: E731
    sol = M.solve(
        solver, game, num_steps, init=init,
        checkpoints=range(1, num_steps + 1), metric=metric,
    )  # fmt: skip
    return jnp.concatenate(
        [metric(game, solver.output(game, solver.init(game, init)))[None], sol.trace]
    )


@eqx.filter_jit
def _compute(config: RatioGameConfig, i: int) -> RatioChunk:
    """Chunk ``i`` as one compiled program (the config and ``i`` are static,
    so a second run of the same config in a process reuses it)."""
    panel = config.panels[i]
    dtype = jnp.float64 if config.dtype == "float64" else jnp.float32
    game = zoo.ratio_game(dtype)
    z0 = config.near_stationary_logits if panel.init == "near_stationary" else (0, 0)
    z0 = jnp.asarray(z0, dtype)
    eta = jnp.asarray(panel.step_size, dtype)
    flat = jnp.full((2, 2), 0.5, dtype)
    prod = (flat, flat.at[0].set(jax.nn.softmax(z0)))
    ar = M.policies.AutoregressivePolicy(
        (flat, jnp.broadcast_to(jax.nn.softmax(z0), (2, 2, 2)))
    )
    t = panel.num_steps

    @jax.jit
    def run(eta, z0, prod, ar):
        seq, joint = authors_sequential(eta, t, z0, dtype)
        indep = _library_trace(M.solvers.GradientPlay(eta), game, prod, t)
        ppo = _library_trace(M.solvers.MultiAgentPPO(eta), game, ar, t)
        return seq, joint, indep, ppo

    seq, joint, indep, ppo = run(eta, z0, prod, ar)
    finite = jnp.all(jnp.isfinite(jnp.stack([seq, joint, indep, ppo])))
    return RatioChunk(seq=seq, joint=joint, indep=indep, ma_ppo=ppo, finite=finite)


def _first(trace: np.ndarray, threshold: float) -> int:
    hit = np.nonzero(trace >= threshold)[0]
    return int(hit[0]) if hit.size else -1


def _aggregate(config: RatioGameConfig, parts: list[RatioChunk]) -> dict:
    results = {
        "experiment": config.experiment,
        "name": config.name,
        "value_description": (
            "V at iteration t (after t updates; t = 0 is the start) of the ratio "
            "game x^T R y / x^T S y (Zhao et al. 2023, App. E). seq: the authors' "
            "sequential update, value of pi_1 x agent 2's marginal (as plotted); "
            "joint: the same iterate's correlated joint value; indep: independent "
            "softmax PG (GradientPlay on the embedded game); ma_ppo: exact "
            "MultiAgentPPO, joint value. first_reach[m][thr]: the first t with "
            "V >= thr, -1 if never"
        ),
        "panels": [],
        "paper_values_agree": True,
    }
    finite = True
    for panel, raw in zip(config.panels, parts, strict=True):
        finite &= bool(raw.finite)
        traces = {m: np.asarray(getattr(raw, m)) for m in METHODS}
        t_all = np.arange(panel.num_steps + 1)
        reported = [t for t in REPORTED if t < panel.num_steps] + [panel.num_steps]
        keep = (t_all % config.stride == 0) | (t_all == panel.num_steps)
        row = {
            "label": panel.label,
            "init": panel.init,
            "step_size": panel.step_size,
            "num_steps": panel.num_steps,
            "reported_t": reported,
            "values": {m: [float(traces[m][t]) for t in reported] for m in METHODS},
            "first_reach": {
                m: {str(x): _first(traces[m], x) for x in THRESHOLDS} for m in METHODS
            },
            "t": t_all[keep].tolist(),
            "trace": {m: traces[m][keep].tolist() for m in METHODS},
            "paper": [],
        }
        for e in panel.values:
            measured = float(traces[e.method][e.t])
            agrees = abs(measured - e.value) <= e.tolerance
            row["paper"].append(
                {**dataclasses.asdict(e), "measured": measured, "agrees": bool(agrees)}
            )
            results["paper_values_agree"] &= bool(agrees)
        for e in panel.crossings:
            measured = _first(traces[e.method], e.threshold)
            agrees = measured == e.t
            row["paper"].append(
                {**dataclasses.asdict(e), "measured": measured, "agrees": bool(agrees)}
            )
            results["paper_values_agree"] &= bool(agrees)
        if panel.init == "uniform":
            row["bound"] = _theorem45(panel, traces["ma_ppo"], row["t"])
        results["panels"].append(row)
    results["finite"] = finite
    return results


def _theorem45(panel, ppo: np.ndarray, kept: list[int]) -> dict:
    """Zhao et al. Theorem 4.5 beside MA-PPO's measured average gap.

    The theorem bounds ``(1/t) sum_{k<t} (J* - J(pi_k))`` (the expected gap of
    a uniformly drawn iterate) from the uniform policy; ``J* = 1`` and
    ``J = V(0)`` on the ratio game, and the trace holds every iterate.
    """
    t = np.asarray([x for x in kept if x >= 1])
    average = np.cumsum(1.0 - ppo)[t - 1] / t
    game = zoo.ratio_game(jnp.float64)
    bound = M.theory.zhao_theorem45(game, panel.step_size, t)
    value, printed = np.asarray(bound.value), np.asarray(bound.printed)
    largest = float(1.0 - ppo.min())  # no iterate's gap exceeds this
    return {
        "theorem": "Zhao et al. Theorem 4.5 (marlmeta.theory.zhao_theorem45)",
        "quantity": "average optimality gap of the MA-PPO iterates k < t",
        "applies": bool(np.all(bound.applies)),
        "t": t.tolist(),
        "average_gap": average.tolist(),
        "bound": value.tolist(),
        "printed": printed.tolist(),
        "bound_last": float(value[-1]),
        "printed_last": float(printed[-1]),
        "measured_last": float(average[-1]),
        "ratio_last": float(value[-1] / max(average[-1], 1e-300)),
        "vacuous_last": bool(value[-1] >= largest),
    }


_STYLE = {
    "seq": ("sequential (authors' code)", "-"),
    "indep": ("independent PG", "--"),
    "ma_ppo": ("exact MA-PPO", ":"),
}


def _draw_bound(ax, b: dict) -> None:
    """MA-PPO's average value over the iterates ``k < t`` (``1 - average
    gap``) and Theorem 4.5's guarantee ``1 - bound`` for it, dashed; a bound
    below the axis is written out instead of hidden."""
    avg = 1.0 - np.asarray(b["average_gap"])
    ax.plot(
        b["t"], avg, "-.", color="tab:green", lw=1, label="MA-PPO, mean of iterates"
    )
    ax.plot(
        b["t"], 1.0 - np.asarray(b["bound"]), "--", color="tab:red", lw=1,
        label="Thm 4.5: 1 - bound",
    )  # fmt: skip
    note = " (vacuous)" if b["vacuous_last"] else ""
    ax.text(
        0.98, 0.03,
        f"Thm 4.5 at T: bound {b['bound_last']:.3g}{note}, "
        f"measured {b['measured_last']:.3g}",
        transform=ax.transAxes, ha="right", fontsize=7,
    )  # fmt: skip


def figure(results: dict) -> bytes:
    """Figure 1's panels: value against iterations, three dynamics each."""
    plt = _plots.pyplot()
    n = len(results["panels"])
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4 * rows), squeeze=False)
    for ax, row in zip(axes.flat, results["panels"], strict=False):
        for m, (label, style) in _STYLE.items():
            ax.plot(row["t"], row["trace"][m], style, label=label)
        if "bound" in row:
            _draw_bound(ax, row["bound"])
        ax.set(
            xlabel="iteration",
            ylabel="value",
            ylim=(0.4, 1.02),
            title=f"{row['label']}: {row['init']}, step {row['step_size']}",
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    title = "Value of the ratio game against iterations (Zhao et al. 2023, Figure 1)"
    return _plots.png(fig, f"{title} ({results['name']})")
