#!/usr/bin/env bash
# What starting a process costs on this machine (docs/performance.md, runs C): `mpirun -n 1 true`, `mpirun -n 1 mpsbatch --version` (libtorch's
# libraries and static initialisers, MPI's start and end) and Python's
# `import torch` with one tensor on the GPU (CPU where there is none), three
# times each.
# With a JOB, it also runs that job under `mpirun -n 1` and alone (an MPI
# singleton) and prints each run's time line: "before the job" is the
# process's start, libraries and MPI.
# Usage: scripts/bench/process_start.sh [MPSBATCH] [JOB]   (default build/src/mpsbatch;
# on the GPU machine MPSBATCH_PYTHON=python3 and build-gpu/src/mpsbatch)
set -euo pipefail
job=${2:+$(realpath "$2")}  # before lib.sh moves to the repository's root
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
[ -n "$job" ] || exit 0
for run in 1 2; do
  echo -n "mpirun -n 1 mpsbatch JOB: "
  { time mpirun -n 1 "$mpsbatch" "$job" --set output.overwrite=true >/tmp/process_start.log 2>&1; } 2>&1
  grep -o "time: .*" /tmp/process_start.log
  echo -n "mpsbatch JOB, without mpirun: "
  { time "$mpsbatch" "$job" --set output.overwrite=true >/tmp/process_start.log 2>&1; } 2>&1
  grep -o "time: .*" /tmp/process_start.log
done
