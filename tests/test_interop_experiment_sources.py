"""Every experiment that takes a game takes one from a file (compare), and the
ones that cannot use an arbitrary game refuse it with the reason."""

import json

import numpy as np
import pytest
import yaml

import marlmeta.games as G
from marlmeta.experiments import ConfigError, load_config, run_experiment
from tests.test_interop_legal import _masked_game


def _write(tmp_path, data: dict):
    path = tmp_path / f"{data['experiment']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_compare_runs_on_a_saved_game_with_legal_actions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    game, rewards, *_, masks = _masked_game()
    G.save_game(tmp_path / "mine.npz", game)
    data = {
        "name": "own",
        "experiment": "compare",
        "game": {"file": "mine.npz", "num_games": 2, "noise_std": 0.1, "seed": 3},
        "solvers": [{"label": "oftrl", "solver": "AdaptiveOFTRL", "step_size": 0.1}],
        "run": {"num_steps": 4, "checkpoints": [2, 4]},
    }
    config = load_config(_write(tmp_path, data))
    from marlmeta.experiments.compare import games_of

    games = games_of(config)
    noise = np.asarray(games.rewards) - rewards[None]
    assert games.rewards.shape == (2, *rewards.shape)
    # One noise draw per game, player and (s, a), shared by the steps; the
    # players' noises differ (an independent, general-sum family).
    np.testing.assert_allclose(noise[:, :, 0], noise[:, :, 1], atol=1e-12)
    assert np.all(np.abs(noise) > 0) and not np.allclose(noise[:, 0], noise[:, 1])
    for i, m in enumerate(masks):  # the family keeps the legal actions
        np.testing.assert_array_equal(games.legal.legal[i][0], m)
    out = run_experiment(config, tmp_path / "runs", progress=False)
    r = json.loads((out / "results.json").read_text())
    assert r["num_games"] == 2 and r["finite"] is True


@pytest.mark.parametrize(
    ("experiment", "why"),
    [
        ("softmax_mpg", "potential"),
        ("ratio_game", "ratio game"),
        ("maml_mpg", "discounted potential games"),
        ("cooperative_ppo", "networked"),
        ("sampled_ppo", "networked"),
        ("poker_endgame", "stacks of a structured river endgame"),
        ("lq_tracking_meta", "linear-quadratic"),
        ("aggre_vi", "aggregate"),
    ],
)
def test_experiments_that_need_their_own_games_refuse_a_game_source(
    tmp_path, experiment, why
):
    data = {"name": "x", "experiment": experiment, "game": {"openspiel": "kuhn_poker"}}
    with pytest.raises(ConfigError, match=f"cannot take a game from a file.*{why}"):
        load_config(_write(tmp_path, data))
