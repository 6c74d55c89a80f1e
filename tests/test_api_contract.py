"""The public-API contract: ordinary input works, malformed input is a clear error.

Every public evaluation function and driver gives the same numbers for NumPy
arrays, lists, JAX arrays, float32 and float64 policies; malformed policies
raise ``ValueError`` naming the argument, the player, the index and the value,
and the shape checks also raise under ``jit`` (shapes are static).
"""

import dataclasses
import functools
import pathlib

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import marlmeta as M
import marlmeta.evaluation as E
import marlmeta.games as G
import marlmeta.policies as P

_GAMES = {
    "finite": lambda: G.random_general_sum(
        jax.random.key(1), 1, (2, 3), 3, 4, dtype=jnp.float64
    ),
    "discounted": lambda: G.random_potential(
        jax.random.key(2), 1, (2, 3), 3, discount=0.8, dtype=jnp.float64
    ),
}


@functools.cache
def _game(kind):
    """The finite-horizon or the discounted test game, built on first use.

    Not at import: every xdist worker imports every test module, and the
    100k-state subprocess below imports this one, so games built at import
    would be compiled and generated there for nothing.
    """
    return G.unstack(_GAMES[kind]())[0]


METRICS = ("values", "gains", "nash_conv", "ne_gap", "best_response_values", "cce_gap")


def _policy(game, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(
        rng.dirichlet(np.ones(a), size=game.lead_shape) for a in game.num_actions
    )


def _forms(pol):
    """The same product policy as NumPy, lists, JAX float64 and JAX float32."""
    return {
        "numpy": pol,
        "list": [p.tolist() for p in pol],
        "jax64": tuple(jnp.asarray(p, jnp.float64) for p in pol),
        "jax32": tuple(jnp.asarray(p, jnp.float32) for p in pol),
    }


@pytest.mark.parametrize("kind", ["finite", "discounted"])
@pytest.mark.parametrize("name", METRICS)
def test_input_forms_give_the_same_numbers(kind, name):
    game = _game(kind)
    fn = getattr(E, name)
    forms = _forms(_policy(game))
    # The reference is the JAX float64 form's result; the other forms must
    # match it (evaluating that form again would compare it with itself, and
    # each eager evaluation of a discounted game compiles its loops afresh).
    ref = np.asarray(fn(game, forms.pop("jax64")))
    for label, pol in forms.items():
        tol = 1e-5 if label == "jax32" else 1e-12
        np.testing.assert_allclose(fn(game, pol), ref, atol=tol, err_msg=label)
    np.testing.assert_allclose(jax.jit(fn)(game, forms["numpy"]), ref, atol=1e-12)


def test_other_public_functions_accept_numpy_and_lists():
    FINITE, DISCOUNTED = _game("finite"), _game("discounted")
    pol = _policy(DISCOUNTED)
    for fn in (E.averaged_q, E.policy_gradient, E.advantages, E.visitation):
        ref = fn(DISCOUNTED, tuple(jnp.asarray(p) for p in pol))
        for form in (pol, [p.tolist() for p in pol]):
            out = jax.tree.leaves(fn(DISCOUNTED, form))
            for a, b in zip(out, jax.tree.leaves(ref), strict=True):
                np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(
        E.potential(DISCOUNTED, pol), E.potential(DISCOUNTED, [*pol]), atol=1e-14
    )
    joint = P.product_to_joint(_policy(FINITE))
    np.testing.assert_allclose(
        E.cce_gap(FINITE, np.asarray(joint)),
        E.cce_gap(FINITE, _policy(FINITE)),
        atol=1e-12,
    )


def test_drivers_accept_numpy_initial_policies():
    DISCOUNTED = _game("discounted")
    solver = M.solvers.ProjectedQDescent(0.1)
    pol = _policy(DISCOUNTED)
    ref = M.solve(solver, DISCOUNTED, 5, init=tuple(jnp.asarray(p) for p in pol))
    for form in (pol, [p.tolist() for p in pol]):
        out = M.solve(solver, DISCOUNTED, 5, init=form)
        np.testing.assert_allclose(out.trace.nash_conv, ref.trace.nash_conv, atol=1e-14)


def _bad(game):
    """(malformed policy, pattern the message must match) pairs."""
    mu, nu = _policy(game)
    neg = mu.copy()
    neg[(0,) * (mu.ndim - 1) + (1,)] = -0.25
    neg[(0,) * (mu.ndim - 1) + (0,)] = 1.25
    off = nu.copy()
    off[(1,) * (nu.ndim - 1)] *= 1.001
    nan = nu.copy()
    nan[(0,) * nu.ndim] = np.nan
    lead = len(game.lead_shape)
    return [
        ((mu,), r"policy has 1 per-player tables; the game has 2 players"),
        ((mu, nu, nu), r"policy has 3 per-player tables; the game has 2 players"),
        ((mu[..., :1], nu), r"policy\[0\] has shape .*; expected"),
        ((mu, nu[..., :2, :]), r"policy\[1\] has shape .*; expected"),
        ((neg, nu), r"policy\[0\]\[" + ", ".join(["0"] * lead) + r", 1\] is -0.25"),
        (
            (mu, off),
            r"policy\[1\]\[" + ", ".join(["1"] * lead) + r"\] sums to 1.00(1|09)",
        ),
        ((mu, nan), r"policy\[1\]\[" + ", ".join(["0"] * (lead + 1)) + r"\] is nan"),
        ((2 * mu, nu), r"policy\[0\]\[.*\] (sums to 2.0|is)"),
    ]


@pytest.mark.parametrize("kind", ["finite", "discounted"])
def test_malformed_policies_raise_naming_player_index_value(kind):
    game = _game(kind)
    for pol, pattern in _bad(game):
        for name in METRICS:  # the message names the argument: cce_gap's is sigma
            arg = "sigma" if name == "cce_gap" else "policy"
            with pytest.raises(ValueError, match=pattern.replace("policy", arg, 1)):
                getattr(E, name)(game, pol)
    joint = P.product_to_joint(_policy(game))
    with pytest.raises(ValueError, match=r"sigma has shape"):
        E.cce_gap(game, joint[..., :1])


def test_shape_checks_raise_under_jit():
    FINITE = _game("finite")
    mu, nu = _policy(FINITE)
    with pytest.raises(ValueError, match=r"policy\[0\] has shape"):
        jax.jit(E.nash_conv)(FINITE, (mu[:, :, :1], nu))
    with pytest.raises(ValueError, match="3 per-player tables"):
        jax.jit(E.values)(FINITE, (mu, nu, nu))
    # Traced values are checked at run time (eqx.error_if): an error, no number.
    with pytest.raises(Exception, match=r"policy\[0\] has a negative entry or a row"):
        jax.jit(E.nash_conv)(FINITE, (2 * mu, nu))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=hnp.arrays(np.float64, 3, elements=st.floats(0.01, 10)),
    index=st.integers(0, 2),
    delta=st.one_of(
        st.just(0.0),
        st.floats(-1e-3, 1e-3),
        st.sampled_from([np.nan, np.inf, -np.inf, -0.5, 1e-7, -1e-7]),
    ),
)
def test_fuzzed_entries_either_evaluate_or_raise_clearly(raw, index, delta):
    game = G.zoo.rock_paper_scissors()
    mu = raw / raw.sum()
    mu[index] += delta
    nu = np.full(3, 1 / 3)
    valid = (
        np.all(np.isfinite(mu)) and np.all(mu >= -1e-6) and abs(mu.sum() - 1) <= 1e-6
    )
    if valid:
        assert np.isfinite(E.nash_conv(game, (mu[None, None], nu[None, None])))
    else:
        with pytest.raises(ValueError, match=r"policy\[0\]\[0, 0(, \d)?\] (is|sums)"):
            E.nash_conv(game, (mu[None, None], nu[None, None]))


