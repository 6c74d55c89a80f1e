"""Command line: ``marlmeta run CONFIG``, ``marlmeta list`` and ``--version``.

Errors reach the user as one line on stderr and a non-zero exit code, never a
traceback. SIGINT and SIGTERM end a run at once with one line and exit code
130 or 143; run the same command again to resume it.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import signal
import sys

from marlmeta import __version__

#: The repository's ``configs/`` folder, listed by ``marlmeta list``.
CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "configs"


def first_line(doc: str | None) -> str:
    """The first paragraph of a docstring on one line."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def config_description(path: pathlib.Path) -> str:
    """The ``description`` of a YAML config (empty when it has none or cannot
    be read)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return ""
    return str(data.get("description", "")) if isinstance(data, dict) else ""


def listing(what: str, config_dir: pathlib.Path) -> list[tuple[str, list]]:
    """``[(heading, [(name, description), ..]), ..]`` of ``marlmeta list WHAT``.

    The names are the registries': games and solvers of
    :mod:`marlmeta.experiments.registry`, its metrics (described by their
    docstrings), the experiment kinds, and the configs of ``config_dir``.
    """
    from marlmeta import evaluation
    from marlmeta.experiments import EXPERIMENTS
    from marlmeta.experiments.registry import GAMES, METRICS, SOLVERS

    sections = {
        "configs": (
            f"configs ({config_dir}):",
            [
                (p.name, config_description(p))
                for p in sorted(config_dir.glob("*.yaml"))
            ],
        ),
        "games": (
            "games (marlmeta.games.zoo and generators; the 'game' of a config):",
            [(name, doc) for name, (_, doc) in GAMES.items()],
        ),
        "solvers": (
            "solvers (marlmeta.solvers):",
            [(name, spec.doc) for name, spec in SOLVERS.items()],
        ),
        "metrics": (
            "metrics (marlmeta.evaluation):",
            [(n, first_line(getattr(evaluation, n).__doc__)) for n in METRICS],
        ),
        "experiments": (
            "experiments (the 'experiment' key of a config):",
            [(n, first_line(c.__doc__)) for n, c in sorted(EXPERIMENTS.items())],
        ),
    }
    keys = list(sections) if what == "all" else [what]
    return [sections[k] for k in keys]


def _list(what: str, config_dir: pathlib.Path) -> None:
    for heading, rows in listing(what, config_dir):
        print(heading)
        for name, doc in rows:
            print(f"  {name:30s} {doc}".rstrip())


def _interrupted(signum: int) -> str:
    name = signal.Signals(signum).name
    return f"marlmeta: interrupted ({name}); run the same command again to resume"


def _stop(signum: int, frame=None) -> None:
    """End the process now, skipping the interpreter's shutdown (XLA may be
    compiling; every file of the run is written atomically). The line goes
    straight to the file descriptor: the signal may have stopped the main
    thread inside a write to ``sys.stderr``."""
    os.write(2, f"\n{_interrupted(signum)}\n".encode())
    os._exit(128 + signum)


def _os_error(verb: str, err: OSError) -> str:
    where = err.filename if err.filename is not None else "a file"
    why = err.strerror or str(err)
    return f"marlmeta: error: cannot {verb} {where}: {why[:1].lower()}{why[1:]}"


def main(argv: list[str] | None = None, *, on_signal=None) -> int:
    """The ``marlmeta`` command: ``run CONFIG [--out DIR] [--fresh] [--quiet]``,
    ``list [configs|games|solvers|metrics|experiments]`` or ``--version``.

    Args:
        argv: the arguments (``sys.argv[1:]`` by default).
        on_signal: passed to :func:`~marlmeta.experiments.run_experiment`;
            :func:`console` ends the process in it.

    Returns the exit code: 0 on success (a finished run says it is complete),
    2 for a config that cannot be read or a config error (one line on stderr
    naming the key and the file), 1 when a file of the run cannot be written
    (one line; no half-written result), 130 or 143 when interrupted by SIGINT
    or SIGTERM (run the same command again to resume).
    """
    parser = argparse.ArgumentParser(
        prog="marlmeta",
        description="Batched solvers and meta-learning for Markov games.",
    )
    parser.add_argument(
        "--version", action="version", version=f"marlmeta {__version__}"
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
    lst = sub.add_parser(
        "list", help="list configs, games, solvers, metrics and experiments"
    )
    lst.add_argument(
        "what",
        nargs="?",
        default="all",
        choices=["all", "configs", "games", "solvers", "metrics", "experiments"],
    )
    lst.add_argument("--configs", default=str(CONFIG_DIR), help="config folder")
    args = parser.parse_args(argv)
    if args.command == "list":
        _list(args.what, pathlib.Path(args.configs))
        return 0
    from marlmeta.experiments import (
        ConfigError,
        Interrupted,
        load_config,
        run_experiment,
    )

    try:
        config = load_config(args.config)
    except OSError as err:
        print(_os_error("read", err), file=sys.stderr)
        return 2
    except ConfigError as err:
        print(f"marlmeta: error: {err}", file=sys.stderr)
        return 2
    try:
        out = run_experiment(
            config,
            args.out,
            fresh=args.fresh,
            progress=not args.quiet,
            on_signal=on_signal,
        )
    except OSError as err:
        print(_os_error("write", err), file=sys.stderr)
        return 1
    except ValueError as err:  # ConfigError included
        print(f"marlmeta: error: {err}", file=sys.stderr)
        return 2
    except Interrupted as err:
        print(_interrupted(err.signum), file=sys.stderr)
        return err.exit_code
    print(f"wrote {out}/results.json, {out}/figure.png and {out}/config.yaml")
    return 0


def console() -> None:
    """The ``marlmeta`` executable: :func:`main`, where SIGINT or SIGTERM end
    the process at once (exit code 130 or 143) with one line on stderr.

    The handlers are installed before anything else is imported (``import
    marlmeta`` does not import JAX; :func:`main` imports what the command
    needs), so a Ctrl-C while JAX loads gives the same line, not a traceback.
    """
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, _stop)
    sys.exit(main(on_signal=_stop))


if __name__ == "__main__":
    console()
