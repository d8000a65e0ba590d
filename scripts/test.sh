#!/usr/bin/env bash
# test.sh — install, build and run every test (ctest), then the same suite
# under AddressSanitizer + UBSan. GPU tests skip themselves without a GPU.
#   scripts/test.sh            full run
#   LB_NO_ASAN=1 scripts/test.sh   skip the sanitizer pass
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
status=0
echo "== tests (build/) =="
ctest --test-dir build --output-on-failure -j"$(nproc)" || status=1
if [ "${LB_NO_ASAN:-0}" != 1 ]; then
  mkdir -p build-asan
  if ! LB_BUILD=build-asan LB_SANITIZE=1 scripts/setup.sh >build-asan/setup.log 2>&1; then
    echo "== the ASan+UBSan build failed; the end of build-asan/setup.log: =="
    tail -40 build-asan/setup.log
    exit 1
  fi
  echo "== tests under ASan+UBSan (build-asan/) =="
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$(nproc)" -LE slow || status=1
fi
exit $status
