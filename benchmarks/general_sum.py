"""CCE solvers on batches of 3-player games vs per-game NumPy loops.

GeneralSumOMD (Mao et al. 2023, Algorithm 2) and AdaptiveOFTRL (Yorulmaz, Başar) with
solve_batch over 1,000 games (N=3, two actions each, S=3, H=5), T=500, trace
at T only. The NumPy references run the same algorithms one game at a time,
vectorised over (H, S, actions) within a game, timed on a few games and
checked against marlmeta's output.

Run: python benchmarks/general_sum.py [--games 1000] [--steps 500]
"""

from __future__ import annotations

import argparse
import os
import time

from _timing import Table, add_common_flags, force_cpu_devices

ap = argparse.ArgumentParser()
ap.add_argument("--games", type=int, default=1000)
ap.add_argument("--steps", type=int, default=500)
ap.add_argument("--numpy-games", type=int, default=2)
ap.add_argument("--cpu-devices", type=int, default=os.cpu_count())
add_common_flags(ap)
ARGS = ap.parse_args()
if ARGS.smoke:
    ARGS.games, ARGS.steps, ARGS.numpy_games = 4, 10, 1
elif ARGS.gpu:
    ARGS.games = 100_000
force_cpu_devices(ARGS.cpu_devices)  # before JAX starts

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402

import marlmeta as M  # noqa: E402

EIN = ("hsabc,hsb,hsc->hsa", "hsabc,hsa,hsc->hsb", "hsabc,hsa,hsb->hsc")


def _others(q, pol):
    """Per player, E over the other two players' actions: q (3, H, S, a, b, c)."""
    a, b, c = pol
    return (
        np.einsum(EIN[0], q[0], b, c),
        np.einsum(EIN[1], q[1], a, c),
        np.einsum(EIN[2], q[2], a, b),
    )


def _backup(r, p, v):
    """r_h + P_h v_{h+1} for all h: r (3, H, S, 2,2,2), p (H, S, 2,2,2, S), v (3, H, S)."""
    nxt = np.concatenate([v[:, 1:], np.zeros_like(v[:, :1])], axis=1)
    return r + np.einsum("hsabct,nht->nhsabc", p, nxt)


def numpy_omd(r, p, eta, T):
    """Algorithm 2, uniform init, returns the stage-mixture joint policy."""
    H = r.shape[1]
    pol = [np.full(r.shape[1:3] + (2,), 0.5) for _ in range(3)]
    hat = [np.log(x) for x in pol]
    q = np.zeros_like(r)
    g = _others(q, pol)
    vsum = np.zeros(r.shape[:3])
    L, pos, stage, history = H, 0, 0, []
    for _ in range(T):
        new = []
        for i in range(3):
            x = hat[i] + eta * g[i]
            hat[i] = x - x.max(-1, keepdims=True)
            y = hat[i] + eta * g[i]
            e = np.exp(y - y.max(-1, keepdims=True))
            new.append(e / e.sum(-1, keepdims=True))
        pol = new
        g = _others(q, pol)
        vsum += np.stack([(pol[i] * g[i]).sum(-1) for i in range(3)])
        history.append((stage, pol))
        pos += 1
        if pos == L:
            q = _backup(r, p, vsum / L)
            vsum[:] = 0
            pol = [np.full(r.shape[1:3] + (2,), 0.5) for _ in range(3)]
            hat = [np.log(x) for x in pol]
            g = _others(q, pol)
            L, pos, stage = ((H + 1) * L) // H, 0, stage + 1
    last = stage - 1 if stage > 0 else 0
    sigma = np.zeros(r.shape[1:])
    for h in range(H):
        members = [pl for st, pl in history if st == max(last - h, 0)]
        sigma[h] = np.mean(
            [np.einsum("sa,sb,sc->sabc", a[h], b[h], c[h]) for a, b, c in members], 0
        )
    return sigma


