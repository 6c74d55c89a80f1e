"""Where the time of the poker endgame experiment goes (issue 28).

Times, on one river endgame (``--max-hands`` per player; default: all) and on
a family of ``--games`` of them (the experiment's ``vmap``), the pieces that
one Algorithm-1 iteration on observations and one exact exploitability are
made of, each jitted alone, compile time apart:

- ``lift`` (an observation table onto the states: a gather over ``S`` states),
- ``pool`` (its transpose: a scatter-add over ``S`` states into observations),
- ``reach`` (forward state distribution: the transpose of the sparse kernel,
  also a scatter),
- ``expectation`` (the kernel's gather),
- one ``ObservedZeroSumOMD`` step, one ``report`` (exact NashConv), and the
  experiment's metric (``report`` plus ``full_state_nash_conv``).

Run: python benchmarks/_poker_profile.py [--max-hands N] [--games K] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import marlmeta as M
from marlmeta.experiments.poker import exploitability
from marlmeta.games import zoo

ap = argparse.ArgumentParser()
ap.add_argument("--max-hands", type=int, default=None)
ap.add_argument("--games", type=int, default=2)
ap.add_argument("--repeat", type=int, default=3)
ap.add_argument("--json", default=None)
ap.add_argument("--layout", default="generic", choices=["generic", "structured"])
ARGS = ap.parse_args()


def timed(fn, *args):
    """(compile seconds, best steady seconds) of ``jax.jit(fn)(*args)``."""
    f = jax.jit(fn)
    t0 = time.perf_counter()
    jax.block_until_ready(f(*args))
    compile_s = time.perf_counter() - t0
    best = np.inf
    for _ in range(ARGS.repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        best = min(best, time.perf_counter() - t0)
    print(f"compile {compile_s:8.3f} s   steady {best * 1e3:10.2f} ms", flush=True)
    return compile_s, best


w = None
if ARGS.max_hands is not None:
    w = np.zeros((2, 1326))
    rng = np.random.default_rng(0)
    for i in range(2):
        w[i, rng.choice(1326, ARGS.max_hands, replace=False)] = 1.0
kw = {} if w is None else {"ranges": (w[0], w[1])}
kw["structured"] = ARGS.layout == "structured"
game = zoo.river_endgame(**kw)
family = zoo.river_endgame_family(0, ARGS.games, **kw)
pol = M.policies.observation_uniform(game)
solver = M.solvers.ObservedZeroSumOMD(1.0)
state = solver.init(game, solver.default_init(game, 10))
x = jnp.ones((game.horizon, game.num_states, 2), game.rewards.dtype)
V = jnp.ones((game.num_states,), game.rewards.dtype)
# The game is an argument of every jitted function (never a closed-over
# constant: XLA would constant-fold gathers over a million states).
rows = {
    "lift": timed(lambda g, p: p.lift().tables[0], game, pol),
    "pool": timed(lambda g, y: g.pool(0, y), game, x),
    "reach": timed(lambda g, p: g.reach(p.lift()), game, pol),
    "expectation": timed(lambda g, v: g.transitions.expectation(0, v), game, V),
    "step": timed(lambda g, s: solver.step(g, s), game, state),
    "report": timed(lambda g, p: M.evaluation.report(g, p).nash_conv, game, pol),
    "metric": timed(exploitability, game, pol),
}
fam_pol = jax.tree.map(lambda t: jnp.stack([t] * ARGS.games), pol)
fam_state = jax.vmap(lambda g: solver.init(g, solver.default_init(g, 10)))(family)
k = ARGS.games
rows[f"step x{k} (vmap)"] = timed(
    jax.vmap(lambda g, s: solver.step(g, s)), family, fam_state
)
rows[f"step x{k} (lax.map)"] = timed(
    lambda f, s: jax.lax.map(lambda gs: solver.step(*gs), (f, s)), family, fam_state
)
rows[f"metric x{k} (vmap)"] = timed(jax.vmap(exploitability), family, fam_pol)
rows[f"metric x{k} (lax.map)"] = timed(
    lambda f, p: jax.lax.map(lambda gp: exploitability(*gp), (f, p)), family, fam_pol
)
out = {
    "deals": int((np.asarray(game.initial) > 0).sum()),
    "states": game.num_states,
    "device": str(jax.devices()[0]),
    "rows": {k: {"compile_s": c, "steady_s": s} for k, (c, s) in rows.items()},
}
for k, (c, s) in rows.items():
    print(f"{k:24s} compile {c:8.3f} s   steady {s * 1e3:10.2f} ms")
if ARGS.json:
    with open(ARGS.json, "w") as f:
        json.dump(out, f, indent=1)
