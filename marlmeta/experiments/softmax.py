"""Seed 001's figures: softmax gradient play on one-state potential games.

Each solver is one resumable chunk. Iterations follow the paper: ``t = 1`` is
the initial policy and ``t`` the iterate after ``t - 1`` updates. Results carry
every traced number (NE-gap, ``||grad Phi||``, ``c(theta)``, ``Phi``) and, for
each value the config quotes from the paper, the measured value beside it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import marlmeta as M
from marlmeta.experiments.config_mpg import SoftmaxMPGConfig
from marlmeta.experiments.registry import GAMES, make_solver

_FIELDS = ("ne_gap", "grad_norm", "lojasiewicz", "potential")


def iterations(entry, config: SoftmaxMPGConfig) -> list[int]:
    """Paper iterations traced for one solver: ``1..plot_steps``, then every
    ``stride``-th, the last one and every iteration the paper quotes."""
    last = entry.num_steps + 1
    ts = set(range(1, min(config.plot_steps, last) + 1))
    ts |= set(range(config.stride, last + 1, config.stride)) | {last}
    ts |= {p.t for p in entry.paper}
    return sorted(ts)


def _solver(entry, dtype):
    hyper = {
        "step_size": jnp.asarray(entry.step_size, dtype),
        "barrier": jnp.asarray(entry.barrier, dtype),
    }
    if entry.solver == "NaturalGradientPlay":
        hyper.update(clip=entry.clip, centred_clip=entry.centred_clip)
    return make_solver(entry.solver, **hyper)


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


def _early(raw, prefix: str, players: int, keep: int) -> list:
    """Per player, the first ``keep`` rows of a ``(C, A_k)`` trace."""
    return [raw[f"{prefix}{k}"][:keep].tolist() for k in range(players)]


def softmax_plan(config: SoftmaxMPGConfig):
    from marlmeta.experiments.plots import plot_softmax
    from marlmeta.experiments.runner import Plan

    def compute(i):
        entry = config.solvers[i]
        game, init = _game_and_init(config)
        ts = iterations(entry, config)
        solver = _solver(entry, game.rewards.dtype)

        def metric(g, pol):
            # Seed 001 App. 8 also draws every player's Qbar and policy.
            return (
                M.evaluation.softmax_report(g, pol),
                pol,
                M.evaluation.averaged_q(g, pol),
            )

        run = jax.jit(
            lambda g, p: M.solve(
                solver,
                g,
                entry.num_steps,
                init=p,
                checkpoints=[t - 1 for t in ts[1:]],
                metric=metric,
            )
        )
        sol = run(game, init)
        start = metric(game, init)
        joined = jax.tree.map(
            lambda a, b: jnp.concatenate([a[None], b]), start, sol.trace
        )
        out = {f: getattr(joined[0], f) for f in _FIELDS}
        for k in range(game.num_players):
            out[f"pi_{k}"] = joined[1][k][:, 0]  # (C, A_k), the only state
            out[f"qbar_{k}"] = joined[2][k][:, 0]
        out["t"] = jnp.asarray(ts)
        out["finite"] = sol.finite
        return out

    def aggregate(parts):
        results = {
            "experiment": config.experiment,
            "name": config.name,
            "game": config.game,
            "init": "uniform"
            if config.init is None
            else [list(p) for p in config.init],
            "plot_steps": config.plot_steps,
            "metric_description": (
                "at paper iteration t (t = 1 is the initial policy): ne_gap = "
                "max_i (best-response value - value), grad_norm = ||grad Phi||_2 "
                "over all logits (closed form), lojasiewicz = c(theta) with the "
                "first-argmax rule of the authors' code, potential = Phi; all exact. "
                "policy_trace[k] and qbar_trace[k]: player k's policy and averaged "
                "Q-function Qbar_k at every t <= plot_steps (seed 001 App. 8)"
            ),
            "trajectory_of": config.trajectory_of,
            "solvers": [],
            "paper_values_agree": True,
        }
        finite = True
        for entry, raw in zip(config.solvers, parts, strict=True):
            finite &= bool(raw["finite"])
            t = raw["t"].tolist()
            keep = sum(1 for x in t if x <= config.plot_steps)
            players = sum(1 for x in raw if x.startswith("pi_"))
            row = {
                "label": entry.label,
                "solver": entry.solver,
                "step_size": entry.step_size,
                "barrier": entry.barrier,
                "clip": entry.clip,
                "centred_clip": entry.centred_clip,
                "t": t,
                **{f: raw[f].tolist() for f in _FIELDS},
                # The last traced iterate is the final policy (t = num_steps + 1).
                "final_policy": [raw[f"pi_{k}"][-1].tolist() for k in range(players)],
                "policy_trace": _early(raw, "pi_", players, keep),
                "qbar_trace": _early(raw, "qbar_", players, keep),
                "paper": [],
            }
            for p in entry.paper:
                j = t.index(p.t)
                check = {"t": p.t, "note": p.note, "tolerance": p.tolerance}
                agrees = True
                for f in ("potential", "ne_gap"):
                    if getattr(p, f) is not None:
                        check[f"paper_{f}"] = getattr(p, f)
                        check[f"measured_{f}"] = float(raw[f][j])
                        agrees &= abs(float(raw[f][j]) - getattr(p, f)) <= p.tolerance
                check["agrees"] = bool(agrees)
                row["paper"].append(check)
                results["paper_values_agree"] &= bool(agrees)
            results["solvers"].append(row)
        results["finite"] = finite
        return results

    return Plan(
        len(config.solvers),
        compute,
        aggregate,
        plot_softmax,
        config.dtype == "float64",
    )
