#!/usr/bin/env bash
# From a fresh machine to a scored dataset: setup, build, make the demo's data
# and model (scikit-learn's digits), score them with 4 ranks and print the
# accuracy read back from the output file.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
# A first build skips the tests (scripts/test.sh turns them on later).
if [[ -f "${MPSBATCH_BUILD_DIR:-build}/CMakeCache.txt" ]]; then
  bash scripts/build.sh
else
  bash scripts/build.sh -DMPSBATCH_BUILD_TESTS=OFF
fi
.venv/bin/python scripts/make_demo.py jobs/data

# Open MPI refuses root unless told (containers run as root), and more ranks
# than cores unless --oversubscribe.
if [[ $(id -u) == 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
flags=()
if mpirun --version 2>&1 | grep -q "Open MPI"; then flags=(--oversubscribe --bind-to none); fi
mpirun -n 4 "${flags[@]}" "${MPSBATCH_BUILD_DIR:-build}/src/mpsbatch" jobs/demo.yaml "$@"
.venv/bin/python scripts/accuracy.py jobs/data/scores.h5 jobs/data/digits.h5
