#!/bin/sh
# btf_ids.sh BPFTOOL OUT: writes the BTF ids btf_ids.awk picks out of the
# running kernel's BTF to OUT ("name id" lines), replacing OUT whole.
set -e
"$1" btf dump file /sys/kernel/btf/vmlinux | awk -f "$(dirname "$0")/btf_ids.awk" > "$2.tmp"
mv "$2.tmp" "$2"
