#!/usr/bin/env bash
# Idempotent set-up: install the Debian packages listed in
# scripts/apt-packages.txt that are missing, then configure and build
# trace-root into build/ (or $TRACE_ROOT_BUILD). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${TRACE_ROOT_BUILD:-build}

mapfile -t wanted < <(grep -v '^\s*#' scripts/apt-packages.txt | sed 's/\s.*//' | grep -v '^$')
missing=()
for pkg in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: error: packages are missing and this is not root; run: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${TRACE_ROOT_CMAKE_ARGS:-} >&2
cmake --build "$build_dir" -j"$(nproc)" >&2
