"""MAML meta-gradients: checkpointed vs unrolled reverse-mode autodiff.

For random discounted potential games (S=5, two players with 3 actions,
gamma=0.9) the exact meta-gradient of F_T (Mao et al. 2023, eq. 46) is computed two
ways, batched over games with vmap:

- checkpointed: ``marlmeta.meta.maml_gradient`` (reverse mode through the inner
  loop with the default ``RecursiveCheckpointAdjoint``: nested scans, each block
  recomputed in the backward pass, memory about sqrt(T));
- unrolled: ``jax.grad(marlmeta.meta.maml_objective)`` with
  ``RecursiveCheckpointAdjoint(levels=1)`` (reverse mode through the whole inner
  loop, storing every step's intermediates).

For each T (1 to 100 inner steps) and batch size it prints compile time,
steady-state time, XLA's scratch memory of the compiled program (temp buffers,
the peak working set beyond inputs and outputs) and the largest difference
between the two gradients. The NumPy column times a per-game NumPy loop of the
inner loop alone (T closed-form policy-gradient steps, eq. 45, with linear
solves): a lower bound on any NumPy meta-gradient, which needs at least that
forward pass.

Run: python benchmarks/maml.py [--steps 1 10 30 100] [--batches 1 64 512]
     [--smoke | --gpu] [--json PATH]
"""

from __future__ import annotations

import argparse
import time

from _timing import Table, add_common_flags, compile_and_steady

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, nargs="+", default=[1, 10, 30, 100])
ap.add_argument("--batches", type=int, nargs="+", default=[1, 64, 512])
ap.add_argument("--alpha", type=float, default=0.3)
add_common_flags(ap)
ARGS = ap.parse_args()
if ARGS.smoke:
    ARGS.steps, ARGS.batches = [2], [2]
elif ARGS.gpu:  # MAML meta-gradients on 10^4 games
    ARGS.steps, ARGS.batches = [10, 30], [1_000, 10_000]

import equinox as eqx  # noqa: E402
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import marlmeta as M  # noqa: E402

S, A, GAMMA = 5, (3, 3), 0.9


def numpy_inner_loop(r, P, rho, theta, steps, alpha):
    """T steps of eq. (44) for one two-player game, closed-form gradients."""
    t0, t1 = (np.array(t) for t in theta)
    eye = np.eye(S)
    for _ in range(steps):
        p0 = np.exp(t0 - t0.max(1, keepdims=True))
        p0 /= p0.sum(1, keepdims=True)
        p1 = np.exp(t1 - t1.max(1, keepdims=True))
        p1 /= p1.sum(1, keepdims=True)
        joint = p0[:, :, None] * p1[:, None, :]
        Ppi = np.einsum("sab,sabt->st", joint, P)
        V = np.linalg.solve(eye - GAMMA * Ppi, np.einsum("nsab,sab->sn", r, joint)).T
        Q = r + GAMMA * np.einsum("sabt,nt->nsab", P, V)
        d = (1 - GAMMA) * np.linalg.solve((eye - GAMMA * Ppi).T, rho)
        q0 = np.einsum("sab,sb->sa", Q[0], p1) - V[0][:, None]
        q1 = np.einsum("sab,sa->sb", Q[1], p0) - V[1][:, None]
        t0 = t0 + alpha * d[:, None] * p0 * q0 / (1 - GAMMA)
        t1 = t1 + alpha * d[:, None] * p1 * q1 / (1 - GAMMA)
    return t0, t1


def main():
    table = Table(
        "MAML meta-gradient: checkpointed vs unrolled reverse mode (float64)", ARGS
    )
    alpha = jnp.asarray(ARGS.alpha)
    print(
        f"{'T':>4} {'games':>6} {'method':>9} {'compile s':>10} {'steady s':>10} "
        f"{'games/s':>10} {'scratch MiB':>12} {'max |diff|':>11} {'numpy games/s':>14}"
    )
    for steps in ARGS.steps:
        for batch in ARGS.batches:
            games = eqx.filter_jit(M.games.random_potential)(
                jax.random.key(0), batch, A, S, discount=GAMMA, dtype=jnp.float64
            )
            theta = tuple(
                jax.random.normal(jax.random.key(i + 1), (batch, S, a), jnp.float64)
                for i, a in enumerate(A)
            )
            checkpointed = jax.jit(
                jax.vmap(lambda g, t, n=steps: M.meta.maml_gradient(g, t, n, alpha))
            )
            unrolled = jax.jit(
                jax.vmap(
                    lambda g, t, n=steps: jax.grad(M.meta.maml_objective, argnums=1)(
                        g, t, n, alpha, adjoint=M.RecursiveCheckpointAdjoint(1)
                    )
                )
            )
            outs = {}
            r = np.asarray(games.rewards[0])
            P = np.asarray(games.transitions.dense()[0, 0])
            rho = np.asarray(games.initial[0])
            numpy_inner_loop(r, P, rho, [t[0] for t in theta], steps, ARGS.alpha)
            t0 = time.perf_counter()
            reps = 3
            for _ in range(reps):
                numpy_inner_loop(r, P, rho, [t[0] for t in theta], steps, ARGS.alpha)
            numpy_rate = reps / (time.perf_counter() - t0)
            for name, fn in (("checkpointed", checkpointed), ("unrolled", unrolled)):
                compile_s, steady = compile_and_steady(fn, games, theta)
                mem = fn.lower(games, theta).compile().memory_analysis()
                scratch = mem.temp_size_in_bytes / 2**20 if mem else float("nan")
                outs[name] = fn(games, theta)
                diff = (
                    max(
                        float(jnp.max(jnp.abs(a - b)))
                        for a, b in zip(outs["checkpointed"], outs[name], strict=True)
                    )
                    if name == "unrolled"
                    else 0.0
                )
                print(
                    f"{steps:>4} {batch:>6} {name:>9} {compile_s:>10.2f} {steady:>10.4f} "
                    f"{batch / steady:>10.3g} {scratch:>12.2f} {diff:>11.1e} "
                    f"{numpy_rate:>14.3g}"
                )
                table.add(
                    inner_steps=steps,
                    games=batch,
                    method=name,
                    shape={"S": S, "A": list(A), "gamma": GAMMA},
                    compile_s=compile_s,
                    steady_s=steady,
                    games_per_s=batch / steady,
                    scratch_mib=scratch,
                    max_abs_diff=diff,
                    numpy_games_per_s=numpy_rate,
                    speedup=batch / steady / numpy_rate,
                )
    table.save(ARGS.json)


if __name__ == "__main__":
    main()
