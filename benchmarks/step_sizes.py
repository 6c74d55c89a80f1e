"""Which step sizes work: every solver on random games of two sizes.

For each solver, a grid of step sizes is run on the same random games of two
sizes (a small and a larger one), ``T`` iterations from uniform play, and the
exact metric of the output policy is recorded (float64): NashConv for the zero-sum and
potential solvers, the CCE-gap for the general-sum ones, the optimality gap
for MA-PPO. One compiled call per solver and size runs every step size on
every game (``solve_batch(..., batch_solver=True)``). The table in the README
("Step sizes") is this script's JSON.

Run: python benchmarks/step_sizes.py [--games 8] [--steps 1000] [--json step_sizes.json]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import marlmeta as M

#: The step sizes tried, the same for every solver.
STEP_SIZES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)

#: Two sizes per game family: ``(num_actions, num_states)``.
SIZES = (((2, 2), 2), ((4, 4), 5))


F64 = jnp.float64  # large steps push float32 iterates off the simplex


def _zero_sum(key, n, actions, states):
    return eqx.filter_jit(M.games.random_zero_sum)(
        key, n, actions, states, 5, dtype=F64
    )


def _general_sum(key, n, actions, states):
    return eqx.filter_jit(M.games.random_general_sum)(
        key, n, actions, states, 5, dtype=F64
    )


def _potential(key, n, actions, states):
    return eqx.filter_jit(M.games.random_potential)(
        key, n, actions, states, 5, dtype=F64
    )


def _identical_discounted(key, n, actions, states):
    return eqx.filter_jit(M.games.random_identical_interest)(
        key, n, actions, states, discount=0.9, dtype=F64
    )


def _cooperative(key, n, actions, states):
    return eqx.filter_jit(M.games.random_cooperative)(
        key, n, actions, states, 0.9, dtype=F64
    )


def _nash_conv(game, policy):
    return M.evaluation.report(game, policy).nash_conv


def _cce_gap(game, policy):
    return M.evaluation.report(game, policy).cce_gap


def _optimality_gap(game, policy):
    return M.evaluation.optimality_gap(game, policy)


#: ``(solver class, games, metric name, metric)`` per solver.
CASES = {
    "ZeroSumOMD": (M.solvers.ZeroSumOMD, _zero_sum, "NashConv", _nash_conv),
    "GeneralSumOMD": (M.solvers.GeneralSumOMD, _general_sum, "CCE-gap", _cce_gap),
    "AdaptiveOFTRL": (M.solvers.AdaptiveOFTRL, _general_sum, "CCE-gap", _cce_gap),
    "ProjectedQDescent": (
        M.solvers.ProjectedQDescent,
        _potential,
        "NashConv",
        _nash_conv,
    ),
    "GradientPlay": (
        M.solvers.GradientPlay,
        _identical_discounted,
        "NashConv",
        _nash_conv,
    ),
    "NaturalGradientPlay": (
        M.solvers.NaturalGradientPlay,
        _identical_discounted,
        "NashConv",
        _nash_conv,
    ),
    "MultiAgentPPO": (
        M.solvers.MultiAgentPPO,
        _cooperative,
        "optimality gap",
        _optimality_gap,
    ),
}


#: The metric of uniform play per ``(games maker, metric, number of games,
#: actions, states)``: the solvers that share their games and metric (GeneralSumOMD and
#: AdaptiveOFTRL, GradientPlay and NaturalGradientPlay) compile it once.
_START: dict[tuple, np.ndarray] = {}


def _start(games, metric, key: tuple) -> np.ndarray:
    """The metric of uniform play on each of ``games`` (one compiled program)."""
    if key not in _START:
        uniform = jax.vmap(M.policies.uniform)(games)
        _START[key] = np.asarray(jax.jit(jax.vmap(metric))(games, uniform))
    return _START[key]


def sweep(name: str, num_games: int, num_steps: int) -> list[dict]:
    """The final metric of every step size on ``num_games`` games of each size."""
    cls, make, metric_name, metric = CASES[name]
    rows = []
    for actions, states in SIZES:
        games = make(jax.random.key(0), num_games, actions, states)
        k = len(STEP_SIZES)
        tiled = jax.tree.map(lambda x, k=k: jnp.concatenate([x] * k), games)
        eta = jnp.repeat(jnp.asarray(STEP_SIZES, games.rewards.dtype), num_games)
        t0 = time.perf_counter()
        # One entry per game for every numeric leaf (e.g. a barrier of 0).
        solver = jax.tree.map(
            lambda x, n=eta.shape: jnp.broadcast_to(x, n) if jnp.ndim(x) == 0 else x,
            cls(eta),
        )

        def run(solver=solver, tiled=tiled):
            sol = M.solve_batch(
                solver,
                tiled,
                num_steps,
                checkpoints=[num_steps],
                metric=metric,
                batch_solver=True,
            )
            return np.asarray(sol.trace)

        first = run()  # compiles, then runs
        seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        again = run()  # the same program again: the steady-state time
        steady = time.perf_counter() - t1
        assert np.array_equal(first, again, equal_nan=True)
        final_all = first[:, -1].reshape(k, num_games)
        start = _start(games, metric, (make, metric, num_games, actions, states))
        for j, eta_j in enumerate(STEP_SIZES):
            final = final_all[j]
            rows.append(
                {
                    "solver": name,
                    "metric": metric_name,
                    "actions": "x".join(map(str, actions)),
                    "states": states,
                    "step_size": eta_j,
                    "start_mean": float(np.mean(start)),
                    "final_mean": float(np.mean(final)),
                    "final_max": float(np.max(final)),
                    "finite": bool(np.all(np.isfinite(final))),
                    # one compiled call runs every step size of this size
                    "compile_s": max(seconds - steady, 0.0),
                    "steady_s": steady,
                }
            )
        print(f"{name} {actions} S={states}: {seconds:.1f} s", flush=True)
    return rows


def best(rows: list[dict]) -> list[dict]:
    """Per solver and size, the step size of the lowest mean final metric."""
    out = {}
    for row in rows:
        key = (row["solver"], row["actions"], row["states"])
        if row["finite"] and (
            key not in out or row["final_mean"] < out[key]["final_mean"]
        ):
            out[key] = row
    return list(out.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--solvers", nargs="*", default=list(CASES))
    parser.add_argument("--json", default=None)
    parser.add_argument(
        "--smoke", action="store_true", help="2 games, 20 iterations (a quick check)"
    )
    args = parser.parse_args()
    if args.smoke:
        # one size per solver: each size compiles its own sweep, and the
        # smoke run only checks that every solver's sweep runs
        global SIZES
        args.games, args.steps, SIZES = 2, 20, SIZES[:1]
    jax.config.update("jax_enable_x64", True)
    rows, failed = [], []
    for name in args.solvers:
        try:
            rows += sweep(name, args.games, args.steps)
        except Exception as err:  # a sweep that breaks: say so, run the others
            print(f"{name}: failed: {str(err).splitlines()[0]}", flush=True)
            failed.append(name)
    for row in best(rows):
        print(
            f"{row['solver']:20s} A={row['actions']:5s} S={row['states']}: best "
            f"step {row['step_size']:g} ({row['metric']} {row['start_mean']:.3g} -> "
            f"{row['final_mean']:.3g})"
        )
    if args.json:
        path = pathlib.Path(__file__).parent / args.json
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():  # keep the rows of the solvers not run this time
            done = {r["solver"] for r in rows}
            old = json.loads(path.read_text())["rows"]
            rows = [r for r in old if r["solver"] not in done] + rows
        data = {
            "num_games": args.games,
            "num_steps": args.steps,
            "step_sizes": list(STEP_SIZES),
            "device_kind": jax.devices()[0].device_kind,
            "jax_version": jax.__version__,
            "rows": rows,
        }
        path.write_text(json.dumps(data, indent=1) + "\n")
    if failed:  # the rows of the others are saved; the run still fails
        sys.exit(f"step-size sweeps failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
