#!/usr/bin/env bash
# How far the job's distribution scales without a model: the real rank loop
# (rank 0's chunk hand-out and HDF5 writer, the reads, the sends) on many ranks
# with an engine paced to RATE rows/s per rank (scripts/bench/hand_out_sim.cpp,
# built with the tests). For each rank count, output row size and input mode it
# prints the ideal aggregate rate (RATE x ranks), the measured one and the
# efficiency; where the efficiency drops is where rank 0 stops keeping up.
#
#   scripts/bench/hand_out_sim.sh BUILD_DIR OUT.txt [RATE] [SECONDS] [RANKS...]
#   HAND_OUT_ONLY=1 scripts/bench/hand_out_sim.sh ...   # the hand-out alone:
#     small rows in chunks as a job picks them (--chunk auto) and of one batch
#     (256 rows, as chunk_size: 256 forces), with rank 0's chunks served a
#     second and its loop's CPU time per chunk
#
# The ranks sleep while they wait, so more ranks than cores is a fair model of
# rank 0's load (each rank still needs a little CPU per chunk). Output rows of
# 40 B are a classifier's 10 scores, 4000 B ImageNet's 1000 logits; inputs of
# 64 B isolate the hand-out and the writer, 150528 B is a 224x224x3 uint8 image.
set -euo pipefail
build=$1
out=$2
rate=${3:-20000}
seconds=${4:-5}
shift $(($# < 4 ? $# : 4))
ranks=("$@")
[ ${#ranks[@]} -gt 0 ] || ranks=(1 8 16 32 64)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
sim=$build/tests/hand_out_sim
dir=${TMPDIR:-/tmp}/hand_out_sim.$$
: >"$out"
echo "# $(date -u +%FT%TZ) $(hostname) $(nproc) cores; rate $rate rows/s per rank, ideal job ${seconds} s" | tee -a "$out"
run() {  # ranks, ideal seconds, then hand_out_sim's options
  local n=$1 s=$2
  shift 2
  timeout 600 mpirun -n "$n" --oversubscribe --bind-to none "$sim" --rate "$rate" --seconds "$s" \
    --dir "$dir" "$@" 2>&1 | grep '^ranks' | tee -a "$out" || echo "ranks $n $* failed or timed out" | tee -a "$out"
}
if [ "${HAND_OUT_ONLY:-0}" = 1 ]; then
  for n in "${ranks[@]}"; do run "$n" "$seconds" --out-width 10 --chunk auto --batch 256; done
  for n in "${ranks[@]}"; do run "$n" "$seconds" --out-width 10 --chunk 256 --batch 256; done
  rm -rf "$dir"
  exit 0
fi
for n in "${ranks[@]}"; do run "$n" "$seconds" --out-width 10; done
# One batch per chunk, as a job with big rows gets: the most hand-out turns.
for n in "${ranks[@]}"; do run "$n" "$seconds" --out-width 10 --chunk 256 --batch 256; done
# 4000 B rows: a fifth of the job, the output file grows by 4 KB a row.
for n in "${ranks[@]}"; do run "$n" "$(awk "BEGIN{print $seconds / 5}")" --out-width 1000; done
# Scatter of images: rank 0 reads every row and sends it. A tenth of a second
# of ideal work per rank (the input file is 150 KB a row).
for n in "${ranks[@]}"; do
  [ "$n" -le 8 ] || continue
  run "$n" 0.1 --mode scatter --in-width 37632 --out-width 1000 --chunk 512 --batch 128
  run "$n" 0.1 --mode shared --in-width 37632 --out-width 1000 --chunk 512 --batch 128
done
rm -rf "$dir"
