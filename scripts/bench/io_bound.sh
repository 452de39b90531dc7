#!/usr/bin/env bash
# The I/O-bound job behind docs/performance.md's host-memory finding: the
# MLP benchmark's 2,000,000 x 256 float32 input through a trivial model
# (x[:, :10] * 2) on the CPU, so the loop rate is rank 0's reading, copying
# and writing. Prints h5py's read rate of the same file, then mpsbatch's.
# Usage: scripts/bench/io_bound.sh [WORK_DIR] [RANKS] [MPSBATCH ARGS...]   (after scripts/build.sh)
#   e.g. scripts/bench/io_bound.sh /tmp/io 1 --set input.read=hdf5   (reading through HDF5)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
work=${1:-/tmp/mpsbatch-io-bound}
ranks=${2:-1}
mkdir -p "$work"
"$python" - "$work" <<'PY'
import os, sys, time
import h5py, torch
sys.path.insert(0, "scripts/bench")
import workloads

work = sys.argv[1]
path = os.path.join(work, "input.h5")
if not os.path.exists(path):
    workloads.write_input("mlp", path, 2_000_000)
with open(os.path.join(work, "slice.py"), "w") as f:
    f.write("import torch\nclass Slice(torch.nn.Module):\n"
            "    def forward(self, x):\n        return x[:, :10] * 2.0\n")
sys.path.insert(0, work)
import slice as s
torch.jit.script(s.Slice()).save(os.path.join(work, "slice.pt"))
start = time.perf_counter()
with h5py.File(path) as f:
    d = f["x"]
    for i in range(0, d.shape[0], 65536):
        d[i:i + 65536]
print(f"h5py read: {d.shape[0] / (time.perf_counter() - start):,.0f} rows/s")
PY
cat >"$work/job.yaml" <<YAML
model: {path: slice.pt}
device: cpu
batch_size: 8192
path: eager
input: {path: input.h5, dataset: x}
output: {path: out.h5, datasets: [y], overwrite: true}
YAML
mpirun -n "$ranks" --oversubscribe --bind-to none build/src/mpsbatch "$work/job.yaml" "${@:3}" 2>&1 |
  grep -E "done:|error"
