#!/usr/bin/env python3
"""Two mpsbatch builds side by side on one benchmark job, runs alternating
(A, B, A, B, ...), so a change's effect is measured in one run on one machine
(docs/performance.md).

The job is bench.py's (WORK/job-cuda.yaml, or --job, and its input, so run
bench.py for the workload first). Every run takes its calibration from a cache that a first,
unreported run of each build fills (one cache per build), so the runs differ
only in the builds' code. Prints each run and the medians: the whole command's
rate, the scoring loop's rate and the time line's parts.

Usage: ab.py --work /tmp/bench-resnet50 --a OLD/mpsbatch --b NEW/mpsbatch [--runs 3] [--ranks 1]
             [--job job-cuda-package.yaml] [--set key=value ...] [--a-env K=V ...] [--b-env K=V ...] [--json FILE]
(bench.py WORKLOAD --prepare-only --work DIR --mpsbatch X writes DIR's job and input.)
"""
import argparse
import json
import os
import shutil
import statistics
import sys

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", required=True)
    p.add_argument("--a", required=True, help="the baseline build's mpsbatch")
    p.add_argument("--b", required=True, help="the changed build's mpsbatch")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--job", default="job-cuda.yaml", help="the job file in WORK (bench.py writes several)")
    p.add_argument("--set", action="append", default=[], help="job overrides, as mpsbatch --set takes them")
    p.add_argument("--a-env", action="append", default=[], help="KEY=VALUE for build A's runs only")
    p.add_argument("--b-env", action="append", default=[], help="KEY=VALUE for build B's runs only")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    bench.json_path = args.json
    job = os.path.join(args.work, args.job)
    name = os.path.basename(os.path.normpath(args.work)).removeprefix("bench-")
    with h5py.File(os.path.join(args.work, "input.h5"), "r") as f:
        rows = f[bench.workloads.DATASET].shape[0]
    results = {"A": [], "B": []}
    base_env = dict(bench.ENV)
    for label in results:
        shutil.rmtree(os.path.join(args.work, f"ab-cache-{label}"), ignore_errors=True)
    for run in range(args.runs + 1):
        for label, binary in (("A", args.a), ("B", args.b)):
            extra = ["--set", "calibration_cache=" + os.path.join(args.work, f"ab-cache-{label}")]
            for s in args.set:
                extra += ["--set", s]
            run_args = argparse.Namespace(work=args.work, mpsbatch=os.path.abspath(binary))
            bench.ENV = dict(base_env, **dict(kv.split("=", 1) for kv in (args.a_env if label == "A" else args.b_env)))
            tag = f"ab {label}" + (" (fills the cache)" if run == 0 else "")
            r = bench.mpsbatch(run_args, name, rows, job, args.ranks, tag, extra)
            if run > 0:
                results[label].append(r)
    print("medians:")
    for label in ("A", "B"):
        rs = results[label]
        med = {k: statistics.median(r[k] for r in rs) for k in ("rows_per_s", "loop_rows_per_s")}
        parts = {}
        for key in rs[0].get("timeline") or {}:
            values = [r["timeline"][key] for r in rs if r.get("timeline") and r["timeline"].get(key) is not None]
            if values:
                parts[key] = round(statistics.median(values), 2)
        print(f"  {label}: {med['rows_per_s']:,.0f} rows/s end to end, loop {med['loop_rows_per_s']:,.0f}; {parts}")
        bench.save(dict(workload=name, mode=f"ab median {label}", binary=args.a if label == "A" else args.b,
                        env=args.a_env if label == "A" else args.b_env, ranks=args.ranks, sets=args.set, **med,
                        timeline=parts))


if __name__ == "__main__":
    main()
