"""Experiments on aggregative Markov games (none exist in the paper).

Tang, Tang, Wu, "Provably Efficient Reinforcement Learning for Large
Aggregative Markov Games" proves rates without experiments; these configs
measure them:

- ``aggregative_scaling``: the exact NE-gap of Aggre-BI's output and its
  certificate against ``n`` (``delta <= 1/n``), against ``alpha``, and the run
  time against ``d``, beside the theory's ``n^{-1/2}`` and ``alpha`` rates;
- ``aggre_vi``: Aggre-VI's NE-gap (of the output policy) and Nash regret
  (``sum_k NE-gap(pi^k)``) against episodes ``K`` beside ``K^{-1/2}``;
- ``congestion_welfare``: on singleton congestion games, the welfare of the
  equilibrium selected by Aggre-BI against an unselected one and the
  brute-force optimum over pure equilibria and over all profiles.

The planners and Aggre-VI are pure; this shell builds each game's grid on the
host (its shape depends on the data), jits them, and checks the plans. A seed of
``aggre_vi`` runs its episodes in one compiled call of :func:`marlmeta.solve`.
"""

from __future__ import annotations

import dataclasses
import itertools
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

import marlmeta as M
import marlmeta.aggregative as A
from marlmeta.experiments import _plots
from marlmeta.experiments._loader import ConfigError, check_sizes, setting
from marlmeta.experiments._protocol import Experiment, Plan

#: The planner and the generator, compiled by the shell (the library never
#: jits itself).
_aggre_bi = eqx.filter_jit(A.aggre_bi)
_random_aggregative = eqx.filter_jit(A.random_aggregative)


#: Why no config of this module takes a game from a file or OpenSpiel.
_NOT_A_TABLE = (
    "aggregative games are defined by an aggregate of the players' actions, "
    "not by a reward table"
)


def _plan(game, alpha, **options) -> A.PlanningResult:
    """Aggre-BI on ``game`` with its own grid, checked (raises on infeasibility)."""
    res = _aggre_bi(game, A.make_grid(game, alpha), **options)
    return A.check_plan(jax.block_until_ready(res))


def _positive(path, values: dict) -> None:
    for key, v in values.items():
        if not v > 0:
            raise ConfigError(f"{path}: key '{key}' is {v}; expected > 0")


class Point(eqx.Module):
    """One sweep point over the seeds: ``(games,)`` gaps and certificates."""

    gap: Float[Array, " G"]
    certificate: Float[Array, " G"]
    seconds: Float[Array, " G"]


