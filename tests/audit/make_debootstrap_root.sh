#!/bin/sh
# Builds (once) a Debian bookworm minbase root with python3 for the audit
# tests and prints its path on stdout.
#
# The root is cached in /var/tmp/trace-root-debootstrap-<key>, where <key>
# hashes the debootstrap arguments, so the suite stays fast after the first
# run and a change of arguments builds a new root. The mirror is the one
# apt on this machine is configured with (/etc/apt/sources.list*), unless
# TRACE_ROOT_DEBIAN_MIRROR names another. A failure says why and exits
# non-zero: the test must not skip silently when no mirror can be reached.
set -eu

say() { echo "make_debootstrap_root: $*" >&2; }

find_mirror() {
    # deb822 ".sources" files: "URIs: URL" in a stanza whose Suites hold
    # bookworm; one-line ".list" files: "deb URL bookworm ...".
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk 'BEGIN { RS = ""; FS = "\n" }
             /(^|\n)Suites:[^\n]*(^|[ \t])bookworm([ \t]|\n|$)/ {
                 for (i = 1; i <= NF; i++)
                     if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); print a[2]; exit }
             }' "$f"
    done
}

command -v debootstrap >/dev/null 2>&1 ||
    { say "debootstrap is not installed (apt-get install debootstrap)"; exit 1; }

mirror=${TRACE_ROOT_DEBIAN_MIRROR:-$(find_mirror | head -n 1)}
[ -n "$mirror" ] ||
    { say "no bookworm mirror in /etc/apt/sources.list*; set TRACE_ROOT_DEBIAN_MIRROR"; exit 1; }

args="--variant=minbase --include=python3 bookworm $mirror"
key=$(printf '%s' "$args" | sha256sum | cut -c1-16)
root=/var/tmp/trace-root-debootstrap-$key

exec 9>"$root.lock"
flock 9
if [ -f "$root/.trace-root-complete" ]; then
    echo "$root"
    exit 0
fi

say "building $root with: debootstrap $args (once; later runs reuse it)"
tmp=$root.tmp.$$
rm -rf "$tmp"
log=$root.log
# shellcheck disable=SC2086
if ! debootstrap $(echo "$args" | cut -d' ' -f1-3) "$tmp" "$mirror" >"$log" 2>&1; then
    say "debootstrap failed (mirror $mirror); last lines of $log:"
    tail -n 15 "$log" >&2
    rm -rf "$tmp"
    exit 1
fi
touch "$tmp/.trace-root-complete"
rm -rf "$root"
mv "$tmp" "$root"
echo "$root"
