#!/usr/bin/env python3
"""Pools the runs of several ab.py result files (--json) into one comparison:
each build's median loop and end-to-end rate over all runs, and the paired
difference of the loop rate (each A run against the B run after it) with a
Wilcoxon signed-rank test (docs/gpu.md).

Usage: ab_summary.py FILE.jsonl[:swapped] ...
  :swapped marks a file whose A was the changed build and B the baseline.
"""
import json
import statistics
import sys

from scipy.stats import wilcoxon


def runs(path):
    """The timed runs of one ab.py file, in order (not the cache-filling ones, not the medians)."""
    out = []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            mode = r.get("mode", "")
            if mode.startswith("ab ") and "fills" not in mode and "median" not in mode:
                out.append(r)
    return out


def main():
    base, new, diffs = [], [], []
    for arg in sys.argv[1:]:
        path, _, flag = arg.partition(":")
        rs = runs(path)
        for a, b in zip(rs[0::2], rs[1::2]):
            first, second = (b, a) if flag == "swapped" else (a, b)
            base.append(first)
            new.append(second)
            diffs.append(second["loop_rows_per_s"] / first["loop_rows_per_s"] - 1)
    for name, rs in (("baseline", base), ("changed", new)):
        loop = [r["loop_rows_per_s"] for r in rs]
        print(f"{name}: {len(rs)} runs, loop median {statistics.median(loop):,.0f} rows/s "
              f"(range {min(loop):,.0f}-{max(loop):,.0f}), end to end median "
              f"{statistics.median(r['rows_per_s'] for r in rs):,.0f}")
    lower = sum(d < 0 for d in diffs)
    print(f"paired loop difference: median {100 * statistics.median(diffs):+.1f}%, changed lower in {lower} of "
          f"{len(diffs)}, Wilcoxon signed-rank p = {wilcoxon(diffs).pvalue:.2f}")


if __name__ == "__main__":
    main()
