#!/usr/bin/env bash
# Several ranks on one GPU, without and with NVIDIA's MPS daemon (docs/gpu.md,
# docs/performance.md): the MLP job of a `bench.py mlp` work folder at batch
# 64, with 1 and 4 ranks, first as the GPU is, then with
# nvidia-cuda-mps-control running (started here, stopped at the end).
# Usage: scripts/bench/gpu_sharing.sh WORK_DIR [MPSBATCH]
#   WORK_DIR: the folder bench.py mlp filled (job-cuda.yaml, model.pt, input.h5)
set -uo pipefail
work=$1
bin=$(realpath "${2:-build-gpu/src/mpsbatch}")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "$work"
run() {
  for n in 1 4; do
    echo -n "$1, $n rank(s): "
    timeout 120 mpirun -n $n --oversubscribe --bind-to none "$bin" job-cuda.yaml --set batch_size=64 2>&1 |
      grep -oE "done: .*" | head -1
  done
}
run "without the MPS daemon"
command -v nvidia-cuda-mps-control >/dev/null || { echo "no nvidia-cuda-mps-control here"; exit 0; }
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog
mkdir -p /tmp/mps /tmp/mpslog
timeout 20 nvidia-cuda-mps-control -d || exit 1
run "with the MPS daemon"
echo quit | timeout 20 nvidia-cuda-mps-control
