# Sourced by the benchmark shell scripts (io_bound.sh, cpu_binding.sh,
# startup.sh, shards.sh, bert_packages.sh ...): runs from the repository
# root, with $python MPSBATCH_PYTHON, else the project's venv, else python3,
# and Open MPI allowed to run as root. mpsbatch_binary sets $bin.
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
python=${MPSBATCH_PYTHON:-}
[ -n "$python" ] || { [ -x .venv/bin/python ] && python=$PWD/.venv/bin/python; } || python=$(command -v python3)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# $bin: MPSBATCH, else this checkout's build/src/mpsbatch or
# build-gpu/src/mpsbatch, else mpsbatch on PATH; exits 2 without one.
mpsbatch_binary() {
  bin=${MPSBATCH:-}
  for candidate in build/src/mpsbatch build-gpu/src/mpsbatch; do
    [ -n "$bin" ] || { [ -x "$candidate" ] && bin=$PWD/$candidate; } || true
  done
  [ -n "$bin" ] || bin=$(command -v mpsbatch) || { echo "no mpsbatch binary: build it or set MPSBATCH" >&2; exit 2; }
}
