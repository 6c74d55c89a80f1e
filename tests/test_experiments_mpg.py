"""The Markov-potential-game experiments: warm start, softmax gradient play, MAML."""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import yaml

import marlmeta as M
from marlmeta.experiments import ConfigError, load_config, run_experiment
from marlmeta.games import zoo

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _delta_phi_numpy(rewards, probs, initial) -> float:
    """``sum_k max_pi (Phi(pi; G^k) - Phi(pi; G^k+1))`` for a family of
    identical-interest games sharing their transitions, by backward induction
    over joint actions (a deterministic joint policy attains the maximum and
    is a product policy)."""
    total = 0.0
    for k in range(len(rewards) - 1):
        diff = rewards[k] - rewards[k + 1]  # (H, S, A, B)
        v = np.zeros(diff.shape[1])
        for h in reversed(range(diff.shape[0])):
            p = probs[k, min(h, probs.shape[1] - 1)]  # (S, A, B, S')
            v = (diff[h] + p @ v).max(axis=(1, 2))
        total += float(initial[k] @ v)
    return total


def test_potential_meta_warm_start_pays_early(tmp_path):
    """Seed 000 F.2 (Figure 3): the warm start has a far smaller NE-gap in the
    first iterations than learning each game from uniform."""
    out = run_experiment(
        load_config(ROOT / "configs" / "potential_meta.yaml"), tmp_path, progress=False
    )
    r = json.loads((out / "results.json").read_text())
    assert r["metric"] == "mpg_ne_gap" and r["meta_update"] == "warm_start"
    assert r["finite"] is True
    cps = r["checkpoints"]
    ind = np.array(r["individual"]["mpg_ne_gap_mean"])
    meta = np.array(r["meta"]["mpg_ne_gap_mean"])
    early = np.array(cps) <= 30
    assert np.all(meta[early] < 0.3 * ind[early])
    assert ind[-1] < 1e-3 and meta[-1] < 1e-3  # both converge by T = 1000
    # Delta_Phi is the family's, reported once: rebuild every seed's family and
    # recompute it in NumPy.
    config = load_config(ROOT / "configs" / "potential_meta.yaml")
    g = config.game
    assert set(r["similarity"]) == {"definition", "family"}
    assert "similarity_mean" not in r["individual"] | r["meta"]
    base = zoo.mao2023_identical_interest(
        g.rewards, g.horizon, g.stay, g.switch, jnp.float64
    )
    deltas = []
    for key in jax.random.split(jax.random.key(config.run.seed), config.run.seeds):
        fam = M.games.perturb_rewards(
            key, base, g.num_games, g.noise_std, coupling="identical"
        )
        rewards = np.asarray(fam.rewards)
        np.testing.assert_array_equal(rewards[:, 0], rewards[:, 1])
        deltas.append(
            _delta_phi_numpy(
                rewards[:, 0],
                np.asarray(fam.transitions.probs),
                np.asarray(fam.initial),
            )
        )
    assert np.mean(deltas) > 0
    np.testing.assert_allclose(r["similarity"]["family"], np.mean(deltas), rtol=1e-10)


@pytest.mark.parametrize("config", ["softmax_mpg_g2_good", "softmax_mpg_g3"])
def test_softmax_configs_reproduce_the_papers_values(tmp_path, config):
    out = run_experiment(
        load_config(ROOT / "configs" / f"{config}.yaml"), tmp_path, progress=False
    )
    r = json.loads((out / "results.json").read_text())
    assert r["finite"] is True
    checks = [c for row in r["solvers"] for c in row["paper"]]
    assert len(checks) >= 4
    assert all(c["agrees"] for c in checks), checks
    assert r["paper_values_agree"] is True
    for row in r["solvers"]:
        assert row["t"][:3] == [1, 2, 3]
        assert len(row["ne_gap"]) == len(row["t"]) == len(row["lojasiewicz"])
        pi0 = np.asarray(row["policy_trace"][0])
        assert pi0.shape == (r["plot_steps"], 3)  # player 1 of G2 and G3: 3 actions
        np.testing.assert_allclose(pi0.sum(-1), 1.0, atol=1e-12)
        # potential = <pi_1, Qbar_1> at every t (one state, gamma = 0)
        qbar0 = np.asarray(row["qbar_trace"][0])
        keep = len(qbar0)
        np.testing.assert_allclose(
            (pi0 * qbar0).sum(-1), np.asarray(row["potential"][:keep]), atol=1e-12
        )
    assert (out / "figure.png").read_bytes()[:4] == b"\x89PNG"


