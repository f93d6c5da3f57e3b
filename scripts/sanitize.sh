#!/usr/bin/env bash
# Builds with AddressSanitizer and UndefinedBehaviorSanitizer into
# build-asan/ and runs the unit tests there (ctest -R '^unit\.').
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -DTRACE_ROOT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >&2
cmake --build build-asan -j"$(nproc)" >&2
cd build-asan
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -R '^unit\.'
