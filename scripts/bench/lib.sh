# Sourced by the CPU benchmark scripts (io_bound.sh, cpu_binding.sh,
# startup.sh): runs from the repository root, with $python the project's
# venv (or MPSBATCH_PYTHON) and Open MPI allowed to run as root.
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
python=${MPSBATCH_PYTHON:-$PWD/.venv/bin/python}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
