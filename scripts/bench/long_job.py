#!/usr/bin/env python3
"""One workload on a long input: how close mpsbatch comes to the compiled
ceiling end to end once start-up is spread over more rows (docs/performance.md,
runs D). Exports the AOTInductor package, writes the input, measures
the ceiling, and runs mpsbatch on 1 rank: the package alone (before and after the
ceiling) and the TorchScript job with `path: auto` (once).

Usage: long_job.py WORKLOAD --mpsbatch build-gpu/src/mpsbatch --work DIR --rows N [--json FILE]
       long_job.py WORKLOAD ... --prepare-only      (the export and the input, e.g. beside a build)
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("workload", choices=["resnet50", "bert"])
    p.add_argument("--mpsbatch", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--json", default=None)
    p.add_argument("--prepare-only", action="store_true")
    args = p.parse_args()
    args.mpsbatch = os.path.abspath(args.mpsbatch)
    bench.json_path = args.json
    name = args.workload
    if args.prepare_only or not os.path.exists(os.path.join(args.work, "job-cuda-package.yaml")):
        subprocess.run([sys.executable, os.path.join(bench.HERE, "bench.py"), name, "--mpsbatch", args.mpsbatch,
                        "--work", args.work, "--rows", str(args.rows), "--batch", str(args.batch), "--aoti",
                        "--prepare-only"], check=True)
    if args.prepare_only:
        return
    package = os.path.join(args.work, "job-cuda-package.yaml")
    label = f"mpsbatch cuda package only, {args.rows} rows"
    bench.mpsbatch(args, name, args.rows, package, 1, label)  # first: the point of the run
    bench.ceiling(name, args.batch, True)
    bench.mpsbatch(args, name, args.rows, package, 1, label)
    bench.mpsbatch(args, name, args.rows, os.path.join(args.work, "job-cuda.yaml"), 1,
                   f"mpsbatch cuda, {args.rows} rows")


if __name__ == "__main__":
    main()
