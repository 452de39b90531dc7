#!/usr/bin/env bash
# Runs the demo job N times with 3 ranks, P jobs at a time on the one device,
# and counts the runs that did not exit 0: the start-up crash hunt of
# docs/reliability.md. Needs the demo data (scripts/make_demo.py jobs/data)
# and a build. Starts no new batch of P runs after SECONDS seconds, so that a
# time-limited caller still gets the count.
# Usage: scripts/stress_demo.sh [N] [P] [DEVICE] [MPSBATCH] [SECONDS] [LOG_DIR]
#   (defaults 48 4 cuda build-gpu/src/mpsbatch, no time limit, a new folder in /tmp)
set -u
cd "$(dirname "$0")/.."
n=${1:-48} par=${2:-4} device=${3:-cuda} mps=${4:-build-gpu/src/mpsbatch} seconds=${5:-0}
log=${6:-$(mktemp -d /tmp/mpsbatch-stress-XXXXXX)}
mkdir -p "$log"
: >"$log/rc.txt"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
one() {
  mpirun -n 3 --oversubscribe --bind-to none "$mps" jobs/demo.yaml --set device="$device" \
    --set output.path="$log/out-$1.h5" >"$log/run-$1.log" 2>&1
  echo "$1 rc $?" >>"$log/rc.txt"
  rm -f "$log/out-$1.h5"
}
start=$SECONDS
for ((i = 0; i < n; i++)); do
  one "$i" &
  if (((i + 1) % par == 0)); then
    wait
    if ((seconds > 0 && SECONDS - start > seconds)); then break; fi
  fi
done
wait
echo "runs: $(wc -l <"$log/rc.txt") in $((SECONDS - start)) s, not exit 0: $(grep -vc ' rc 0$' "$log/rc.txt") (logs in $log)"
grep -l "free()\|Signal:\|Segmentation\|Aborted\|terminate" "$log"/run-*.log
for f in "$log"/run-*.log; do
  i=${f##*/run-}; i=${i%.log}
  grep -q "^$i rc 0$" "$log/rc.txt" || { echo "--- $f"; tail -20 "$f"; }
done | head -80
exit 0
