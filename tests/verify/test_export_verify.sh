#!/bin/bash
# End to end: trace a workload, export what it used, and verify that the slim
# root runs it with identical output; then remove one needed file and check
# that verify fails and names it. Needs root with BPF.
#
# Usage: test_export_verify.sh TRACE_ROOT NAME EXPECT_MISSING -- COMMAND...
#   EXPECT_MISSING: a path (inside the root) that is removed from the slim
#   root in the second half; verify must list it.
set -uo pipefail
tr=$1 name=$2 victim=$3
shift 3
[ "$1" = "--" ] && shift
work=$(mktemp -d /var/tmp/trace-root-e2e.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL [$name]: $*" >&2; exit 1; }

"$tr" -q --report "$work/report.json" -- "$@" > "$work/traced.out" ||
    fail "the traced run failed"
"$tr" export --report "$work/report.json" --to "$work/root" 2> "$work/export.err" ||
    { cat "$work/export.err" >&2; fail "export failed"; }
"$tr" verify -q --root "$work/root" -- "$@" > "$work/verified.out" 2> "$work/verify.err" ||
    { cat "$work/verify.err" >&2; fail "verify failed on the complete slim root"; }
diff -u "$work/traced.out" "$work/verified.out" || fail "output differs in the slim root"

[ -e "$work/root$victim" ] || fail "$victim was not exported"
rm -f "$work/root$victim"
if "$tr" verify -q --root "$work/root" -- "$@" > "$work/broken.out" 2> "$work/broken.err" &&
    diff -q "$work/traced.out" "$work/broken.out" > /dev/null; then
    fail "the workload still ran identically without $victim"
fi
# Named as the workload looked for it, maybe through a symlink (/lib/...):
# the same file name is enough.
awk -v b="/${victim##*/}" 'substr($0, 1, 3) == "  /" &&
    substr($0, length($0) - length(b) + 1) == b { found = 1 } END { exit !found }' \
    "$work/broken.err" || { cat "$work/broken.err" >&2; fail "verify did not name $victim"; }
echo "PASS [$name]: identical output in a $(du -sh "$work/root" | cut -f1) root; " \
     "removing $victim is detected"
