#!/usr/bin/env bash
# The cost of making finished chunks durable, A against B (docs/performance.md,
# runs D): a job shaped like ResNet-50's (uint8 224x224x3 rows,
# 256-row chunks, 1,000 float outputs per row) with a model that only averages
# a subsample, so that reading and writing are what is timed; 1 rank, CPU.
# Each build runs alternately, plain and with every fdatasync made
# SLOW_FSYNC_US (10 ms) slower by an LD_PRELOAD shim, as on a network filesystem.
# Usage: scripts/bench/durability.sh A_MPSBATCH B_MPSBATCH [ROWS] [RUNS]
set -euo pipefail
a=$(realpath "$1") b=$(realpath "$2") rows=${3:-40960} runs=${4:-3}
python=${MPSBATCH_PYTHON:-$(cd "$(dirname "$0")/../.." && pwd)/.venv/bin/python}
work=${WORK:-/tmp/mpsbatch-durability}
mkdir -p "$work" && cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cat >slow_fsync.c <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>
int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  const char* us = getenv("SLOW_FSYNC_US");
  usleep(us ? atoi(us) : 10000);
  return real(fd);
}
C
cc -shared -fPIC -O2 -o slow_fsync.so slow_fsync.c -ldl
cat >make.py <<'PY'
import sys
import h5py, numpy as np, torch
class Mean(torch.nn.Module):
    def forward(self, x):
        return x[:, ::16, ::16, :].float().mean(dim=(1, 2)).repeat(1, 334)[:, :1000]
torch.jit.script(Mean()).save("model.pt")
rows = int(sys.argv[1])
block = np.random.default_rng(0).integers(0, 256, (2048, 224, 224, 3), dtype=np.uint8)
with h5py.File("input.h5", "w") as f:  # 6-row HDF5 chunks, as bench.py writes images
    d = f.create_dataset("x", (rows, 224, 224, 3), np.uint8, chunks=(6, 224, 224, 3))
    for i in range(0, rows, 2048):
        d[i:i + 2048] = block[:min(2048, rows - i)]
PY
[[ -f input.h5 && $(cat rows 2>/dev/null) == "$rows" ]] || { "$python" make.py "$rows" && echo "$rows" >rows; }
cat >job.yaml <<Y
model: {path: model.pt}
device: cpu
precision: fp32
batch_size: 256
calibration_cache: off
input: {path: input.h5, dataset: x}
output: {path: out.h5, datasets: [y], overwrite: true}
Y
loop() { grep -o "scoring [0-9.]* s, [0-9.]* rows/s" | sed 's/scoring //'; }
for slow in "" 10000; do
  for ((i = 0; i < runs; i++)); do
    for bin in "$a" "$b"; do
      if [[ -n $slow ]]; then
        r=$(LD_PRELOAD=$PWD/slow_fsync.so SLOW_FSYNC_US=$slow "$bin" job.yaml 2>&1 | loop)
      else
        r=$("$bin" job.yaml 2>&1 | loop)
      fi
      echo "${slow:+fsync +${slow}us }$([[ $bin == "$a" ]] && echo A || echo B): loop $r"
    done
  done
done
