"""Leduc poker: exact exploitability against OpenSpiel's, and marlmeta's CFR
family beside OpenSpiel's CFR and CFR+ (issue 28).

Three tables' worth of rows, in one run:

- ``evaluation``: one exact NashConv of the uniform policy and of a CFR+
  average policy (100 iterations) by marlmeta on the
  :class:`~marlmeta.games.ObservedGame` of
  ``from_openspiel(name, ObservationTree())`` (the representation the solvers
  run on) and on the ``TurnBasedGame`` of ``TurnBased()``, compile time apart
  from the steady state (best of 3), beside OpenSpiel's Python
  ``exploitability.nash_conv`` and its C++ ``pyspiel.nash_conv`` on the same
  policy; the values must agree to 1e-9 (checked in the run).
- ``solver``: NashConv of the average policy after 10, 100 and 1,000
  iterations (and at a grid of checkpoints in between) of marlmeta's
  ``CFRPlus``, ``PredictiveCFRPlus``, ``DiscountedCFR`` and
  ``CounterfactualOMD`` (the best of a few step sizes, run as one vmapped
  batch), and of OpenSpiel's C++ ``CFRSolver`` and ``CFRPlusSolver``; seconds
  per iteration of each (marlmeta: steady state of a compiled run of
  ``--iterations`` iterations without evaluation, over the iterations;
  OpenSpiel: its loop of ``evaluate_and_update_policy`` without evaluation),
  and the NashConv each reaches within equal wall-time budgets. Checked in
  the run: ``CFRPlus`` equals OpenSpiel's C++ CFR+ at every checkpoint, and
  ``DiscountedCFR`` equals OpenSpiel's Python ``DCFRSolver`` at 10
  iterations, to 1e-9.
- ``batch``: a family of ``--batch`` Leduc games with zero-sum Gaussian reward
  noise (``marlmeta.games.perturb_rewards``, std 0.1) solved by
  ``PredictiveCFRPlus`` for 100 iterations by ``marlmeta.solve_batch``, which
  maps the structure the games share (the tree's successor indices, the
  observation maps, the legal masks) once and only the numbers per game:
  games per second, beside one game's time (CPU seconds) and beside
  ``jax.vmap`` of every leaf (each game with its own copy of the index
  tables). Checked in the run: the batch's NashConv of the first and the last
  game equals that game's run alone to 1e-9 (the same arithmetic; XLA may
  order the sums of a batched program differently).

``--smoke`` runs Kuhn poker with 20 iterations, two step sizes and 2 games
in the batch, without the ``jax.vmap`` of every leaf (seconds on a CPU).

Run: python benchmarks/leduc.py [--iterations 1000] [--batch 16]
     [--smoke | --gpu] [--json PATH]
"""

from __future__ import annotations

import argparse
import time

from _timing import Table, add_common_flags, peak_memory_bytes

ap = argparse.ArgumentParser()
ap.add_argument("--iterations", type=int, default=1000)
ap.add_argument("--batch", type=int, default=16)
add_common_flags(ap)
ARGS = ap.parse_args()
NAME = "leduc_poker"
if ARGS.smoke:
    NAME, ARGS.iterations, ARGS.batch = "kuhn_poker", 20, 2
elif ARGS.gpu:
    ARGS.batch = 256

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pyspiel  # noqa: E402
from open_spiel.python import policy as os_policy  # noqa: E402
from open_spiel.python.algorithms import (  # noqa: E402
    discounted_cfr,
    exploitability as os_expl,
)

import marlmeta as M  # noqa: E402
from marlmeta.interop import ObservationTree, TurnBased  # noqa: E402

T = ARGS.iterations
TIMED = min(T, 100)  # iterations per timed run (the time per iteration)
REPORTED = tuple(t for t in (10, 100, 1000) if t <= T)
GRID = tuple(sorted({*REPORTED, *np.unique(np.geomspace(1, T, 25).astype(int))}))
# CounterfactualOMD's step sizes
ETAS = (1.0, 10.0) if ARGS.smoke else (1.0, 3.0, 10.0, 30.0, 100.0)


def timed(fn, *args):
    """``(CPU seconds of this process, result)``: CPU time, not wall time, since
    the machine is shared (all of marlmeta's threads count; OpenSpiel's solvers
    and evaluation are single-threaded)."""
    t0 = time.process_time()
    out = jax.block_until_ready(fn(*args))
    return time.process_time() - t0, out


def compile_and_steady(fn, *args, repeats: int = 3) -> tuple[float, float]:
    """``(compile seconds, best steady-state seconds)`` of a jitted ``fn``, in
    CPU time."""
    compile_s, compiled = timed(lambda: fn.lower(*args).compile())
    compiled(*args)  # warm-up
    return compile_s, min(timed(compiled, *args)[0] for _ in range(repeats))


