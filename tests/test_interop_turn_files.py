"""Game files of turn-based games: ``save_game`` / ``load_game`` is the identity
on a :class:`~marlmeta.games.TurnBasedGame` (its derived links rebuilt), and a
modified or inconsistent file is refused with a clear error."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta.games as G
from marlmeta.games._files import _digest

F = jnp.float64


def _tree() -> G.TurnBasedGame:
    """Two chance-dealt nodes of player 0; after its move a chance split or a
    terminal edge; then player 1 (one action illegal at information set 3)."""
    rng = np.random.default_rng(0)
    sink = 4  # step 1 has four nodes
    step0 = G.TurnStep(
        player=jnp.array([0, 0]),
        infoset=jnp.array([0, 1]),
        legal=jnp.ones((2, 2), bool),
        child=jnp.array([[[0, sink], [1, 2]], [[3, sink], [sink, sink]]]),
        prob=jnp.array([[[1.0, 0.0], [0.4, 0.6]], [[1.0, 0.0], [0.0, 0.0]]], F),
        reward=jnp.asarray(rng.normal(size=(2, 2, 2)), F),
    )
    r1 = rng.normal(size=(4, 2))
    step1 = G.TurnStep(
        player=jnp.ones(4, int),
        infoset=jnp.array([2, 2, 3, 3]),
        legal=jnp.array([[True, True]] * 2 + [[True, False]] * 2),
        child=jnp.zeros((4, 2, 1), int),
        prob=jnp.zeros((4, 2, 1), F),
        reward=jnp.asarray(np.stack([r1, -r1], axis=-1), F),
    )
    return G.TurnBasedGame(
        (step0, step1), jnp.array([0.3, 0.7], F), jnp.array([0, 0, 1, 1]), 2, 4
    )


def _contents(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def test_save_load_is_identity(tmp_path):
    game = _tree()
    G.save_game(tmp_path / "turns.npz", game)
    back = G.load_game(tmp_path / "turns.npz")
    assert type(back) is G.TurnBasedGame
    assert jax.tree.structure(back) == jax.tree.structure(game)
    assert (back.num_players, back.num_infosets) == (2, 4)
    for x, y in zip(jax.tree.leaves(back), jax.tree.leaves(game), strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)
    # The derived links are rebuilt, not stored.
    stored = _contents(tmp_path / "turns.npz")
    assert "steps.0.child" in stored
    assert not any(k.startswith(("parents", "local")) for k in stored)


def test_modified_and_inconsistent_files_are_refused(tmp_path):
    path = tmp_path / "turns.npz"
    G.save_game(path, _tree())
    arrays = _contents(path)
    child = arrays["steps.0.child"].copy()
    child[1, 0, 0] = 0  # node 0 of step 1 now reached by two edges
    np.savez(path, **dict(arrays, **{"steps.0.child": child}))
    with pytest.raises(ValueError, match=r"'steps\.0\.child'.*fails its SHA-256"):
        G.load_game(path)
    header = json.loads(arrays["header"].tobytes().decode())
    header["sha256"]["steps.0.child"] = _digest(child)
    text = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(path, **dict(arrays, header=text, **{"steps.0.child": child}))
    with pytest.raises(ValueError, match=r"stored game is invalid.*reached by 2 edges"):
        G.load_game(path)
