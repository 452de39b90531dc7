#!/usr/bin/env python3
"""Turns bench.py's JSON lines into the tables of docs/performance.md and a
PNG of scaling with ranks.

Usage: report.py RESULTS.jsonl [PLOT.png]
"""
import json
import re
import sys
from collections import defaultdict


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    by = defaultdict(list)
    for r in rows:
        by[r["workload"]].append(r)
    for name, rs in by.items():
        rate = {r["mode"]: r for r in rs if "rows_per_s" in r}
        ceiling = rate.get("ceiling compiled bf16") or rate.get("ceiling eager bf16")
        peer = rate.get("peer 1: DataLoader script")
        print(f"\n**{name}**\n")
        # A script's steady rate (from its first batch on) stands beside
        # mpsbatch's loop; "vs DataLoader script" divides by its whole-process
        # rate, then by its steady rate.
        print("| contender | rows/s | vs best ceiling | vs DataLoader script (steady) | loop or steady, rows/s "
              "| rank 0 ran | before / plan / engines / calibration / scoring / exit, s |")
        print("|---|---:|---:|---:|---:|---|---|")
        best = max((r for m, r in rate.items() if m.startswith("ceiling")), key=lambda r: r["rows_per_s"], default=None)
        for mode, r in rate.items():
            if mode.startswith("threads") or "cpu" in mode:
                continue
            vs_c = f"{r['rows_per_s'] / best['rows_per_s']:.1%}" if best and not mode.startswith(("ceiling", "hdf5")) else ""
            vs_p = ""
            if peer and mode.startswith("mpsbatch"):
                vs_p = f"{r['rows_per_s'] / peer['rows_per_s']:.2f}x"
                if peer.get("steady_rows_per_s"):
                    vs_p += f" ({r['rows_per_s'] / peer['steady_rows_per_s']:.2f}x)"
            loop = r.get("loop_rows_per_s") or r.get("steady_rows_per_s")
            loop = f"{loop:,}" if loop else ""
            chose = re.match(r"batch (\d+).*?, path (\S+)", r.get("rank0") or "")
            chose = f"batch {chose.group(1)}, {chose.group(2)}" if chose else ""
            t = r.get("timeline") or {}
            parts = ("before_s", "plan_s", "engines_s", "calibration_s", "scoring_s", "exit_s")
            line = " / ".join(f"{t[k]:.2f}" for k in parts) if all(t.get(k) is not None for k in parts) else ""
            print(f"| {mode} | {r['rows_per_s']:,.0f} | {vs_c} | {vs_p} | {loop} | {chose} | {line} |")
        cpu = [r for r in rs if r.get("mode", "").startswith(("mpsbatch cpu", "threads cpu"))]
        if cpu:
            print("\nCPU, fp32, one intra-op thread per rank or thread; efficiency = rate(N) / (N x rate(1)):\n")
            print("| N | mpsbatch ranks, loop rows/s | efficiency | mpsbatch, whole command rows/s | threads, loop rows/s | efficiency |")
            print("|---:|---:|---:|---:|---:|---:|")
            ranks = {r["ranks"]: r for r in cpu if "ranks" in r}
            threads = {r["threads"]: r for r in cpu if "threads" in r}
            for n in sorted(ranks):
                rl, tl = ranks[n]["loop_rows_per_s"], threads[n]["rows_per_s"]
                print(f"| {n} | {rl:,} | {rl / (n * ranks[1]['loop_rows_per_s']):.0%} | {ranks[n]['rows_per_s']:,.0f} | "
                      f"{tl:,.0f} | {tl / (n * threads[1]['rows_per_s']):.0%} |")
        for c in (r for r in rs if r.get("mode", "").startswith("check")):
            what = " (the AOTInductor package alone)" if c["mode"] == "check package" else ""
            print(f"\nmpsbatch{what} against the DataLoader script's output (both bf16): relative error "
                  f"{c['rel_error_vs_peer1']:.1e}")
    if len(sys.argv) > 2:
        plot(by, sys.argv[2])


def plot(by, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(by), figsize=(5 * len(by), 4))
    for ax, (name, rs) in zip(axes, by.items()):
        for prefix, style in (("mpsbatch cuda", "o-"), ("mpsbatch cpu", "s--"), ("threads cpu", "^:")):
            # Only the rank-count series: "mpsbatch cuda 4 rank(s)", not "... path=eager 1 rank(s)".
            pts = sorted((r.get("ranks") or r.get("threads"), r.get("loop_rows_per_s") or r["rows_per_s"])
                         for r in rs if re.fullmatch(re.escape(prefix) + r" \d+ (rank|thread)\(s\)", r.get("mode", "")))
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=prefix + " (loop)")
        for r in rs:
            if r.get("mode", "").startswith(("ceiling", "peer")):
                ax.axhline(r["rows_per_s"], lw=0.8, ls="-." if "ceiling" in r["mode"] else ":", color="grey")
                ax.annotate(r["mode"], (1, r["rows_per_s"]), fontsize=6, va="bottom")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("ranks / threads")
        ax.set_ylabel("rows/s")
        ax.set_title(name)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
