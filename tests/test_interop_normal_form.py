"""Normal-form games in and out, and nashpy games, against NumPy computations."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import marlmeta.evaluation as E
import marlmeta.games as G
import marlmeta.interop as I

nash = pytest.importorskip("nashpy")


def _bimatrix(seed, shape=(2, 3)):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape), rng.normal(size=shape)


def test_bimatrix_and_tensor_round_trips():
    A, B = _bimatrix(0)
    game = I.from_normal_form((A, B))
    assert game.num_actions == (2, 3) and game.horizon == 1 and game.num_states == 1
    back = I.to_normal_form(game)
    assert len(back) == 2
    np.testing.assert_array_equal(back[0], A)
    np.testing.assert_array_equal(back[1], B)
    tensor = np.random.default_rng(1).normal(size=(3, 2, 3, 2))
    for payoffs in (tensor, list(tensor)):
        out = I.to_normal_form(I.from_normal_form(payoffs))
        np.testing.assert_array_equal(np.stack(out), tensor)
    mp = G.zoo.matching_pennies()
    np.testing.assert_array_equal(
        I.from_normal_form(I.to_normal_form(mp)).rewards, mp.rewards
    )


def test_float32_and_integer_payoffs():
    A = np.array([[3, 0], [5, 1]])
    game = I.from_normal_form((A, A.T))
    assert jnp.issubdtype(game.rewards.dtype, jnp.floating)
    np.testing.assert_array_equal(I.to_normal_form(game)[1], A.T)
    g32 = I.from_normal_form((A.astype(np.float32), A.T.astype(np.float32)))
    assert I.to_normal_form(g32)[0].dtype == np.float32


@pytest.mark.parametrize("seed", [0, 1])
def test_nash_conv_of_a_nashpy_game_matches_numpy(seed):
    A, B = _bimatrix(seed)
    ng = nash.Game(A, B)
    game = I.from_normal_form(ng.payoff_matrices)
    x, y = (
        np.asarray(jr.dirichlet(jr.key(seed), jnp.ones(2))),
        np.array([0.2, 0.5, 0.3]),
    )
    pi = (x[None, None], y[None, None])
    value = x @ A @ y, x @ B @ y
    conv = (np.max(A @ y) - value[0]) + (np.max(x @ B) - value[1])
    np.testing.assert_allclose(E.values(game, pi), value, atol=1e-12)
    np.testing.assert_allclose(E.nash_conv(game, pi), conv, atol=1e-12)
    np.testing.assert_allclose(E.exploitability(game, pi), conv / 2, atol=1e-12)
    # nashpy's equilibria have zero NashConv in marlmeta.
    for x_eq, y_eq in ng.support_enumeration():
        eq = (np.asarray(x_eq)[None, None], np.asarray(y_eq)[None, None])
        np.testing.assert_allclose(E.nash_conv(game, eq), 0.0, atol=1e-9)
    # And back: nashpy reads marlmeta's tables.
    again = nash.Game(*I.to_normal_form(game))
    np.testing.assert_array_equal(again.payoff_matrices[0], A)
    np.testing.assert_array_equal(again.payoff_matrices[1], B)


def test_bad_payoffs_are_refused():
    A, B = _bimatrix(0)
    with pytest.raises(ValueError, match=r"payoffs\[1\] has shape \(3, 2\)"):
        I.from_normal_form((A, B.T))
    with pytest.raises(ValueError, match="payoffs has 3 tables of shape"):
        I.from_normal_form((A, B, A))
    with pytest.raises(ValueError, match=r"payoffs\[0\]\[0, 1\] is nan"):
        I.from_normal_form(([[1.0, np.nan], [0.0, 1.0]], np.eye(2)))
    with pytest.raises(ValueError, match="payoffs is 3"):
        I.from_normal_form(3)


def test_to_normal_form_refuses_other_games(key):
    finite = G.unstack(G.random_general_sum(key, 4, (2, 3), 3, 3))[0]
    with pytest.raises(ValueError, match="horizon 3 and 3 states"):
        I.to_normal_form(finite)
    with pytest.raises(ValueError, match="needs finite-horizon games"):
        I.to_normal_form(G.zoo.ratio_game())
    with pytest.raises(ValueError, match="takes one game"):
        I.to_normal_form(G.stack([G.zoo.matching_pennies()] * 2))
