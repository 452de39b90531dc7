#!/usr/bin/env bash
# path: auto against every forced path on CPU: the conv net of
# conv_workload.py (TorchScript, where auto chooses between eager and
# frozen), batch 64, one intra-op thread per rank, on RANKS ranks; the
# forced paths and auto alternate, REPS runs each, and the medians of wall
# time and loop rate are printed side by side with auto's ratio to the best
# forced path (docs/performance.md).
# Usage: scripts/bench/cpu_paths.sh [WORK_DIR] [ROWS] [REPS] [RANKS]   (after scripts/build.sh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
work=${1:-/tmp/mpsbatch-cpu-paths}
rows=${2:-32768}
reps=${3:-5}
ranks=${4:-1}
mkdir -p "$work"
"$python" scripts/bench/conv_workload.py "$work" "$rows"
echo "$(nproc) cores, $rows rows of [3, 32, 32] float32, batch 64, $ranks rank(s) of one intra-op thread; $(git rev-parse --short HEAD)"
: >"$work/runs.txt"
for rep in $(seq "$reps"); do
  for path in eager frozen auto; do
    log="$work/log-$path-$rep.txt"
    start=$(date +%s.%N)
    mpirun -n "$ranks" --oversubscribe --bind-to none build/src/mpsbatch "$work/job.yaml" --set path=$path >"$log" 2>&1
    end=$(date +%s.%N)
    loop=$(grep -oE "scoring [0-9.]+ s, [0-9]+ rows/s" "$log" | grep -oE "[0-9]+ rows/s" | grep -oE "[0-9]+")
    chose=$(grep -oE "calibration: .*" "$log" | grep -oE "path [a-z+_]+" | head -1)
    echo "$path $rep $(echo "$end - $start" | bc) $loop ${chose:-}" | tee -a "$work/runs.txt"
  done
done
"$python" - "$work/runs.txt" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    path, rep, wall, loop, *chose = line.split()
    runs.setdefault(path, []).append((float(wall), float(loop), " ".join(chose)))
med = {p: (statistics.median(w for w, _, _ in r), statistics.median(l for _, l, _ in r)) for p, r in runs.items()}
print(f"medians of {len(runs['auto'])} runs:")
for p, (w, l) in med.items():
    print(f"  {p:7s} wall {w:6.2f} s   loop {l:8.0f} rows/s")
best = min((p for p in med if p != "auto"), key=lambda p: med[p][0])
w, l = med["auto"]
print(f"auto / best forced ({best}): wall {w / med[best][0]:.3f}, loop rate {l / med[best][1]:.3f}; "
      f"auto chose: {sorted(set(c for _, _, c in runs['auto']))}")
PY