@dataclasses.dataclass(frozen=True)
class ScalingConfig(Experiment, experiment="aggregative_scaling"):
    """Aggre-BI's NE-gap and certificate against ``n``, ``alpha`` and ``d``."""

    game_source_refusal = _NOT_A_TABLE

    name: str
    experiment: str
    players: tuple[int, ...] = setting(
        "sweep",
        (10, 30, 100, 300, 1000),
        doc="the numbers of players ``n`` of the first panel",
    )
    alphas: tuple[float, ...] = setting(
        "sweep",
        (0.4, 0.2, 0.1, 0.05),
        doc="the resolutions ``alpha`` of the second panel",
    )
    dims: tuple[int, ...] = setting(
        "sweep", (1, 2, 3), doc="the aggregate dimensions ``d`` of the run-time panel"
    )
    alpha: float = setting(
        "solver",
        0.1,
        doc="the resolution ``alpha`` of the grid of aggregates (panels 1 and 3)",
    )
    num_players: int = setting(
        "game", 20, doc="the number of players of panels 2 and 3"
    )
    horizon: int = setting("game", 2)
    num_states: int = setting("game", 2)
    num_actions: int = setting("game", 2)
    games: int = setting("game", 3, key="num_games")
    eta: float | None = setting(
        "solver", None, doc="the planner's fixed ``eta`` (``null``: the theory's)"
    )
    seed: int = setting("game", 0)
    description: str = ""

    def check(self, path: str) -> None:
        sizes = {"game.num_games": self.games, "game.horizon": self.horizon}
        sizes.update({f"sweep.players[{i}]": n for i, n in enumerate(self.players)})
        sizes.update({f"sweep.dims[{i}]": d for i, d in enumerate(self.dims)})
        check_sizes(path, sizes)
        _positive(path, {f"sweep.alphas[{i}]": a for i, a in enumerate(self.alphas)})
        _positive(path, {"solver.alpha": self.alpha})

    def sweep(self):
        """``(kind, n, alpha, d)`` per chunk."""
        rows = [("players", n, self.alpha, 1) for n in self.players]
        rows += [("alpha", self.num_players, a, 1) for a in self.alphas]
        rows += [("dim", self.num_players, self.alphas[0], d) for d in self.dims]
        return rows

    def plan(self) -> Plan:
        rows = self.sweep()
        return Plan(
            len(rows),
            lambda i: self._point(*rows[i]),
            self._aggregate,
            _scaling_figure,
            True,
        )

    def _point(self, kind, n, alpha, d) -> Point:
        games = _random_aggregative(
            jax.random.key(self.seed),
            self.games,
            horizon=self.horizon,
            num_states=self.num_states,
            num_players=n,
            num_actions=self.num_actions,
            dim=d,
        )
        eta = A.TheoryEta() if self.eta is None else A.FixedEta(self.eta)
        gap, cert, secs = [], [], []
        for k in range(self.games):
            g = jax.tree.map(lambda a, k=k: a[k], games)
            t0 = time.perf_counter()
            res = _plan(g, alpha, eta=eta)
            secs.append(time.perf_counter() - t0)
            gap.append(float(A.ne_gap(g, res.profile)))
            cert.append(float(res.certificate))
        return Point(*(jnp.asarray(v) for v in (gap, cert, secs)))

    def _aggregate(self, parts) -> dict:
        out = {"players": [], "alpha": [], "dim": []}
        for (kind, n, alpha, d), p in zip(self.sweep(), parts, strict=True):
            out[kind].append({
                "n": n, "alpha": alpha, "d": d,
                "gap_mean": float(np.mean(p.gap)), "gap_max": float(np.max(p.gap)),
                "certificate_mean": float(np.mean(p.certificate)),
                "seconds_mean": float(np.mean(p.seconds)),
                "bounded": bool(np.all(p.gap <= p.certificate + 1e-12)),
            })  # fmt: skip
        out["all_bounded"] = all(r["bounded"] for v in out.values() for r in v)
        return out


def _scaling_figure(results: dict) -> bytes:
    plt = _plots.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, kind, key in zip(
        axes[:2], ("players", "alpha"), ("n", "alpha"), strict=True
    ):
        rows = results[kind]
        x = np.array([r[key] for r in rows], float)
        cert = np.array([r["certificate_mean"] for r in rows])
        ax.loglog(x, [r["gap_mean"] for r in rows], "o-", label="exact NE-gap")
        ax.loglog(x, cert, "s-", label="certificate")
        rate = x**-0.5 if kind == "players" else x
        ax.loglog(
            x,
            rate * cert[0] / rate[0],
            "k--",
            label="n^-1/2" if kind == "players" else "alpha",
        )
        ax.set_xlabel("players n" if kind == "players" else "grid resolution alpha")
        ax.set_ylabel("NE-gap (mean over games)")
        ax.legend()
    rows = results["dim"]
    axes[2].semilogy([r["d"] for r in rows], [r["seconds_mean"] for r in rows], "o-")
    axes[2].set_xlabel("aggregate dimension d")
    axes[2].set_ylabel("seconds per Aggre-BI plan")
    return _plots.png(fig, "Aggre-BI: NE-gap, certificate and run time")


class VIRun(eqx.Module):
    """One seed: per-episode NE-gap of the output and of ``pi^k``, and width."""

    output_gap: Float[Array, " K"]
    episode_gap: Float[Array, " K"]
    width: Float[Array, " K"]


