"""Exact NashConv for batches of games: marlmeta (jit + vmap) vs a NumPy loop.

Games: H=10, S=10, A=B=3, random general-sum, uniform-random product policies.
The NumPy reference evaluates one game at a time with per-game vectorised
backward induction (einsum over (S, A, B)), the way a careful NumPy user would.

Run: python benchmarks/evaluation.py [--sizes 1 100 10000] [--smoke | --gpu] [--json PATH]
"""

from __future__ import annotations

import argparse

import equinox as eqx
import jax
import numpy as np
from _timing import Table, add_common_flags, compile_and_steady, wall

import marlmeta.evaluation as E
import marlmeta.games as G
import marlmeta.policies as P


def numpy_nash_conv(r, p, init, mu, nu):
    """One game: r (2,H,S,A,B), p (H,S,A,B,S), policies (H,S,A), (H,S,B)."""
    H, S = r.shape[1:3]
    V = np.zeros((2, S))
    B0 = np.zeros(S)
    B1 = np.zeros(S)
    for h in reversed(range(H)):
        ev = np.einsum("sabt,nt->nsab", p[h], np.stack([V[0], V[1], B0, B1]))
        q = r[:, h] + ev[:2]
        V = np.einsum("nsab,sa,sb->ns", q, mu[h], nu[h])
        B0 = np.max(np.einsum("sab,sb->sa", r[0, h] + ev[2], nu[h]), axis=1)
        B1 = np.max(np.einsum("sab,sa->sb", r[1, h] + ev[3], mu[h]), axis=1)
    return (B0 - V[0]) @ init + (B1 - V[1]) @ init


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 10_000])
    ap.add_argument("--numpy-games", type=int, default=300)
    add_common_flags(ap)
    args = ap.parse_args()
    if args.smoke:
        args.sizes, args.numpy_games = [5], 5
    elif args.gpu:  # nash_conv on a million games in one call
        args.sizes = [10_000, 1_000_000]
    table = Table("nash_conv, H=10 S=10 A=B=3, float32", args)
    key = jax.random.key(0)
    fn = jax.jit(jax.vmap(E.nash_conv))
    print(
        f"{'games':>8} {'compile s':>10} {'steady s':>10} {'games/s':>12} {'numpy games/s':>14} {'speed-up':>9}"
    )
    for n in args.sizes:
        games = eqx.filter_jit(G.random_general_sum)(key, n, (3, 3), 10, 10)
        pols = jax.vmap(lambda g, k: P.random_policy(g, key=k))(
            games, jax.random.split(key, n)
        )
        comp, steady = compile_and_steady(fn, games, pols)
        m = min(n, args.numpy_games)
        r, p = np.asarray(games.rewards[:m]), np.asarray(games.transitions.probs[:m])
        init = np.asarray(games.initial[:m])
        mu, nu = (np.asarray(x[:m]) for x in pols)

        def numpy_loop(r=r, p=p, init=init, mu=mu, nu=nu, m=m):
            return np.array(
                [numpy_nash_conv(r[k], p[k], init[k], mu[k], nu[k]) for k in range(m)]
            )

        ref = numpy_loop()
        np.testing.assert_allclose(
            np.asarray(fn(games, pols))[:m], ref, rtol=2e-4, atol=2e-4
        )
        np_rate = m / wall(numpy_loop)
        rate = n / steady
        print(
            f"{n:>8} {comp:>10.3f} {steady:>10.5f} {rate:>12.0f} {np_rate:>14.0f} {rate / np_rate:>8.1f}x"
        )
        table.add(
            games=n,
            shape={"H": 10, "S": 10, "A": 3, "B": 3},
            compile_s=comp,
            steady_s=steady,
            games_per_s=rate,
            numpy_games_per_s=np_rate,
            speedup=rate / np_rate,
        )
    table.save(args.json)


if __name__ == "__main__":
    main()
