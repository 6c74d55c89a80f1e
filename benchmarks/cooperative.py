"""Exact MA-PPO on batches of random cooperative games vs a per-game NumPy loop.

``solve_batch(MultiAgentPPO)`` (Zhao, Yang, Wang, Lee, ICML 2023, Algorithm 1,
exact tabular) over 1, 100 and 10,000 random cooperative games (N=3 agents, two
actions each, S=4, gamma=0.9), T=200 iterations, optimality gap traced at T,
float64. Measured per batch size: the compile time (the first call minus the
steady call, floored at 0), the steady-state seconds of one call, the
game-iterations per second and the speed-up over the NumPy reference. The
NumPy reference runs the same update one game at a time (vectorised over
states and joint actions within a game), is timed on a few games in the same
run and checked against marlmeta's policies.

Sizes: no flag, 1, 100 and 10,000 games; ``--smoke``, 4 games x 5 iterations
(seconds on a CPU); ``--gpu``, 10,000, 100,000 and 1,000,000 games x 200
iterations.

Run: python benchmarks/cooperative.py [--sizes 1 100 10000] [--steps 200]
     [--smoke | --gpu] [--json PATH]
"""

from __future__ import annotations

import argparse
import time

from _timing import Table, add_common_flags, force_cpu_devices

ap = argparse.ArgumentParser()
ap.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 10_000])
ap.add_argument("--steps", type=int, default=200)
ap.add_argument("--numpy-games", type=int, default=3)
# One device by default: with the batch sharded over two forced CPU devices the
# 10,000-game run stalled on the shared 2-core machine (see the report).
ap.add_argument("--cpu-devices", type=int, default=1)
add_common_flags(ap)
ARGS = ap.parse_args()
if ARGS.smoke:
    ARGS.sizes, ARGS.steps, ARGS.numpy_games = [4], 5, 1
elif ARGS.gpu:  # MA-PPO on a million games
    ARGS.sizes = [10_000, 100_000, 1_000_000]
force_cpu_devices(ARGS.cpu_devices)  # before JAX starts

import equinox as eqx  # noqa: E402
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import marlmeta as M  # noqa: E402


def numpy_ma_ppo(r, p, gamma, eta, steps):
    """``theta^m += eta Q^{1:m}`` for 3 agents; returns the last tables."""
    s = r.shape[0]
    theta = [np.zeros((s, 2)), np.zeros((s, 2, 2)), np.zeros((s, 2, 2, 2))]
    for _ in range(steps + 1):
        pol = [np.exp(t - t.max(-1, keepdims=True)) for t in theta]
        pol = [x / x.sum(-1, keepdims=True) for x in pol]
        joint = pol[0][:, :, None, None] * pol[1][:, :, :, None] * pol[2]
        p_pi = np.einsum("sabc,sabct->st", joint, p)
        v = np.linalg.solve(np.eye(s) - gamma * p_pi, (joint * r).sum((1, 2, 3)))
        q3 = r + gamma * p @ v
        q2 = (q3 * pol[2]).sum(-1)
        q1 = (q2 * pol[1]).sum(-1)
        theta = [t + eta * q for t, q in zip(theta, (q1, q2, q3), strict=True)]
    return pol


def main():
    args = ARGS
    T, eta = args.steps, 1.0
    table = Table(
        f"MultiAgentPPO, solve_batch, N=3 A=2 S=4 gamma=0.9, T={T}, float64 "
        "(NumPy per-game loop beside)",
        args,
    )
    solver = M.solvers.MultiAgentPPO(eta)
    print(
        f"{'games':>7} {'compile s':>10} {'steady s':>9} {'game-it/s':>10} "
        f"{'numpy game-it/s':>16} {'speed-up':>9} {'max |dpi|':>10}"
    )
    for n in args.sizes:
        games = eqx.filter_jit(M.games.random_cooperative)(
            jax.random.key(0), n, (2, 2, 2), 4, 0.9, dtype=np.float64
        )
        run = lambda g: M.solve_batch(  # noqa: E731
            solver, g, T, metric=M.evaluation.optimality_gap
        )
        t0 = time.perf_counter()
        jax.block_until_ready(run(games))
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = jax.block_until_ready(run(games))
        steady = time.perf_counter() - t0
        # A compilation cache can make the first call no slower than the next.
        compile_s = max(first - steady, 0.0)
        m = min(n, args.numpy_games)
        r = np.asarray(games.reward_model.reward[:m])
        p = np.asarray(games.transitions.probs[:m, 0])
        t0 = time.perf_counter()
        ref = [numpy_ma_ppo(r[k], p[k], 0.9, eta, T) for k in range(m)]
        np_rate = m * (T + 1) / (time.perf_counter() - t0)
        err = max(
            float(np.max(np.abs(np.asarray(out.policy[2][k]) - ref[k][2])))
            for k in range(m)
        )
        assert err < 1e-9, err
        rate = n * T / steady
        print(
            f"{n:>7} {compile_s:>10.2f} {steady:>9.3f} {rate:>10.3g} "
            f"{np_rate:>16.3g} {rate / np_rate:>8.1f}x {err:>10.1e}"
        )
        table.add(
            games=n,
            steps=T,
            shape={"N": 3, "A": 2, "S": 4, "gamma": 0.9},
            compile_s=compile_s,
            steady_s=steady,
            game_iterations_per_s=rate,
            numpy_game_iterations_per_s=np_rate,
            speedup=rate / np_rate,
            max_policy_difference=err,
            median_final_gap=float(np.median(np.asarray(out.trace)[:, -1])),
        )
    table.save(args.json)


if __name__ == "__main__":
    main()
