"""The cooperative experiments: ratio game (Zhao et al. 2023 Fig. 1) and
MA-PPO against independent methods on random cooperative games."""

import json
import pathlib

import jax
import numpy as np
import pytest
import yaml

from marlmeta.experiments import ConfigError, load_config, run_experiment
from marlmeta.experiments.cooperative import games
from marlmeta.games import zoo
from tests import reference_cooperative as ref

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_ratio_game_smoke_reproduces_the_research_note(tmp_path):
    out = run_experiment(
        load_config(ROOT / "configs" / "smoke_ratio_game.yaml"),
        tmp_path,
        progress=False,
    )
    r = json.loads((out / "results.json").read_text())
    assert r["finite"] is True and r["paper_values_agree"] is True
    assert all(e["agrees"] for p in r["panels"] for e in p["paper"])
    assert len(r["panels"][0]["paper"]) == 5
    (f, c) = r["panels"]
    # The research note's closed form at the start, V(0.5, y) = 0.4545 for all y.
    assert abs(f["trace"]["indep"][0] - 0.25 / 0.55) < 1e-12
    assert abs(c["trace"]["indep"][0] - 0.25 / 0.55) < 1e-12
    # Exact MA-PPO leaves the stationary point that traps independent PG.
    assert c["first_reach"]["ma_ppo"]["0.9"] > 0
    assert c["first_reach"]["indep"]["0.9"] == -1
    assert (out / "figure.png").stat().st_size > 1000
    # Zhao et al. Theorem 4.5, for the uniform panel only (the theorem starts
    # from the uniform policy): J* = 1 and J = V(0), the average gap of the
    # iterates k < t, decreasing, below the bound written out:
    # (ln 2 + ln 2) / (eta t) + N eta B^2 / 2, over (1 - gamma), with
    # B = (max r - min r) / (2 (1 - gamma)), r including the absorbing 0.
    assert "bound" not in c
    b = f["bound"]
    assert b["applies"] is True and b["t"] == list(range(10, 401, 10))
    ppo = np.asarray(f["trace"]["ma_ppo"])
    assert 0 < b["average_gap"][0] <= 1 - ppo[0]
    assert np.all(np.diff(b["average_gap"]) < 0)
    r = np.concatenate([np.ravel(zoo.RATIO_REWARD), [0.0]])
    gamma = zoo.RATIO_DISCOUNT
    B = (r.max() - r.min()) / (2 * (1 - gamma))
    t = np.asarray(b["t"], float)
    want = (2 * np.log(2) / (0.05 * t) + 2 * 0.05 * B**2 / 2) / (1 - gamma)
    np.testing.assert_allclose(b["bound"], want, rtol=1e-12)
    assert np.all(np.asarray(b["average_gap"]) <= np.asarray(b["bound"]))
    assert b["vacuous_last"] and b["bound_last"] >= 1 - ppo.min()
    np.testing.assert_allclose(b["ratio_last"], b["bound_last"] / b["measured_last"])


def test_cooperative_ppo_smoke_against_numpy(tmp_path):
    config = load_config(ROOT / "configs" / "smoke_cooperative_ppo.yaml")
    out = run_experiment(config, tmp_path, progress=False)
    r = json.loads((out / "results.json").read_text())
    assert r["finite"] is True and r["checkpoints"] == [1, 10, 100, 200]
    ppo, gp = r["solvers"]
    # Zhao et al. Theorem 4.5 for MA-PPO only, flagged vacuous where it is
    # above the largest possible gap (at eta = 1, gamma = 0.9 its floor is).
    assert "bound" not in gp
    b = ppo["bound"]
    assert b["applies"] is True and len(b["bound_median"]) == 4
    assert b["vacuous_last"] == bool(b["bound_last"] >= b["largest_possible_gap"])
    assert b["bound_last"] >= ppo["median_gap"][-1]
    for row in r["solvers"]:
        frac = np.asarray(row["fraction_optimal"])
        assert ((0 <= frac) & (frac <= 1)).all() and row["min_gap"] > -1e-12
    assert ppo["fraction_optimal"][-1] > gp["fraction_optimal"][-1]
    # The MA-PPO mean gap after 10 iterations, recomputed in NumPy.
    batch = games(config)
    gaps = []
    for k in range(config.num_games):
        g = jax.tree.map(lambda x, k=k: x[k], batch)
        rw = np.asarray(g.reward_model.reward)
        p = np.asarray(g.transitions.dense())[0]
        gamma, rho = float(g.discount), np.asarray(g.initial)
        tables = ref.ma_ppo(rw, p, gamma, 1.0, 10)[10]
        v, _ = ref.policy_value(rw, p, gamma, ref.joint_policy(tables, 4, (2, 2, 2)))
        gaps.append(rho @ (ref.optimal_value(rw, p, gamma) - v))
    np.testing.assert_allclose(ppo["mean_gap"][1], np.mean(gaps), atol=1e-12)
    np.testing.assert_allclose(ppo["median_gap"][1], np.median(gaps), atol=1e-12)


@pytest.mark.parametrize(
    ("config", "edit", "fragment"),
    [
        ("smoke_ratio_game", ("panels", 0, "init", "random"), "panels[0].init"),
        (
            "smoke_ratio_game",
            ("panels", 0, "crossings", 0, "method", "x"),
            "panels[0].crossings[0].method",
        ),
        (
            "smoke_cooperative_ppo",
            ("run", "checkpoints", 0, 50),
            "key 'run.checkpoints[1]'",
        ),
        (
            "smoke_cooperative_ppo",
            ("game", "discount", 1.0),
            "key 'game.discount' is 1.0",
        ),
        (
            "smoke_cooperative_ppo",
            ("solvers", 0, "solver", "ZeroSumOMD"),
            "solvers[0].solver",
        ),
    ],
)
def test_config_errors_name_key_and_file(tmp_path, config, edit, fragment):
    data = yaml.safe_load((ROOT / "configs" / f"{config}.yaml").read_text())
    node = data
    for k in edit[:-2]:
        node = node[k]
    node[edit[-2]] = edit[-1]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=str(path)) as err:
        load_config(path)
    assert fragment in str(err.value)
