"""Game files of the structured poker kind: ``save_game`` / ``load_game`` is the
identity on a :class:`~marlmeta.games.PrivateTypeGame` (one game and a
stack-perturbed family) and the loaded game gives the same exact
exploitability, bit for bit; a file whose factor grid was altered is refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
from marlmeta.games import zoo

jax.config.update("jax_enable_x64", True)

W = np.zeros((2, 1326))
W[0, 40:1326:90] = 1.0
W[1, 7:1326:70] = 1.0
KW = {"ranges": (W[0], W[1]), "dtype": jnp.float64, "structured": True}


def _same(a, b):
    assert type(a) is type(b)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("which", ["kuhn", "river", "family"])
def test_save_load_is_identity(tmp_path, which):
    if which == "kuhn":
        game = zoo.kuhn_poker(jnp.float64, structured=True)
    elif which == "river":
        game = zoo.river_endgame(variant="check_bet_call", **KW)
    else:
        game = zoo.river_endgame_family(3, 2, **KW)
    M.games.save_game(tmp_path / "g.npz", game)
    back = M.games.load_game(tmp_path / "g.npz")
    _same(back, game)
    one = M.games.unstack(game)[0] if which == "family" else game
    one_back = M.games.unstack(back)[0] if which == "family" else back
    policy = M.policies.observation_uniform(one)
    assert M.evaluation.nash_conv(one_back, policy) == M.evaluation.nash_conv(
        one, policy
    )


def test_tampered_factor_grid_is_refused(tmp_path):
    game = zoo.kuhn_poker(jnp.float64, structured=True)
    path = tmp_path / "g.npz"
    M.games.save_game(path, game)
    with np.load(path, allow_pickle=False) as data:
        contents = {k: data[k] for k in data.files}
    key = next(k for k in contents if "factors" in k)
    contents[key] = contents[key] * 2
    np.savez(path, **contents)
    with pytest.raises(ValueError, match="factors"):
        M.games.load_game(path)