def best_of(fn, *args, repeats: int = 3):
    return min(timed(fn, *args)[0] for _ in range(repeats)), fn(*args)


OS_GAME = pyspiel.load_game(NAME)
TREE = M.interop.from_openspiel(OS_GAME, ObservationTree())
TURNS = M.interop.from_openspiel(OS_GAME, TurnBased())
GAME = TREE.game
table = Table(f"{NAME}: exact NashConv and the CFR family vs OpenSpiel", ARGS)


# ------------------------------------------------------------------ evaluation
@jax.jit
def tree_nash_conv(game, tables):
    return M.evaluation.nash_conv(game, game.observation_policy(tables))


@jax.jit
def turns_nash_conv(game, table):
    return game.nash_conv(table)


def tree_tables(tabular) -> tuple:
    """Per player the ``(H, O_i, A_i)`` table of an OpenSpiel tabular policy
    (each information state's row at every step; observations where the
    player does not move keep their single legal action)."""
    out = []
    for names, mask in zip(TREE.names, GAME.policy_masks(), strict=True):
        table = np.asarray(mask, np.float64)
        table = table / table.sum(-1, keepdims=True)
        for o, key in enumerate(names):
            if key in tabular.state_lookup:
                table[:, o] = tabular.policy_for_key(key)
        out.append(jnp.asarray(table * np.asarray(mask)))
    return tuple(out)


def evaluation_rows(label: str, tabular) -> None:
    tables = tree_tables(tabular)
    flat = jnp.asarray(TURNS.policy_from_openspiel(tabular))
    cpp_policy = os_policy.python_policy_to_pyspiel_policy(tabular)
    cpp_s, cpp = best_of(pyspiel.nash_conv, OS_GAME, cpp_policy)
    py_s, py = best_of(os_expl.nash_conv, OS_GAME, tabular, repeats=1)
    for method, fn, game, args in (
        ("ObservedGame", tree_nash_conv, GAME, tables),
        ("TurnBasedGame", turns_nash_conv, TURNS.game, flat),
    ):
        compile_s, steady_s = compile_and_steady(fn, game, args)
        ours = float(fn(game, args))
        row = table.add(
            part="evaluation",
            benchmark=NAME,
            policy=label,
            method=method,
            compile_s=compile_s,
            steady_s=steady_s,
            openspiel_cpp_s=cpp_s,
            openspiel_python_s=py_s,
            marlmeta_policies_per_s=1 / steady_s,
            openspiel_policies_per_s=1 / cpp_s,
            speedup=cpp_s / steady_s,
            speedup_vs_python=py_s / steady_s,
            nash_conv=ours,
            max_abs_diff=max(abs(ours - cpp), abs(ours - py)),
        )
        print(
            f"evaluation {label:>12} {method:>14}: compile {compile_s:.2f} s, "
            f"{steady_s * 1e3:.2f} ms; OpenSpiel C++ {cpp_s * 1e3:.2f} ms, "
            f"Python {py_s * 1e3:.1f} ms; NashConv {ours:.6f}, "
            f"|diff| {row['max_abs_diff']:.1e}"
        )
        assert row["max_abs_diff"] < 1e-9, row


# --------------------------------------------------------------------- solvers
def nash_conv_metric(game, policy):
    return M.evaluation.nash_conv(game, policy)


def run_traced(solver, checkpoints):
    return jax.jit(
        lambda g: M.solve(
            solver, g, T, checkpoints=checkpoints, metric=nash_conv_metric
        )
    )


def run_bare(solver, game):
    """``(compile, seconds per iteration)`` of ``TIMED`` iterations and the
    output policy, no evaluation."""

    def go(g):
        state = solver.init(g, solver.default_init(g, TIMED))
        state = jax.lax.fori_loop(0, TIMED, lambda _, s: solver.step(g, s), state)
        return solver.output(g, state).tables

    compile_s, steady_s = compile_and_steady(jax.jit(go), game)
    return compile_s, steady_s / TIMED


def ours(name: str, solver) -> dict:
    compile_s, per_iteration = run_bare(solver, GAME)
    curve = np.asarray(run_traced(solver, GRID)(GAME).trace)
    return {
        "method": f"marlmeta {name}",
        "compile_s": compile_s,
        "s_per_iteration": per_iteration,
        "curve": curve,
    }


