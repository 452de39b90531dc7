#!/usr/bin/env bash
# What starting a process costs on this machine (docs/performance.md, runs C): `mpirun -n 1 true`, `mpirun -n 1 mpsbatch --version` (libtorch's
# libraries and static initialisers, MPI's start and end) and Python's
# `import torch` with one tensor on the GPU (CPU where there is none), three
# times each.
# Usage: scripts/bench/process_start.sh [MPSBATCH]   (default build/src/mpsbatch;
# on the GPU machine MPSBATCH_PYTHON=python3 and build-gpu/src/mpsbatch)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
mpsbatch=${1:-build/src/mpsbatch}
TIMEFORMAT="%R s"
for run in 1 2 3; do
  echo -n "mpirun -n 1 true: "
  { time mpirun -n 1 true; } 2>&1
  echo -n "mpirun -n 1 mpsbatch --version: "
  { time mpirun -n 1 "$mpsbatch" --version >/dev/null; } 2>&1
  echo -n "python: import torch, one tensor on the device: "
  { time "$python" -c "import torch; torch.zeros(1, device='cuda' if torch.cuda.is_available() else 'cpu')"; } 2>&1
done
