"""The README's blocks that no other test runs: every README code block runs
in the test suite."""

import pathlib
import re

from tests.test_readme import _run_the_example_with

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: The marker of each README python block and the test that runs it.
MARKERS = {
    "maml": "tests/test_readme.py",
    "2 * mu": "tests/test_readme.py",
    "jax.vmap(M.exact.zero_sum_equilibrium)": "tests/test_readme.py",
    "MultiAgentPPO": "tests/test_readme.py",
    "kuhn_poker": "tests/test_readme.py",
    "aggre_bi": "tests/test_readme.py",
    "from_normal_form": "tests/test_interop_readme.py",
    "MarkovGameEnv": "tests/test_simulation_experiment.py",
    "meta.sequential_meta(solver, family": "tests/test_face_readme.py",
}


def test_every_readme_block_is_run_by_a_test():
    """The first block is test_readme's quick example; every other block
    holds exactly one marker, and the named test file uses that marker."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    for block in blocks[1:]:
        hits = [m for m in MARKERS if m in block]
        assert len(hits) == 1, block[:200]
        assert hits[0] in (ROOT / MARKERS[hits[0]]).read_text()


def test_readme_solving_and_meta_learning_example_runs(capsys):
    _run_the_example_with("meta.sequential_meta(solver, family")
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].endswith("True")
    meta, individual = (float(x) for x in lines[1].split())
    # Meta-learning helps on the pure-saddle family (Mao et al. Figure 2).
    assert meta < individual
