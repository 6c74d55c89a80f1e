"""Exact NashConv of converted OpenSpiel games against OpenSpiel's own, in the
same run (issue 26).

For each game (Kuhn poker, Leduc poker, imperfect-information Goofspiel with 4
and 5 cards made turn-based, full Liar's Dice), converted once by
``marlmeta.interop.from_openspiel_turns``, it times:

- marlmeta: ``TurnBasedGame.nash_conv`` of a batch of ``--policies`` random
  policies (Dirichlet per information set, legal actions only) in one jitted
  ``vmap`` call, compile time apart from the steady-state time;
- OpenSpiel's Python ``exploitability.nash_conv`` and its C++
  ``pyspiel.nash_conv`` on the first policy of the batch (the C++ one is the
  reference of the ``speedup``: its time over marlmeta's time per policy);
- for Kuhn and Leduc poker, also the joint-action game of
  ``from_openspiel_tree`` (``marlmeta.evaluation.nash_conv`` on observation
  policies), the representation every solver runs on.

Every row checks marlmeta's NashConv of the first policy against OpenSpiel's
(``max_abs_diff``) and records the conversion time and the process's peak
memory (``VmHWM``, which includes OpenSpiel's), and for ``TurnBasedGame`` the
bytes of the compiled program's arguments, outputs and scratch
(``xla_bytes``). Liar's Dice runs without ``--smoke``/``--gpu`` only when
``--liars-dice`` is given, with one policy (the issue's target: one exact
NashConv under 1 GiB; its conversion walks 147,456 nodes in Python, and
OpenSpiel's Python ``nash_conv`` on it takes minutes, so only the C++ one is
timed there).

Sizes: no flag, the games above and 64 policies; ``--smoke``, Kuhn poker and
Goofspiel with 3 cards, 4 policies (seconds on a CPU); ``--gpu``, the default
games and 1,024 policies.

Run: python benchmarks/interop.py [--policies 64] [--liars-dice]
     [--smoke | --gpu] [--json PATH]
"""

from __future__ import annotations

import argparse
import time

from _timing import Table, add_common_flags, compile_and_steady, peak_memory_bytes

ap = argparse.ArgumentParser()
ap.add_argument("--policies", type=int, default=64)
ap.add_argument("--liars-dice", action="store_true", help="add full Liar's Dice")
add_common_flags(ap)
ARGS = ap.parse_args()
GOOF = "goofspiel(num_cards={},imp_info=True,points_order=descending)"
GAMES = ["kuhn_poker", "leduc_poker", GOOF.format(4), GOOF.format(5)]
JOINT = {"kuhn_poker", "leduc_poker"}
if ARGS.smoke:
    ARGS.policies, GAMES, JOINT = 4, ["kuhn_poker", GOOF.format(3)], {"kuhn_poker"}
elif ARGS.gpu:
    ARGS.policies = 1024
if ARGS.liars_dice and not ARGS.smoke:
    GAMES.append("liars_dice")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pyspiel  # noqa: E402
from open_spiel.python import policy as os_policy  # noqa: E402
from open_spiel.python.algorithms import exploitability as os_expl  # noqa: E402

import marlmeta as M  # noqa: E402


def load(name: str):
    game = pyspiel.load_game(name)
    if game.get_type().dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
        game = pyspiel.convert_to_turn_based(game)
    return game


