"""The README's quick example runs as written."""

import pathlib
import re


def _run_the_example_with(marker: str) -> None:
    """Run the one README python block that contains ``marker``."""
    text = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if marker in b]
    assert len(blocks) == 1
    exec(compile(blocks[0], "README.md", "exec"), {})


def test_readme_quick_example_runs(capsys):
    text = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README has no python example"
    exec(compile(blocks[0], "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "NashConv" in out and "mean NashConv" in out


def test_readme_potential_game_example_runs(capsys):
    _run_the_example_with("maml")
    assert capsys.readouterr().out.count("\n") == 3


def test_readme_policy_error_example_runs(capsys):
    _run_the_example_with("2 * mu")
    out = capsys.readouterr().out
    assert "policy[0][0, 0] sums to 2.0; expected 1 (tolerance 1e-06)" in out


def test_readme_exact_equilibria_example_runs(capsys):
    _run_the_example_with("jax.vmap(M.exact.zero_sum_equilibrium)")
    out = capsys.readouterr().out
    assert out.strip().endswith("True")


def test_readme_cooperative_example_runs(capsys):
    _run_the_example_with("MultiAgentPPO")
    out = capsys.readouterr().out
    assert "V(uniform) 0.4545" in out and "fraction at the optimum" in out


def test_readme_poker_example_runs(capsys):
    _run_the_example_with("kuhn_poker")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "uniform: NashConv 0.916667, exploitability 0.458333"
    assert len(out) == 3


def test_readme_aggregative_example_runs(capsys):
    _run_the_example_with("aggre_bi")
    assert capsys.readouterr().out.strip() == "(3, 2, 6) True"
