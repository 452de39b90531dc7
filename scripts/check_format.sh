#!/usr/bin/env bash
# Checks that src/ and tests/ are formatted as .clang-format says. Formatting
# differs between clang-format releases, so the check runs only with the one
# the tree was formatted with (major version 14, Debian 12's) and exits 77
# (ctest: skipped) with any other or none.
set -euo pipefail
cd "$(dirname "$0")/.."
want=14
if ! command -v clang-format >/dev/null; then
  echo "check_format: no clang-format; skipped"; exit 77
fi
have=$(clang-format --version | sed -E 's/.*version ([0-9]+).*/\1/')
if [[ "$have" != "$want" ]]; then
  echo "check_format: clang-format $have, the tree follows $want; skipped"; exit 77
fi
find src tests -name '*.cpp' -o -name '*.h' | sort | xargs clang-format --dry-run --Werror
echo "check_format: src/ and tests/ are formatted"
