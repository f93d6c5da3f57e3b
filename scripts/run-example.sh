#!/usr/bin/env bash
# Set up, then run trace-root's main job on the bundled example
# (examples/smoke-test.sh): trace it, write the report and the allow-list,
# export the file set into a slim image root, verify that the slim root
# still runs the smoke tests, and print its size beside the size of the
# system it came from.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out=${TRACE_ROOT_OUT:-out/example}
rm -rf "$out"
mkdir -p "$out"
build/src/cli/trace-root --report "$out/report.json" --list "$out/allow.list" \
  --export "$out/image-root" --verify -- examples/smoke-test.sh

slim=$(du -sbx "$out/image-root" | cut -f1)
# The system it came from: every top-level directory of / on the root file
# system, as an image of this machine would hold it.
full=$(du -sbxc /bin /etc /lib /lib64 /opt /root /sbin /usr /var 2>/dev/null | tail -n1 | cut -f1)
{
  echo "report:     $out/report.json"
  echo "allow-list: $out/allow.list"
  printf 'slim root:  %s  %s MiB\n' "$out/image-root" "$((slim / 1048576))"
  printf 'came from:  /  %s MiB (%s%% kept)\n' "$((full / 1048576))" \
    "$(awk -v s="$slim" -v f="$full" 'BEGIN { printf "%.2f", 100 * s / f }')"
} >&2
