"""Configs that take the game from a file (or an OpenSpiel name)."""

import importlib.util
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import marlmeta.games as G
from marlmeta.experiments import ConfigError, load_config, run_experiment


def _config(tmp_path, game: dict) -> str:
    data = {
        "name": "own_game",
        "experiment": "zero_sum_meta",
        "game": game,
        "solver": {"step_size": 0.1, "num_steps": 6},
        "run": {"seeds": 1, "chunk_seeds": 1, "checkpoints": [3, 6]},
    }
    path = tmp_path / "own_game.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_saved_game_runs_as_the_base_of_the_family(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # file paths are relative to the working folder
    game = G.unstack(G.random_zero_sum(jax.random.PRNGKey(4), 1, (2, 2), 2, 3))[0]
    G.save_game(tmp_path / "mine.npz", game)
    config = load_config(
        _config(tmp_path, {"file": "mine.npz", "noise_std": 0.05, "num_games": 2})
    )
    base = config.base_game(jnp.float32)
    np.testing.assert_array_equal(base.rewards, game.rewards.astype(jnp.float32))
    assert base.horizon == 3 and base.rewards.dtype == jnp.float32
    out = run_experiment(config, tmp_path / "runs", progress=False)
    r = json.loads((out / "results.json").read_text())
    assert r["finite"] is True and r["num_games"] == 2
    assert len(r["individual"]["nash_conv_mean"]) == 2


def test_game_sources_are_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="exactly one of 'file' and 'openspiel'"):
        load_config(_config(tmp_path, {"file": "a.npz", "openspiel": "kuhn_poker"}))
    with pytest.raises(ConfigError, match="exactly one of 'file' and 'openspiel'"):
        load_config(_config(tmp_path, {"noise_std": 0.1}))
    with pytest.raises(ConfigError, match="key 'game.file' is 'nope.npz'; no such"):
        load_config(_config(tmp_path, {"file": "nope.npz"}))
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pyspiel" else real(name, *a),
    )
    with pytest.raises(ConfigError, match="open_spiel is not installed"):
        load_config(_config(tmp_path, {"openspiel": "kuhn_poker"}))
    batch = G.random_zero_sum(jax.random.PRNGKey(0), 2, (2, 2), 2, 2)
    G.save_game(tmp_path / "batch.npz", batch)
    config = load_config(_config(tmp_path, {"file": "batch.npz"}))
    with pytest.raises(ValueError, match="holds a batch of 2 games"):
        config.base_game(jnp.float32)