@dataclasses.dataclass(frozen=True)
class AggreVIConfig(Experiment, experiment="aggre_vi"):
    """Aggre-VI's NE-gap and Nash regret against episodes."""

    game_source_refusal = _NOT_A_TABLE

    name: str
    experiment: str
    episodes: int = setting(
        "solver", 2000, key="num_episodes", doc="Aggre-VI's episodes ``K``"
    )
    seeds: int = setting("run", 3)
    alpha: float = setting(
        "solver", 0.1, doc="the resolution ``alpha`` of the grid of aggregates"
    )
    bonus: float = setting("solver", 0.05, doc="the scale of the exploration bonus")
    learn_rewards: bool = setting(
        "solver", False, doc="estimate the rewards too (``false``: known rewards)"
    )
    num_players: int = setting("game", 3)
    horizon: int = setting("game", 2)
    num_states: int = setting("game", 2)
    slope_scale: float = setting(
        "game", 0.2, doc="the scale of the random reward slopes"
    )
    coupling_scale: float = setting(
        "game", 0.2, doc="the scale of the random coupling through the aggregate"
    )
    seed: int = setting("game", 0)
    description: str = ""

    def check(self, path: str) -> None:
        check_sizes(
            path, {"solver.num_episodes": self.episodes, "run.seeds": self.seeds}
        )
        _positive(path, {"solver.alpha": self.alpha, "solver.bonus": self.bonus})

    def game(self):
        return _random_aggregative(
            jax.random.key(self.seed),
            horizon=self.horizon,
            num_states=self.num_states,
            num_players=self.num_players,
            slope_scale=self.slope_scale,
            coupling_scale=self.coupling_scale,
        )

    def plan(self) -> Plan:
        return Plan(self.seeds, self._run, self._aggregate, _vi_figure, True)

    def _run(self, i) -> VIRun:
        g = self.game()
        vi = A.AggreVI(
            alpha=self.alpha,
            num_episodes=self.episodes,
            bonus=self.bonus,
            learn_rewards=self.learn_rewards,
        )
        start = A.AggreVIInit(A.make_grid(g, self.alpha), jax.random.key(1000 + i))
        return _vi_run(vi, g, start, self.episodes)

    def _aggregate(self, parts) -> dict:
        out = np.stack([p.output_gap for p in parts])
        ep = np.stack([p.episode_gap for p in parts])
        width = np.stack([p.width for p in parts])
        return {
            "episodes": list(range(1, self.episodes + 1)),
            "output_gap_mean": out.mean(0).tolist(),
            "nash_regret_mean": np.cumsum(ep, 1).mean(0).tolist(),
            "width_mean": width.mean(0).tolist(),
            "width_bound": float(A.width_bound(self.game(), self.alpha)),
        }


@eqx.filter_jit
def _vi_run(vi: A.AggreVI, game, start: A.AggreVIInit, episodes: int) -> VIRun:
    """All episodes of one seed in one compiled call: the NE-gap of the output
    after every episode (the trace of :func:`marlmeta.solve`), of ``pi^k`` and
    the output's width (from the diagnostics)."""
    sol = M.solve(
        vi,
        game,
        episodes,
        init=start,
        checkpoints=range(1, episodes + 1),
        metric=A.ne_gap,
    )
    episode_gap = jax.vmap(lambda p: A.ne_gap(game, p))(sol.diagnostics.profile)
    return VIRun(sol.trace, episode_gap, sol.diagnostics.best_width)


def _vi_figure(results: dict) -> bytes:
    plt = _plots.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    k = np.array(results["episodes"], float)
    w = np.array(results["width_mean"])
    axes[0].loglog(k, results["output_gap_mean"], label="NE-gap of output")
    axes[0].loglog(k, w, label="width max_i (Vbar - Vlow)")
    axes[0].loglog(
        k,
        w + results["width_bound"],
        "C1:",
        label="Theorem 5.1 bound: width + sum_h eps_h",
    )
    axes[0].loglog(k, w[0] * k**-0.5, "k--", label="K^-1/2")
    axes[0].legend(fontsize=8, loc="lower left")
    axes[0].set_xlabel("episodes K")
    axes[0].set_ylabel("NE-gap and confidence width")
    axes[1].loglog(k, results["nash_regret_mean"], label="Nash regret")
    axes[1].loglog(k, results["nash_regret_mean"][0] * k**0.5, "k--", label="K^1/2")
    axes[1].legend()
    axes[1].set_xlabel("episodes K")
    axes[1].set_ylabel("Nash regret")
    return _plots.png(fig, "Aggre-VI: NE-gap and Nash regret against episodes")


class WelfarePoint(eqx.Module):
    """Welfare of the selected and unselected outputs, the brute-force optima
    and Theorem 4.2's lower bound on the selected welfare
    (:func:`marlmeta.theory.aggregative_theorem42`: ``OPT(zeta) - E``)."""

    selected: Float[Array, ""]
    unselected: Float[Array, ""]
    best_equilibrium: Float[Array, ""]
    best_profile: Float[Array, ""]
    selected_gap: Float[Array, ""]
    theorem42: Float[Array, ""]
    theorem42_opt: Float[Array, ""]


