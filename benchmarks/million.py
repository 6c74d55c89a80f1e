"""A finite-horizon zero-sum game with a million states: nash_conv and ZeroSumOMD.

Game: ``random_sparse_zero_sum`` with S = 10^6, H = 10, 2x2 actions, fan-out
K = 4 (an H-step kernel: 160 M successors), float32. Measured: exact NashConv
of a random policy, and Algorithm 1 (``solve_batch`` on a batch of one game,
with the memory budget it needs) for ``--steps`` iterations; compile and
steady-state seconds, and the process's peak memory (``VmHWM``) after each
part. The NumPy reference evaluates the same NashConv with the successor lists
(``np.take`` and sums over K), timed in the same run.

Run: python benchmarks/million.py [--states 1000000] [--steps 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import time

import equinox as eqx
import jax
import numpy as np
from _timing import Table, add_common_flags, compile_and_steady, peak_memory_bytes

import marlmeta as M


def numpy_nash_conv(r0, nxt, prob, init, mu, nu):
    """One zero-sum game with sparse successors, NumPy."""
    H, S = r0.shape[:2]
    v = np.zeros((3, S), np.float32)  # V_0 (= -V_1), B_0, B_1
    for h in reversed(range(H)):
        t = min(h, nxt.shape[0] - 1)
        ev = np.sum(prob[t][None] * v[:, nxt[t]], axis=-1)  # (3, S, A, B)
        q = r0[h] + ev[0]
        v0 = np.einsum("sab,sa,sb->s", q, mu[h], nu[h])
        b0 = np.max(np.einsum("sab,sb->sa", r0[h] + ev[1], nu[h]), axis=1)
        b1 = np.max(np.einsum("sab,sa->sb", -r0[h] + ev[2], mu[h]), axis=1)
        v = np.stack([v0, b0, b1])
    return float(init @ (v[1] - v[0]) + init @ (v[2] + v[0]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--states", type=int, default=1_000_000)
    ap.add_argument("--horizon", type=int, default=10)
    ap.add_argument("--fan-out", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    add_common_flags(ap)
    args = ap.parse_args()
    if args.smoke:
        args.states, args.steps = 200, 3
    S, H, K, T = args.states, args.horizon, args.fan_out, args.steps
    table = Table(f"million-state zero-sum game: S={S} H={H} 2x2 K={K}", args)
    t0 = time.perf_counter()
    games = eqx.filter_jit(M.games.random_sparse_zero_sum)(
        jax.random.key(0), 1, (2, 2), S, H, K
    )
    jax.block_until_ready(games)
    gen_s = time.perf_counter() - t0
    game = jax.tree.map(lambda x: x[0], games)
    pol = M.policies.random_policy(game, key=jax.random.key(1))
    print(f"generated in {gen_s:.2f} s; peak {peak_memory_bytes() / 2**30:.2f} GiB")

    fn = jax.jit(M.evaluation.nash_conv)
    comp, steady = compile_and_steady(fn, game, pol, repeats=2)
    value = float(fn(game, pol))
    peak_eval = peak_memory_bytes()
    tr = game.transitions
    ref_args = (
        np.asarray(game.rewards[0]),
        np.asarray(tr.next_state),
        np.asarray(tr.prob),
        np.asarray(game.initial),
        np.asarray(pol[0]),
        np.asarray(pol[1]),
    )
    t0 = time.perf_counter()
    ref = numpy_nash_conv(*ref_args)
    numpy_s = time.perf_counter() - t0
    del ref_args
    np.testing.assert_allclose(value, ref, rtol=1e-4, atol=1e-4)
    row = table.add(
        benchmark="nash_conv",
        states=S,
        horizon=H,
        actions=[2, 2],
        fan_out=K,
        compile_s=comp,
        steady_s=steady,
        numpy_s=numpy_s,
        speedup=numpy_s / steady,
        nash_conv=value,
        peak_memory_bytes=peak_eval,
    )
    print(
        f"nash_conv: compile {comp:.2f} s, steady {steady:.3f} s, NumPy {numpy_s:.3f} s "
        f"({row['speedup']:.1f}x), value {value:.4f}, peak {peak_eval / 2**30:.2f} GiB"
    )

    solver = M.solvers.ZeroSumOMD(0.02)
    budget = M.bytes_per_game(solver, games, T)
    t0 = time.perf_counter()
    sol = M.solve_batch(solver, games, T, memory_budget=budget)
    jax.block_until_ready(sol)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    sol = M.solve_batch(solver, games, T, memory_budget=budget)
    jax.block_until_ready(sol)
    steady = time.perf_counter() - t0
    assert bool(sol.finite[0])
    peak_omd = peak_memory_bytes()
    table.add(
        benchmark="ZeroSumOMD",
        states=S,
        horizon=H,
        actions=[2, 2],
        fan_out=K,
        steps=T,
        compile_s=first - steady,
        steady_s=steady,
        per_iteration_s=steady / T,
        nash_conv=float(sol.trace.nash_conv[0, -1]),
        memory_budget_bytes=budget,
        peak_memory_bytes=peak_omd,
    )
    print(
        f"ZeroSumOMD T={T}: compile {first - steady:.2f} s, steady {steady:.2f} s "
        f"({steady / T:.3f} s/iteration), NashConv {float(sol.trace.nash_conv[0, -1]):.4f}, "
        f"peak {peak_omd / 2**30:.2f} GiB"
    )
    table.save(args.json)


if __name__ == "__main__":
    main()
