#!/usr/bin/env bash
# The benchmark run on the GPU machine (docs/performance.md): build mpsbatch
# against the machine's libtorch, then bench.py for the given workloads.
# Usage: scripts/bench/run_gpu.sh OUT_DIR WORKLOAD...   (e.g. mlp, or resnet50 bert)
# BENCH_ARGS adds options to every bench.py call (e.g. BENCH_ARGS=--aoti).
set -uo pipefail
cd "$(dirname "$0")/../.."
out=$1
shift
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader
MPSBATCH_BUILD_DIR=build-gpu MPSBATCH_PYTHON=$(command -v python3) MPSBATCH_JOBS=16 \
  bash scripts/build.sh -DMPSBATCH_WERROR=OFF -DMPSBATCH_BUILD_TESTS=OFF >"$out/build.log" 2>&1 || {
  tail -20 "$out/build.log"
  exit 1
}
for w in "$@"; do
  extra=()
  # The MLP on 8M rows (8.2 GB): on 2M its jobs scored for 0.4 s, too short
  # to tell a change from noise (docs/performance.md, runs C).
  if [[ $w == mlp ]]; then extra=(--rows 8000000 --cpu-rows 400000); fi
  # ResNet-50 and BERT also through the torch.export route (an AOTInductor
  # package, 1-2 min to export): the route PyTorch now recommends, and the
  # fastest one measured for both (runs D).
  if [[ $w == resnet50 || $w == bert ]]; then extra=(--aoti); fi
  python3 scripts/bench/bench.py "$w" --mpsbatch build-gpu/src/mpsbatch --work "/tmp/bench-$w" \
    --json "$out/results.jsonl" "${extra[@]}" ${BENCH_ARGS:-} 2>&1 | tee "$out/bench-$w.log"
done
