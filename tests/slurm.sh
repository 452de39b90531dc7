#!/usr/bin/env bash
# docs/cluster.md's Slurm commands on a real one-host Slurm cluster that this
# script starts itself: its own munged (a fresh key, a socket in a temp
# folder), slurmctld and slurmd in the foreground as its children, on free
# ports, with every state, spool and log file in WORKDIR. The node has 2 CPUs
# in one partition. The commands are taken from the doc, so that the test
# fails when the doc drifts; only the node and task counts are scaled down
# (-N 4 --ntasks-per-node=8 -> -N 1 --ntasks-per-node=2):
#   1. the batch script (every line of it), submitted with sbatch --wait;
#   2. salloc, then the doc's mpirun line inside the allocation;
#   3. the doc's srun --mpi=pmix line, where Slurm has the pmix plugin.
# Each run scores a small job at 2 ranks; it must exit 0, say it ran on 2
# ranks, log no warning (such as mpsbatch's about ranks bound to one core),
# and write an output equal to a single-rank run's, bit for bit.
#
# Usage: slurm.sh MPSBATCH FIXTURES WORKDIR CLUSTER_MD
# Exits 77 (ctest: skipped), saying why, where Slurm or munge is missing,
# not root, or the cluster does not come up. Stops only the processes it
# started, by their PIDs.
set -euo pipefail
mpsbatch=$(realpath "$1") fixtures=$2 work=$3 doc=$4
skip() { echo "slurm: skipped: $*"; exit 77; }
fail() { echo "slurm: FAILED: $*"; exit 1; }

for tool in slurmctld slurmd munged mungekey sbatch salloc srun sinfo scancel mpirun h5diff python3; do
  command -v "$tool" >/dev/null || skip "no $tool (Debian: apt-get install slurmctld slurmd slurm-client munge)"
done
[[ $(id -u) == 0 ]] || skip "needs root (slurmd starts job steps as their user)"
mpirun --version 2>&1 | grep -qE "Open MPI|OpenRTE" || skip "needs Open MPI (it reads the Slurm allocation)"
ompi_info 2>/dev/null | grep -q "plm: slurm" || skip "this Open MPI was built without Slurm support"

