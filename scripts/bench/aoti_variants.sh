#!/usr/bin/env bash
# ResNet-50's AOTInductor packages, exported several ways (aoti_variants.py),
# timed by mpsbatch on the bench job beside TorchScript's paths: each as the
# model.compiled alternative under path: auto (calibration times every path
# on the same batch) and forced (path: aoti); the whole-module package alone.
# Usage, on the GPU machine from the repository root, after a build:
#   scripts/bench/aoti_variants.sh [build-gpu/src/mpsbatch]
set -u
mps=$(realpath "${1:-build-gpu/src/mpsbatch}")
W=/tmp/bench-resnet50
P=/tmp/aoti-variants
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
python3 scripts/bench/aoti_variants.py $P || exit 1
python3 scripts/bench/bench.py resnet50 --mpsbatch "$mps" --work $W --prepare-only >/dev/null || exit 1
cd $W
run() { mpirun -n 1 --bind-to none "$mps" "$@" 2>&1 | grep -E "done:|calibration: |error" | sed -e 's/^.*\] //'; }
echo "== TorchScript alone, auto"
run job-cuda.yaml
for v in nchw_dyn nchw_dyn_freeze cl_dyn_freeze cl_256_freeze; do
  echo "== $v as model.compiled, auto"
  run job-cuda.yaml --set model.compiled=$P/$v.pt2
  echo "== $v, path=aoti"
  run job-cuda.yaml --set model.compiled=$P/$v.pt2 --set path=aoti
done
cat >job-wrap.yaml <<J
model: {path: $P/wrap_dyn_freeze.pt2}
device: cuda
precision: bf16
batch_size: 256
calibration_cache: off
input: {path: input.h5, dataset: x}
output: {path: out-wrap.h5, datasets: [y], overwrite: true}
J
echo "== wrap_dyn_freeze alone (uint8 NHWC rows in, no input.layout/scale/mean/std)"
run job-wrap.yaml
