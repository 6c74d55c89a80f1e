"""The README's "your own game" example runs and prints what the README says."""

import pytest

from tests.test_readme import _run_the_example_with

pytest.importorskip("nashpy")


def test_readme_own_game_example_runs(capsys):
    _run_the_example_with("from_normal_form")
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "cooperate: NashConv 4.0, exploitability 2.0",
        "[[3.0, 5.0], [0.0, 1.0]]",
    ]
