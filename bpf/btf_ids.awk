# Picks the BTF ids trace-root needs out of `bpftool btf dump file
# /sys/kernel/btf/vmlinux` (plain format, one "[id] KIND 'name' ..." line
# per type) and prints them as "name id": the kfunc bpf_rdonly_cast and
# struct task_struct. The first of each wins; a missing one is not printed.
$2 == "FUNC" && $3 == "'bpf_rdonly_cast'" && !("bpf_rdonly_cast" in seen) {
	seen["bpf_rdonly_cast"] = 1
	print "bpf_rdonly_cast", substr($1, 2, length($1) - 2)
}
$2 == "STRUCT" && $3 == "'task_struct'" && !("task_struct" in seen) {
	seen["task_struct"] = 1
	print "task_struct", substr($1, 2, length($1) - 2)
}
