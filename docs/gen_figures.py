"""Regenerate the figures of the documentation from the configs.

Run from the repository root::

    python docs/gen_figures.py              # every config except the smoke ones
    python docs/gen_figures.py zero_sum_meta softmax_mpg_g2   # some of them

Each config runs as ``marlmeta run configs/<name>.yaml`` into a scratch folder
(one process per config, so a float64 experiment does not leak its setting),
and its ``figure.png`` is copied to ``docs/figures/<name>.png``, where the
experiments page picks it up. The documentation build never runs an
experiment: it shows the figures committed here and says how to regenerate a
missing one.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
FIGURES = ROOT / "docs" / "figures"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="config names (default: all)")
    args = parser.parse_args(argv)
    names = args.names or sorted(
        p.stem for p in CONFIGS.glob("*.yaml") if not p.stem.startswith("smoke")
    )
    FIGURES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as out:
        for name in names:
            config = CONFIGS / f"{name}.yaml"
            t0 = time.perf_counter()
            cmd = [sys.executable, "-m", "marlmeta", "run", str(config)]
            subprocess.run([*cmd, "--out", out, "--quiet"], check=True, cwd=ROOT)
            run_name = next(p for p in pathlib.Path(out).iterdir() if p.is_dir())
            shutil.copyfile(run_name / "figure.png", FIGURES / f"{name}.png")
            shutil.rmtree(run_name)
            print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
