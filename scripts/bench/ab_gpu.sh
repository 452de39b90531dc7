#!/usr/bin/env bash
# Two source trees side by side on the GPU machine, in one call: builds both
# against the machine's libtorch (in parallel, half the cores each) while
# bench.py exports the ResNet-50 workload, then ab.py runs the two builds
# alternately on the same job (docs/performance.md).
# Usage: scripts/bench/ab_gpu.sh OUT_DIR BASE_TREE [ROWS] [RUNS]
#   BASE_TREE: the baseline's sources (e.g. `git archive REV | tar -x -C base`);
#   the tree this script is in is the changed build.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=$1 base=$(cd "$2" && pwd) rows=${3:-65536} runs=${4:-3}
mkdir -p "$out"
out=$(cd "$out" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
py=$(command -v python3)
jobs=$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader | tee "$out/machine.txt"
build() {  # TREE LOG
  (cd "$1" && MPSBATCH_BUILD_DIR=build-gpu MPSBATCH_PYTHON=$py MPSBATCH_JOBS=$jobs \
    bash scripts/build.sh -DMPSBATCH_WERROR=OFF -DMPSBATCH_BUILD_TESTS=OFF) >"$2" 2>&1
}
start=$SECONDS
build "$base" "$out/build-base.log" & base_pid=$!
build "$PWD" "$out/build-new.log" & new_pid=$!
(cd scripts/bench && $py bench.py resnet50 --mpsbatch "$PWD/../../build-gpu/src/mpsbatch" --work /tmp/bench-resnet50 \
  --rows "$rows" --aoti --prepare-only) >"$out/prepare.log" 2>&1 & prep_pid=$!
ok=1
wait $base_pid || { echo "baseline build failed"; tail -20 "$out/build-base.log"; ok=0; }
wait $new_pid || { echo "new build failed"; tail -20 "$out/build-new.log"; ok=0; }
wait $prep_pid || { echo "workload preparation failed"; tail -20 "$out/prepare.log"; ok=0; }
echo "builds and export: $((SECONDS - start)) s"
((ok)) || exit 1
cat "$out/prepare.log"
cd scripts/bench
$py ab.py --work /tmp/bench-resnet50 --a "$base/build-gpu/src/mpsbatch" --b "$OLDPWD/build-gpu/src/mpsbatch" \
  --runs "$runs" --json "$out/ab.jsonl" 2>&1 | tee "$out/ab.log"