def counterfactual_omd() -> dict:
    solvers = M.solvers.CounterfactualOMD(jnp.asarray(ETAS))
    games = jax.tree.map(lambda x: jnp.broadcast_to(x, (len(ETAS), *x.shape)), GAME)
    sweep = jax.jit(
        jax.vmap(
            lambda s, g: M.solve(s, g, T, checkpoints=GRID, metric=nash_conv_metric)
        )
    )
    curves = np.asarray(sweep(solvers, games).trace)  # (etas, checkpoints)
    best = int(np.argmin(curves[:, -1]))
    compile_s, per_iteration = run_bare(M.solvers.CounterfactualOMD(ETAS[best]), GAME)
    return {
        "method": f"marlmeta CounterfactualOMD (eta={ETAS[best]:g}, best of "
        f"{list(ETAS)} at T={T})",
        "compile_s": compile_s,
        "s_per_iteration": per_iteration,
        "curve": curves[best],
        "final_per_eta": {
            f"{e:g}": float(c[-1]) for e, c in zip(ETAS, curves, strict=True)
        },
    }


def openspiel(name: str, make) -> dict:
    solver, curve, seconds = make(OS_GAME), [], 0.0
    for t in range(1, T + 1):
        t0 = time.process_time()
        solver.evaluate_and_update_policy()
        seconds += time.process_time() - t0
        if t in GRID:
            curve.append(pyspiel.nash_conv(OS_GAME, solver.average_policy()))
    return {
        "method": f"OpenSpiel C++ {name}",
        "compile_s": 0.0,
        "s_per_iteration": seconds / T,
        "curve": np.asarray(curve),
    }


def at_budget(entry: dict, budget: float) -> float:
    """NashConv at the last checkpoint reached within ``budget`` seconds."""
    reached = [k for k, t in enumerate(GRID) if t * entry["s_per_iteration"] <= budget]
    return float(entry["curve"][reached[-1]]) if reached else float("nan")


def solver_rows() -> list[dict]:
    entries = [
        ours("CFRPlus", M.solvers.CFRPlus()),
        ours("PredictiveCFRPlus", M.solvers.PredictiveCFRPlus()),
        ours("DiscountedCFR", M.solvers.DiscountedCFR()),
        counterfactual_omd(),
        openspiel("CFR", pyspiel.CFRSolver),
        openspiel("CFR+", pyspiel.CFRPlusSolver),
    ]
    cfr_plus, os_cfr_plus = entries[0], entries[-1]
    gaps = np.abs(cfr_plus["curve"] - os_cfr_plus["curve"])
    diff = float(gaps.max())
    apart = [t for t, g in zip(GRID, gaps, strict=True) if g >= 1e-9]
    print(
        f"CFRPlus vs OpenSpiel CFR+ at {len(GRID)} checkpoints: max |diff| "
        f"{diff:.1e}, first checkpoint 1e-9 apart: {apart[:1] or None}"
    )
    # Regret matching+ is discontinuous where a regret crosses 0, so rounding
    # (a different order of sums) may part the runs after many iterations;
    # the first 10 iterations must agree.
    assert gaps[: GRID.index(10) + 1].max() < 1e-9, gaps
    # DiscountedCFR against OpenSpiel's Python DCFR (alpha 3/2, beta 0, gamma 2).
    dcfr = discounted_cfr.DCFRSolver(OS_GAME)
    for _ in range(10):
        dcfr.evaluate_and_update_policy()
    theirs = os_expl.nash_conv(OS_GAME, dcfr.average_policy())
    # marlmeta's DiscountedCFR run above at its checkpoint of 10 iterations
    # (its weights depend on the iteration, not on the run's length: a run of
    # 10 iterations gives the same policy; no program of its own)
    dcfr = next(e for e in entries if e["method"] == "marlmeta DiscountedCFR")
    dcfr_diff = abs(float(dcfr["curve"][GRID.index(10)]) - theirs)
    print(
        f"DiscountedCFR vs OpenSpiel DCFR after 10 iterations: |diff| {dcfr_diff:.1e}"
    )
    assert dcfr_diff < 1e-9, dcfr_diff
    reference = os_cfr_plus["s_per_iteration"]
    budgets = [reference * t for t in REPORTED]
    for e in entries:
        rate = "openspiel_" if e["method"].startswith("OpenSpiel") else ""
        rate += "iterations_per_s"
        at = {t: float(e["curve"][GRID.index(t)]) for t in REPORTED}
        row = table.add(
            part="solver",
            benchmark=NAME,
            method=e["method"],
            compile_s=e["compile_s"],
            steady_s=e["s_per_iteration"] * T,
            s_per_iteration=e["s_per_iteration"],
            **{rate: 1 / e["s_per_iteration"]},
            nash_conv_at_iterations={str(t): v for t, v in at.items()},
            nash_conv_at_openspiel_cfr_plus_time={
                f"{b:.4g}s (OpenSpiel CFR+ x{t})": at_budget(e, b)
                for b, t in zip(budgets, REPORTED, strict=True)
            },
            checkpoints=list(GRID),
            curve=e["curve"].tolist(),
            **({"final_per_eta": e["final_per_eta"]} if "final_per_eta" in e else {}),
            max_abs_diff_vs_openspiel_cfr_plus=diff if e is cfr_plus else None,
            checkpoints_1e9_apart_from_openspiel_cfr_plus=(
                apart if e is cfr_plus else None
            ),
            max_abs_diff_vs_openspiel_dcfr_t10=dcfr_diff
            if "Discounted" in e["method"]
            else None,
        )
        print(
            f"{e['method']:>70}: {e['s_per_iteration'] * 1e3:.2f} ms/iteration; "
            + ", ".join(f"T={t}: {v:.3g}" for t, v in at.items())
            + "; at equal time: "
            + ", ".join(
                f"{v:.3g}" for v in row["nash_conv_at_openspiel_cfr_plus_time"].values()
            )
        )