@settings(max_examples=40, deadline=None)
@given(
    actions=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    horizon=st.integers(3, 5),
    states=st.integers(2, 4),
)
def test_fuzzed_shapes_evaluate_only_when_they_fit(actions, horizon, states):
    FINITE = _game("finite")
    pol = [np.full((horizon, states, a), 1 / a) for a in actions]
    fits = actions == [2, 3] and (horizon, states) == FINITE.lead_shape
    if fits:
        assert np.all(np.isfinite(E.values(FINITE, pol)))
    else:
        with pytest.raises(ValueError, match=r"policy( has|\[\d\] has shape)"):
            jax.jit(E.values)(FINITE, pol)


def test_solve_takes_one_game_and_solve_batch_a_batch():
    # the batch shape of tests/test_games_validation.py: one generator program
    games = G.random_zero_sum(jax.random.key(0), 4, (2, 2), 2, 3)
    solver = M.solvers.ZeroSumOMD(0.1)
    with pytest.raises(ValueError, match="solve takes one game; got a batch of 4"):
        M.solve(solver, games, 5)
    with pytest.raises(ValueError, match="one game, use solve"):
        M.solve_batch(solver, G.unstack(games)[0], 5)


def test_identical_interest_games_get_their_potential():
    rng = np.random.default_rng(0)
    r = rng.uniform(size=(2, 2, 2))
    p = rng.dirichlet(np.ones(2), size=(2, 2, 2))
    game = G.discounted_game(np.stack([r] * 2), p, [0.5, 0.5], 0.9)
    np.testing.assert_array_equal(game.potential_reward, r)
    pol = _policy(game)
    np.testing.assert_allclose(
        E.potential(game, pol), E.values(game, pol)[0], atol=1e-12
    )
    finite = G.markov_game(np.stack([r[None]] * 2), p[None], [0.5, 0.5])
    np.testing.assert_array_equal(finite.potential_reward, r[None])
    general = G.discounted_game(np.stack([r, -r]), p, [0.5, 0.5], 0.9)
    assert general.potential_reward is None


