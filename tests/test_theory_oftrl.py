"""The exact CCE-gap of adaptive OFTRL's nested-index output policy.

Checked against the independent history-enumerating reference in
tests/reference.py (which also backs the solver's own tests), a hand-worked
two-iterate matrix game, and T = 1 (the uniform product policy, whose gap the
Markov evaluation gives).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
import marlmeta.games as G
from marlmeta import theory as Th
from tests import reference as ref


def _seed002_games(key, num_games):
    # The paper's setting: N = 2, S = 2, two actions, H = 2, stay w.p. 0.8.
    games = G.random_general_sum(key, num_games, (2, 2), 2, 2, dtype=jnp.float64)
    kernel = jnp.array([[0.8, 0.2], [0.2, 0.8]], jnp.float64)[:, None, None, :]
    probs = jnp.broadcast_to(kernel, games.transitions.probs.shape)
    games = eqx.tree_at(lambda g: g.transitions.probs, games, probs)
    start = jnp.broadcast_to(jnp.array([1.0, 0.0]), games.initial.shape)
    return eqx.tree_at(lambda g: g.initial, games, start)


# Compiled once per module and shared by the tests (every game here has the
# paper's shape). Eagerly every operation compiles on its own, and every eager
# call re-traces and re-compiles the solver's scans and while loops.
_iterates = jax.jit(Th.oftrl_iterates, static_argnums=2)
_cce_gap = jax.jit(Th.nested_index_cce_gap)
_step = jax.jit(lambda solver, g, state: solver.step(g, state))
_cce_gap_ub = jax.jit(lambda solver, g, state: solver.diagnostics(g, state).cce_gap_ub)


def test_index_weights_hand_worked():
    # H = 1: alpha = (1, 2/3, 1/2); row t: alpha^j_t = alpha_j prod_{k>j} (1 - alpha_k)
    w = np.asarray(Th.index_weights(1, 3))
    want = [[1, 0, 0], [1 / 3, 2 / 3, 0], [1 / 6, 1 / 3, 1 / 2]]
    np.testing.assert_allclose(w, want, atol=1e-15)
    np.testing.assert_allclose(w.sum(1), 1.0)


def test_hand_worked_matching_pennies():
    # H = 1, T = 2: the index is 1 w.p. 1/3 and 2 w.p. 2/3. Iterate 1 is
    # uniform play, iterate 2 both players' action 0. Values: V_0 = 2/3,
    # V_1 = -2/3. Player 0's best deviation 2/3 max(r_0(., 0)) = 2/3 (gain 0);
    # player 1's 2/3 max(-r_0(0, .)) = 2/3 (gain 4/3). CCE-gap 4/3.
    g = G.matrix_game([[[1.0, -1.0], [-1.0, 1.0]], [[-1.0, 1.0], [1.0, -1.0]]])
    g = jax_float64(g)
    it = jnp.array([[[[0.5, 0.5]]], [[[1.0, 0.0]]]])  # (T, H, S, A)
    out = Th.nested_index_cce_gap(g, (it, it))
    np.testing.assert_allclose(out.values, [2 / 3, -2 / 3], atol=1e-12)
    np.testing.assert_allclose(out.deviation, [2 / 3, 2 / 3], atol=1e-12)
    np.testing.assert_allclose(out.cce_gap, 4 / 3, atol=1e-12)


def jax_float64(g):
    """The game with float64 leaves (matrix_game keeps the input's dtype)."""
    return jax.tree.map(
        lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x,
        g,
    )


def test_one_iterate_is_the_uniform_product_policy(key):
    # T = 1: the output is pi^1 (uniform play), a Markov product policy; its
    # exact CCE-gap is the Markov evaluation's.
    g = G.unstack(_seed002_games(key, 1))[0]
    it = _iterates(M.solvers.AdaptiveOFTRL(0.1), g, 1)
    for p in it:
        np.testing.assert_allclose(p, 0.5, atol=1e-12)
    out = _cce_gap(g, it)
    joint = M.policies.product_to_joint(tuple(p[0] for p in it))
    np.testing.assert_allclose(out.cce_gap, M.evaluation.cce_gap(g, joint), atol=1e-12)


@pytest.mark.parametrize("eta, T", [(None, 20), (0.5, 12)])
def test_matches_the_history_enumerating_reference(key, eta, T):
    games = _seed002_games(key, 3)
    solver = M.solvers.AdaptiveOFTRL(eta)
    for g in G.unstack(games):
        iterates = _iterates(solver, g, T)
        _, _, pis = ref.dlrc_omwu(
            np.asarray(g.rewards),
            np.asarray(g.transitions.dense()),
            float(solver.eta(g)),
            T,
        )
        for i in range(2):  # the reconstructed iterates are the reference's
            np.testing.assert_allclose(
                iterates[i], np.stack([p[i] for p in pis]), atol=1e-8
            )
        values, _, history = ref.nested_index_policy_values(
            np.asarray(g.rewards), np.asarray(g.transitions.dense()),
            np.asarray(g.initial), pis,
        )  # fmt: skip
        out = _cce_gap(g, iterates)
        np.testing.assert_allclose(out.values, values, atol=1e-8)
        np.testing.assert_allclose(out.deviation, history, atol=1e-8)
        # the paper's online bound is never below its own policy's exact gap
        state = solver.init(g, None)
        for _ in range(T):
            state = _step(solver, g, state)
        ub = float(_cce_gap_ub(solver, g, state))
        assert float(out.cce_gap) <= ub + 1e-8


def test_validates(key):
    g = G.unstack(_seed002_games(key, 1))[0]
    bad = (jnp.full((3, 2, 2, 3), 1 / 3), jnp.full((3, 2, 2, 2), 0.5))
    with pytest.raises(ValueError, match=r"iterates\[0\] has shape"):
        Th.nested_index_cce_gap(g, bad)
    with pytest.raises(ValueError, match="num_steps is 0"):
        Th.oftrl_iterates(M.solvers.AdaptiveOFTRL(0.1), g, 0)


def _alpha(H, j, t):
    """alpha^j_t in closed form: (H+1)(t-1)!(H+j-1)! / ((j-1)!(H+t)!)."""
    return math.exp(
        math.log(H + 1)
        + math.lgamma(t)
        + math.lgamma(H + j)
        - math.lgamma(j)
        - math.lgamma(H + t + 1)
    )


def test_weighted_regret_matches_its_definition(key):
    # Eq. 3 from the iterates and the smoothed values recorded at every
    # iteration: nu^j = E_{pi^j_{-i}} [r + P V^{(j)}_{h+1}], weights alpha^j_t in
    # closed form; and eqs. 50-52's bound at the theorem's step size.
    g = G.unstack(_seed002_games(key, 1))[0]
    solver = M.solvers.AdaptiveOFTRL()  # eta = 1 / (24 H^{3/2} N)
    T, H = 15, g.horizon
    r, P = np.asarray(g.rewards), np.asarray(g.transitions.dense())
    iterates = [np.asarray(p) for p in _iterates(solver, g, T)]
    state, values = solver.init(g, None), []
    for _ in range(T):
        state = _step(solver, g, state)
        values.append(np.asarray(state.values))
    got = Th.oftrl_weighted_regret(solver, g, state)
    for i in range(2):
        want = np.zeros((H, 2))
        for h in range(H):
            for s in range(2):
                total = np.zeros(2)
                for j in range(T):
                    v_next = values[j][i, h + 1] if h + 1 < H else np.zeros(2)
                    q = r[i, h, s] + P[h, s] @ v_next  # (A_0, A_1)
                    other = iterates[1 - i][j, h, s]
                    nu = q @ other if i == 0 else other @ q
                    total += _alpha(H, j + 1, T) * (nu - nu @ iterates[i][j, h, s])
                want[h, s] = total.max()
        np.testing.assert_allclose(got[i], want, atol=1e-10)
        assert np.all(np.asarray(got[i]) <= Th.oftrl_regret_bound(g, T))
    with pytest.raises(ValueError, match="smoothed_baseline"):
        Th.oftrl_weighted_regret(
            M.solvers.AdaptiveOFTRL(smoothed_baseline=True), g, state
        )


def test_theorem4_hand_worked_and_against_the_exact_gap(key):
    # H = 2, N = 2, two actions, beta = 70, T = 100:
    # alpha~ = 70 ln^2 2 + 2 ln 2 + 2 = 37.018005,
    # tail = alpha~ ln 100 + 2 ln 2 + 2 = 173.860509,
    # bound = 864 * 2^3.5 * 2 * tail / 100 = 33989.883;
    # per-state 96 * 2^2.5 * 2 * tail / 100 = 1888.327.
    games = _seed002_games(key, 3)
    g0 = G.unstack(games)[0]
    bound = Th.oftrl_theorem4(g0, 100)
    tail = (70 * math.log(2) ** 2 + 2 * math.log(2) + 2) * math.log(100)
    tail += 2 * math.log(2) + 2
    assert tail == pytest.approx(173.860509, abs=1e-6)
    np.testing.assert_allclose(bound.value, 864 * 2**3.5 * 2 * tail / 100)
    assert float(bound.value) == pytest.approx(33989.883, abs=1e-3)
    assert Th.oftrl_regret_bound(g0, 100) == pytest.approx(1888.327, abs=1e-3)
    assert bool(bound.applies)
    assert not bool(Th.oftrl_theorem4(g0, 100, step_size=0.5).applies)
    assert not bool(Th.oftrl_theorem4(g0, 100, beta=10.0).applies)
    solver = M.solvers.AdaptiveOFTRL()
    for g in G.unstack(games):
        exact = _cce_gap(g, _iterates(solver, g, 100))
        assert float(exact.cce_gap) <= float(Th.oftrl_theorem4(g, 100).value)
