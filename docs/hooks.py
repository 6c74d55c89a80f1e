"""MkDocs hooks: the pages that must never go stale are generated at build time.

- **API reference**: one page per public module of ``marlmeta`` (every module
  or package whose dotted path has no component starting with ``_``), found
  by walking the source tree, so a new public subpackage gets its page and its
  nav entry without an edit here.
- **Experiments**: ``<!-- marlmeta:configs -->`` in a page becomes one section
  per file in ``configs/`` (its header comment, its figure from
  ``docs/figures/`` when one was generated, the config itself).
- **Benchmarks**: ``<!-- marlmeta:benchmarks -->`` becomes one table per JSON
  file in ``benchmarks/results/``.
"""

from __future__ import annotations

import pathlib
import sys

from mkdocs.structure.files import File

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from _generate import (  # noqa: E402
    ROOT,
    api_page,
    benchmarks_markdown,
    config_reference_markdown,
    configs_markdown,
    experiment_kinds_markdown,
    public_modules,
)

API_DIR = "api"
PLACEHOLDERS = {
    "<!-- marlmeta:configs -->": configs_markdown,
    "<!-- marlmeta:benchmarks -->": benchmarks_markdown,
    "<!-- marlmeta:config-reference -->": config_reference_markdown,
    "<!-- marlmeta:experiment-kinds -->": experiment_kinds_markdown,
}


def on_config(config, **kwargs):
    """Fill the empty ``API reference`` nav section with every public module."""
    modules = public_modules(ROOT / "marlmeta")
    for entry in config["nav"]:
        if isinstance(entry, dict) and "API reference" in entry:
            entry["API reference"] = [
                {name: f"{API_DIR}/{name}.md"} for name in modules
            ]
    return config


def on_files(files, config, **kwargs):
    """Add the generated API pages to the site."""
    for name in public_modules(ROOT / "marlmeta"):
        files.append(
            File.generated(config, f"{API_DIR}/{name}.md", content=api_page(name))
        )
    return files


def on_page_markdown(markdown, page, config, files, **kwargs):
    """Expand the placeholders of the experiments and benchmarks pages."""
    for marker, render in PLACEHOLDERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    return markdown
