#!/usr/bin/env bash
# Tracer overhead, measured side by side in one run: each workload bare,
# under trace-root and under `strace -f -e trace=%file`, interleaved, median
# of $REPS runs each. Prints the ratios and the loss figures of the traced
# runs (which must be zero, with every one of the files in the report).
#
# Usage: bench/bench_trace.sh [TRACE_ROOT_BINARY]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tr=${1:-$here/../build/src/cli/trace-root}
reps=${REPS:-5}
nfiles=10000
rounds=${ROUNDS:-15}
work=/var/tmp/trace-root-bench
mkdir -p "$work"

# Fixture: 10,000 small files, made once and kept (keyed by the count).
if [ ! -f "$work/files-$nfiles.done" ]; then
  rm -rf "$work/files"; mkdir -p "$work/files"
  for i in $(seq 0 $((nfiles - 1))); do printf x > "$work/files/$(printf 'f%05d' "$i")"; done
  touch "$work/files-$nfiles.done"
fi
cc -O2 -o "$work/openloop" "$here/openloop.c"
command -v strace >/dev/null || { echo "bench: strace is missing (apt-get install strace)" >&2; exit 1; }

# The Python workload runs the interpreter itself: `python3` on PATH may be
# a shim (pyenv's is a bash script that starts a dozen processes before
# Python), which would measure the shim instead of the import.
python=$(python3 -c 'import sys; print(sys.executable)')
pyimport='import json, sqlite3, ssl, email.parser, http.client, xml.etree.ElementTree, asyncio, decimal, fractions, statistics, csv, zipfile, tarfile, logging.handlers, argparse, subprocess, urllib.request, unittest, dataclasses, typing, pathlib, shutil, tempfile, zoneinfo, hashlib, hmac, base64, uuid, sched, queue, concurrent.futures, multiprocessing, ctypes, difflib, textwrap, pprint, inspect, ast, dis, pickle, shelve, sqlite3, gzip, bz2, lzma, configparser, secrets, string, re, datetime, calendar, locale, gettext, socket, selectors, signal, mmap, codecs, unicodedata, html.parser, xml.dom.minidom, wsgiref.simple_server, smtplib, imaplib, ftplib, poplib'

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_variants() { # name, command...
  local name=$1; shift
  local bare=() traced=() straced=()
  for _ in $(seq "$reps"); do
    sync
    t0=$(now); "$@" >/dev/null; t1=$(now); bare+=("$(echo "$t1 - $t0" | bc -l)")
    t0=$(now); "$tr" -q --report "$work/$name.json" -- "$@" >/dev/null; t1=$(now)
    traced+=("$(echo "$t1 - $t0" | bc -l)")
    t0=$(now); strace -f -qq -e trace=%file -o /dev/null "$@" >/dev/null; t1=$(now)
    straced+=("$(echo "$t1 - $t0" | bc -l)")
  done
  local b t s
  b=$(printf '%s\n' "${bare[@]}" | median)
  t=$(printf '%s\n' "${traced[@]}" | median)
  s=$(printf '%s\n' "${straced[@]}" | median)
  local loss paths
  loss=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['loss']['total'])" "$work/$name.json")
  paths=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(sum(1 for p in r['paths'] if p['path'].startswith(sys.argv[2])))" "$work/$name.json" "$work/files/")
  printf '%-12s bare %.3fs  trace-root %.3fs (x%.2f)  strace %.3fs (x%.1f)  lost %s  bench files in report %s\n' \
    "$name" "$b" "$t" "$(echo "$t / $b" | bc -l)" "$s" "$(echo "$s / $b" | bc -l)" "$loss" "$paths"
}

echo "trace-root overhead, median of $reps interleaved runs (ratios to bare):"
run_variants open-heavy "$work/openloop" "$work/files" "$nfiles" "$rounds"
run_variants py-import "$python" -c "$pyimport"
