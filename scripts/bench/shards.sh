#!/usr/bin/env bash
# What many input files cost (docs/performance.md, "Many input files"): the
# MLP workload (workloads.py) as FILES shards of ROWS rows (a glob) and as one
# file of the same rows, the same job on both, alternated, REPS times per rank
# count. Prints per run the process's wall time, mpsbatch's scoring-loop rate,
# its time before scoring and the part of it that planning took (the log's
# `time:` line), then per rank count the medians side by side and the
# overhead of the shards (shards / one file - 1).
#
# Usage: scripts/bench/shards.sh OUT_DIR [REPS] [RANKS] [MPSBATCH ARGS...]
#   OUT_DIR   inputs (kept for the next call), outputs and logs go here
#   REPS      runs of each input per rank count (default 3)
#   RANKS     rank counts, e.g. "1 2" (default "1 2")
#   e.g. scripts/bench/shards.sh /tmp/shards 3 "1 2"                       (CPU)
#        scripts/bench/shards.sh /tmp/shards 5 "1" --set device=cuda       (one GPU)
# Environment: FILES (512), ROWS (4096) per file; MODEL, mlp (default) or
# slice (x[:, :10] * 2: the loop is reading and writing, so what a file costs
# shows more); MPSBATCH, the binary (else
# build/src/mpsbatch, build-gpu/src/mpsbatch or mpsbatch on PATH);
# MPSBATCH_PYTHON, a python with torch and h5py (else .venv/bin/python or python3).
set -euo pipefail
[ $# -ge 1 ] || { sed -n 2,21p "$0"; exit 2; }
source "$(dirname "$0")/lib.sh"
out=$1 reps=${2:-3} ranks_list=${3:-"1 2"}
shift $(($# < 3 ? $# : 3))
files=${FILES:-512} rows=${ROWS:-4096} model=${MODEL:-mlp}
mpsbatch_binary

mkdir -p "$out"
out=$(cd "$out" && pwd)
"$python" scripts/bench/shards.py "$out" "$files" "$rows"
found=$(find "$out/shards" -name 'part-*.h5' | wc -l)
[ "$found" -eq "$files" ] || { echo "$out/shards holds $found files, not $files: use another OUT_DIR" >&2; exit 2; }

cat >"$out/job.yaml" <<YAML
model: {path: $model.pt}
device: cpu
batch_size: $rows
path: eager
input: {path: whole.h5, dataset: x}
output: {path: out.h5, datasets: [y], overwrite: true}
YAML
echo "$(nproc) cores; $bin; $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "job: $out/job.yaml $*; input.path=shards/part-*.h5 ($files files) or whole.h5 ($((files * rows)) rows)"

# One run: prints "<input> <ranks> <rep> <wall s> <loop rows/s> <before scoring s> <plan s>" and keeps its log.
run() {
  local input=$1 n=$2 rep=$3 path log t0 t1
  shift 3
  if [ "$input" = shards ]; then path="shards/part-*.h5"; else path=whole.h5; fi
  log="$out/$input-${n}rank-$rep.log"
  t0=$(date +%s.%N)
  (cd "$out" && mpirun -n "$n" --oversubscribe --bind-to none "$bin" job.yaml --set "input.path=$path" \
    --set "output.path=out-$input.h5" "$@") >"$log" 2>&1 || { echo "run failed: $log" >&2; tail -5 "$log" >&2; exit 1; }
  t1=$(date +%s.%N)
  awk -v input="$input" -v n="$n" -v rep="$rep" -v wall="$(awk "BEGIN{print $t1 - $t0}")" '
    /done: / { match($0, /scoring [0-9.]+ s, [0-9.]+ rows/); split(substr($0, RSTART, RLENGTH), a, " "); loop = a[4] }
    / time: / { line = $0; sub(/.* time: /, "", line); gsub(/[a-z ]+/, " ", line); n_ = split(line, t, " ")
                # before the job, plan, engines, calibration, output, (scoring, finishing)
                before = 0; for (i = 1; i <= n_ - 2; ++i) before += t[i]; plan = t[n_ - 5] }
    END { printf "%s %d %d %.2f %.0f %.2f %.2f\n", input, n, rep, wall, loop, before, plan }' "$log"
}

results="$out/results.txt"
: >"$results"
printf "%-7s %5s %3s %9s %14s %17s %7s\n" input ranks rep "wall s" "loop rows/s" "before scoring s" "plan s"
for n in $ranks_list; do
  for rep in $(seq "$reps"); do
    order="shards whole"
    ((rep % 2)) || order="whole shards"  # alternate which goes first
    for input in $order; do
      line=$(run "$input" "$n" "$rep" "$@")
      echo "$line" >>"$results"
      read -r i r k w l b p <<<"$line"
      printf "%-7s %5s %3s %9s %14s %17s %7s\n" "$i" "$r" "$k" "$w" "$l" "$b" "$p"
    done
  done
  grep -h "start-up\|time: " "$out/shards-${n}rank-1.log" "$out/whole-${n}rank-1.log" | sed 's/^[^]]*] //'
done
if cmp -s <("$python" -c "import h5py,sys; sys.stdout.buffer.write(h5py.File('$out/out-shards.h5')['y'][...].tobytes())") \
  <("$python" -c "import h5py,sys; sys.stdout.buffer.write(h5py.File('$out/out-whole.h5')['y'][...].tobytes())"); then
  echo "outputs of the shards and the one file: identical bits"
else
  echo "outputs of the shards and the one file DIFFER"
fi
echo
echo "medians of $reps runs (shards / one file):"
"$python" - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print(f"{'ranks':>5} {'wall s':>15} {'ratio':>6} {'overhead':>8} {'loop rows/s':>19} {'before scoring s':>17} "
      f"{'plan s':>13}")
for n in sorted({r[1] for r in rows}, key=int):
    med = {i: [statistics.median(float(r[c]) for r in rows if r[0] == i and r[1] == n) for c in (3, 4, 5, 6)]
           for i in ("shards", "whole")}
    s, w = med["shards"], med["whole"]
    print(f"{n:>5} {s[0]:7.2f} / {w[0]:5.2f} {s[0] / w[0]:6.3f} {100 * (s[0] / w[0] - 1):7.1f}% "
          f"{s[1]:9.0f} / {w[1]:7.0f} {s[2]:7.2f} / {w[2]:5.2f} {s[3]:5.2f} / {w[3]:5.2f}")
PY
