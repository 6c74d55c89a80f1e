"""The ``sampled_ppo`` experiment: sample-based and exact MA-PPO and IPPO on the
same random cooperative games, judged by the exact optimality gap.

References: NumPy MA-PPO and value iteration (``tests/reference_cooperative``)
for the exact MA-PPO and uniform-policy gaps, and the samples-used arithmetic.
"""

import json
import pathlib

import jax
import numpy as np
import pytest
import yaml

from marlmeta.experiments import ConfigError, load_config, run_experiment
from marlmeta.experiments.sampled_ppo import games
from tests import reference_cooperative as ref

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_sampled_ppo_smoke_against_numpy(tmp_path):
    config = load_config(ROOT / "configs" / "smoke_sampled_ppo.yaml")
    out = run_experiment(config, tmp_path, progress=False)
    r = json.loads((out / "results.json").read_text())
    assert r["finite"] is True
    # T episodes of (rollout_steps - 1) + rollout_steps steps, K iterations.
    assert r["sampled_ma_ppo"]["env_steps"] == [3 * 20 * 39]
    assert r["ippo"]["env_steps"] == [32, 96]
    for key, count in (("sampled_ma_ppo", 1), ("ippo", 2)):
        assert len(r[key]["median_gap"]) == count
        assert min(r[key]["mean_gap"]) > -1e-5
    batch = games(config)
    exact, uniform = [], []
    for k in range(config.num_games):
        g = jax.tree.map(lambda x, k=k: x[k], batch)
        rw = np.asarray(g.reward_model.reward, np.float64)
        p = np.asarray(g.transitions.dense(), np.float64)[0]
        gamma, rho = float(g.discount), np.asarray(g.initial, np.float64)
        vstar = ref.optimal_value(rw, p, gamma)
        tables = ref.ma_ppo(rw, p, gamma, 1.0, 3)[3]
        v, _ = ref.policy_value(rw, p, gamma, ref.joint_policy(tables, 3, (2, 2)))
        exact.append(rho @ (vstar - v))
        u, _ = ref.policy_value(rw, p, gamma, np.full((3, 2, 2), 0.25))
        uniform.append(rho @ (vstar - u))
    # float32 run against float64 NumPy.
    np.testing.assert_allclose(
        r["exact_ma_ppo"]["mean_gap"][0], np.mean(exact), atol=2e-4
    )
    np.testing.assert_allclose(r["uniform"]["mean_gap"][0], np.mean(uniform), atol=2e-4)
    assert r["exact_ma_ppo"]["mean_gap"][0] < r["uniform"]["mean_gap"][0]
    assert (out / "figure.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (("baseline", "updates", [2, 2]), "key 'baseline.updates[1]' is 2"),
        (("solver", "sample_counts", [0]), "key 'solver.sample_counts[0]' is 0"),
        (("game", "discount", 1.0), "key 'game.discount' is 1.0"),
        (("baseline", "steps", 3), "'baseline.envs' x 'baseline.steps' is 6"),
    ],
)
def test_config_errors_name_key_and_file(tmp_path, edit, fragment):
    data = yaml.safe_load((ROOT / "configs" / "smoke_sampled_ppo.yaml").read_text())
    data[edit[0]][edit[1]] = edit[2]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=str(path)) as err:
        load_config(path)
    assert fragment in str(err.value)


def test_readme_simulation_example_runs(capsys):
    import re

    text = (ROOT / "README.md").read_text()
    blocks = [
        b
        for b in re.findall(r"```python\n(.*?)```", text, re.S)
        if "MarkovGameEnv" in b
    ]
    assert len(blocks) == 1
    exec(compile(blocks[0], "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("exact NashConv of IPPO's policies:")
    assert out[1].startswith("Monte-Carlo")
