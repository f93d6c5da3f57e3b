#!/usr/bin/env bash
# Set up, then run trace-root's main job on the bundled example
# (examples/smoke-test.sh): trace it, print the summary and where the report
# and the allow-list went.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out=${TRACE_ROOT_OUT:-out/example}
mkdir -p "$out"
build/src/cli/trace-root --report "$out/report.json" -- examples/smoke-test.sh
echo "report: $out/report.json" >&2