# The doc's commands. The batch script: the sh block with #SBATCH lines.
doc_block() {  # the lines of the first ```sh block of $doc that matches $1
  awk -v pat="$1" '/^```sh$/ { inside = 1; block = ""; next }
    /^```$/ && inside { inside = 0; if (block ~ pat) { printf "%s", block; exit } next }
    inside { block = block $0 "\n" }' "$doc"
}
scale() { sed -e 's/-N 4 --ntasks-per-node=8/-N 1 --ntasks-per-node=2/'; }
batch_script=$(doc_block '#SBATCH')
[[ -n $batch_script ]] || fail "no batch script (an sh block with #SBATCH lines) in $doc"
interactive=$(doc_block 'salloc ')
salloc_line=$(grep -m1 '^salloc ' <<<"$interactive" | scale)
mpirun_line=$(grep -m1 '^mpirun ' <<<"$interactive" | sed 's/ *#.*//')
srun_line=$(grep -m1 '^srun ' <<<"$interactive" | scale)
[[ $salloc_line == "salloc -N 1 --ntasks-per-node=2" ]] || fail "the doc's salloc line changed: $(grep -m1 '^salloc' <<<"$interactive")"
[[ -n $mpirun_line && -n $srun_line ]] || fail "no mpirun or srun line after salloc in $doc"
grep -q -- '-N 4' <<<"$batch_script" && grep -q -- '--ntasks-per-node=8' <<<"$batch_script" ||
  fail "the batch script's -N 4 --ntasks-per-node=8 changed: scale this test's counts with it"

rm -rf "$work" && mkdir -p "$work"/{state,spool,log}
work=$(cd "$work" && pwd)
# munge's socket path must fit a sockaddr_un (108 bytes): a short temp folder.
munge_dir=$(mktemp -d /tmp/mpsbatch-munge.XXXXXX)
pids=()
cleanup() {
  timeout 10 scancel --quiet --full -u "$(id -un)" 2>/dev/null || true  # only this cluster's jobs: SLURM_CONF
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$munge_dir"
}
trap cleanup EXIT
log_tail() { for f in "$work"/log/*; do echo "--- $f"; tail -n 15 "$f"; done; }

# An environment of our own: not an outer Slurm job's, not /etc/slurm's.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^SLURM_' || true)
export SLURM_CONF=$work/slurm.conf

mungekey --create --keyfile="$munge_dir/munge.key" 2>/dev/null ||
  { dd if=/dev/urandom of="$munge_dir/munge.key" bs=1024 count=1 status=none && chmod 600 "$munge_dir/munge.key"; }
munged --foreground --force --socket="$munge_dir/socket" --key-file="$munge_dir/munge.key" \
  --pid-file="$munge_dir/munged.pid" --seed-file="$munge_dir/seed" --log-file="$work/log/munged.log" \
  >"$work/log/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [[ -S $munge_dir/socket ]] && break; sleep 0.1; done
[[ -S $munge_dir/socket ]] || { log_tail; skip "munged did not start"; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
host=$(hostname -s)
cat >"$SLURM_CONF" <<CONF
ClusterName=mpsbatch-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=$(id -un)
AuthType=auth/munge
AuthInfo=socket=$munge_dir/socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=mpsbatch Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -D -i -f "$SLURM_CONF" >"$work/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N "$host" -f "$SLURM_CONF" >"$work/log/slurmd.out" 2>&1 &
pids+=($!)
state=
for _ in $(seq 60); do
  state=$(timeout 5 sinfo -h -N -o %t 2>/dev/null || true)
  [[ $state == idle ]] && break
  sleep 0.5
done
[[ $state == idle ]] || { log_tail; skip "the one-node cluster did not come up (node state '${state:-none}')"; }
echo "slurm: cluster up: node $host idle, 2 CPUs"

# The job, and the reference from one rank without any launcher.
job_dir() {  # a folder with the job, its model and input; output out.h5
  mkdir -p "$work/$1"
  cp "$fixtures/mlp.pt" "$fixtures/inputs.h5" "$work/$1/"
  cat >"$work/$1/job.yaml" <<JOB
model: {path: mlp.pt}
device: cpu
path: eager
threads: 1
batch_size: 8
chunk_size: 16
input: {path: inputs.h5, dataset: x_f32}
output: {path: out.h5, datasets: [y]}
JOB
}
export XDG_CACHE_HOME=$work/cache  # calibration_cache: auto writes here, not in the user's cache
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export PATH=$(dirname "$mpsbatch"):$PATH  # the doc runs `mpsbatch` from PATH
job_dir reference
(cd "$work/reference" && mpsbatch job.yaml -q)

check() {  # name rc log: exit 0, 2 ranks, no warning, the reference's bits
  [[ $2 == 0 ]] || { tail -n 20 "$3"; log_tail; fail "$1 exited $2"; }
  grep -q "done: 103 rows on 2 rank(s)" "$3" || { cat "$3"; fail "$1 did not run on 2 ranks"; }
  ! grep "\[warning\]" "$3" || fail "$1: mpsbatch warned (above) under the doc's command"
  h5diff "$work/reference/out.h5" "$work/$1/out.h5" /y /y || fail "$1: output differs from one rank's"
  echo "slurm: $1: exit 0, 2 ranks, no warning, output identical to a single-rank run"
}

# 1. The batch script, word for word; sbatch's options scale its counts.
job_dir sbatch
printf '%s' "$batch_script" >"$work/sbatch/job.sbatch"
set +e
timeout 300 sbatch --wait -N 1 --ntasks-per-node=2 --chdir="$work/sbatch" --output="$work/sbatch/slurm.out" \
  "$work/sbatch/job.sbatch"
rc=$?
set -e
check sbatch "$rc" "$work/sbatch/slurm.out"

# 2. salloc, then the doc's mpirun line in the allocation's shell.
job_dir salloc
set +e
(cd "$work/salloc" && timeout 300 $salloc_line bash -c "$mpirun_line" >"$work/salloc/run.log" 2>&1)
rc=$?
set -e
check salloc "$rc" "$work/salloc/run.log"

# 3. srun --mpi=pmix, where this Slurm has the plugin.
if srun --mpi=list 2>&1 | grep -qw pmix; then
  job_dir srun
  set +e
  (cd "$work/srun" && timeout 300 $srun_line >"$work/srun/run.log" 2>&1)
  rc=$?
  set -e
  check srun "$rc" "$work/srun/run.log"
else
  echo "slurm: srun --mpi=pmix not run: this Slurm has no pmix plugin"
fi
