# Picks the BTF ids trace-root needs out of `bpftool btf dump file
# /sys/kernel/btf/vmlinux` (plain format, one "[id] KIND 'name' ..." line
# per type) and prints them as "name id": the kfunc bpf_rdonly_cast and the
# structs the programs cast pointers to (see bpf/cast.bpf.h). The first of
# each wins; a missing one is not printed.
BEGIN {
	want["FUNC bpf_rdonly_cast"] = 1
	n = split("task_struct file dentry vfsmount mount pt_regs", structs, " ")
	for (i = 1; i <= n; i++)
		want["STRUCT " structs[i]] = 1
}
{
	name = $3
	gsub("'", "", name)
	key = $2 " " name
	if ((key in want) && !(key in seen)) {
		seen[key] = 1
		print name, substr($1, 2, length($1) - 2)
	}
}
