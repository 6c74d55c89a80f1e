"""One config schema for every experiment: the same top-level sections, the
same names for the same things, the old flat keys refused with their new
place, and a reference page generated from the config classes."""

import dataclasses
import pathlib
import sys

import pytest
import yaml

from marlmeta.experiments import EXPERIMENTS, ConfigError, load_config
from marlmeta.experiments._loader import HEADER, SECTIONS, file_key, to_file_layout

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
sys.path.insert(0, str(ROOT / "docs"))
import _generate  # noqa: E402


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_has_the_common_layout_and_round_trips(path, tmp_path):
    data = yaml.safe_load(path.read_text())
    assert set(data) <= set(HEADER) | set(SECTIONS), set(data) - set(HEADER)
    for section in set(data) & set(SECTIONS):
        assert isinstance(data[section], dict | list), section
    config = load_config(path)
    # The layout written to a run's config.yaml is the file's own.
    again = tmp_path / path.name
    again.write_text(yaml.safe_dump(to_file_layout(config), sort_keys=False))
    assert load_config(again) == config


def _write(tmp_path, text: str) -> pathlib.Path:
    path = tmp_path / "old.yaml"
    path.write_text(text)
    return path


OLD_LAYOUTS = {
    "flat game key": (
        """name: x
experiment: cooperative_ppo
num_games: 12
solvers: [{label: a, solver: MultiAgentPPO, step_size: 1.0}]
run: {checkpoints: [1, 2]}
""",
        ["'num_games'", "'game.num_games'"],
    ),
    "flat run key": (
        """name: x
experiment: compare
game: {num_games: 2}
solvers: [{label: a, solver: GeneralSumOMD, step_size: 0.1}]
num_steps: 10
""",
        ["'num_steps'", "'run.num_steps'"],
    ),
    "renamed key": (
        """name: x
experiment: sampled_ppo
iterations: 3
""",
        ["'iterations'", "'solver.num_steps'"],
    ),
    "renamed section": (
        """name: x
experiment: maml_mpg
maml: {inner_steps: 2}
""",
        ["'maml'", "'meta'"],
    ),
    "game named by a string": (
        """name: x
experiment: softmax_mpg
game: zhang2022_g2
solvers: []
""",
        ["'game'", "game.name"],
    ),
    "unknown key in a section": (
        """name: x
experiment: aggre_vi
solver: {episodes: 6}
""",
        ["'solver.episodes'", "solver.num_episodes"],
    ),
}


@pytest.mark.parametrize("case", OLD_LAYOUTS)
def test_old_keys_are_refused_with_their_new_place(tmp_path, case):
    text, needles = OLD_LAYOUTS[case]
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message, (needle, message)


def test_range_errors_name_the_sectioned_key(tmp_path):
    path = _write(
        tmp_path,
        """name: x
experiment: cooperative_ppo
game: {discount: 1.5}
solvers: [{label: a, solver: MultiAgentPPO, step_size: 1.0}]
run: {checkpoints: [1, 2], dtype: float16}
""",
    )
    with pytest.raises(ConfigError, match=r"key 'run\.dtype' is 'float16'"):
        load_config(path)


def test_same_names_for_the_same_things():
    """Counts of games are ``num_games``, iteration counts ``num_steps`` or
    ``num_episodes``, and sections are only the common ones."""
    for name, cls in EXPERIMENTS.items():
        keys = [file_key(f) for f in dataclasses.fields(cls)]
        for key in keys:
            top, _, leaf = key.rpartition(".")
            assert leaf not in ("games", "iterations", "episodes"), (name, key)
            assert (top or key) in set(HEADER) | set(SECTIONS), (name, key)


def test_reference_lists_every_key_with_type_default_and_meaning():
    text = _generate.config_reference_markdown()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            rows.setdefault(cells[0].strip("`"), []).append(cells)
    for name, cls in EXPERIMENTS.items():
        assert f"### `experiment: {name}`" in text
        for f in dataclasses.fields(cls):
            key = file_key(f)
            assert key in rows, (name, key)
    for key, found in rows.items():
        for _, tp, default, meaning in found:
            assert tp and default is not None and meaning, key


def test_experiments_page_lists_every_experiment_kind():
    page = (ROOT / "docs" / "experiments.md").read_text()
    assert "<!-- marlmeta:experiment-kinds -->" in page
    table = _generate.experiment_kinds_markdown()
    for name, cls in EXPERIMENTS.items():
        assert f"| `{name}` | `{cls.__module__}` |" in table
