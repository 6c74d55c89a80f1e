"""Exact equilibria for batches of games: marlmeta (jit + vmap) vs scipy HiGHS.

1. ``zero_sum_equilibrium`` (Shapley backward induction, one 3x3 matrix game
   per (h, s)) over 1, 100, 10,000 zero-sum games, H=10, S=10, A=B=3, float64,
   including the exact NashConv certificate of every output.
2. ``markov_cce`` (one LP per (h, s)) over 1,000 three-player general-sum games,
   S=3, A=2, H=5, float64, including the exact CCE-gap certificate.

The reference solves the same backward induction one game at a time with one
``scipy.optimize.linprog(method="highs")`` call per (h, s), the way a careful
scipy user would; it is timed on a sample of games and scaled, and its values
are checked against marlmeta's.

Run: python benchmarks/exact.py [--small | --smoke | --gpu] [--json PATH]
"""

from __future__ import annotations

import argparse
import time

import equinox as eqx
import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _timing import Table, add_common_flags, compile_and_steady  # noqa: E402
from scipy.optimize import linprog  # noqa: E402

import marlmeta.games as G  # noqa: E402
from marlmeta.exact import markov_cce, zero_sum_equilibrium  # noqa: E402


def scipy_matrix_game(M):
    m, n = M.shape
    c = np.zeros(m + 1)
    c[-1] = -1.0
    res = linprog(
        c,
        A_ub=np.hstack([-M.T, np.ones((n, 1))]),
        b_ub=np.zeros(n),
        A_eq=np.hstack([np.ones((1, m)), np.zeros((1, 1))]),
        b_eq=[1.0],
        bounds=[(0, None)] * m + [(None, None)],
        method="highs",
    )
    return -res.fun


def scipy_shapley(r0, P, initial):
    """One game: r0 (H,S,A,B), P (H,S,A,B,S)."""
    H, S = r0.shape[:2]
    V = np.zeros(S)
    for h in reversed(range(H)):
        Q = r0[h] + P[h] @ V
        V = np.array([scipy_matrix_game(Q[s]) for s in range(S)])
    return initial @ V


def scipy_markov_cce(rewards, P, initial):
    """One game, social welfare: rewards (N,H,S,*A), P (H,S,*A,S)."""
    n, H, S = rewards.shape[:3]
    acts = rewards.shape[3:]
    k = int(np.prod(acts))
    V = np.zeros((n, S))
    for h in reversed(range(H)):
        Q = rewards[:, h] + np.einsum("s...t,nt->ns...", P[h], V)
        newV = np.zeros((n, S))
        for s in range(S):
            q = Q[:, s]
            rows = []
            for i in range(n):
                for b in range(acts[i]):
                    dev = np.broadcast_to(np.take(q[i], [b], axis=i), q[i].shape)
                    rows.append((dev - q[i]).ravel())
            res = linprog(
                -q.reshape(n, k).sum(0),
                A_ub=np.array(rows),
                b_ub=np.zeros(len(rows)),
                A_eq=np.ones((1, k)),
                b_eq=[1.0],
                method="highs",
            )
            sig = np.clip(res.x, 0, None)
            newV[:, s] = q.reshape(n, k) @ (sig / sig.sum())
        V = newV
    return (V @ initial).sum()


def _scipy_rate(fn, games, count):
    """(games/s, values) of the per-game scipy loop on the first ``count``."""
    args = [tuple(np.asarray(x[k]) for x in games) for k in range(count)]
    t0 = time.perf_counter()
    values = np.array([fn(*a) for a in args])
    return count / (time.perf_counter() - t0), values


def _row(name, n, comp, steady, ref_rate, ok, metric, value):
    rate = n / steady
    print(
        f"{name:>14} {n:>7} {comp:>10.2f} {steady:>10.4f} {rate:>11.0f} "
        f"{ref_rate:>12.1f} {rate / ref_rate:>9.0f}x  "
        f"converged={ok} {metric}={value:.1e}"
    )
    return {
        "benchmark": name,
        "games": n,
        "compile_s": comp,
        "steady_s": steady,
        "games_per_s": rate,
        "scipy_games_per_s": ref_rate,
        "speedup": rate / ref_rate,
        "all_converged": ok,
        metric: value,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 10_000])
    ap.add_argument("--cce-games", type=int, default=1_000)
    ap.add_argument("--scipy-games", type=int, default=20)
    ap.add_argument("--small", action="store_true", help="a quick run (as --smoke)")
    add_common_flags(ap)
    args = ap.parse_args()
    if args.small or args.smoke:
        args.sizes, args.cce_games, args.scipy_games = [2], 2, 1
    elif args.gpu:
        args.sizes, args.cce_games = [10_000, 100_000], 10_000
    table = Table(
        "exact equilibria (float64): marlmeta.exact vs scipy HiGHS per game", args
    )
    print(
        f"{'':>14} {'games':>7} {'compile s':>10} {'steady s':>10} {'games/s':>11} "
        f"{'scipy games/s':>12} {'speed-up':>9}"
    )
    key = jax.random.key(0)

    fn = jax.jit(jax.vmap(zero_sum_equilibrium))
    for n in args.sizes:
        games = eqx.filter_jit(G.random_zero_sum)(
            key, n, (3, 3), 10, 10, dtype=jnp.float64
        )
        comp, steady = compile_and_steady(fn, games)
        eq = fn(games)
        m = min(n, args.scipy_games)
        ref_rate, ref = _scipy_rate(
            scipy_shapley,
            (games.rewards[:, 0], games.transitions.probs, games.initial),
            m,
        )
        np.testing.assert_allclose(np.asarray(eq.value)[:m], ref, atol=1e-8)
        cert = float(jnp.max(eq.certificate))
        ok = bool(jnp.all(eq.converged))
        table.add(
            **_row("zero_sum", n, comp, steady, ref_rate, ok, "max_nash_conv", cert)
        )

    fn = jax.jit(jax.vmap(markov_cce))
    n = args.cce_games
    games = eqx.filter_jit(G.random_general_sum)(
        key, n, (2, 2, 2), 3, 5, dtype=jnp.float64
    )
    comp, steady = compile_and_steady(fn, games)
    eq = fn(games)
    m = min(n, args.scipy_games)
    ref_rate, ref = _scipy_rate(
        scipy_markov_cce, (games.rewards, games.transitions.probs, games.initial), m
    )
    np.testing.assert_allclose(np.asarray(eq.welfare)[:m], ref, atol=1e-7)
    gap = float(jnp.max(eq.certificate))
    ok = bool(jnp.all(eq.converged))
    table.add(**_row("markov_cce", n, comp, steady, ref_rate, ok, "max_cce_gap", gap))
    table.save(args.json)


if __name__ == "__main__":
    main()
