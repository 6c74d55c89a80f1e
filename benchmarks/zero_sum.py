"""solve_batch with ZeroSumOMD (Mao et al. 2023, Algorithm 1) vs a NumPy per-game loop.

Games of the main config's shape: H=10, S=2, A=B=2 (the family of Mao et al. 2023, appendix F.1),
T=1000 iterations, trace at T only. The NumPy reference runs the same algorithm
one game at a time, vectorised over (H, S, A, B) within a game; it is timed on
a few games and reported per game-iteration.

On a CPU, ``--cpu-devices N`` (default: one per core) exposes the cores as N
host devices, which ``solve_batch`` shards the batch across; ``--cpu-devices 1``
measures a single device using XLA's own intra-op threads.

Run: python benchmarks/zero_sum.py [--sizes 1 100 1000 10000] [--steps 1000]
     [--smoke | --gpu] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import time

from _timing import Table, add_common_flags, force_cpu_devices

ap = argparse.ArgumentParser()
ap.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 1000, 10_000])
ap.add_argument("--steps", type=int, default=1000)
ap.add_argument("--numpy-games", type=int, default=3)
ap.add_argument("--cpu-devices", type=int, default=os.cpu_count())
add_common_flags(ap)
ARGS = ap.parse_args()
if ARGS.smoke:
    ARGS.sizes, ARGS.steps, ARGS.numpy_games = [4], 20, 1
elif ARGS.gpu:  # Algorithm 1 on 10^5 games
    ARGS.sizes = [10_000, 100_000]
force_cpu_devices(ARGS.cpu_devices)  # before JAX starts

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import marlmeta as M  # noqa: E402
from marlmeta.games import zoo  # noqa: E402


def numpy_omd(r0, p, eta, T):
    """Algorithm 1 for one game, NumPy, uniform initialisation: (mu_bar, nu_bar)."""
    H, S, A, B = r0.shape
    Q = np.zeros((H, S, A, B))
    lmh = lm = np.full((H, S, A), -np.log(A))
    lnh = ln = np.full((H, S, B), -np.log(B))
    mu_sum, nu_sum = np.zeros((H, S, A)), np.zeros((H, S, B))
    vsum = np.zeros((H, S))
    L, pos = H, 0

    def norm(x):
        m = x.max(-1, keepdims=True)
        return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))

    for _ in range(T):
        mu, nu = np.exp(lm), np.exp(ln)
        g_mu = np.einsum("hsab,hsb->hsa", Q, nu)
        g_nu = np.einsum("hsab,hsa->hsb", Q, mu)
        lmh, lnh = norm(lmh + eta * g_mu), norm(lnh - eta * g_nu)
        lm, ln = norm(lmh + eta * g_mu), norm(lnh - eta * g_nu)
        mu, nu = np.exp(lm), np.exp(ln)
        vsum += np.einsum("hsa,hsab,hsb->hs", mu, Q, nu)
        mu_sum += mu
        nu_sum += nu
        pos += 1
        if pos == L:
            nxt = np.concatenate([vsum[1:] / L, np.zeros((1, S))])
            Q = r0 + np.einsum("hsabt,ht->hsab", p, nxt)
            vsum[:] = 0
            lmh = lm = np.full((H, S, A), -np.log(A))
            lnh = ln = np.full((H, S, B), -np.log(B))
            L, pos = ((H + 1) * L) // H, 0
    return mu_sum / T, nu_sum / T


def main():
    args = ARGS
    T = args.steps
    table = Table(f"ZeroSumOMD solve_batch, H=10 S=2 A=B=2, T={T}, float32", args)
    base = zoo.mao2023_zero_sum()
    solver = M.solvers.ZeroSumOMD(0.02)
    fam = M.games.perturb_rewards(
        jax.random.key(0), base, max(args.sizes), 0.1, coupling="zero_sum"
    )
    # NumPy reference: time a few games, check it agrees with marlmeta.
    m = args.numpy_games
    r0 = np.asarray(fam.rewards[:m, 0], np.float64)
    p = np.broadcast_to(
        np.asarray(fam.transitions.probs[0, 0], np.float64), (10, 2, 2, 2, 2)
    )
    t0 = time.perf_counter()
    ref = [numpy_omd(r0[k], p, 0.02, T) for k in range(m)]
    np_rate = m * T / (time.perf_counter() - t0)
    print(
        f"{'games':>8} {'compile s':>10} {'steady s':>10} {'game-it/s':>12} {'numpy game-it/s':>16} {'speed-up':>9}"
    )
    for n in args.sizes:
        games = jax.tree.map(lambda x, n=n: x[:n], fam)
        t0 = time.perf_counter()
        out = M.solve_batch(solver, games, T)  # first call: compile + run
        jax.block_until_ready(out)
        first = time.perf_counter() - t0
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            out = M.solve_batch(solver, games, T)
            jax.block_until_ready(out)
            best = min(best, time.perf_counter() - t0)
        k = min(n, m)  # the NumPy reference agrees on the games it ran
        np.testing.assert_allclose(
            out.policy[0][:k], np.stack([mu for mu, _ in ref[:k]]), atol=2e-4
        )
        rate = n * T / best
        print(
            f"{n:>8} {first - best:>10.3f} {best:>10.4f} {rate:>12.3g} {np_rate:>16.3g} {rate / np_rate:>8.0f}x"
        )
        table.add(
            games=n,
            steps=T,
            shape={"H": 10, "S": 2, "A": 2, "B": 2},
            compile_s=first - best,
            steady_s=best,
            game_iterations_per_s=rate,
            numpy_game_iterations_per_s=np_rate,
            speedup=rate / np_rate,
        )
    assert bool(jnp.all(out.finite))
    table.save(args.json)


if __name__ == "__main__":
    main()
