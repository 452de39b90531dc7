#!/usr/bin/env bash
# Configures and builds mpsbatch against the libtorch of the venv that
# scripts/setup.sh made (or of MPSBATCH_PYTHON's torch), then installs it
# (`cmake --install`): mpsbatch, mpsbatch-export and mpsbatch-plot into the
# venv's bin/, so that `source .venv/bin/activate` puts them on PATH. Extra
# arguments go to cmake's configure step, e.g. -DMPSBATCH_BUILD_TESTS=OFF.
#
# Environment:
#   MPSBATCH_BUILD_DIR  build folder (default: build)
#   MPSBATCH_PYTHON     python that holds torch (default: .venv/bin/python)
#   MPSBATCH_PREFIX     where to install (default: that python's venv; empty: do not install)
#   MPSBATCH_JOBS       parallel compile jobs (default: cores, at most one per 3 GiB of memory)
set -euo pipefail
cd "$(dirname "$0")/.."

build=${MPSBATCH_BUILD_DIR:-build}
python=${MPSBATCH_PYTHON:-$PWD/.venv/bin/python}
torch_prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')

# Files that include libtorch's headers take 1-2 GiB each to compile.
cores=$(nproc)
mem_gib=$(awk '/MemTotal/ {print int($2 / 1048576)}' /proc/meminfo 2>/dev/null || echo 8)
jobs=${MPSBATCH_JOBS:-$(( cores < mem_gib / 3 ? cores : (mem_gib / 3 > 0 ? mem_gib / 3 : 1) ))}

generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$torch_prefix" -DMPSBATCH_PYTHON="$python" "$@"
elif (($#)); then
  cmake "$build" "$@"
fi
cmake --build "$build" -j "$jobs"
echo "build: $build/src/mpsbatch"

# The venv that holds the python, if it is one (a venv has pyvenv.cfg).
venv=$(cd "$(dirname "$python")/.." && pwd)
[[ -f "$venv/pyvenv.cfg" ]] || venv=
prefix=${MPSBATCH_PREFIX-$venv}
if [[ -n "$prefix" ]]; then
  cmake --install "$build" --prefix "$prefix" >/dev/null
  echo "installed: $prefix/bin/mpsbatch, mpsbatch-export"
  [[ "$prefix" != "$venv" ]] || echo "  (source $venv/bin/activate puts them on PATH)"
else
  echo "not installed (no venv; set MPSBATCH_PREFIX to install)"
fi