def numpy_oftrl(r, p, eta, T, beta=70.0):
    """Yorulmaz and Başar's DLRC-OMWU (instantaneous baseline); returns the average joint."""
    H = r.shape[1]
    at = beta * np.log(2) ** 2 + 2 * np.log(2) + 2
    U = [np.zeros(r.shape[1:3] + (2,)) for _ in range(3)]
    last = [np.zeros_like(u) for u in U]
    V = np.zeros(r.shape[:3])
    sigma = np.zeros(r.shape[1:])
    for t in range(1, T + 1):
        alpha = (H + 1) / (H + t)
        pol = []
        for i in range(3):
            R = eta * (U[i] + last[i])
            e = np.exp(R - R.max(-1, keepdims=True))
            sm = e / e.sum(-1, keepdims=True)
            assert np.all((sm * R).sum(-1) >= 1 - at)  # lambda = 1 on these games
            pol.append(sm)
        new_last = [np.zeros_like(u) for u in U]
        for h in reversed(range(H)):
            nxt = V[:, h + 1] if h + 1 < H else np.zeros(V[:, 0].shape)
            q = r[:, h] + np.einsum("sabct,nt->nsabc", p[h], nxt)
            a, b, c = (x[h] for x in pol)
            v = np.einsum("nsabc,sa,sb,sc->ns", q, a, b, c)
            V[:, h] = (1 - alpha) * V[:, h] + alpha * v
            nus = (
                np.einsum("sabc,sb,sc->sa", q[0], b, c),
                np.einsum("sabc,sa,sc->sb", q[1], a, c),
                np.einsum("sabc,sa,sb->sc", q[2], a, b),
            )
            for i, nu in enumerate(nus):
                new_last[i][h] = nu - (nu * pol[i][h]).sum(-1, keepdims=True)
        U = [t / (t + H) * (u + g) for u, g in zip(U, new_last, strict=True)]
        last = new_last
        joint = np.einsum("hsa,hsb,hsc->hsabc", *pol)
        sigma = (1 - alpha) * sigma + alpha * joint
    return sigma


def main():
    args = ARGS
    n, T = args.games, args.steps
    table = Table(
        f"CCE solvers, solve_batch over {n} games, N=3 A=2 S=3 H=5, T={T}, float32",
        args,
    )
    games = eqx.filter_jit(M.games.random_general_sum)(
        jax.random.key(0), n, (2, 2, 2), 3, 5
    )
    m = args.numpy_games
    r = np.asarray(games.rewards[:m], np.float64)
    p = np.asarray(games.transitions.probs[:m], np.float64)
    print(
        f"{'solver':>14} {'compile s':>10} {'steady s':>9} {'game-it/s':>10} {'numpy game-it/s':>16} {'speed-up':>9}"
    )
    for name, solver, ref in (
        ("GeneralSumOMD", M.solvers.GeneralSumOMD(0.1), numpy_omd),
        ("AdaptiveOFTRL", M.solvers.AdaptiveOFTRL(0.1), numpy_oftrl),
    ):
        t0 = time.perf_counter()
        out = jax.block_until_ready(M.solve_batch(solver, games, T))
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = jax.block_until_ready(M.solve_batch(solver, games, T))
        steady = time.perf_counter() - t0
        t0 = time.perf_counter()
        sig = [ref(r[k], p[k], 0.1, T) for k in range(m)]
        np_rate = m * T / (time.perf_counter() - t0)
        np.testing.assert_allclose(np.asarray(out.policy[:m]), np.stack(sig), atol=2e-4)
        rate = n * T / steady
        print(
            f"{name:>14} {first - steady:>10.2f} {steady:>9.3f} {rate:>10.3g} {np_rate:>16.3g} {rate / np_rate:>8.0f}x"
        )
        table.add(
            solver=name,
            games=n,
            steps=T,
            shape={"N": 3, "A": 2, "S": 3, "H": 5},
            compile_s=first - steady,
            steady_s=steady,
            game_iterations_per_s=rate,
            numpy_game_iterations_per_s=np_rate,
            speedup=rate / np_rate,
        )
    table.save(args.json)


if __name__ == "__main__":
    main()
