"""The LPs inside Aggre-BI: marlmeta's batched GUB simplex vs scipy HiGHS per LP.

For n = 10, 100, 1,000 players (m = 2 actions, S = 2 states, d = 1 with a grid
of spacing alpha = 0.2, and d = 2 at n = 100), one backward-induction step of
``aggre_bi`` with welfare selection solves one LP per (state, grid point):
marlmeta solves them all in one vmapped call of
:func:`marlmeta.lp.grouped_linprog` (``stage_lps``, jitted), the reference
solves each with ``scipy.optimize.linprog(method="highs")`` in the original
variables ``p[i, a]``. Feasibility and optimal values are checked to agree.

Run: python benchmarks/aggregative.py [--players 10 100 1000] [--smoke | --gpu] [--json PATH]

``--smoke``: n = 4, d = 2 only (each size compiles its own LPs); ``--gpu``:
n = 1,000, 10,000.
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

import marlmeta.aggregative as A  # noqa: E402
from marlmeta.aggregative._planning import _utilities, zeta  # noqa: E402


def highs(q, w, contrib, xhat, eta, alpha):
    n, m, d = contrib.shape
    ba = q >= q.max(1, keepdims=True) - eta
    a_eq = np.kron(np.eye(n), np.ones((1, m)))
    g = contrib.reshape(n * m, d).T
    res = linprog(
        -w.ravel(),
        A_ub=np.concatenate([g, -g]),
        b_ub=np.concatenate([xhat + alpha, alpha - xhat]),
        A_eq=a_eq,
        b_eq=np.ones(n),
        bounds=[(0, 1 if b else 0) for b in ba.ravel()],
        method="highs",
    )
    return res.status == 0, (-res.fun if res.status == 0 else np.nan)


def run(n: int, dim: int = 1, alpha: float = 0.2) -> dict:
    game = eqx.filter_jit(A.random_aggregative)(
        jax.random.key(n), horizon=1, num_players=n, dim=dim
    )
    grid = A.make_grid(game, alpha)
    pts = grid.points()
    lips = float(game.lipschitz_steps()[0])
    eta = 0.5 * lips * (float(zeta(game)) + 2 * alpha + float(game.delta))
    w = np.random.default_rng(0).uniform(size=(game.num_states, n, 2))
    zeros_v = jnp.zeros((game.num_states, n))
    num = game.num_states * grid.size

    @jax.jit
    def fn(game, pts, v, w_next, wts, eta):
        lps = A.stage_lps(
            game, pts, 0, v, w_next, wts, eta, jnp.asarray(alpha), None, num
        )
        return lps.status, lps.p, lps.objective, lps.iterations

    args = (game, pts, zeros_v, jnp.zeros(game.num_states), jnp.asarray(w),
            jnp.asarray(eta))  # fmt: skip
    compile_s, steady = compile_and_steady(fn, *args, repeats=2)
    status, p, value, iters = fn(*args)
    q = np.asarray(_utilities(game, 0, pts, zeros_v))
    contrib = np.asarray(game.contributions[0])
    t0 = time.perf_counter()
    agree, feasible = True, 0
    for s in range(game.num_states):
        for g in range(grid.size):
            ok, val = highs(q[s, g], w[s], contrib[s], np.asarray(pts[g]), eta, alpha)
            mine = int(status[s, g]) == 0
            feasible += ok
            # value includes the continuation term, zero here (W_{h+1} = 0)
            agree &= ok == mine and (not ok or abs(val - float(value[s, g])) < 1e-7)
    scipy_s = time.perf_counter() - t0
    return {
        "players": n, "dim": dim, "lps": num, "feasible": int(feasible),
        "max_pivots": int(np.max(iters)), "compile_s": compile_s, "steady_s": steady,
        "marlmeta_lps_per_s": num / steady, "scipy_lps_per_s": num / scipy_s,
        "speedup": scipy_s / steady, "agree": bool(agree),
    }  # fmt: skip


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--players", type=int, nargs="+", default=[10, 100, 1000])
    add_common_flags(ap)
    args = ap.parse_args()
    if args.smoke:
        args.players = [4]
    elif args.gpu:
        args.players = [1000, 10_000]
    table = Table("aggre_bi LPs: batched GUB simplex vs scipy HiGHS per LP", args)
    n2 = min(args.players[-1], max(4, args.players[-1] // 10))  # d = 2 at 100
    sizes = [(n, 1) for n in args.players] + [(n2, 2)]
    if args.smoke:  # one size, since each compiles its own LPs: d = 2, the
        sizes = sizes[-1:]  # case the tests' aggre_bi games (d = 1) leave out
    for n, dim in sizes:
        r = table.add(**run(n, dim))
        print(
            f"n={n:5d} d={dim}: {r['lps']} LPs ({r['feasible']} feasible), compile "
            f"{r['compile_s']:.2f} s, steady {r['steady_s']:.4f} s = "
            f"{r['marlmeta_lps_per_s']:.3g} LPs/s; scipy HiGHS "
            f"{r['scipy_lps_per_s']:.3g} LPs/s; x{r['speedup']:.2f}; "
            f"agree {r['agree']}; pivots <= {r['max_pivots']}",
            flush=True,
        )
        assert r["agree"], f"marlmeta and HiGHS disagree at n={n}, d={dim}"
    table.save(args.json)


if __name__ == "__main__":
    main()
