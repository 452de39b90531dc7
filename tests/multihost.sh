#!/usr/bin/env bash
# A real multi-host job on one machine: three "hosts" as Linux network
# namespaces joined by a bridge, Open MPI over TCP only (btl tcp,self), a
# hostfile, and an rsh agent (tests/netns_rsh.sh) that enters a namespace
# instead of ssh. The input and the model are readable only on rank 0's host,
# so input.mode auto must pick scatter and the other ranks get the model's
# bytes from rank 0. The output must equal a single-rank run's, bit for bit.
#
# Usage: multihost.sh MPSBATCH MPIEXEC FIXTURES WORKDIR
# Exits 77 (ctest: skipped) where namespaces or bridges cannot be made (not
# root, no iproute2, a container without CAP_NET_ADMIN).
set -euo pipefail
mpsbatch=$1 mpiexec=$2 fixtures=$3 work=$4
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "multihost: skipped: $*"; exit 77; }

[[ $(id -u) == 0 ]] || skip "needs root"
command -v ip >/dev/null || skip "no ip (iproute2)"
command -v unshare >/dev/null || skip "no unshare"
"$mpiexec" --version 2>&1 | grep -qE "Open MPI|OpenRTE" || skip "needs Open MPI (its rsh agent and MCA options)"

bridge=mpsbatch-br
cleanup() {
  for n in 0 1 2; do ip netns del "mpsbatch-h$n" 2>/dev/null || true; done
  ip link del "$bridge" 2>/dev/null || true
}
cleanup
trap cleanup EXIT
ip link add "$bridge" type bridge 2>/dev/null || skip "cannot create a bridge"
ip link set "$bridge" up
for n in 0 1 2; do
  ns=mpsbatch-h$n
  ip netns add "$ns" || skip "cannot create network namespaces"
  ip link add "mpsb-v$n" type veth peer name eth0 netns "$ns"
  ip link set "mpsb-v$n" master "$bridge" up
  ip -n "$ns" addr add "10.77.0.$((n + 1))/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
done

# The job's files live in $work/data, which the agent hides on hosts 1 and 2.
rm -rf "$work" && mkdir -p "$work/data"
cp "$fixtures/mlp.pt" "$fixtures/inputs.h5" "$work/data/"
cat >"$work/data/job.yaml" <<JOB
model: {path: mlp.pt}
device: cpu
batch_size: 8
chunk_size: 16
input: {path: inputs.h5, dataset: x_f32, mode: auto}
output: {path: out.h5, datasets: [y]}
JOB
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n10.77.0.3 slots=1\n' >"$work/hosts"

# calibration_cache: auto writes beside the test's files, not in the user's cache.
export XDG_CACHE_HOME="$work/cache"

# The reference: one rank, no MPI launcher.
"$mpsbatch" "$work/data/job.yaml" -q --set output.path="$work/reference.h5"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 MPSBATCH_HIDE_DIR="$work/data"
set +e
ip netns exec mpsbatch-h0 unshare -u sh -c 'hostname mpsbatch-h0 && exec "$@"' sh \
  timeout 120 "$mpiexec" --hostfile "$work/hosts" -n 3 --bind-to none \
  --mca plm_rsh_agent "$here/netns_rsh.sh" \
  --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
  "$mpsbatch" "$work/data/job.yaml" 2>&1 | tee "$work/run.log"
rc=${PIPESTATUS[0]}
set -e
[[ $rc == 0 ]] || { echo "multihost: the 3-host run failed ($rc)"; exit 1; }
grep -q "(mode scatter)" "$work/run.log" || { echo "multihost: input mode was not scatter"; exit 1; }
grep -q "on 3 rank(s)" "$work/run.log" || { echo "multihost: not 3 ranks"; exit 1; }
h5diff "$work/reference.h5" "$work/data/out.h5" /y /y || { echo "multihost: output differs from one rank's"; exit 1; }
echo "multihost: 3 hosts over TCP, scatter mode, output identical to a single-rank run"
