#!/usr/bin/env bash
# The GPU machine's check (docs/gpu.md): build against that machine's
# libtorch (CUDA), run every test with the jobs on device: cuda, run the demo
# with 1 and 4 ranks sharing the one GPU, hunt for start-up crashes
# (scripts/stress_demo.sh) and time a larger copy of the demo.
# Usage: scripts/gpu_check.sh LOG_DIR   (python3 there must hold torch, h5py, sklearn)
# Environment: MPSBATCH_HUNT_SECONDS (default 0: no crash hunt), MPSBATCH_BIG_DEMO
# (default 1; 0 skips the larger copy), MPSBATCH_CTEST_ARGS (extra ctest arguments).
set -uo pipefail
cd "$(dirname "$0")/.."
log_dir=${1:-gpu-log}
mkdir -p "$log_dir"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export MPSBATCH_TEST_DEVICE=cuda
py=$(command -v python3)
step() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }

step machine
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
nproc
$py -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
mpirun --version | head -1

step build
MPSBATCH_BUILD_DIR=build-gpu MPSBATCH_PYTHON=$py MPSBATCH_JOBS=16 \
  bash scripts/build.sh -DMPSBATCH_WERROR=OFF >"$log_dir/build.log" 2>&1
rc=$?; tail -5 "$log_dir/build.log"; [[ $rc == 0 ]] || exit $rc
build-gpu/src/mpsbatch --version

step "ctest (jobs on cuda)"
(cd build-gpu && ctest --output-on-failure --timeout 600 -j 8 ${MPSBATCH_CTEST_ARGS:-}) >"$log_dir/ctest.log" 2>&1
echo "ctest rc $?"; grep -E "tests passed|Failed|Not Run|Total Test time" "$log_dir/ctest.log"

step "demo, device cuda"
$py scripts/make_demo.py jobs/data
for n in 1 4; do
  mpirun -n $n build-gpu/src/mpsbatch jobs/demo.yaml --set device=cuda --set output.path=jobs/data/scores$n.h5
  $py scripts/accuracy.py jobs/data/scores$n.h5 jobs/data/digits.h5
done
$py - <<'PY'
import h5py, numpy as np
a = h5py.File("jobs/data/scores1.h5")["logits"][:]
b = h5py.File("jobs/data/scores4.h5")["logits"][:]
print("1 vs 4 ranks on cuda: bitwise identical" if np.array_equal(a, b) else f"1 vs 4 ranks differ, max {np.abs(a - b).max()}")
PY

if ((${MPSBATCH_HUNT_SECONDS:-0} > 0)); then
  step "crash hunt: 3-rank demo jobs, 10 at a time, for ${MPSBATCH_HUNT_SECONDS} s"
  bash scripts/stress_demo.sh 100000 10 cuda build-gpu/src/mpsbatch "$MPSBATCH_HUNT_SECONDS" /tmp/mpsbatch-hunt \
    | tee "$log_dir/hunt.log" | head -40
fi

[[ ${MPSBATCH_BIG_DEMO:-1} == 1 ]] || exit 0
step "larger copy of the demo: 2,000,000 rows"
$py - <<'PY'
import h5py, numpy as np
with h5py.File("jobs/data/digits.h5") as f:
    x = f["images"][:]
reps = -(-2_000_000 // len(x))
with h5py.File("jobs/data/digits_big.h5", "w") as f:
    f.create_dataset("images", data=np.tile(x, (reps, 1, 1))[:2_000_000], chunks=(16384, 8, 8))
PY
for n in 1 2 4 8; do
  for b in 1024 16384; do
    mpirun -n $n --oversubscribe build-gpu/src/mpsbatch jobs/demo.yaml --set device=cuda --set batch_size=$b \
      --set input.path=jobs/data/digits_big.h5 --set output.path=jobs/data/big.h5 2>&1 | grep -E "done:|rows/s|error" | head -3
  done
done
