#!/usr/bin/env bash
# Rank 0's planning time with a large model (docs/performance.md, "hashes the
# model beside its engine"): a 100 MB TorchScript MLP (5000x5000) on 4,096
# rows, one CPU rank, path eager, three runs; prints each run's start-up line.
# Usage: scripts/bench/startup.sh [WORK_DIR]   (after scripts/build.sh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
work=${1:-/tmp/mpsbatch-startup}
mkdir -p "$work"
"$python" - "$work" <<'PY'
import os, sys
import h5py, numpy as np, torch
work = sys.argv[1]
if not os.path.exists(os.path.join(work, "input.h5")):
    model = torch.nn.Sequential(torch.nn.Linear(5000, 5000), torch.nn.ReLU(), torch.nn.Linear(5000, 10))
    torch.jit.script(model).save(os.path.join(work, "model.pt"))
    with h5py.File(os.path.join(work, "input.h5"), "w") as f:
        f["x"] = np.random.default_rng(0).random((4096, 5000), dtype=np.float32)
PY
cat >"$work/job.yaml" <<YAML
model: {path: model.pt}
device: cpu
batch_size: 256
path: eager
input: {path: input.h5, dataset: x}
output: {path: out.h5, datasets: [y], overwrite: true}
YAML
for run in 1 2 3; do
  mpirun -n 1 --bind-to none build/src/mpsbatch "$work/job.yaml" 2>&1 | grep -oE "start-up: .*|error.*"
done
