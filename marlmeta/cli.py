"""Command line: ``marlmeta run CONFIG`` and ``marlmeta list``.

Errors reach the user as one line on stderr and a non-zero exit code, never a
traceback.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

#: The repository's ``configs/`` folder, listed by ``marlmeta list``.
CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "configs"


def _list(what: str, config_dir: pathlib.Path) -> None:
    if what in ("all", "configs"):
        print("configs:")
        for path in sorted(config_dir.glob("*.yaml")):
            print(f"  {path}")
    from marlmeta.experiments.registry import GAMES, SOLVERS

    if what in ("all", "games"):
        print("games (marlmeta.games, zoo):")
        for name, (_, doc) in GAMES.items():
            print(f"  {name:30s} {doc}")
    if what in ("all", "solvers"):
        print("solvers (marlmeta.solvers):")
        for name, spec in SOLVERS.items():
            print(f"  {name:30s} {spec.doc}")
    if what in ("all", "experiments"):
        from marlmeta.experiments import EXPERIMENTS

        print("experiments (the 'experiment' key of a config):")
        for name, cls in sorted(EXPERIMENTS.items()):
            doc = (cls.__doc__ or "").strip().split("\n\n")[0]
            print(f"  {name:30s} {' '.join(doc.split())}")


def main(argv: list[str] | None = None) -> int:
    """The ``marlmeta`` command: ``run CONFIG [--out DIR] [--fresh] [--quiet]``
    or ``list [configs|games|solvers|experiments]``.

    Returns the exit code: 0 on success, 2 for a missing file or a config
    error (one line on stderr naming the key and the file), 130 when
    interrupted (run the same command again to resume).
    """
    parser = argparse.ArgumentParser(
        prog="marlmeta",
        description="Batched solvers and meta-learning for Markov games.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run (or resume) an experiment config")
    run.add_argument("config", help="path to a YAML config")
    run.add_argument(
        "--out", default="runs", help="folder for run outputs (default: runs)"
    )
    run.add_argument(
        "--fresh", action="store_true", help="discard chunks already written"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    lst = sub.add_parser("list", help="list configs, games, solvers and experiments")
    lst.add_argument(
        "what",
        nargs="?",
        default="all",
        choices=["all", "configs", "games", "solvers", "experiments"],
    )
    lst.add_argument("--configs", default=str(CONFIG_DIR), help="config folder")
    args = parser.parse_args(argv)
    if args.command == "list":
        _list(args.what, pathlib.Path(args.configs))
        return 0
    from marlmeta.experiments import ConfigError, load_config, run_experiment

    try:
        config = load_config(args.config)
        out = run_experiment(
            config, args.out, fresh=args.fresh, progress=not args.quiet
        )
    except FileNotFoundError as err:
        print(f"marlmeta: error: no such file: {err.filename}", file=sys.stderr)
        return 2
    except (ConfigError, ValueError) as err:
        print(f"marlmeta: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "marlmeta: interrupted; run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    print(f"wrote {out}/results.json, {out}/figure.png and {out}/config.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
