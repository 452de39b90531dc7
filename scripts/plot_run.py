#!/usr/bin/env python3
"""Draws a run report (the JSON file mpsbatch writes beside its output,
docs/run-report.md) as a picture: above, a Gantt chart with a row per rank,
its start-up phases as pale bands and every chunk it scored as a bar from the
moment it got the chunk to the moment its result was sent or written (the
darker inner bar: the chunk on the device; chunks a rank held at once side
by side); below, the job's throughput in
rows per second over the same time axis, all ranks and each rank. Idle ranks,
stragglers and a slow start-up show at a glance.

Usage: plot_run.py REPORT.json [-o OUT.png]   (default: REPORT.png beside it)

Needs matplotlib (scripts/setup.sh installs it into the venv); exits 3 with a
message when it is missing.
"""
import argparse
import json
import pathlib
import sys

PHASE_COLOURS = {
    "start-up": "#d9d9d9",
    "plan": "#c6dbef",
    "engines": "#c7e9c0",
    "calibration": "#fdd0a2",
    "output file": "#dadaeb",
    "scoring": "#f7f7f7",
    "commit": "#fcbba1",
}
CHUNK_COLOURS = ("#3182bd", "#6baed6")


def in_lanes(chunks):
    """The chunks a rank held at once side by side: each chunk in the lowest
    lane free when it began. Returns ([(lane, chunk)], lanes)."""
    ends = []  # per lane: when its last chunk ended
    placed = []
    for c in sorted(chunks, key=lambda c: c["begin"]):
        lane = next((i for i, end in enumerate(ends) if end <= c["begin"]), len(ends))
        if lane == len(ends):
            ends.append(0.0)
        ends[lane] = c["end"]
        placed.append((lane, c))
    return placed, len(ends)


def throughput(ranks, end, bins):
    """Rows per second in `bins` equal steps from 0 to `end`: each chunk's rows
    spread evenly over its time on the device. Returns (times, total, per rank)."""
    width = end / bins if end > 0 else 1.0
    per_rank = []
    for rank in ranks:
        rates = [0.0] * bins
        for c in rank["chunks"]:
            begin, stop = c["compute_begin"], max(c["compute_end"], c["compute_begin"] + 1e-9)
            rate = c["rows"] / (stop - begin)
            first, last = int(begin / width), min(int(stop / width), bins - 1)
            for b in range(max(first, 0), last + 1):
                overlap = min(stop, (b + 1) * width) - max(begin, b * width)
                if overlap > 0:
                    rates[b] += rate * overlap / width
        per_rank.append(rates)
    total = [sum(r[b] for r in per_rank) for b in range(bins)]
    times = [(b + 0.5) * width for b in range(bins)]
    return times, total, per_rank


def plot(report, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    ranks = report["ranks"]
    end = max([p["end"] for r in ranks for p in r["phases"]] + [c["end"] for r in ranks for c in r["chunks"]] + [0.0])
    start = min([p["begin"] for r in ranks for p in r["phases"]] + [0.0])
    fig, (gantt, rate) = plt.subplots(
        2, 1, sharex=True, figsize=(12, 2.5 + 0.45 * len(ranks) + 2.5), gridspec_kw={"height_ratios": [max(len(ranks), 2), 2]}
    )
    for row, r in enumerate(ranks):
        y = len(ranks) - 1 - row
        for p in r["phases"]:
            gantt.broken_barh([(p["begin"], p["end"] - p["begin"])], (y - 0.45, 0.9),
                              facecolors=PHASE_COLOURS.get(p["name"], "#eeeeee"), edgecolor="none")
        chunks, lanes = in_lanes(r["chunks"])
        height = 0.7 / max(lanes, 1)
        for i, (lane, c) in enumerate(chunks):
            bottom = y - 0.35 + lane * height
            gantt.broken_barh([(c["begin"], c["end"] - c["begin"])], (bottom, height * 0.9),
                              facecolors=CHUNK_COLOURS[i % 2], edgecolor="white", linewidth=0.3)
            gantt.broken_barh([(c["compute_begin"], c["compute_end"] - c["compute_begin"])],
                              (bottom + height * 0.3, height * 0.3), facecolors="#08306b", edgecolor="none")
    gantt.set_yticks(range(len(ranks)))
    gantt.set_yticklabels([f"rank {r['rank']} ({r['host']}, {r['device']})" for r in reversed(ranks)])
    gantt.set_ylim(-0.6, len(ranks) - 0.4)
    legend = [Patch(color=c, label=n) for n, c in PHASE_COLOURS.items()]
    legend += [Patch(color=CHUNK_COLOURS[0], label="chunk (got to delivered)"), Patch(color="#08306b", label="on the device")]
    gantt.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    status = report["status"] + (": " + report["error"] if report.get("error") else "")
    gantt.set_title(f"{report['rows']} rows, {len(ranks)} rank(s), {report['wall_seconds']:.2f} s; {status}"[:160])

    times, total, per_rank = throughput(ranks, end, 200)
    rate.plot(times, total, color="black", label="all ranks")
    if len(ranks) > 1:
        for r, rates in zip(ranks, per_rank):
            rate.plot(times, rates, linewidth=0.8, label=f"rank {r['rank']}")
    rate.set_ylabel("rows/s")
    rate.set_xlabel("seconds since rank 0's process started")
    rate.set_xlim(start, end if end > start else start + 1)
    rate.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=pathlib.Path, help="the run report (JSON)")
    parser.add_argument("-o", "--output", type=pathlib.Path, help="the picture (PNG; default: beside the report)")
    args = parser.parse_args()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("plot_run.py: matplotlib is not installed; pip install matplotlib (scripts/setup.sh does)",
              file=sys.stderr)
        return 3
    report = json.loads(args.report.read_text())
    out = args.output or args.report.with_suffix(".png")
    plot(report, out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
