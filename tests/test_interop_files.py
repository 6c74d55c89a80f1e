"""Game files: save/load is the identity on every game kind; bad files are refused."""

import functools
import json
import zipfile

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import marlmeta.games as G


def _factored(key):
    ks = jr.split(key, 3)
    local = (
        jr.dirichlet(ks[0], jnp.ones(2), (3, 2, 2)),
        jr.dirichlet(ks[1], jnp.ones(3), (3, 3, 2)),
    )
    rewards = jr.uniform(ks[2], (2, 3, 6, 2, 2), jnp.float64)
    return G.markov_game(rewards, G.FactoredTransitions(local), np.ones(6) / 6)


@functools.cache
def _games():
    key = jr.key(0)
    one = lambda games: G.unstack(games)[0]  # noqa: E731
    f64 = jnp.float64
    batch = G.random_general_sum(key, 4, (2, 3), 3, 3, dtype=f64)
    return {
        "finite dense": one(batch),
        "finite batch": batch,
        "float32": one(G.random_general_sum(key, 1, (2, 3), 3, 3)),
        "discounted": one(
            G.random_general_sum(key, 3, (2, 2, 2), 4, discount=0.9, dtype=f64)
        ),
        "zero sum": one(G.random_zero_sum(key, 2, (2, 3), 3, 3, dtype=f64)),
        "identical": one(G.random_identical_interest(key, 2, (2, 3), 3, 3, dtype=f64)),
        "potential": one(G.random_potential(key, 2, (2, 3), 3, 3, dtype=f64)),
        "sparse": one(G.random_sparse_general_sum(key, 1, (2, 2), 6, 3, 2, dtype=f64)),
        "factored": _factored(key),
        "stationary factored": one(
            G.lq_tracking_family(
                key, 1, num_players=2, num_positions=3, horizon=2, dtype=f64
            )
        ),
        "cooperative": one(G.random_cooperative(key, 2, dtype=f64)),
        "observations": G.zoo.kuhn_poker(f64),
        "observations batch": G.stack([G.zoo.kuhn_poker(f64)] * 2),
        "matrix": G.zoo.rock_paper_scissors(),
    }


NAMES = [
    "finite dense",
    "finite batch",
    "float32",
    "discounted",
    "zero sum",
    "identical",
    "potential",
    "sparse",
    "factored",
    "stationary factored",
    "cooperative",
    "observations",
    "observations batch",
    "matrix",
]


def _assert_same(a, b):
    assert type(a) is type(b)
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(
        jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True
    ):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("name", NAMES)
def test_save_load_is_identity(tmp_path, name):
    game = _games()[name]
    path = tmp_path / "game.npz"
    G.save_game(path, game)
    _assert_same(G.load_game(path), game)


def test_kinds_are_covered():
    assert list(_games()) == NAMES
    models = {type(g.reward_model).__name__ for g in _games().values()}
    kernels = {type(g.transitions).__name__ for g in _games().values()}
    assert models == {
        "DenseRewards",
        "ZeroSumRewards",
        "IdenticalRewards",
        "StationaryRewards",
    }
    assert kernels == {"DenseTransitions", "SparseTransitions", "FactoredTransitions"}


