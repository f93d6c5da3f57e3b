#!/bin/bash
# Export speed: trace-root export vs `cp -a` and `rsync -aR` of the same list
# of about 20,000 files (about 1 GB), in one run, warm page cache for all
# three. Prints each time and the ratios (the goal: trace-root / other <= 1.0).
#
# Usage: bench/bench_export.sh [PATH/TO/trace-root]
# The source tree is generated once under /var/tmp and reused (delete
# /var/tmp/trace-root-bench to regenerate). Needs root (export keeps owners).
# Note: cp -a copies xattrs as trace-root does; rsync -aR does not (that
# would be -aRAX), so rsync does a little less work.
set -euo pipefail

TR=${1:-${TRACE_ROOT:-build/src/cli/trace-root}}
BASE=/var/tmp/trace-root-bench
SRC=$BASE/root
LIST=$BASE/list.abs       # absolute paths inside $SRC, for trace-root --list
REL=$BASE/list.rel        # the same paths relative to $SRC, for cp and rsync
OUT=$BASE/out

[ -x "$TR" ] || { echo "bench: $TR is not executable; pass the trace-root binary" >&2; exit 2; }
command -v rsync >/dev/null ||
    { echo "bench: rsync is missing (apt-get install rsync)" >&2; exit 2; }

# Step 1: the source tree, generated once: 200 directories, 19,800 files of
# 4-64 KiB and 200 files of about 1.6 MiB (1 GB in all), some setuid, some
# with xattrs, a few hardlinks and symlinks, so every path of export runs.
if [ ! -f "$BASE/.complete" ]; then
    rm -rf "$BASE"
    mkdir -p "$SRC"
    echo "bench: generating the source tree in $SRC (once)..." >&2
    python3 - "$SRC" <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(4)
chunk = os.urandom(4 << 20)
for d in range(200):
    dd = os.path.join(root, "usr", "share", f"pkg{d:03}")
    os.makedirs(dd, exist_ok=True)
    for f in range(99):
        size = rnd.randint(4 << 10, 64 << 10)
        off = rnd.randint(0, len(chunk) - size)
        p = os.path.join(dd, f"file{f:03}")
        with open(p, "wb") as fh:
            fh.write(chunk[off:off + size])
        if f % 40 == 0:
            os.setxattr(p, "user.bench", b"1")
        if f % 50 == 0:
            os.chmod(p, 0o4755)
    big = os.path.join(dd, "big.bin")
    with open(big, "wb") as fh:
        fh.write(chunk[: 1600 << 10])
    os.link(big, os.path.join(dd, "big.hardlink"))
    os.symlink("file000", os.path.join(dd, "link"))
PY
    (cd "$SRC" && find . -mindepth 1 \( -type f -o -type l \) | sed 's|^\./||' | sort > "$REL")
    sed 's|^|/|' "$REL" > "$LIST"
    touch "$BASE/.complete"
fi
files=$(wc -l < "$REL")
bytes=$(du -sb "$SRC" | cut -f1)
echo "bench: $files paths, $bytes bytes in $SRC" >&2

# Step 2: warm the page cache, so that no contender pays for the first read.
find "$SRC" -type f -exec cat {} + > /dev/null

now() { date +%s.%N; }
run() {  # run NAME COMMAND...: prints the seconds taken
    rm -rf "$OUT"
    sync
    local t0 t1
    t0=$(now)
    "$@" >/dev/null 2>"$BASE/$1.log" || { echo "bench: $1 failed, see $BASE/$1.log" >&2; exit 1; }
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
tr_export() { "$TR" export --list "$LIST" --from "$SRC" --to "$OUT"; }
cp_a() { mkdir -p "$OUT" && cd "$SRC" && xargs -d '\n' -a "$REL" cp -a --parents -t "$OUT"; }
rsync_ar() { mkdir -p "$OUT" && rsync -aR --files-from="$REL" "$SRC/" "$OUT/"; }

# Step 3: one run of each, then the ratios.
t_tr=$(run tr_export)
t_cp=$(run cp_a)
t_rs=$(run rsync_ar)
rm -rf "$OUT"

printf 'trace-root export  %8.3f s\n' "$t_tr"
printf 'cp -a              %8.3f s\n' "$t_cp"
printf 'rsync -aR          %8.3f s\n' "$t_rs"
awk -v t="$t_tr" -v c="$t_cp" -v r="$t_rs" 'BEGIN {
    printf "ratio trace-root / cp -a     %.2f\n", t / c
    printf "ratio trace-root / rsync -aR %.2f\n", t / r
}'
