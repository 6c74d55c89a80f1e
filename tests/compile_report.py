"""Summarise the compilation reports the test suite writes.

Run the tests with an empty persistent cache and a report path, then
summarise (counts and backend-compile seconds per file and the slowest tests)::

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
    for path in args.reports:
        with open(path) as f:
            for node, (n, secs) in json.load(f).items():
                tests[node] += secs
                counts[node] += n
    files = collections.defaultdict(lambda: [0, 0.0])
    for node, secs in tests.items():
        entry = files[node.split("::")[0]]
        entry[0] += counts[node]
        entry[1] += secs
    print(f"{'file':60s} {'compiles':>8s} {'seconds':>8s}")
    for name, (n, secs) in sorted(files.items(), key=lambda kv: -kv[1][1]):
        print(f"{name:60s} {n:8d} {secs:8.1f}")
    total = sum(v[1] for v in files.values())
    print(f"{'total':60s} {sum(counts.values()):8d} {total:8.1f}")
    print(f"\nslowest {args.top} tests by backend compile seconds:")
    for node, secs in tests.most_common(args.top):
        print(f"{secs:8.1f} s {counts[node]:5d}  {node}")


if __name__ == "__main__":
    main()
