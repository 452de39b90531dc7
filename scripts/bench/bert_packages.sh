#!/usr/bin/env bash
# BERT-base's AOTInductor package with and without transformers' all-ones
# attention mask, each timed in mpsbatch (1 rank, the package alone,
# alternately), beside Python's eager model on the same weights
# (docs/performance.md, "BERT-base encoder"). On a GPU machine.
#
# Usage: scripts/bench/bert_packages.sh OUT_DIR [ROUNDS] [ROWS]   (defaults 3 and 65536)
# Environment: MPSBATCH, the binary (else build/src/mpsbatch, build-gpu/src/mpsbatch
# or mpsbatch on PATH); MPSBATCH_PYTHON, a python with torch, transformers and h5py.
set -euo pipefail
[ $# -ge 1 ] || { sed -n 2,9p "$0"; exit 2; }
source "$(dirname "$0")/lib.sh"
out=$1 rounds=${2:-3} rows=${3:-65536}
mpsbatch_binary
mkdir -p "$out"
out=$(cd "$out" && pwd)
variants="as_bench no_mask"

echo "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1); $bin; $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
# The exports (about a minute each on 16 cores) in parallel, and the input.
pids=()
for v in $variants; do
  [ -f "$out/$v.pt2" ] || { "$python" scripts/bench/bert_variants.py "$out" "$v" --export >"$out/export-$v.log" 2>&1 & pids+=($!); }
done
(cd scripts/bench && "$python" bench.py bert --mpsbatch "$bin" --work "$out" --rows "$rows" --prepare-only) >"$out/prepare.log" 2>&1
for pid in "${pids[@]}"; do wait "$pid" || { echo "an export failed: $out/export-*.log" >&2; exit 1; }; done
grep -h "exported and compiled" "$out"/export-*.log || true
for v in $variants; do
  cat >"$out/job-$v.yaml" <<YAML
model: {path: $v.pt2}
device: cuda
precision: bf16
batch_size: 256
calibration_cache: off
input: {path: input.h5, dataset: x}
output: {path: out-$v.h5, datasets: [y], overwrite: true}
YAML
done
for round in $(seq "$rounds"); do
  for v in $variants; do
    log="$out/run-$v-$round.log"
    (cd "$out" && mpirun -n 1 --bind-to none "$bin" "job-$v.yaml") >"$log" 2>&1 || { tail -5 "$log" >&2; exit 1; }
    echo "mpsbatch $v, round $round: $(grep -o 'done: .*rows/s)' "$log" | head -1)"
  done
done
"$python" - "$out" <<'PY'
import sys
import h5py
import numpy as np
import torch
sys.path.insert(0, "scripts/bench")
import bert_variants as bv
out = sys.argv[1]
a = h5py.File(f"{out}/out-as_bench.h5")["y"][:].astype(np.float64)
b = h5py.File(f"{out}/out-no_mask.h5")["y"][:].astype(np.float64)
print(f"outputs, no_mask against as_bench: relative error {np.linalg.norm(a - b) / np.linalg.norm(a):.2e}")
ids = torch.randint(0, 30522, (256, bv.SEQ), device="cuda")
with torch.inference_mode():
    for no_mask in (False, True):  # the mask's patch stays for the rest of the process
        model, attn = bv.build(no_mask)
        n, s = bv.timed(lambda: model(ids))
        print(f"python eager, {'no_mask' if no_mask else 'as_bench'} (attention {attn}): {n * 256 / s:,.0f} seq/s")
        del model
PY
