#!/usr/bin/env bash
# What mpirun's default binding costs a rank (docs/performance.md, "Binding"):
# the benchmark MLP on 40,000 rows, one rank, one intra-op thread, path eager,
# launched with --bind-to core (what mpirun does for 1 or 2 ranks) and with
# --bind-to none. A rank reads on one thread and computes on another.
# Usage: scripts/bench/cpu_binding.sh [WORK_DIR]   (after scripts/build.sh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
work=${1:-/tmp/mpsbatch-cpu-binding}
mkdir -p "$work"
"$python" - "$work" <<'PY'
import os, sys
sys.path.insert(0, "scripts/bench")
import workloads
work = sys.argv[1]
if not os.path.exists(os.path.join(work, "input.h5")):
    workloads.write_input("mlp", os.path.join(work, "input.h5"), 40_000)
    workloads.save_torchscript("mlp", workloads.make_model("mlp"), os.path.join(work, "model.pt"))
PY
cat >"$work/job.yaml" <<YAML
model: {path: model.pt}
device: cpu
threads: 1
batch_size: 256
path: eager
input: {path: input.h5, dataset: x}
output: {path: out.h5, datasets: [y], overwrite: true}
YAML
for bind in core none core none; do
  echo -n "--bind-to $bind: "
  mpirun -n 1 --bind-to "$bind" build/src/mpsbatch "$work/job.yaml" -v 2>&1 | grep -oE "rank 0: .*rows/s\)" | head -1
done
