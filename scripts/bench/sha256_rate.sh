#!/usr/bin/env bash
# SHA-256 throughput of mpsbatch's Sha256 (OpenSSL's EVP digest) on 256 MiB,
# in MB per second of CPU time (so that other work on the machine does not
# lower it), best of three passes.
# Usage: scripts/bench/sha256_rate.sh   (needs a C++20 compiler and OpenSSL's
# headers; builds in a temp folder)
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/rate.cpp" <<'CPP'
#include <algorithm>
#include <ctime>
#include <cstdio>
#include <string>
#include "common/sha256.h"
int main() {
  const std::string data(256 << 20, 'x');
  double best = 0;
  for (int pass = 0; pass < 3; ++pass) {
    mpsbatch::Sha256 h;
    const std::clock_t t = std::clock();
    h.Update(data.data(), data.size());
    h.HexDigest();
    const double s = static_cast<double>(std::clock() - t) / CLOCKS_PER_SEC;
    best = std::max(best, data.size() / s / 1e6);
  }
  std::printf("sha256 %6.0f MB/s\n", best);
}
CPP
# error.cpp: Sha256's failures are InternalErrors.
"${CXX:-c++}" -O3 -std=c++20 -Isrc $(pkg-config --cflags libcrypto 2>/dev/null) "$tmp/rate.cpp" \
  src/common/sha256.cpp src/common/error.cpp -o "$tmp/rate" $(pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto)
"$tmp/rate"
