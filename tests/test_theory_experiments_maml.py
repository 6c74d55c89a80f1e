"""Mao et al. Theorem 4 recorded in the MAML experiment's results."""

import pathlib
import types

import numpy as np
import pytest

from marlmeta import theory as Th
from marlmeta.experiments import load_config
from marlmeta.experiments.maml import _theorem4

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["maml_mpg", "smoke_maml"])
def test_theorem4_entry_on_the_configs(name):
    config = load_config(ROOT / "configs" / f"{name}.yaml")
    raw = types.SimpleNamespace(objective=np.array([0.2, 0.25, 0.3]))
    entry = _theorem4(config, raw)
    m, g = config.maml, config.game
    n = len(g.num_actions)
    lf = Th.maml_smoothness(n, g.discount, m.inner_step_size, m.inner_steps)
    assert entry["smoothness_L_F"] == pytest.approx(lf)
    # 2 L_F gain / K with the objective's gain 0.1
    assert entry["bound_last"] == pytest.approx(2 * lf * 0.1 / m.meta_steps)
    # adam, or sgd on minibatches with a step far above 1 / L_F: outside
    assert entry["applies"] is False
    assert "vacuous" in entry["note"]
