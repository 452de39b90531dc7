#!/usr/bin/env bash
# From a fresh machine to every test run: setup, build (tests included), then
# ctest: unit tests, the rank loop under mpiexec at 1-4 ranks, and the
# end-to-end tests against Python torch references. Extra arguments go to
# ctest, e.g. -L unit or -R E2E.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/build.sh -DMPSBATCH_BUILD_TESTS=ON
cd "${MPSBATCH_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 -j "$(nproc)" "$@"
