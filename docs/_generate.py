"""What the documentation generates from the repository (used by hooks.py).

Pure functions of the source tree: the list of public modules, the text of
an API page, the experiments section (from ``configs/`` and
``docs/figures/``) and the benchmark tables (from ``benchmarks/results/``).
No experiment or benchmark is run here.
"""

from __future__ import annotations

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
FIGURES = ROOT / "docs" / "figures"
BENCHMARK_RESULTS = ROOT / "benchmarks" / "results"


def public_modules(package: pathlib.Path) -> list[str]:
    """Dotted names of the public modules under ``package`` (a source folder).

    A module is public when no component of its dotted path starts with an
    underscore; ``__init__.py`` stands for its package.
    """
    names = []
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts):
            continue
        if (path.parent / "__init__.py").exists():
            names.append(".".join(parts))
    return sorted(names, key=lambda n: (n != package.name, n))


def api_page(module: str) -> str:
    """The Markdown of ``module``'s API page (rendered by mkdocstrings)."""
    return (
        f"# `{module}`\n\n::: {module}\n    options:\n      show_root_heading: false\n"
    )


def _comment_header(text: str) -> str:
    """The leading ``#`` comment block of a YAML file, as prose."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    paragraphs = "\n".join(lines).split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def _yaml_field(text: str, key: str) -> str:
    for line in text.splitlines():
        if line.startswith(f"{key}:"):
            return line.split(":", 1)[1].strip()
    return ""


def config_names() -> list[str]:
    """Every config in ``configs/``: the paper configs first, then the smoke ones."""
    stems = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
    return [s for s in stems if not s.startswith("smoke")] + [
        s for s in stems if s.startswith("smoke")
    ]


def configs_markdown() -> str:
    """One section per config: what it reproduces, its figure, the file."""
    out = []
    for stem in config_names():
        text = (CONFIGS / f"{stem}.yaml").read_text()
        out.append(f"### `{stem}` {{#{stem}}}\n")
        out.append(f"*{_yaml_field(text, 'description')}* ")
        out.append(f"(experiment `{_yaml_field(text, 'experiment')}`)\n")
        header = _comment_header(text)
        if header:
            out.append(header + "\n")
        out.append(f"```bash\nmarlmeta run configs/{stem}.yaml\n```\n")
        if (FIGURES / f"{stem}.png").exists():
            out.append(f"![The figure of configs/{stem}.yaml](figures/{stem}.png)\n")
        elif not stem.startswith("smoke"):
            out.append(
                "!!! note\n    No figure generated yet: run "
                f"`python docs/gen_figures.py {stem}`.\n"
            )
        out.append(
            f'??? example "configs/{stem}.yaml"\n\n'
            + "    ```yaml\n"
            + "".join(f"    {line}\n" for line in text.splitlines())
            + "    ```\n"
        )
    return "\n".join(out)


def _format(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if 1e3 <= abs(value) < 1e9:
            return f"{value:,.0f}"
        if value == 0 or 1e-3 <= abs(value) < 1e3:
            return f"{value:.3g}"
        return f"{value:.2e}"
    if isinstance(value, list | dict):
        return f"`{json.dumps(value)}`"
    return str(value)


def table(rows: list[dict]) -> str:
    """A Markdown table of ``rows``; columns are the union of their keys."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in rows:
        cells = [_format(row[c]) if c in row else "" for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def benchmarks_markdown() -> str:
    """One table per ``benchmarks/results/<script>.json``."""
    paths = sorted(BENCHMARK_RESULTS.glob("*.json"))
    if not paths:
        return (
            "!!! note\n    No benchmark results are committed yet: run a "
            "benchmark with `--json results/<script>.json`.\n"
        )
    out = []
    for path in paths:
        data = json.loads(path.read_text())
        rows = data["rows"]  # the layout of benchmarks/_timing.py's Table
        meta = {
            k: data[k]
            for k in ("device_kind", "num_devices", "jax_version")
            if k in data
        }
        out.append(f"### `{path.stem}.py`\n")
        if meta:
            out.append(
                "Measured with "
                + ", ".join(f"{k} {_format(v)}" for k, v in meta.items())
                + f" (`benchmarks/results/{path.name}`).\n"
            )
        out.append(table(rows) + "\n")
    return "\n".join(out)


# ------------------------------------------------ the README's benchmark table

README = ROOT / "README.md"
README_BEGIN = "<!-- benchmarks:begin (python docs/_generate.py readme) -->"
README_END = "<!-- benchmarks:end -->"
_REFERENCE_PREFIXES = ("numpy_", "scipy_", "openspiel_")
_LABEL_KEYS = (
    "benchmark",
    "solver",
    "method",
    "policy",
    "players",
    "dim",
    "inner_steps",
)


def _rate_keys(row: dict) -> tuple[str | None, str | None]:
    """The row's marlmeta throughput key and its reference's (``*_per_s``)."""
    rates = [k for k in row if k.endswith("_per_s")]
    ref = [k for k in rates if k.startswith(_REFERENCE_PREFIXES)]
    own = [k for k in rates if k not in ref]
    return (own[0] if own else None), (ref[0] if ref else None)


def _headline_rows(rows: list[dict]) -> list[dict]:
    """Per benchmark (solver, method) of a file, its rows at the largest batch
    (``games``) and the most inner steps; rows without either all stay."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        key = tuple(row.get(k) for k in ("benchmark", "solver", "method"))
        groups.setdefault(key, []).append(row)
    out = []
    for group in groups.values():
        for size in ("games", "inner_steps"):
            if all(size in r for r in group):
                most = max(r[size] for r in group)
                group = [r for r in group if r[size] == most]
        out += group
    return out


def _rate(row: dict, key: str) -> str:
    """``row[key]`` with its unit: ``numpy_games_per_s`` -> ``1,200 games/s``."""
    unit = key.removesuffix("_per_s")
    for prefix in ("marlmeta_", *_REFERENCE_PREFIXES):
        unit = unit.removeprefix(prefix)
    return f"{_format(row[key])} {unit.replace('_', '-')}/s"


def script_of(path: pathlib.Path) -> str:
    """``million-cpu.json`` -> ``million.py``: the benchmark that wrote it."""
    return path.stem.split("-")[0] + ".py"


def readme_table() -> str:
    """The README's summary: the largest batch of every ``benchmarks/results``
    file, marlmeta's steady time and throughput beside its reference's."""
    lines = [
        "| benchmark | marlmeta (steady) | reference, same run | speed-up "
        "| measured on |",
        "|---|---|---|---|---|",
    ]
    for path in sorted(BENCHMARK_RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        where = (
            f"{data.get('num_devices', '?')} x {data.get('device_kind', '?')}, "
            f"JAX {data.get('jax_version', '?')}"
        )
        for row in _headline_rows(data["rows"]):
            label = ", ".join(
                f"{k} {_format(row[k])}" for k in ("games", *_LABEL_KEYS) if k in row
            )
            own, ref = _rate_keys(row)
            mine = f"{_format(row['steady_s'])} s"
            if own is not None:
                mine += f", {_rate(row, own)}"
            if ref is not None:
                theirs = _rate(row, ref)
            else:  # a reference timed once, not as a rate
                theirs = f"{_format(row['numpy_s'])} s" if "numpy_s" in row else ""
            speedup = row.get("speedup")
            script = f"`{script_of(path)}`" + (
                f" ({path.stem.split('-', 1)[1]})" if "-" in path.stem else ""
            )
            lines.append(
                f"| {script}: {label} | {mine} | {theirs} "
                f"| {'' if speedup is None else f'{speedup:.3g}x'} | {where} |"
            )
    return "\n".join(lines)


STEP_SIZES = ROOT / "benchmarks" / "step_sizes.json"
STEP_BEGIN = (
    "<!-- step-sizes:begin (python benchmarks/step_sizes.py --json step_sizes.json) -->"
)
STEP_END = "<!-- step-sizes:end -->"


def step_size_table() -> str:
    """The README's step-size table from ``benchmarks/step_sizes.json``: per
    solver and game size, the mean metric after ``T`` iterations at every step
    size tried, the best one in bold."""
    if not STEP_SIZES.exists():
        return "(run `python benchmarks/step_sizes.py --json step_sizes.json`)"
    data = json.loads(STEP_SIZES.read_text())
    etas = data["step_sizes"]
    lines = [
        "| solver (metric) | actions, states | from uniform | "
        + " | ".join(f"eta = {e:g}" for e in etas)
        + " |",
        "|---|---|---|" + "---|" * len(etas),
    ]
    groups: dict[tuple, dict] = {}
    for row in data["rows"]:
        key = (row["solver"], row["metric"], row["actions"], row["states"])
        groups.setdefault(key, {})[row["step_size"]] = row
    for (solver, metric, actions, states), rows in groups.items():
        finite = [r for r in rows.values() if r["finite"]]
        best = (
            min(finite, key=lambda r: r["final_mean"])["step_size"] if finite else None
        )
        start = next(iter(rows.values()))["start_mean"]
        cells = []
        for e in etas:
            r = rows.get(e)
            text = "NaN" if r is None or not r["finite"] else f"{r['final_mean']:.2g}"
            cells.append(f"**{text}**" if e == best else text)
        lines.append(
            f"| `{solver}` ({metric}) | {actions}, {states} | {start:.2g} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def _fill(text: str, begin: str, end: str, body: str) -> str:
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def write_readme(check: bool = False) -> bool:
    """Replace the README's table between its markers; with ``check``, only
    report whether it is up to date. Returns whether it was up to date."""
    text = README.read_text()
    new = _fill(text, README_BEGIN, README_END, readme_table())
    new = _fill(new, STEP_BEGIN, STEP_END, step_size_table())
    if not check and new != text:
        README.write_text(new)
    return new == text


# ------------------------------------------------------ the config reference


def _type_text(tp) -> str:
    """A config field's type in YAML words (``list of int``, ``number or null``)."""
    import types
    import typing

    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        text = " or ".join(_type_text(a) for a in args)
        return text + " or null" if len(args) < len(typing.get_args(tp)) else text
    if origin is tuple:
        return f"list of {_type_text(typing.get_args(tp)[0])}"
    names = {int: "int", float: "number", bool: "bool", str: "string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _default_text(f) -> str:
    import dataclasses

    if f.default is dataclasses.MISSING:
        return "required"
    if dataclasses.is_dataclass(f.default):
        return ""
    value = f.default
    if isinstance(value, tuple):
        value = list(value)
    return f"`{json.dumps(value)}`"


def _config_rows(cls, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """``(key, type, default, meaning)`` of every key of config class ``cls``
    (nested sections and list entries flattened to dotted keys)."""
    import dataclasses
    import typing

    from marlmeta.experiments._loader import HEADER, file_key, meaning

    rows = []
    hints = typing.get_type_hints(cls)
    fields = sorted(
        dataclasses.fields(cls),
        key=lambda f: "." in file_key(f) or f.name not in HEADER,
    )
    for f in fields:
        tp = hints[f.name]
        key = prefix + file_key(f)
        inner = typing.get_args(tp)[0] if typing.get_origin(tp) is tuple else tp
        if dataclasses.is_dataclass(inner):
            sub = key + ("[]." if inner is not tp else ".")
            doc = meaning(f) or " ".join(
                (inner.__doc__ or "").strip().split("\n\n")[0].split()
            )
            shown = "list of entries" if inner is not tp else "section"
            rows.append((key, shown, _default_text(f), doc))
            rows += _config_rows(inner, sub)
        else:
            doc = HEADER.get(f.name, "") if not prefix else ""
            rows.append((key, _type_text(tp), _default_text(f), meaning(f) or doc))
    return rows


def experiment_kinds_markdown() -> str:
    """The table of every experiment kind: its ``experiment`` key, module and
    what it runs (the config class's docstring), from the registry."""
    from marlmeta.experiments import EXPERIMENTS

    lines = ["| `experiment` | module | what it runs |", "|---|---|---|"]
    for name, cls in sorted(EXPERIMENTS.items()):
        doc = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
        lines.append(f"| `{name}` | `{cls.__module__}` | {doc} |")
    return "\n".join(lines) + "\n"


def config_reference_markdown() -> str:
    """The reference of every experiment's config keys: one table per
    experiment kind, generated from the config classes."""
    from marlmeta.experiments import EXPERIMENTS
    from marlmeta.experiments._loader import HEADER, SECTIONS

    out = [
        "Every config has the header keys and the sections below; each "
        "experiment uses the sections it needs.\n",
        "| key | what it holds |",
        "|---|---|",
    ]
    out += [f"| `{k}` | {v} |" for k, v in {**HEADER, **SECTIONS}.items()]
    for name, cls in sorted(EXPERIMENTS.items()):
        summary = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
        out.append(f"\n### `experiment: {name}`\n\n{summary}\n")
        out.append("| key | type | default | meaning |")
        out.append("|---|---|---|---|")
        order = [*HEADER, *SECTIONS]

        def place(row):
            top = row[0].split(".")[0].split("[")[0]
            return order.index(top) if top in order else len(order)

        for key, tp, default, doc in sorted(_config_rows(cls), key=place):
            out.append(f"| `{key}` | {tp} | {default} | {doc} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["readme"]:
        sys.exit("usage: python docs/_generate.py readme")
    write_readme()