def random_tables(legal: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` policies ``(I, A)``: Dirichlet(1) over each row's legal actions."""
    rng = np.random.default_rng(seed)
    x = rng.exponential(size=(count, *legal.shape)) * legal
    return x / x.sum(-1, keepdims=True)


def xla_bytes(fn, *args) -> int:
    """Argument, output and scratch bytes of the compiled program (what one
    call holds on the device)."""
    m = fn.lower(*args).compile().memory_analysis()
    return m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes


def timed(fn, *args) -> tuple[float, float]:
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


@jax.jit
def batch_nash_conv(game, tables):
    return jax.vmap(game.nash_conv)(tables)


def openspiel_times(os_game, tabular, skip_python: bool) -> dict:
    cpp_policy = os_policy.python_policy_to_pyspiel_policy(tabular)
    cpp_s, cpp = timed(pyspiel.nash_conv, os_game, cpp_policy)
    row = {"openspiel_cpp_s": cpp_s, "openspiel_nash_conv": cpp}
    if not skip_python:
        row["openspiel_python_s"] = timed(os_expl.nash_conv, os_game, tabular)[0]
    return row


def against_openspiel(
    fn, game, tables, count: int, os_game, tabular, skip_python: bool = False
) -> dict:
    """Compile and steady-state seconds of ``fn(game, tables)`` (``count``
    policies at once), OpenSpiel's seconds for the first policy (``tabular``;
    its Python NashConv too unless ``skip_python``), the speed-up and the
    difference of the two NashConvs of that policy."""
    compile_s, steady_s = compile_and_steady(fn, game, tables)
    ours = np.asarray(fn(game, tables))
    ref = openspiel_times(os_game, tabular, skip_python)
    per_policy = steady_s / count
    return {
        "policies": count,
        "compile_s": compile_s,
        "steady_s": steady_s,
        "marlmeta_policies_per_s": 1 / per_policy,
        **ref,
        "openspiel_policies_per_s": 1 / ref["openspiel_cpp_s"],
        "speedup": ref["openspiel_cpp_s"] / per_policy,
        "max_abs_diff": abs(float(ours[0]) - ref["openspiel_nash_conv"]),
    }


def turn_based_row(name: str) -> dict:
    os_game = load(name)
    build_s, conv = timed(M.interop.from_openspiel_turns, os_game)
    game = conv.game
    count = 1 if name == "liars_dice" else ARGS.policies  # one NashConv there
    tables = jnp.asarray(random_tables(np.asarray(game.infoset_legal()), count))
    tabular = conv.policy_to_openspiel(np.asarray(tables[0]), os_game)
    return {
        "benchmark": name,
        "method": "TurnBasedGame",
        "nodes": sum(game.node_counts),
        "infosets": game.num_infosets,
        "build_s": build_s,
        **against_openspiel(
            batch_nash_conv,
            game,
            tables,
            count,
            os_game,
            tabular,
            skip_python=name == "liars_dice",
        ),
        "xla_bytes": xla_bytes(batch_nash_conv, game, tables),
        "peak_memory_bytes": peak_memory_bytes(),
    }


@jax.jit
def batch_joint_nash_conv(game, tables):
    def one(rows):
        steps = tuple(jnp.broadcast_to(r, (game.horizon, *r.shape)) for r in rows)
        return M.evaluation.nash_conv(
            game, M.policies.ObservationPolicy(steps, tuple(game.observations))
        )

    return jax.vmap(one)(tables)


def joint_row(name: str) -> dict:
    os_game = load(name)
    build_s, (game, names) = timed(M.interop.from_openspiel_tree, os_game)
    masks = game.legal.per_observation(
        game.lead_shape, game.num_actions, game.observations, game.num_observations
    )
    tables = tuple(
        jnp.asarray(random_tables(np.asarray(m).all(0), ARGS.policies, seed=i))
        for i, m in enumerate(masks)
    )
    tabular = os_policy.TabularPolicy(os_game)
    for k, state in enumerate(tabular.states):
        i = state.current_player()
        o = names[i].index(state.information_state_string(i))
        tabular.action_probability_array[k] = np.asarray(tables[i][0, o])
    count = ARGS.policies
    return {
        "benchmark": name,
        "method": "FiniteHorizonGame (joint actions)",
        "shape": {"H": game.horizon, "S": game.num_states, "A": game.num_actions},
        "build_s": build_s,
        **against_openspiel(
            batch_joint_nash_conv, game, tables, count, os_game, tabular
        ),
        "peak_memory_bytes": peak_memory_bytes(),
    }


table = Table(f"exact NashConv of {ARGS.policies} policies vs OpenSpiel", ARGS)
for name in GAMES:
    rows = [turn_based_row(name)] + ([joint_row(name)] if name in JOINT else [])
    for row in rows:
        table.add(**row)
        print(
            f"{name:>60} {row['method']:>34}: compile {row['compile_s']:.2f} s, "
            f"{row['marlmeta_policies_per_s']:,.0f} policies/s; OpenSpiel C++ "
            f"{row['openspiel_cpp_s']:.4f} s, Python "
            f"{row.get('openspiel_python_s', float('nan')):.4f} s per policy; "
            f"{row['speedup']:,.1f}x; |diff| {row['max_abs_diff']:.1e}"
        )
        assert row["max_abs_diff"] < 1e-9, row
table.save(ARGS.json)
