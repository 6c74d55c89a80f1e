"""The aggregative planners and Aggre-VI are pure: ``jax.vmap`` over a batch of
games equals a loop over them, the slack rules are traced, failures are flags
that ``check_plan`` turns into errors, and Aggre-VI runs under ``solve``."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
import marlmeta.aggregative as A

# The shape of tests/test_aggregative_planning.py and of the Aggre-VI test.
SHAPE = dict(horizon=3, num_states=2, num_players=6, num_actions=3, dim=1)
VI_SHAPE = dict(horizon=2, num_players=3, num_actions=2)
ALPHA = 0.1

_bi = eqx.filter_jit(A.aggre_bi)
# Compiled once per module and game shape: eagerly every operation compiles on
# its own and every eager scan is re-traced and re-compiled.
_ne_gap = jax.jit(A.ne_gap)
_output_gap = eqx.filter_jit(lambda vi, g, st: A.ne_gap(g, vi.output(g, st)))


def _member(batch, k):
    return jax.tree.map(lambda a: a[k], batch)


def _assert_same(a, b):
    """Discrete leaves (profiles, grid indices, counts) equal; float leaves
    equal up to rounding (a batched reduction may sum in another order)."""
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if np.issubdtype(x.dtype, np.floating):
            np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-14)
        else:
            np.testing.assert_array_equal(x, y)


def test_vmap_of_aggre_bi_equals_a_loop():
    games = A.random_aggregative(jax.random.key(0), 3, **SHAPE, coupling_scale=2.0)
    grid = A.make_grid(games, ALPHA)  # one grid for the batch
    eta = A.SmallestEta(bisection_steps=8)  # the traced bisection (as in the
    # planning tests, so that the compiled programs are shared)
    batched = eqx.filter_jit(
        jax.vmap(lambda g: A.aggre_bi(g, grid, eta=eta), in_axes=0)
    )(games)
    for k in range(3):
        g = _member(games, k)
        one = A.check_plan(_bi(g, grid, eta=eta))
        _assert_same(_member(batched, k), one)
        # the batch's grid holds the game's own grid, whose LPs decide: the
        # same profile and certificate as with the game's own grid
        own = A.check_plan(_bi(g, A.make_grid(g, ALPHA), eta=eta))
        np.testing.assert_array_equal(one.profile, own.profile)
        assert float(one.certificate) == pytest.approx(float(own.certificate))
        assert float(_ne_gap(g, one.profile)) <= float(one.certificate)


def test_make_grid_of_a_batch_covers_each_game():
    games = A.random_aggregative(jax.random.key(0), 3, **SHAPE, coupling_scale=2.0)
    grid = np.asarray(A.make_grid(games, ALPHA).points())
    for k in range(3):
        own = np.asarray(A.make_grid(_member(games, k), ALPHA).points())
        dist = np.abs(own[:, None, :] - grid[None]).max(-1).min(1)
        assert dist.max() <= 1e-12
    with pytest.raises(ValueError, match="make_grid needs a concrete game"):
        jax.jit(lambda g: A.make_grid(g, ALPHA).start)(_member(games, 0))


def _threshold_game(threshold):
    """Action 1 pays ``threshold - x``, action 0 pays 0, ``x`` the share on 1."""
    n = 4
    c = np.zeros((1, 1, n, 2, 1))
    c[..., 1, 0] = 1 / n
    base = np.zeros((1, 1, n, 2))
    base[..., 1] = threshold
    slope = np.zeros((1, 1, n, 2, 1))
    slope[..., 1, 0] = -1.0
    rewards = A.AffineRewards(base, slope)
    trans = A.SoftmaxTransitions(np.zeros((1, 1, 1)), np.zeros((1, 1, 1, 1)))
    return A.aggregative_game(c, rewards, trans, [1.0])


def _feasible_by_hand(threshold, eta, alpha):
    """LP(x̂) of :func:`_threshold_game` solved by hand at every grid point.

    At ``x̂`` the utilities are ``q_0 = 0`` and ``q_1 = threshold - x̂``, the
    same for every player, so the approximate best responses are ``{1}`` when
    ``q_1 > eta``, ``{0}`` when ``q_1 < -eta`` and both otherwise; mixed
    actions on them reach every share in ``[1, 1]``, ``[0, 0]`` or ``[0, 1]``,
    and the LP is feasible iff that interval is within ``alpha`` of ``x̂``.
    """
    first = np.ceil((0 - alpha) / alpha - 1e-9)
    last = np.floor((1 + alpha) / alpha + 1e-9)
    for k in np.arange(first, last + 1):
        xh = k * alpha
        q1 = threshold - xh
        lo = 1.0 if q1 > eta else 0.0
        hi = 0.0 if q1 < -eta else 1.0
        if max(lo - xh, xh - hi, 0.0) <= alpha + 1e-12:
            return True
    return False


def test_smallest_eta_is_the_bisection_of_a_hand_solved_game():
    g = _threshold_game(0.55)
    grid = A.make_grid(g, ALPHA)
    res = A.check_plan(_bi(g, grid, eta=A.SmallestEta()))
    # The theory slack (the default rule's eta) depends on the game and grid
    # only, not on the LPs: read it from the run with a pivot budget of one of
    # test_failures_are_flags_under_jit_and_errors_on_the_host, whose program
    # is then compiled once for both tests.
    theory = float(_bi(g, grid, max_lp_iterations=1).eta[0])
    lo, hi = 0.0, theory
    for _ in range(16):  # the reference bisection on the hand-solved LPs
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if _feasible_by_hand(0.55, mid, ALPHA) else (mid, hi)
    assert float(res.eta[0]) == pytest.approx(hi, rel=1e-12)
    assert _feasible_by_hand(0.55, hi, ALPHA)


def test_failures_are_flags_under_jit_and_errors_on_the_host():
    g = _threshold_game(0.55)
    grid = A.make_grid(g, ALPHA)
    res = _bi(g, grid, eta=A.FixedEta(0.01))  # no raise under jit
    assert int(res.num_feasible[0, 0]) == 0
    with pytest.raises(ValueError, match=r"no grid point is feasible at \(h=0, s=0\)"):
        A.check_plan(res)
    with pytest.raises(ValueError, match=r"feasible at \(h=0, s=0\) with eta = 0.01"):
        A.aggre_bi(g, grid, eta=A.FixedEta(0.01))  # eagerly it raises
    res = _bi(g, grid, max_lp_iterations=1)
    assert int(res.exhausted.sum()) > 0
    with pytest.raises(RuntimeError, match=r"LP at \(h=0, s=0\) ran out of its pivot"):
        A.check_plan(res)


def test_eta_rules_validate_and_vmap_over_fixed_slacks():
    with pytest.raises(ValueError, match=r"eta\[0\] is nan"):
        A.FixedEta(np.nan)
    with pytest.raises(ValueError, match=r"eta has shape \(2, 2\)"):
        A.FixedEta(np.zeros((2, 2)))
    g = _threshold_game(0.55)
    grid = A.make_grid(g, ALPHA)
    with pytest.raises(ValueError, match=r"eta has shape \(3,\); expected \(\) or"):
        _bi(g, grid, eta=A.FixedEta([0.1, 0.2, 0.3]))
    etas = jnp.asarray([0.01, 0.3])  # a batch of hyperparameters, one game
    batched = jax.jit(jax.vmap(lambda e: A.aggre_bi(g, grid, eta=A.FixedEta(e))))(etas)
    for k in range(2):
        one = _bi(g, grid, eta=A.FixedEta(float(etas[k])))
        _assert_same(_member(batched, k), one)
    assert int(batched.num_feasible[0, 0, 0]) == 0 < int(batched.num_feasible[1, 0, 0])


def _vi_games(num):
    return A.random_aggregative(
        jax.random.key(1), num, **VI_SHAPE, slope_scale=0.2, coupling_scale=0.2
    )


def test_vmap_of_aggre_vi_equals_a_loop_and_solve_equals_steps():
    games = _vi_games(2)
    grid = A.make_grid(games, ALPHA)
    vi = A.AggreVI(alpha=ALPHA, num_episodes=6, bonus=0.05)
    keys = jax.random.split(jax.random.key(0), 2)

    def run(g, key):
        return M.solve(
            vi,
            g,
            6,
            init=A.AggreVIInit(grid, key),
            checkpoints=(2, 4, 6),
            metric=A.ne_gap,
        )

    batched = jax.jit(jax.vmap(run))(games, keys)
    one = jax.jit(run)
    step = jax.jit(vi.step)
    for k in range(2):
        g = _member(games, k)
        sol = one(g, keys[k])
        _assert_same(_member(batched, k), sol)
        # the driver's trace is the step loop's: ne_gap of the output
        st = vi.init(g, A.AggreVIInit(grid, keys[k]))
        for t in range(6):
            st = step(g, st)
            if t % 2 == 1:
                np.testing.assert_allclose(
                    sol.trace[t // 2], _output_gap(vi, g, st), rtol=1e-12
                )
                np.testing.assert_array_equal(
                    sol.diagnostics.profile[t // 2], st.profile
                )
        np.testing.assert_array_equal(sol.policy, st.best_profile)
        assert bool(sol.finite)


def test_aggre_vi_default_init_is_the_games_grid():
    g = _member(_vi_games(2), 0)
    vi = A.AggreVI(alpha=ALPHA, num_episodes=6)
    start = vi.default_init(g, 6)
    own = A.make_grid(g, ALPHA)
    assert start.grid.counts == own.counts
    np.testing.assert_array_equal(start.grid.start, own.start)
    with pytest.raises(ValueError, match="solve takes one game"):
        M.solve(vi, _vi_games(2), 2, metric=A.ne_gap)
