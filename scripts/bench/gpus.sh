#!/usr/bin/env bash
# One job on one GPU and on every GPU of the host, side by side in one call,
# and the many-rank model of rank 0's hand-out and writer (hand_out_sim.sh) on
# the same host. Builds mpsbatch and hand_out_sim against the machine's
# libtorch while bench.py exports ResNet-50's AOTInductor package and writes
# the input, then runs the package-only job alternately on 1 and N ranks
# (one rank per GPU), RUNS times each (docs/performance.md).
# Each run's log (at -v: every rank's start-up and calibration lines) and run
# report (the timeline of every chunk, docs/run-report.md) are kept in OUT_DIR.
#   scripts/bench/gpus.sh OUT_DIR [ROWS] [RUNS] [SIM_RANKS... | none]
set -uo pipefail
cd "$(dirname "$0")/../.."
out=$1 rows=${2:-131072} runs=${3:-2}
shift $(($# < 3 ? $# : 3))
sim_ranks=("$@")
[ ${#sim_ranks[@]} -gt 0 ] || sim_ranks=(1 8 16 32 64)
mkdir -p "$out"
out=$(cd "$out" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
py=$(command -v python3)
gpus=$(nvidia-smi --list-gpus | wc -l)
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader | tee "$out/machine.txt"
echo "$(nproc) cores, $gpus GPU(s), $(git rev-parse --short HEAD 2>/dev/null || echo unknown)" | tee -a "$out/machine.txt"
start=$SECONDS
(cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DMPSBATCH_WERROR=OFF -DMPSBATCH_BUILD_TESTS=ON \
  -DCMAKE_PREFIX_PATH="$($py -c 'import torch; print(torch.utils.cmake_prefix_path)')" -DMPSBATCH_PYTHON="$py" &&
  cmake --build build-gpu -j "$(nproc)" --target mpsbatch hand_out_sim) >"$out/build.log" 2>&1 & build_pid=$!
(cd scripts/bench && $py bench.py resnet50 --mpsbatch "$PWD/../../build-gpu/src/mpsbatch" --work /tmp/bench-resnet50 \
  --rows "$rows" --aoti --prepare-only) >"$out/prepare.log" 2>&1 & prep_pid=$!
ok=1
wait $build_pid || { echo "build failed"; tail -30 "$out/build.log"; ok=0; }
wait $prep_pid || { echo "workload preparation failed"; tail -20 "$out/prepare.log"; ok=0; }
echo "build and export: $((SECONDS - start)) s"
((ok)) || exit 1
job=/tmp/bench-resnet50/job-cuda-package.yaml
for i in $(seq "$runs"); do
  for n in 1 "$gpus"; do
    log="$out/resnet50-${n}gpu-run$i.log"
    t0=$(date +%s.%N)
    mpirun -n "$n" --bind-to none build-gpu/src/mpsbatch "$job" -v --set output.path="/tmp/bench-resnet50/gpus-$n.h5" \
      --report "$out/resnet50-${n}gpu-run$i.report.json" >"$log" 2>&1 || echo "run failed: $log"
    t1=$(date +%s.%N)
    wall=$(awk "BEGIN{printf \"%.2f\", $t1 - $t0}")
    rate=$(awk "BEGIN{printf \"%.0f\", $rows / ($t1 - $t0)}")
    loop=$(grep -o 'scoring [0-9.]* s, [0-9.]* rows/s' "$log" | tail -1)
    echo "resnet50 $rows images, $n GPU(s), run $i: wall $wall s, $rate img/s end to end; $loop" | tee -a "$out/gpus.txt"
    grep -E '^.*time: ' "$log" | tail -1 | tee -a "$out/gpus.txt"
  done
done
cmp <($py -c "import h5py,sys; f=h5py.File('/tmp/bench-resnet50/gpus-1.h5'); sys.stdout.buffer.write(f['y'][...].tobytes())") \
    <($py -c "import h5py,sys; f=h5py.File('/tmp/bench-resnet50/gpus-$gpus.h5'); sys.stdout.buffer.write(f['y'][...].tobytes())") \
  && echo "outputs of 1 and $gpus GPU(s): identical bits" | tee -a "$out/gpus.txt" \
  || echo "outputs of 1 and $gpus GPU(s) differ" | tee -a "$out/gpus.txt"
rm -f /tmp/bench-resnet50/gpus-*.h5
[ "${sim_ranks[0]}" = none ] ||
  bash scripts/bench/hand_out_sim.sh build-gpu "$out/hand_out_sim.txt" 20000 5 "${sim_ranks[@]}"
echo "total: $((SECONDS - start)) s"
