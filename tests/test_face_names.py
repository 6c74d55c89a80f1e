"""Public names and texts speak the field's language: papers are cited by
authors and title, never by this project's internal labels, and nothing points
at a specification file the package does not ship."""

import pathlib
import re

import numpy as np
import pytest

import marlmeta.games.zoo as zoo
import marlmeta.lp as lp
from marlmeta import evaluation

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: Internal labels of the papers and the spec files that are not shipped.
FORBIDDEN = re.compile(r"(?i:seed ?00\d)|ALGORITHMS\.md|DESIGN\.md")

SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".css", ".json"}


def _shipped_texts():
    """The package, README, changelog, docs, configs and benchmarks."""
    roots = ["marlmeta", "docs", "configs", "benchmarks"]
    files = [ROOT / "README.md", ROOT / "mkdocs.yml", ROOT / "pyproject.toml"]
    for root in roots:
        files += [
            p
            for p in (ROOT / root).rglob("*")
            if p.is_file() and p.suffix in SUFFIXES and "results" not in p.parts
        ]
    # docs/renames.txt and the changelog list the old names on purpose.
    return [p for p in files if p.name not in ("renames.txt",)]


def test_no_internal_labels_or_spec_files():
    hits = []
    for path in _shipped_texts():
        for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if FORBIDDEN.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{k}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_the_grep_finds_what_it_looks_for():
    for text in ("zoo.seed001_g2", "see seed 000", "ALGORITHMS.md section 0"):
        assert FORBIDDEN.search(text)
    assert not FORBIDDEN.search("zoo.zhang2022_g2, Mao et al. 2023")


@pytest.mark.parametrize(
    "old, new",
    [
        (line.split()[0].split(".")[-1], line.split()[1].split(".")[-1])
        for line in (ROOT / "docs" / "renames.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ],
)
def test_renames_applied(old, new):
    """Every old name of the mapping is gone and its new name exists."""
    module = lp if new == "solve_matrix_game" else zoo
    assert hasattr(module, new)
    assert not hasattr(module, old)


def test_renames_listed_in_changelog():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    for line in (ROOT / "docs" / "renames.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            old, new = line.split()
            assert old.split(".")[-1] in changelog and new.split(".")[-1] in changelog


def test_correlated_trace_is_named_for_cce_deviations():
    """A correlated policy's report has a CCE-gap and a CCE gain sum, no
    NashConv; a product policy's keeps NashConv (hand-computed matching
    pennies: the uniform joint policy is a CCE, the pure (0, 0) is not)."""
    game = zoo.matching_pennies()
    joint = np.full((1, 1, 2, 2), 0.25)
    rep = evaluation.report(game, joint)
    assert isinstance(rep, evaluation.CCEReport)
    assert not hasattr(rep, "nash_conv")
    assert abs(float(rep.cce_gain_sum)) < 1e-6
    pure = evaluation.report(game, np.array([[[[1.0, 0.0], [0.0, 0.0]]]]))
    # Player 0 gets +1 at (0, 0); player 1 gets -1 and gains 2 by switching.
    assert abs(float(pure.cce_gain_sum) - 2.0) < 1e-6
    assert abs(float(pure.cce_gap) - 2.0) < 1e-6
    product = evaluation.report(game, ([[[1.0, 0.0]]], [[[1.0, 0.0]]]))
    assert isinstance(product, evaluation.Report)
    assert abs(float(product.nash_conv) - 2.0) < 1e-6


def test_every_paper_config_cites_its_paper():
    """A config that reproduces a paper names it by authors and title."""
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        if path.stem.startswith("smoke"):
            continue
        header = path.read_text().split("\nname:")[0]
        assert re.search(r'# Papers?: [A-Z][a-z]+, .*"[A-Z]', header), path.name