# ----------------------------------------------------------------------- batch
def batch_row() -> None:
    steps, solver = 100, M.solvers.PredictiveCFRPlus()
    games = M.games.perturb_rewards(jax.random.key(0), GAME, ARGS.batch, 0.1)

    def one(g):
        return M.solve(solver, g, steps, metric=nash_conv_metric).trace[-1]

    def family(g):
        return M.solve_batch(solver, g, steps, metric=nash_conv_metric).trace[:, -1]

    single = jax.jit(one)
    one_compile_s, one_s = compile_and_steady(single, GAME, repeats=2)
    first_s, conv = timed(family, games)  # compiles the chunk
    steady_s = min(timed(family, games)[0] for _ in range(2))
    conv = np.asarray(conv)
    assert np.isfinite(conv).all(), conv
    # Every game's run is its run alone (first and last game): the same
    # arithmetic, though XLA may order a batched program's sums differently.
    diff = max(
        abs(float(single(jax.tree.map(lambda x, k=k: x[k], games))) - conv[k])
        for k in (0, ARGS.batch - 1)
    )
    assert diff < 1e-9, diff
    # Before: jax.vmap over every leaf, the tree's index tables copied per game
    # (a time only: not compiled in the smoke run).
    every_compile_s, every_s = (
        (None, None)
        if ARGS.smoke
        else compile_and_steady(jax.jit(jax.vmap(one)), games, repeats=1)
    )
    table.add(
        part="batch",
        benchmark=NAME,
        method="marlmeta PredictiveCFRPlus, solve_batch over perturbed games "
        "(shared structure mapped once)",
        games=ARGS.batch,
        iterations=steps,
        compile_s=max(first_s - steady_s, 0.0),
        steady_s=steady_s,
        marlmeta_games_per_s=ARGS.batch / steady_s,
        one_game_s=one_s,
        one_game_compile_s=one_compile_s,
        speedup_vs_one_at_a_time=ARGS.batch * one_s / steady_s,
        vmap_every_leaf_s=every_s,
        vmap_every_leaf_compile_s=every_compile_s,
        speedup_vs_vmap_every_leaf=None if every_s is None else every_s / steady_s,
        nash_conv_max=float(conv.max()),
        max_abs_diff_vs_one_game=diff,
        peak_memory_bytes=peak_memory_bytes(),
    )
    print(
        f"batch of {ARGS.batch} perturbed games x {steps} iterations: solve_batch "
        f"{steady_s:.2f} s, {ARGS.batch / steady_s:.1f} games/s (one game "
        f"{one_s:.3f} s: x{ARGS.batch * one_s / steady_s:.2f}; vmap of every leaf "
        f"{'not timed' if every_s is None else f'{every_s:.2f} s'}); max NashConv "
        f"{conv.max():.2e}, |diff| to one game "
        f"{diff:.1e}"
    )


uniform = os_policy.UniformRandomPolicy(OS_GAME)
evaluation_rows("uniform", os_policy.tabular_policy_from_callable(OS_GAME, uniform))
warm = pyspiel.CFRPlusSolver(OS_GAME)
for _ in range(100):
    warm.evaluate_and_update_policy()
cpp_average = warm.average_policy()
average = os_policy.tabular_policy_from_callable(
    OS_GAME, lambda state: cpp_average.action_probabilities(state)
)
evaluation_rows("CFR+ average", average)
solver_rows()
batch_row()
table.save(ARGS.json)
