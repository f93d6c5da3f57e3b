#!/usr/bin/env bash
# Tracer overhead, measured side by side in one run: each workload bare,
# under trace-root and under `strace -f -e trace=%file`, interleaved
# ($REPS runs of the open-heavy loop, $PY_REPS of the Python import,
# $STRACE_REPS under strace). Prints the ratios, the loss figures of the
# traced runs (which must be zero, with every one of the files in the
# report), and trace-root's fixed start-up cost. The traced runs reuse the
# programs pinned in /sys/fs/bpf/trace-root, as a user's runs do.
#
# Usage: bench/bench_trace.sh [TRACE_ROOT_BINARY]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tr=${1:-$here/../build/src/cli/trace-root}
reps=${REPS:-9}            # runs of the open-heavy loop, bare and traced
py_reps=${PY_REPS:-21}     # runs of the Python import (shorter, noisier)
strace_reps=${STRACE_REPS:-3}
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

# Stats over the runs of one workload: medians, and the median of the
# paired ratios (each traced run over the bare run just before it), which
# holds up best against this machine's drift from one second to the next.
stats() { # bare-times traced-times strace-times
  python3 - "$1" "$2" "$3" <<'PY'
import statistics, sys
b, t, s = ([float(x) for x in a.split()] for a in sys.argv[1:4])
pairs = statistics.median(y / x for x, y in zip(b, t))
print("%.3f %.3f %.3f %.2f %.1f" % (statistics.median(b), statistics.median(t),
      statistics.median(s), pairs, statistics.median(s) / statistics.median(b)))
PY
}

run_variants() { # name, reps, command...
  local name=$1 n=$2; shift 2
  local bare="" traced="" straced="" i t0 t1
  for i in $(seq "$n"); do
    sync
    t0=$(now); "$@" >/dev/null; t1=$(now); bare+=" $(echo "$t1 - $t0" | bc -l)"
    t0=$(now); "$tr" -q --report "$work/$name.json" -- "$@" >/dev/null; t1=$(now)
    traced+=" $(echo "$t1 - $t0" | bc -l)"
    # strace is only there for scale, and slow: a few runs are enough.
    if [ "$i" -le "$strace_reps" ]; then
      t0=$(now); strace -f -qq -e trace=%file -o /dev/null "$@" >/dev/null; t1=$(now)
      straced+=" $(echo "$t1 - $t0" | bc -l)"
    fi
  done
  local b t s ratio sratio loss paths
  read -r b t s ratio sratio < <(stats "$bare" "$traced" "$straced")
  loss=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['loss']['total'])" "$work/$name.json")
  paths=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(sum(1 for p in r['paths'] if p['path'].startswith(sys.argv[2])))" "$work/$name.json" "$work/files/")
  printf '%-12s bare %.3fs  trace-root %.3fs (x%.2f)  strace %.3fs (x%.1f)  lost %s  bench files in report %s\n' \
    "$name" "$b" "$t" "$ratio" "$s" "$sratio" "$loss" "$paths"
}

# The fixed cost of a traced run, measured on a command that does nothing:
# with the programs an earlier run pinned (the default), with --no-pin
# (loading and verifying them, as every run did before the cache), and
# back to back. Runs are 50 ms apart, as commands a user or a test suite
# starts usually are, except the back-to-back ones: a tracepoint that lost
# its last program within one RCU grace period waits for that grace period
# before it takes a new one (tracepoint_add_func in the kernel), and a run
# right after another pays it.
startup() {
  local bare="" warm="" cold="" b2b="" i t0 t1
  "$tr" -q -- /bin/true  # pins the programs, if nothing had yet
  for i in $(seq 21); do
    sleep 0.05; t0=$(now); /bin/true; t1=$(now); bare+=" $(echo "$t1 - $t0" | bc -l)"
    sleep 0.05; t0=$(now); "$tr" -q -- /bin/true; t1=$(now); warm+=" $(echo "$t1 - $t0" | bc -l)"
    sleep 0.05; t0=$(now); "$tr" -q --no-pin -- /bin/true; t1=$(now); cold+=" $(echo "$t1 - $t0" | bc -l)"
    "$tr" -q -- /bin/true; t0=$(now); "$tr" -q -- /bin/true; t1=$(now)
    b2b+=" $(echo "$t1 - $t0" | bc -l)"
  done
  python3 - "$bare" "$warm" "$cold" "$b2b" <<'PY'
import statistics, sys
b, w, c, bb = ([float(x) for x in a.split()] for a in sys.argv[1:5])
m = lambda t: 1000 * (statistics.median(t) - statistics.median(b))
print("start-up     trace-root -- /bin/true costs %.1f ms more than /bin/true with pinned programs, "
      "%.1f ms with --no-pin, %.1f ms right after another run (medians of 21)" % (m(w), m(c), m(bb)))
PY
}

echo "trace-root overhead, interleaved runs (ratios: median of traced over the bare run before it):"
run_variants open-heavy "$reps" "$work/openloop" "$work/files" "$nfiles" "$rounds"
run_variants py-import "$py_reps" "$python" -c "$pyimport"
startup
