"""Zhao et al. Theorem 5.5 drawn by a config: pessimistic MA-PPO in the
``cooperative_ppo`` experiment (configs/smoke_pessimistic_ppo.yaml).

The chunk's gaps come from replaying the run (``pessimistic_trajectory``); they
are checked against an independent path, :func:`marlmeta.solve_batch` with the
exact optimality-gap metric and the uniform policy's gap for ``pi_0``."""

import pathlib

import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
from marlmeta.experiments import ConfigError, load_config
from marlmeta.experiments.cooperative import games, pessimistic_solver
from tests.reference_cooperative import optimal_value, policy_value

ROOT = pathlib.Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke_pessimistic_ppo.yaml"


def _np_uniform_gap(game):
    """``rho @ (V* - V_uniform)`` by the NumPy references."""
    r = np.asarray(game.rewards[0])
    p = np.asarray(jnp.moveaxis(game.next_state_tensor(jnp.float64), 0, -1))
    joint = np.full(r.shape, 1.0 / np.prod(r.shape[1:]))
    v, _ = policy_value(r, p, float(game.discount), joint)
    rho = np.asarray(game.initial)
    return rho @ optimal_value(r, p, float(game.discount)) - rho @ v


def test_chunk_matches_solve_and_the_bound_holds():
    config = load_config(SMOKE)
    plan = config.plan()
    chunk = plan.compute(0)
    batch = games(config)
    solver = pessimistic_solver(config, config.solvers[0], M.games.unstack(batch)[0])
    K = config.checkpoints[-1]
    sol = M.solve_batch(
        solver,
        batch,
        K,
        checkpoints=range(1, K + 1),
        metric=M.evaluation.optimality_gap,
    )
    uniform = [_np_uniform_gap(g) for g in M.games.unstack(batch)]
    trace = np.asarray(sol.trace)  # gaps of pi_1 .. pi_K
    t = np.asarray(config.checkpoints)
    np.testing.assert_allclose(chunk.gap, trace[:, t - 1], rtol=1e-9, atol=1e-12)
    gaps = np.concatenate([np.asarray(uniform)[:, None], trace], axis=1)
    average = np.cumsum(gaps, axis=1)[:, t - 1] / t  # iterates k < t
    np.testing.assert_allclose(chunk.average_gap, average, rtol=1e-9, atol=1e-12)
    assert bool(chunk.finite)
    assert np.all(np.asarray(chunk.bound) >= average)
    assert np.all(np.asarray(chunk.printed) > 0)

    results = plan.aggregate([chunk])
    (row,) = results["solvers"]
    bound = row["bound"]
    assert bound["theorem"].startswith("Zhao et al. Theorem 5.5")
    assert bound["bound_holds_every_game"] is True
    np.testing.assert_allclose(bound["bound_median"], np.median(chunk.bound, 0))
    np.testing.assert_allclose(bound["average_gap_median"], np.median(average, 0))
    np.testing.assert_allclose(
        bound["ratio_last"], bound["bound_last"] / bound["measured_last"]
    )
    np.testing.assert_allclose(row["median_gap"], np.median(trace[:, t - 1], 0))
    assert plan.figure(results)[:8] == b"\x89PNG\r\n\x1a\n"


def _write(tmp_path, entry):
    text = SMOKE.read_text()
    old = text[text.index("  - {label") : text.index("run:")]
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(old, f"  - {entry}\n"))
    return path


@pytest.mark.parametrize(
    "entry, match",
    [
        (
            "{label: p, solver: PessimisticMAPPO, step_size: 0.3, num_samples: 9}",
            r"solvers\[0\]\.pessimism' is missing",
        ),
        (
            "{label: p, solver: PessimisticMAPPO, step_size: 0.3, pessimism: -1.0, "
            "num_samples: 9}",
            r"solvers\[0\]\.pessimism' is -1\.0",
        ),
        (
            "{label: p, solver: PessimisticMAPPO, step_size: 0.3, pessimism: 1.0, "
            "num_samples: 0}",
            r"solvers\[0\]\.num_samples' is 0",
        ),
        (
            "{label: p, solver: MultiAgentPPO, step_size: 0.3, pessimism: 1.0}",
            r"solvers\[0\]\.pessimism' is 1\.0; MultiAgentPPO does not take it",
        ),
    ],
)
def test_pessimistic_entries_are_checked(tmp_path, entry, match):
    with pytest.raises(ConfigError, match=match):
        load_config(_write(tmp_path, entry))
