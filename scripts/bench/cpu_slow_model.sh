#!/usr/bin/env bash
# A slow model on CPU: a small TorchScript conv net on 32x32 images (a few
# hundred rows/s per rank at one thread), scored by mpsbatch with path: auto
# on 1 and 2 ranks (one intra-op thread each), and by a plain Python torch
# loop over the same rows on one thread, side by side, at batch 64 and with
# batch_size: auto. Prints, per run, the wall time, calibration's time and
# what it measured, the loop's rate per rank and the job's time line.
# Usage: scripts/bench/cpu_slow_model.sh [WORK_DIR] [ROWS] [MPSBATCH]   (after scripts/build.sh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
work=${1:-/tmp/mpsbatch-cpu-slow}
rows=${2:-8192}
bin=$(realpath "${3:-build/src/mpsbatch}")
mkdir -p "$work"
"$python" scripts/bench/conv_workload.py "$work" "$rows"
echo "$(nproc) cores, $rows rows of [3, 32, 32] float32, batch 64, one intra-op thread per rank"
for batch in 64 auto; do
  for ranks in 1 2; do
    log="$work/log-$batch-$ranks.txt"
    start=$(date +%s.%N)
    mpirun -n "$ranks" --oversubscribe --bind-to none "$bin" "$work/job.yaml" -v --set batch_size=$batch >"$log" 2>&1
    end=$(date +%s.%N)
    echo "mpsbatch, batch_size $batch, $ranks rank(s): wall $(echo "$end - $start" | bc) s"
    grep -oE "calibration: [0-9.]+ s; .*" "$log" | cut -c1-300 | sed 's/^/  /'
    grep -oE "done: .*rows/s\)" "$log" | sed 's/^/  /'
    grep -oE "rank [0-9]+: [0-9]+ rows, compute .*rows/s\)" "$log" | sed 's/^/  /'
    grep -oE "time: .*" "$log" | sed 's/^/  /'
  done
done
"$python" - "$work" <<'PY'
# The plain loop: the same rows, read with h5py batch by batch, the same
# TorchScript file, one thread, under inference mode.
import os, sys, time
t0 = time.perf_counter()
import h5py, torch
torch.set_num_threads(1)
work = sys.argv[1]
model = torch.jit.load(os.path.join(work, "model.pt")).eval()
with h5py.File(os.path.join(work, "input.h5"), "r") as f, torch.inference_mode():
    x = f["x"]
    t1 = time.perf_counter()
    for i in range(0, x.shape[0], 64):
        model(torch.from_numpy(x[i:i + 64]))
    t2 = time.perf_counter()
rows = x.shape[0]
print(f"python torch loop, 1 process: wall {t2 - t0:.2f} s (imports and load {t1 - t0:.2f} s), "
      f"loop {t2 - t1:.2f} s, {rows / (t2 - t1):.0f} rows/s")
PY