def _sparse_game(key, num_states, fan_out=4, discount=0.9, dtype=jnp.float64):
    """A random sparse two-player zero-sum discounted game (fan-out ``K``)."""
    k1, k2, k3 = jax.random.split(key, 3)
    shape = (1, num_states, 2, 2, fan_out)
    nxt = jax.random.randint(k1, shape, 0, num_states)
    prob = jax.random.exponential(k2, shape, dtype)
    prob = prob / prob.sum(-1, keepdims=True)
    r = jax.random.uniform(k3, (num_states, 2, 2), dtype)
    init = jnp.full(num_states, 1 / num_states, dtype)
    trans = G.SparseTransitions(nxt, prob, num_states)
    return G.discounted_game(jnp.stack([r, -r]), trans, init, discount)


_DISCOUNTED_METRICS = ("values", "gains", "nash_conv", "best_response_values")


@jax.jit
def _discounted_evaluations(game, pol):
    """The metrics, averaged Q and the value gradient, compiled as one program
    per linear solver (eagerly they cost some 200 small compilations).

    Each best-response search and each linear solve is traced and compiled
    once per instance in the program, which is most of this test's time: the
    gains and NashConv come from one report (the evaluation ``gains`` and
    ``nash_conv`` would each repeat), and the values and the gradient of player
    0's value from one ``vjp`` (``grad`` would evaluate the values again).
    """
    values, pullback = jax.vjp(lambda p: E.values(game, p), pol)
    (grad,) = pullback(jnp.zeros_like(values).at[0].set(1))
    rep = E.report(game, pol)
    metrics = {
        "values": values,
        "gains": rep.gains,
        "nash_conv": rep.nash_conv,
        "best_response_values": E.best_response_values(game, pol),
    }
    return metrics, E.averaged_q(game, pol), grad


def test_matrix_free_discounted_evaluation_agrees_with_dense():
    game = _sparse_game(jax.random.key(3), 500)
    assert game.linear_solver == M.games.AutoSolve()  # 500 states: dense
    assert game.linear_solver.pick(game) == M.games.DenseSolve()
    iterative = dataclasses.replace(game, linear_solver=M.games.MatrixFreeSolve())
    pol = P.random_policy(game, key=jax.random.key(4))
    free, free_q, grad = _discounted_evaluations(iterative, pol)
    dense, dense_q, ref = _discounted_evaluations(game, pol)
    for name in _DISCOUNTED_METRICS:
        np.testing.assert_allclose(
            free[name], dense[name], atol=1e-8, rtol=0, err_msg=name
        )
    for a, b in zip(free_q, dense_q, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-8)
    for a, b in zip(grad, ref, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-8)


_LARGE = """
import jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
import marlmeta.evaluation as E, marlmeta.policies as P
from tests.test_api_contract import _sparse_game
# Built with the suite's compiler flags (LLVM's optimizations off: the random
# generators' small programs compile in a fraction of the time, and run for
# milliseconds); the evaluation below, which runs for tens of seconds on
# 100,000 states, is compiled with them on.
game = _sparse_game(jax.random.key(5), 100_000)
pol = P.random_policy(game, key=jax.random.key(6))
jax.config.update("jax_disable_most_optimizations", False)
# One program: values (the path without best responses) and the report, whose
# gains and NashConv come from one best-response search (E.gains and
# E.nash_conv would each run their own, some 18 s of CPU each here).
v, rep = jax.jit(lambda gm, p: (E.values(gm, p), E.report(gm, p)))(game, pol)
g, c = rep.gains, rep.nash_conv
assert bool(jnp.all(jnp.isfinite(v))) and bool(rep.finite), (v, rep.values, g)
assert bool(jnp.all(g >= -1e-9)), g
assert abs(float(c) - float(g.sum())) < 1e-9 and abs(float(v.sum())) < 1e-9
assert float(jnp.max(jnp.abs(rep.values - v))) < 1e-9, (v, rep.values)
# VmHWM is this process's own peak; ru_maxrss would report the parent's peak
# too, because a child started by fork/vfork and exec inherits it.
print(next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")).split()[1])
"""


@pytest.mark.skipif(
    not pathlib.Path("/proc/self/status").exists(),
    reason="peak memory is read from /proc/self/status (Linux only)",
)
def test_sparse_discounted_game_with_100k_states_within_2_gib(tmp_path):
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    # The child builds the game with the suite's compiler flags and then
    # compiles its one evaluation program with LLVM's optimizations on (off
    # for the rest of the suite, tests/conftest.py): that program runs for
    # tens of seconds on 100,000 states, where they pay (measured on the
    # child's earlier two-program form, one cold process: 95 s CPU with them
    # off, 59 s with them on).
    out = subprocess.run(
        [sys.executable, "-c", _LARGE],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    peak_kib = int(out.stdout.split()[-1])
    assert peak_kib < 2 * 1024**2, f"peak RSS {peak_kib / 1024:.0f} MiB"