def test_maml_random_baseline_is_the_returned_one():
    # With the whole pool as the batch, the training "random" NE-gap is the
    # pool's mean NE-gap after T inner steps from run.random_init, the logits
    # the experiment also evaluates on the held-out games.
    #
    # One compiled program for the games, the run and the check: op by op,
    # the outer loop's scan, the vmapped inner steps and every small op
    # compile apart.
    @jax.jit
    def run_and_gap():
        base = M.games.random_identical_interest(
            jax.random.key(3), 1, (2, 3), 2, discount=0.7, dtype=jnp.float32
        )
        base = jax.tree.map(lambda x: x[0], base)
        games = M.games.perturb_rewards(
            jax.random.key(4), base, 4, 0.05, coupling="identical"
        )
        theta = (jnp.zeros((2, 2)), jnp.zeros((2, 3)))
        run = M.meta.maml(
            games, theta, optax.sgd(0.1), 3, 2, 0.5, key=jax.random.key(5)
        )
        gap = jax.vmap(lambda g: M.meta.adapted_ne_gap(g, run.random_init, 2, 0.5))
        return run, gap(games)

    run, gap = run_and_gap()
    assert [t.shape for t in run.random_init] == [(2, 2), (2, 3)]
    np.testing.assert_allclose(run.ne_gap_random, jnp.mean(gap), rtol=1e-5)
    assert float(jnp.std(jnp.concatenate(jax.tree.leaves(run.random_init), None))) > 0.3


@pytest.mark.parametrize(
    "config, edit, fragment",
    [
        ("smoke_maml", ("meta", "optimiser", "rmsprop"), "key 'meta.optimiser'"),
        ("smoke_maml", ("meta", "batch_size", 99), "key 'meta.batch_size' is 99"),
        ("smoke_maml", ("meta", "first_order", 1), "must be true or false"),
        ("smoke_maml", ("game", "discount", 1.0), "key 'game.discount' is 1.0"),
        ("softmax_mpg_g2", ("game", "name", "g9"), "key 'game.name' is 'g9'"),
        ("softmax_mpg_g2", ("run", "init", [[0.5, 0.6]]), "key 'run.init[0]'"),
        (
            "softmax_mpg_g2",
            ("output", "trajectory_of", "nope"),
            "key 'output.trajectory_of'",
        ),
        ("smoke_potential", ("solver", "num_steps", 0), "key 'solver.num_steps' is 0"),
    ],
)
def test_mpg_config_errors_name_key_and_file(tmp_path, config, edit, fragment):
    data = yaml.safe_load((ROOT / "configs" / f"{config}.yaml").read_text())
    section, key, value = edit
    (data if section is None else data[section])[key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and fragment in str(err.value)


def test_softmax_init_of_the_wrong_size_is_a_clear_error(tmp_path):
    data = yaml.safe_load((ROOT / "configs" / "softmax_mpg_g2.yaml").read_text())
    data["run"]["init"] = [[0.5, 0.5], [0.5, 0.5]]
    data["solvers"] = data["solvers"][:1]
    data["output"]["trajectory_of"] = None
    data["solvers"][0]["num_steps"] = 3
    data["solvers"][0]["paper"] = []
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=r"init has sizes \[2, 2\]"):
        run_experiment(load_config(path), tmp_path, progress=False)
