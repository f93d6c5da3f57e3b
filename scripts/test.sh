#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the whole test suite with ctest.
# Integration tests trace real processes and need root (to load BPF).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd "${TRACE_ROOT_BUILD:-build}"
ctest --output-on-failure --timeout 900 "$@"