@dataclasses.dataclass(frozen=True)
class CongestionWelfareConfig(Experiment, experiment="congestion_welfare"):
    """Equilibrium selection by linear welfare on singleton congestion games."""

    game_source_refusal = _NOT_A_TABLE

    name: str
    experiment: str
    players: tuple[int, ...] = setting(
        "sweep", (4, 5, 6, 7, 8), doc="the numbers of players, one point each"
    )
    theta: tuple[float, ...] = setting(
        "game", (1.0, 0.8, 0.6), doc="the resources' congestion slopes"
    )
    cost: tuple[float, ...] = setting(
        "game", (1.0, 1.2, 0.8), doc="the resources' base costs"
    )
    alpha: float = setting(
        "solver", 0.1, doc="the resolution ``alpha`` of the grid of aggregates"
    )
    seed: int = setting("game", 0, doc="the seed of the random welfare weights")
    description: str = ""

    def check(self, path: str) -> None:
        check_sizes(
            path, {f"sweep.players[{i}]": n for i, n in enumerate(self.players)}
        )
        if len(self.theta) != len(self.cost):
            raise ConfigError(
                f"{path}: keys 'game.theta' and 'game.cost' differ in length"
            )
        _positive(path, {"solver.alpha": self.alpha})

    def plan(self) -> Plan:
        return Plan(
            len(self.players), self._point, self._aggregate, _welfare_figure, True
        )

    def _point(self, i) -> WelfarePoint:
        n, m = self.players[i], len(self.theta)
        g = A.singleton_congestion(self.theta, self.cost, n)
        w = np.random.default_rng(self.seed + i).uniform(size=(1, 1, n, m))
        sel = _plan(g, self.alpha, welfare=w)
        plain = _plan(g, self.alpha)
        profiles = np.array(list(itertools.product(range(m), repeat=n)))
        gaps = jax.jit(jax.vmap(lambda a: A.ne_gap(g, a[None, None])))(profiles)
        wel = w[0, 0, np.arange(n), profiles].sum(1)
        eq = np.asarray(gaps) <= 1e-12
        bound = M.theory.aggregative_theorem42(g, w, sel)
        if not bool(bound.applies):
            raise RuntimeError("Theorem 4.2 needs the theory slack (TheoryEta)")
        e = g.dim * np.max(w.max(-1) - w.min(-1))
        return WelfarePoint(
            selected=A.welfare(g, sel.profile, w),
            unselected=A.welfare(g, plain.profile, w),
            best_equilibrium=jnp.asarray(wel[eq].max()),
            best_profile=jnp.asarray(wel.max()),
            selected_gap=A.ne_gap(g, sel.profile),
            theorem42=bound.value,
            theorem42_opt=bound.value + e,
        )

    def _aggregate(self, parts) -> dict:
        keys = [f.name for f in dataclasses.fields(WelfarePoint)]
        out = {k: [float(getattr(p, k)) for p in parts] for k in keys}
        out["players"] = list(self.players)
        out["theorem42_description"] = (
            "Tang, Tang, Wu Theorem 4.2 (one step): selected welfare >= OPT(zeta) "
            "- E, OPT(zeta) the best welfare of a zeta gamma_r-approximate PNE "
            "(brute force, theorem42_opt), E = d max_i range(w_i) (vertex "
            "rounding); marlmeta.theory.aggregative_theorem42"
        )
        return out


def _welfare_figure(results: dict) -> bytes:
    plt = _plots.pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.8))
    n = results["players"]
    # Distinct markers and dashes: the selected curve often lies on an optimum.
    curves = {
        "best_profile": ("k^:", "best profile (brute force)"),
        "best_equilibrium": ("gs--", "best exact equilibrium (brute force)"),
        "unselected": ("C1v-", "Aggre-BI without selection"),
        "selected": ("C0o-", "Aggre-BI selecting by welfare"),
    }
    for key, (style, label) in curves.items():
        ax.plot(n, results[key], style, label=label, markerfacecolor="none")
    if "theorem42" in results:
        ax.plot(
            n,
            results["theorem42"],
            "k--",
            linewidth=1,
            label="Theorem 4.2: lower bound on the selected welfare",
        )
    ax.set_xticks(n)
    ax.set_xlabel("number of players n")
    ax.set_ylabel("linear welfare (random weights)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    return _plots.png(fig, "Congestion games: welfare of the selected equilibrium")
