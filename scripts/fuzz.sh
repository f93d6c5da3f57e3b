#!/usr/bin/env bash
# Builds every libFuzzer target (clang) into build-fuzz/ and runs each for a
# bounded time: FUZZ_SECONDS each (default 60; CI runs a short round).
# Corpora are kept under /var/tmp/trace-root-fuzz/<target> between runs.
# Exits non-zero when any target finds a crash (its input is kept there).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
build=build-fuzz
cmake -S . -B "$build" -DTRACE_ROOT_FUZZ=ON -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
targets=$(sed -n 's/^add_executable(\(fuzz_[a-z_]*\).*/\1/p; s/^foreach(t \(.*\))$/\1/p' fuzz/CMakeLists.txt |
  tr ' ' '\n' | grep '^fuzz_' | sort -u)
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc)" --target $targets >&2
status=0
for t in $targets; do
  corpus=/var/tmp/trace-root-fuzz/$t
  mkdir -p "$corpus"
  echo "fuzz: $t for ${seconds}s" >&2
  if ! (cd "$corpus" && "$OLDPWD/$build/fuzz/$t" -max_total_time="$seconds" -max_len=65536 \
        -artifact_prefix="$corpus/" "$corpus" >"$corpus/last.log" 2>&1); then
    echo "fuzz: $t FAILED; see $corpus/last.log and the crash-* input there" >&2
    tail -n 30 "$corpus/last.log" >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "fuzz: all targets ran ${seconds}s without a finding" >&2
exit $status
