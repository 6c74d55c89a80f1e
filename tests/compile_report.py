"""Summarise the compilation reports the test suite writes.

Run the tests with an empty persistent cache and a report path, then
summarise (per file: XLA compilations, their backend seconds and the CPU
seconds of the file's tests and import; the slowest tests)::

    MARLMETA_JAX_CACHE=$(mktemp -d) MARLMETA_COMPILE_REPORT=/tmp/c.json \
        python -m pytest -p no:cacheprovider tests/test_x.py
    python tests/compile_report.py /tmp/c.json* [--top 20]
"""

import argparse
import collections
import json


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reports", nargs="+")
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args()
    tests = collections.Counter()
    counts = collections.Counter()
    cpu = collections.Counter()
    for path in args.reports:
        with open(path) as f:
            for node, (n, secs, *rest) in json.load(f).items():
                tests[node] += secs
                counts[node] += n
                cpu[node] += rest[0] if rest else 0.0
    files = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for node in counts:
        entry = files[node.split("::")[0]]
        entry[0] += counts[node]
        entry[1] += tests[node]
        entry[2] += cpu[node]
    print(f"{'file':60s} {'compiles':>8s} {'seconds':>8s} {'cpu s':>8s}")
    for name, (n, secs, c) in sorted(files.items(), key=lambda kv: -kv[1][2]):
        print(f"{name:60s} {n:8d} {secs:8.1f} {c:8.1f}")
    total = [sum(v[i] for v in files.values()) for i in range(3)]
    print(f"{'total':60s} {total[0]:8d} {total[1]:8.1f} {total[2]:8.1f}")
    print(f"\nslowest {args.top} tests by CPU seconds (compile s, compiles):")
    for node, c in cpu.most_common(args.top):
        print(f"{c:8.1f} s {tests[node]:8.1f} s {counts[node]:5d}  {node}")


if __name__ == "__main__":
    main()
