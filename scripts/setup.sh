#!/usr/bin/env bash
# Installs what mpsbatch needs on Debian 12/13 or Ubuntu 24.04: the system
# packages (apt) and a Python venv in .venv with libtorch (PyPI's torch wheel
# carries it), h5py, numpy and scikit-learn for the demo, the tests and the
# scripts, PyYAML for mpsbatch-export (which reads job files) and matplotlib for
# scripts/plot_run.py. Safe to run again: it skips what is already there.
#
# Environment:
#   MPSBATCH_VENV        venv folder (default: .venv in the repository)
#   MPSBATCH_TORCH       pip requirement for torch (default: torch==2.13.0)
#   MPSBATCH_SKIP_APT=1  do not touch system packages
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${MPSBATCH_VENV:-.venv}
torch_req=${MPSBATCH_TORCH:-torch==2.13.0}

apt_packages=(
  build-essential cmake ninja-build pkg-config git
  python3 python3-venv python3-dev
  libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools
  libyaml-cpp-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libssl-dev
  libgtest-dev libgmock-dev
  clang-format
  iproute2 util-linux
)
# Optional: the tests that need them skip without them (slurm: a one-host
# Slurm cluster for docs/cluster.md's commands). Their install may fail where
# no init system can start their services, as in some containers.
optional_packages=(slurmctld slurmd slurm-client munge)

if [[ "${MPSBATCH_SKIP_APT:-0}" != 1 ]]; then
  if ! command -v apt-get >/dev/null; then
    echo "setup: no apt-get here; install the equivalents of: ${apt_packages[*]}" >&2
    echo "setup: (macOS: brew install cmake ninja open-mpi hdf5 yaml-cpp spdlog nlohmann-json googletest openssl@3; see docs/getting-started.md)" >&2
    echo "setup: then run again with MPSBATCH_SKIP_APT=1" >&2
    exit 1
  fi
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  optional_missing=()
  for p in "${optional_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || optional_missing+=("$p")
  done
  sudo=()
  if [[ $(id -u) != 0 ]]; then sudo=(sudo); fi
  if ((${#missing[@]} + ${#optional_missing[@]})); then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  fi
  if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  if ((${#optional_missing[@]})); then
    echo "setup: installing (optional) ${optional_missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "${optional_missing[@]}" </dev/null ||
      echo "setup: could not install ${optional_missing[*]}; the tests that need them will be skipped" >&2
  fi
fi

if [[ ! -x "$venv/bin/python" ]]; then
  echo "setup: creating $venv"
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import torch, h5py, numpy, sklearn, yaml, matplotlib' 2>/dev/null; then
  echo "setup: installing $torch_req h5py numpy scikit-learn pyyaml matplotlib into $venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$torch_req" h5py numpy scikit-learn pyyaml matplotlib
fi
"$venv/bin/python" -c 'import torch; print("setup: done; torch", torch.__version__, "at", torch.utils.cmake_prefix_path)'
