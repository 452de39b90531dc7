#!/usr/bin/env bash
# SHA-256 throughput of mpsbatch's own code: the processor's SHA instructions
# (where it has them) against the portable code, on 256 MiB, in MB/s.
# Usage: scripts/bench/sha256_rate.sh   (needs a C++20 compiler; builds in a temp folder)
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/rate.cpp" <<'CPP'
#include <chrono>
#include <cstdio>
#include <string>
#include "common/sha256.h"
int main() {
  const std::string data(256 << 20, 'x');
  for (auto impl : {mpsbatch::Sha256::Impl::kBest, mpsbatch::Sha256::Impl::kPortable}) {
    mpsbatch::Sha256 h(impl);
    const auto t = std::chrono::steady_clock::now();
    h.Update(data.data(), data.size());
    h.HexDigest();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    std::printf("%-9s %6.0f MB/s\n", impl == mpsbatch::Sha256::Impl::kBest ?
                (mpsbatch::Sha256::Accelerated() ? "sha-ni" : "best") : "portable", data.size() / s / 1e6);
  }
}
CPP
"${CXX:-c++}" -O3 -std=c++20 -Isrc "$tmp/rate.cpp" src/common/sha256.cpp -o "$tmp/rate"
"$tmp/rate"
