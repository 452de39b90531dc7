#!/usr/bin/env bash
# What HDF5's per-chunk address lookup costs by the chunk's position
# (docs/performance.md, "Where the time goes"): writes a (131072, 100) uint8
# dataset in chunks of 6 rows with h5py, then times 200
# H5Dget_chunk_info_by_coord calls at chunks 0, 10,000 and 20,000 with the
# HDF5 the project builds against. HDF5 1.10 walks the chunk index from its
# start on every call; the direct reader lists the addresses once instead
# (src/read/direct_read.h).
# Usage: scripts/bench/chunk_lookup.sh [WORK_DIR]   (after scripts/setup.sh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
work=${1:-/tmp/mpsbatch-chunk-lookup}
mkdir -p "$work"
"$python" -c "
import h5py
with h5py.File('$work/c.h5', 'w') as f:
    f.create_dataset('x', shape=(131072, 100), dtype='u1', chunks=(6, 100))[...] = 1
"
cat >"$work/lookup.cpp" <<'CPP'
#include <hdf5.h>

#include <chrono>
#include <cstdio>
#include <initializer_list>

int main(int, char** argv) {
  hid_t file = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t ds = H5Dopen2(file, "x", H5P_DEFAULT);
  std::printf("HDF5 %d.%d.%d\n", H5_VERS_MAJOR, H5_VERS_MINOR, H5_VERS_RELEASE);
  for (int first : {0, 10000, 20000}) {
    const int n = 200;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      hsize_t coord[2] = {hsize_t(first + i) * 6, 0};
      unsigned mask = 0;
      haddr_t address = 0;
      hsize_t size = 0;
      H5Dget_chunk_info_by_coord(ds, coord, &mask, &address, &size);
    }
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / n;
    std::printf("chunk %d: %.1f us per lookup\n", first, us);
  }
  H5Dclose(ds);
  H5Fclose(file);
}
CPP
flags=$(pkg-config --cflags --libs hdf5 2>/dev/null || echo "-I/usr/include/hdf5/serial -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5")
g++ -O2 -std=c++17 "$work/lookup.cpp" $flags -o "$work/lookup"
"$work/lookup" "$work/c.h5"
