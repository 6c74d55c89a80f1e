"""The exact CCE-gap of adaptive OFTRL's nested-index output policy.

Checked against the independent history-enumerating reference in
tests/reference.py (which also backs the solver's own tests), a hand-worked
two-iterate matrix game, and T = 1 (the uniform product policy, whose gap the
Markov evaluation gives).
"""

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
    it = Th.oftrl_iterates(M.solvers.AdaptiveOFTRL(0.1), g, 1)
    for p in it:
        np.testing.assert_allclose(p, 0.5, atol=1e-12)
    out = Th.nested_index_cce_gap(g, it)
    joint = M.policies.product_to_joint(tuple(p[0] for p in it))
    np.testing.assert_allclose(out.cce_gap, M.evaluation.cce_gap(g, joint), atol=1e-12)


@pytest.mark.parametrize("eta, T", [(None, 40), (0.5, 12)])
def test_matches_the_history_enumerating_reference(key, eta, T):
    games = _seed002_games(key, 3)
    solver = M.solvers.AdaptiveOFTRL(eta)
    for g in G.unstack(games):
        iterates = Th.oftrl_iterates(solver, g, T)
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
        out = Th.nested_index_cce_gap(g, iterates)
        np.testing.assert_allclose(out.values, values, atol=1e-8)
        np.testing.assert_allclose(out.deviation, history, atol=1e-8)
        # the paper's online bound is never below its own policy's exact gap
        state = solver.init(g, None)
        for _ in range(T):
            state = solver.step(g, state)
        ub = float(solver.diagnostics(g, state).cce_gap_ub)
        assert float(out.cce_gap) <= ub + 1e-8


def test_validates(key):
    g = G.unstack(_seed002_games(key, 1))[0]
    bad = (jnp.full((3, 2, 2, 3), 1 / 3), jnp.full((3, 2, 2, 2), 0.5))
    with pytest.raises(ValueError, match=r"iterates\[0\] has shape"):
        Th.nested_index_cce_gap(g, bad)
    with pytest.raises(ValueError, match="num_steps is 0"):
        Th.oftrl_iterates(M.solvers.AdaptiveOFTRL(0.1), g, 0)
