#!/usr/bin/env bash
# path: auto against every forced path on CPU: the conv net of
# conv_workload.py (TorchScript, where auto chooses between eager and
# frozen), batch 64, one intra-op thread per rank, on RANKS ranks; the
# forced paths and auto alternate, REPS runs each, and the medians of wall
# time and loop rate are printed side by side with auto's ratio to the best
# forced path (docs/performance.md). With BASELINE set to another build's
# mpsbatch, that build's auto runs too, in the same rounds ("auto-base").
# Usage: [MPSBATCH=BIN] [BASELINE=BIN] scripts/bench/cpu_paths.sh [WORK_DIR] [ROWS] [REPS] [RANKS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
mpsbatch_binary
work=${1:-/tmp/mpsbatch-cpu-paths}
rows=${2:-32768}
reps=${3:-5}
ranks=${4:-1}
mkdir -p "$work"
"$python" scripts/bench/conv_workload.py "$work" "$rows"
echo "$(nproc) cores, $rows rows of [3, 32, 32] float32, batch 64, $ranks rank(s) of one intra-op thread; $(git rev-parse --short HEAD)"
: >"$work/runs.txt"
for rep in $(seq "$reps"); do
  for path in eager frozen auto ${BASELINE:+auto-base}; do
    log="$work/log-$path-$rep.txt"
    run_bin=$bin
    [ "$path" != auto-base ] || run_bin=$BASELINE
    start=$(date +%s.%N)
    mpirun -n "$ranks" --oversubscribe --bind-to none "$run_bin" "$work/job.yaml" --set path=${path%-base} >"$log" 2>&1
    end=$(date +%s.%N)
    loop=$(grep -oE "scoring [0-9.]+ s, [0-9]+ rows/s" "$log" | grep -oE "[0-9]+ rows/s" | grep -oE "[0-9]+")
    chose=$(grep -oE "calibration: .*" "$log" | grep -oE "path [a-z+_]+" | head -1)
    calibration=$(grep -oE "calibration: [0-9.]+ s" "$log" | grep -oE "[0-9.]+" | head -1)
    echo "$path $rep $(echo "$end - $start" | bc) $loop ${calibration:-0} ${chose:-}" | tee -a "$work/runs.txt"
  done
done
"$python" - "$work/runs.txt" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    path, rep, wall, loop, calibration, *chose = line.split()
    runs.setdefault(path, []).append((float(wall), float(loop), float(calibration), " ".join(chose)))
med = {p: tuple(statistics.median(run[i] for run in r) for i in range(3)) for p, r in runs.items()}
print(f"medians of {len(runs['auto'])} runs:")
for p, (w, l, c) in med.items():
    print(f"  {p:9s} wall {w:6.2f} s   loop {l:8.0f} rows/s   calibration {c:.2f} s")
best = min((p for p in med if not p.startswith("auto")), key=lambda p: med[p][0])
for auto in (p for p in med if p.startswith("auto")):
    w, l, _ = med[auto]
    print(f"{auto} / best forced ({best}): wall {w / med[best][0]:.3f}, loop rate {l / med[best][1]:.3f}; "
          f"{auto} chose: {sorted(set(run[3] for run in runs[auto]))}")
PY