def _contents(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _rewrite(path, arrays, **header_changes):
    header = json.loads(arrays["header"].tobytes().decode())
    header.update(header_changes)
    arrays = dict(arrays, header=np.frombuffer(json.dumps(header).encode(), np.uint8))
    np.savez(path, **arrays)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "g.npz"
    G.save_game(path, _games()["finite dense"])
    return path


def test_modified_array_fails_its_checksum(saved):
    arrays = _contents(saved)
    arrays["initial"] = arrays["initial"][::-1].copy()
    np.savez(saved, **arrays)
    with pytest.raises(ValueError, match=r"g\.npz.*'initial'.*checksum"):
        G.load_game(saved)


def test_wrong_version_and_format(saved):
    arrays = _contents(saved)
    _rewrite(saved, arrays, version=99)
    with pytest.raises(ValueError, match=r"g\.npz: version is 99"):
        G.load_game(saved)
    _rewrite(saved, arrays, format="other")
    with pytest.raises(ValueError, match=r"g\.npz: format is 'other'"):
        G.load_game(saved)


def test_missing_and_unexpected_arrays(saved):
    arrays = _contents(saved)
    np.savez(saved, **{k: v for k, v in arrays.items() if k != "transitions.probs"})
    with pytest.raises(ValueError, match=r"g\.npz.*'transitions\.probs' is missing"):
        G.load_game(saved)
    np.savez(saved, extra=np.zeros(2), **arrays)
    with pytest.raises(ValueError, match=r"g\.npz.*'extra' is not in the header"):
        G.load_game(saved)
    np.savez(saved, **{k: v for k, v in arrays.items() if k != "header"})
    with pytest.raises(ValueError, match=r"g\.npz.*'header' array is missing"):
        G.load_game(saved)


def test_invalid_values_are_refused_by_the_constructors(saved):
    """A consistent file (checksums rewritten) with a kernel row off the simplex."""
    from marlmeta.games._files import _digest

    arrays = _contents(saved)
    arrays["transitions.probs"] = 2 * arrays["transitions.probs"]
    header = json.loads(arrays["header"].tobytes().decode())
    header["sha256"]["transitions.probs"] = _digest(arrays["transitions.probs"])
    _rewrite(saved, arrays, sha256=header["sha256"])
    with pytest.raises(ValueError, match=r"g\.npz: the stored game is invalid.*trans"):
        G.load_game(saved)


def test_unknown_module_is_refused(saved):
    arrays = _contents(saved)
    header = json.loads(arrays["header"].tobytes().decode())
    header["tree"]["fields"]["transitions"]["module"] = "os.system"
    _rewrite(saved, arrays, tree=header["tree"])
    with pytest.raises(ValueError, match=r"unknown module 'os\.system'"):
        G.load_game(saved)
    header = json.loads(arrays["header"].tobytes().decode())
    header["tree"]["fields"]["num_actions"] = {"tuple": [3, 2]}
    _rewrite(saved, arrays, tree=header["tree"])
    with pytest.raises(ValueError, match=r"g\.npz: the stored game is invalid"):
        G.load_game(saved)
    header["tree"]["fields"]["num_actions"] = "abc"
    _rewrite(saved, arrays, tree=header["tree"])
    with pytest.raises(ValueError, match=r"g\.npz: the stored game is invalid"):
        G.load_game(saved)


def test_truncated_and_foreign_files(saved, tmp_path):
    data = saved.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.npz is not a readable \.npz"):
        G.load_game(cut)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"text\.npz is not a readable \.npz"):
        G.load_game(text)
    npy = tmp_path / "a.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(ValueError, match=r"a\.npy is not a readable .*one \.npy array"):
        G.load_game(npy)
    with zipfile.ZipFile(tmp_path / "empty.npz", "w"):
        pass
    with pytest.raises(ValueError, match=r"empty\.npz.*'header' array is missing"):
        G.load_game(tmp_path / "empty.npz")


def test_save_refuses_a_non_game_and_object_leaves(tmp_path):
    with pytest.raises(ValueError, match="game is a dict"):
        G.save_game(tmp_path / "x.npz", {"a": 1})
    game = _games()["finite dense"]
    bad = eqx.tree_at(lambda g: g.initial, game, {"a": 1})
    with pytest.raises(ValueError, match=r"game\.initial is a dict"):
        G.save_game(tmp_path / "x.npz", bad)


def test_bad_observation_maps_are_refused(tmp_path):
    """The maps are checked on load by observe (a consistent file)."""
    game = _games()["observations"]
    obs = (game.observations[0].at[0, 0].set(99), *game.observations[1:])
    path = tmp_path / "obs.npz"
    G.save_game(path, eqx.tree_at(lambda g: g.observations, game, obs))
    with pytest.raises(
        ValueError, match=r"obs\.npz: .*observations\[0\]\[0, 0\] is 99"
    ):
        G.load_game(path)
