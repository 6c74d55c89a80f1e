"""Simulated episodes on batches of games vs a vectorised NumPy simulator.

``vmap(marlmeta.simulate)`` over 10,000 random finite-horizon general-sum games
(N=2 players, 3 actions each, S=8 states, H=10, dense kernels, a random product
policy per game) x 1,000 episodes each, float32, in chunks of games (one
compiled call per chunk). Measured: the compile time of one chunk, the
steady-state seconds of all chunks, episodes per second and environment steps
per second. The NumPy simulator draws the same episodes one game at a time,
vectorised over that game's episodes (inverse-CDF draws of every player's
action and of the next state), timed on a few games in the same run; both
simulators' mean returns are checked against the exact values (max |z| over
players and the timed games, which should stay below about 4).

Sizes: no flag, 10,000 games x 1,000 episodes (chunks of 500 games);
``--smoke``, 4 games x 100 episodes (seconds on a CPU); ``--gpu``, 10,000 and
100,000 games x 1,000 episodes (chunks of 10,000).

Run: python benchmarks/simulation.py [--games 10000] [--episodes 1000]
     [--chunk 500] [--smoke | --gpu] [--json PATH]
"""

from __future__ import annotations

import argparse
import time

from _timing import Table, add_common_flags

ap = argparse.ArgumentParser()
ap.add_argument("--games", type=int, nargs="+", default=[10_000])
ap.add_argument("--episodes", type=int, default=1000)
ap.add_argument("--chunk", type=int, default=500)
ap.add_argument("--numpy-games", type=int, default=3)
add_common_flags(ap)
ARGS = ap.parse_args()
if ARGS.smoke:
    ARGS.games, ARGS.episodes, ARGS.chunk, ARGS.numpy_games = [4], 100, 4, 2
elif ARGS.gpu:
    ARGS.games, ARGS.chunk = [10_000, 100_000], 10_000

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402

import marlmeta as M  # noqa: E402

N, A, S, H = 2, 3, 8, 10


def numpy_simulate(rng, rewards, probs, initial, tables, episodes):
    """Mean and standard error of the returns of ``episodes`` episodes of one
    game (``rewards (N, H, S, A, A)``, ``probs (H, S, A, A, S)``, per-player
    ``tables (H, S, A)``), vectorised over episodes."""

    def draw(p):  # rows of p: one distribution per episode
        u = rng.random(p.shape[0])[:, None]
        c = np.cumsum(p, axis=1)
        return np.minimum((c <= u * c[:, -1:]).sum(1), p.shape[1] - 1)

    s = draw(np.broadcast_to(initial, (episodes, S)))
    ret = np.zeros((episodes, N))
    for h in range(H):
        a0 = draw(tables[0][h, s])
        a1 = draw(tables[1][h, s])
        ret += rewards[:, h, s, a0, a1].T
        s = draw(probs[h, s, a0, a1])
    return ret.mean(0), ret.std(0, ddof=1) / np.sqrt(episodes)


def chunks(tree, size: int, n: int):
    """Leading-axis slices of ``size``; the last one padded with the first
    entries so that every call has the compiled shape."""
    for i in range(0, n, size):
        idx = np.arange(i, i + size) % n
        yield jax.tree.map(lambda x, idx=idx: x[idx], tree)


def main():
    args = ARGS
    E = args.episodes
    table = Table(
        f"simulate, vmap over games, N={N} A={A} S={S} H={H}, {E} episodes per "
        "game, float32 (NumPy per-game simulator beside)",
        args,
    )

    @jax.jit
    def run(games, policies, keys):
        def one(g, p, k):
            ret = M.simulate(g, p, k, E).returns
            return ret.mean(0), ret.std(0, ddof=1) / np.sqrt(E)

        return jax.vmap(one)(games, policies, keys)

    print(
        f"{'games':>7} {'compile s':>10} {'steady s':>9} {'episodes/s':>11} "
        f"{'steps/s':>9} {'numpy ep/s':>11} {'speed-up':>9} {'max|z|':>7}"
    )
    for n in args.games:
        games = eqx.filter_jit(M.games.random_general_sum)(
            jax.random.key(0), n, (A, A), S, H
        )
        policies = jax.vmap(
            lambda g, k: M.policies.ProductPolicy(M.policies.random_policy(g, key=k))
        )(games, jax.random.split(jax.random.key(1), n))
        keys = jax.random.split(jax.random.key(2), n)
        chunk = min(args.chunk, n)
        parts = list(chunks((games, policies, keys), chunk, n))
        t0 = time.perf_counter()
        compiled = run.lower(*parts[0]).compile()
        compile_s = time.perf_counter() - t0
        jax.block_until_ready(compiled(*parts[0]))  # warm-up
        t0 = time.perf_counter()
        out = [compiled(*part) for part in parts]
        jax.block_until_ready(out)
        steady = time.perf_counter() - t0
        mean = np.concatenate([np.asarray(o[0]) for o in out])[:n]
        se = np.concatenate([np.asarray(o[1]) for o in out])[:n]
        m = min(n, args.numpy_games)
        head = next(chunks((games, policies), m, m))
        exact = np.asarray(jax.vmap(M.evaluation.values)(*head))
        z_jax = float(np.max(np.abs((mean[:m] - exact) / se[:m])))
        rng = np.random.default_rng(0)
        rewards = np.asarray(games.rewards[:m], np.float64)
        probs = np.asarray(games.transitions.probs[:m], np.float64)
        initial = np.asarray(games.initial[:m], np.float64)
        tabs = [np.asarray(t[:m], np.float64) for t in policies.tables]
        t0 = time.perf_counter()
        ref = [
            numpy_simulate(
                rng, rewards[k], probs[k], initial[k], [t[k] for t in tabs], E
            )
            for k in range(m)
        ]
        np_rate = m * E / (time.perf_counter() - t0)
        z_np = max(
            float(np.max(np.abs((r - exact[k]) / s))) for k, (r, s) in enumerate(ref)
        )
        rate = n * E / steady
        z = max(z_jax, z_np)
        print(
            f"{n:>7} {compile_s:>10.2f} {steady:>9.3f} {rate:>11.3g} "
            f"{rate * H:>9.3g} {np_rate:>11.3g} {rate / np_rate:>8.1f}x {z:>7.2f}"
        )
        table.add(
            games=n,
            episodes_per_game=E,
            chunk_games=chunk,
            shape={"N": N, "A": A, "S": S, "H": H},
            compile_s=compile_s,
            steady_s=steady,
            episodes_per_s=rate,
            env_steps_per_s=rate * H,
            numpy_episodes_per_s=np_rate,
            speedup=rate / np_rate,
            max_abs_z_marlmeta=z_jax,
            max_abs_z_numpy=z_np,
        )
    table.save(args.json)


if __name__ == "__main__":
    main()
