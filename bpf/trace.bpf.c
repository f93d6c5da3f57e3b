// SPDX-License-Identifier: GPL-2.0
/*
 * trace-root's kernel side: record every file a process tree touches.
 *
 * One raw_tp/sys_exit program decodes every file syscall through a table
 * (`syscall_table`, filled by userspace before load) instead of one handler
 * per syscall. It runs at exit so it sees the result: the fd an open
 * returned is resolved to the file the kernel really opened, failures carry
 * their errno, and user strings are read after the kernel itself copied
 * them (so their pages are resident). x86-64 keeps the argument registers
 * intact in pt_regs across the syscall, so the arguments are read there.
 * What it decides to send is built and sent by on_emit, a program of its
 * own reached by tail call (see OP_ACCESS), which on_exec uses too.
 *
 * Kernel objects are read with plain loads through bpf_rdonly_cast where
 * the tracer can use it, with probe reads elsewhere (see cast.bpf.h).
 *
 * Why raw_tp and not tp_btf: a tp_btf program makes libbpf parse the whole
 * of /sys/kernel/btf/vmlinux to find the attach point (about 20 ms, on
 * every start), while a raw tracepoint attaches by name. The CO-RE
 * relocations then need only the few types this file uses, which
 * userspace supplies from a small BTF made at build time when it matches
 * the running kernel (see src/trace/kernel_btf.cpp).
 *
 * Why the work sits in global functions: the verifier checks a global
 * (non-static, noinline) function once, on its own, instead of once for
 * every path that reaches it. Each start-up pays for verification, so the
 * code is cut into global functions that take plain integers.
 *
 * Scope: `traced` holds the tgids of the tree. sched_process_fork adds a
 * child in the kernel before it can run; threads share the tgid. Exec is
 * seen at sched_process_exec, where bprm names the file actually run.
 *
 * Repeats: one syscall's whole access (the file it reached, the directory
 * its name is relative to, the name, the kind and the result) is reduced
 * to a 128-bit keyed hash, and the `dedup` map remembers the hashes sent.
 * An exact repeat is not sent again. A first access is never suppressed
 * unless two different accesses hash alike in the 70 bits the table keeps
 * (the set and the tag); the two 64-bit lanes are seeded at random on
 * every run, so an even chance of that takes about 2^35 (34 billion)
 * distinct accesses in one run. When sending fails the key is removed
 * again so the next repeat gets through; a full set forgets a tag.
 *
 * Loss: every place an event can be dropped increments a per-CPU counter;
 * userspace fails the run when any is non-zero.
 *
 * Kept between runs: the loaded programs stay pinned for later runs of
 * the same build (src/trace/pin_cache.hpp), so nothing that differs from
 * run to run is read-only data: a run's seed and epoch are in `run_config`,
 * and each run resets `traced`, `counters` and the ring buffer before it
 * attaches.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "trace_root/bpf_events.h"
#include "cast.bpf.h"
#include "path_walk.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define AT_FDCWD -100
#define AT_EMPTY_PATH 0x1000
#define MAP_ANONYMOUS 0x20
#define TS_COMPAT 0x0002
#define FMODE_CREATED 0x100000
#define EFAULT 14

#define PIPEFS_MAGIC 0x50495045
#define SOCKFS_MAGIC 0x534F434B
#define ANON_INODE_FS_MAGIC 0x09041934
#define NSFS_MAGIC 0x6e736673
#define PIDFS_MAGIC 0x50494446
#define PROC_SUPER_MAGIC 0x9fa0
#define SYSFS_MAGIC 0x62656572
#define DEVPTS_SUPER_MAGIC 0x1cd1
#define CGROUP2_SUPER_MAGIC 0x63677270
#define DEBUGFS_MAGIC 0x64626720
#define TRACEFS_MAGIC 0x74726163
#define BPF_FS_MAGIC 0xcafe4a11
#define SECURITYFS_MAGIC 0x73636673

/* Names up to this length are deduplicated (hashed word by word, unrolled);
 * a longer one is sent every time. */
#define HASH_NAME_MAX 248

/* Filled by userspace before load; read-only to the programs. */
const volatile struct tr_syscall syscall_table[TR_NR_SYSCALLS] = {};

struct scratch {
	struct tr_event ev;
	char data[2 * TR_PATH_MAX + 64];
	char walk[TR_WALK_BUF];
	struct walk_state walk_state;
	char name[TR_PATH_MAX];
	char window[128 + 16]; /* a span of one kernel struct, read at once */
	/* The task, read once per event by tr_load_task(). */
	__u64 root_mnt, root_dentry;   /* task->fs->root */
	__u64 pwd_mnt, pwd_dentry;     /* task->fs->pwd */
	__u64 pwd_hash_len, pwd_inode; /* and its identity (see tr_key_dentry) */
	__u64 base_hash_len, base_inode;
	__u32 base_is_pwd;
	__u64 fd_arr;                  /* task->files->fdt->fd */
	__u32 max_fds;                 /* task->files->fdt->max_fds */
	/* The access being decoded. */
	__u64 file_mnt, file_dentry;   /* the file reached, or the cwd */
	__u64 base_mnt, base_dentry;   /* what a relative name is relative to */
	__u32 fmode, fflags;
	__u64 args[8];                 /* the syscall's arguments (6, padded) */
	__u64 key[2];                  /* dedup key being built */
	__u64 epoch;                   /* the run's (struct tr_config), for the tags */
	__u64 number;                  /* see as_number() */
	/* What on_emit is to send (see emit()), and its arguments. */
	__u32 op;
	__u32 op_nr, op_d, op_lf, op_how;
	__s64 op_ret;
	__u64 op_ptr;
};

/* The tree's processes, as a bit per tgid: bit (tgid & 63) of word
 * tgid >> 6. Every syscall of every process on the machine asks whether
 * its process is traced, so the answer must be cheap: an array lookup is
 * inlined by the verifier and costs a few nanoseconds, while the hash map
 * this replaced cost about 90 ns per syscall here (a helper call, jhash
 * and a bucket walk), paid by the whole machine. Sized for PID_MAX_LIMIT
 * (4M pids on 64-bit): 512 KiB, and it can never be full. Mappable, so
 * that a run reusing pinned programs clears it at once (pin_cache.cpp). */
#define TRACED_WORDS (4194304 / 64)
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, TRACED_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} traced SEC(".maps");

/* Processes whose ia32 syscalls were reported already (rare: only looked
 * at on a 32-bit syscall). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, __u8);
} compat_seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TR_C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20); /* resized by userspace before load */
} events SEC(".maps");

/* The accesses already sent, as an eight-way set-associative table of
 * hash tags: the key's low bits pick a set (one cache line), 56 of its
 * other bits and the run's epoch (the low byte) are the tag. One cache
 * line per lookup, no locks, nothing allocated at run time, and a table
 * small enough (1 MiB) to stay mostly in cache. A full set forgets one of
 * its tags, which only costs a repeated event later. Pinned programs keep
 * the table from run to run: a tag of another epoch is free room, so a
 * run starts with an empty table without anyone clearing it (a table full
 * of old tags made a third of the accesses evict each other). (A hash map
 * cost two cache misses and a chain walk per lookup; an LRU map also
 * preallocated every element at start-up.) */
#define DEDUP_SETS (1 << 14)
#define DEDUP_WAYS 8
#define DEDUP_EPOCH 0xffULL /* the bits of a tag that hold its run's epoch */
struct dedup_set {
	__u64 tag[DEDUP_WAYS]; /* free: 0, or a tag of another epoch */
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DEDUP_SETS);
	__type(key, __u32);
	__type(value, struct dedup_set);
} dedup SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* This run's settings (struct tr_config), written by userspace before the
 * workload starts. Not read-only data: programs kept pinned between runs
 * serve every run, each with its own seed. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tr_config);
} run_config SEC(".maps");

/* on_emit, which sends events: reached by tail call (see emit()). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} emitters SEC(".maps");

/* Bumped when the traced tree renames something: every dentry-keyed dedup
 * entry becomes stale, since a renamed dentry keeps its address. */
__u32 rename_generation = 0;

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch_map, &zero);
}


static __always_inline void count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &which);
	if (v)
		*v += 1;
}

static __always_inline __u64 *traced_word(__u32 tgid)
{
	__u32 word = tgid >> 6;
	return bpf_map_lookup_elem(&traced, &word);
}

static __always_inline int is_traced(__u32 tgid)
{
	__u64 *w = traced_word(tgid);
	return w && ((*w >> (tgid & 63)) & 1);
}

/* One step of the keyed hash: two multiply-xorshift lanes. */
static __always_inline void mix(struct scratch *s, __u64 w)
{
	__u64 a = (s->key[0] ^ w) * 0x9E3779B97F4A7C15ULL;
	__u64 b = (s->key[1] + w) * 0xC2B2AE3D27D4EB4FULL;

	s->key[0] = a ^ (a >> 29);
	s->key[1] = b ^ (b >> 31);
}

static __always_inline void key_start(struct scratch *s, __u64 what)
{
	__u32 zero = 0;
	const struct tr_config *c = bpf_map_lookup_elem(&run_config, &zero);

	s->key[0] = c ? c->hash_seed[0] : 0;
	s->key[1] = c ? c->hash_seed[1] : 0;
	s->epoch = c ? c->epoch & DEDUP_EPOCH : 1;
	mix(s, what);
	mix(s, rename_generation);
	mix(s, s->root_dentry);
}

static __always_inline void mix_identity(struct scratch *s, __u64 mnt, __u64 dentry,
					 __u64 hash_len, __u64 inode)
{
	mix(s, mnt);
	mix(s, dentry);
	mix(s, hash_len);
	mix(s, inode);
}

/* A pointer read through CAST() as a plain number, for arithmetic: the
 * verifier allows none on a pointer, but what comes back from map memory
 * is a number to it. (Only privileged programs may store a pointer there,
 * which these are.) */
static __always_inline __u64 as_number(struct scratch *s, __u64 pointer)
{
	*(volatile __u64 *)&s->number = pointer;
	return *(volatile __u64 *)&s->number;
}

/* Mixes a dentry's identity into the key: its address, its inode and the
 * hash and length of its name (a freed dentry's address can be reused for
 * another file; all three together cannot, in practice). */
__noinline int tr_key_dentry(__u64 mnt, __u64 dentry)
{
	struct scratch *s = get_scratch();
	struct dentry *d = (struct dentry *)dentry;
	__u32 nm = bpf_core_field_offset(struct dentry, d_name);
	__u32 in = bpf_core_field_offset(struct dentry, d_inode);

	if (!s)
		return 0;
	if (HAVE_CAST) {
		struct dentry *c = CAST(dentry, dentry);
		mix_identity(s, mnt, dentry, c->d_name.hash_len, as_number(s, (__u64)c->d_inode));
	} else if (in > nm && in + 8 - nm <= 64) {
		bpf_probe_read_kernel(s->window, (in + 8 - nm) & 127, (char *)d + nm);
		/* qstr starts with hash_len */
		mix_identity(s, mnt, dentry, *(__u64 *)(s->window),
			     *(__u64 *)(s->window + ((in - nm) & 63)));
	} else {
		mix_identity(s, mnt, dentry, BPF_CORE_READ(d, d_name.hash_len),
			     (__u64)BPF_CORE_READ(d, d_inode));
	}
	return 0;
}

/* Mixes the first `len` bytes of s->name (at most HASH_NAME_MAX); the
 * bytes after them are not looked at (they hold whatever an earlier name
 * left). 16 bytes a step, in a plain bounded loop: the verifier walks its
 * at most 15 steps once, in this global function (unrolled, the steps
 * cost it more than everything else in the file), and unlike a bpf_loop()
 * callback a step costs no call and return. */
__noinline int tr_key_name(__u32 len)
{
	struct scratch *s = get_scratch();
	__u64 k0, k1;
	__u32 i;

	if (!s || len > HASH_NAME_MAX)
		return 0;
	mix(s, len);
	k0 = s->key[0];
	k1 = s->key[1];
	for (i = 0; i < len / 16 && i < HASH_NAME_MAX / 16; i++) {
		__u64 *w = (__u64 *)(s->name + ((i * 16) & (TR_PATH_MAX - 16)));
		__u64 a = (k0 ^ w[0]) * 0x9E3779B97F4A7C15ULL;
		__u64 b = (k1 ^ w[1]) * 0xC2B2AE3D27D4EB4FULL;

		k0 = a ^ (b >> 29);
		k1 = b ^ (a >> 31);
	}
	s->key[0] = k0;
	s->key[1] = k1;
	/* The last 0 to 15 bytes, masked: what follows them is stale. */
	__u32 off = (len & ~15u) & (TR_PATH_MAX - 16);
	__u32 rest = len & 15;
	__u64 w0 = *(__u64 *)(s->name + off), w1 = *(__u64 *)(s->name + off + 8);
	if (rest < 8) {
		w0 &= (1ULL << (8 * rest)) - 1;
		w1 = 0;
	} else {
		w1 &= (1ULL << (8 * (rest - 8))) - 1;
	}
	mix(s, w0);
	mix(s, w1);
	return 0;
}

/* Returns 1 when the key in s->key was seen before; records it otherwise. */
static __always_inline int seen_before(struct scratch *s)
{
	/* Final mixing: each lane depends on both. */
	__u64 a = s->key[0] ^ (s->key[1] >> 17) ^ (s->key[1] << 23);
	__u64 b = s->key[1] ^ (a >> 13) ^ (a << 37);
	__u32 set = (__u32)(a >> 20) & (DEDUP_SETS - 1);
	__u64 tag = (b & ~DEDUP_EPOCH) | s->epoch;
	struct dedup_set *d;
	int i;

	s->key[0] = set;
	s->key[1] = tag;
	d = bpf_map_lookup_elem(&dedup, &set);
	if (!d)
		return 0;
#pragma unroll
	for (i = 0; i < DEDUP_WAYS; i++)
		if (d->tag[i] == tag) {
			count(TR_C_DEDUP_HITS);
			return 1;
		}
	/* Take the first free way (0, or another run's tag); in a full set,
	 * replace the way named by three more bits of the key. */
	for (i = 0; i < DEDUP_WAYS; i++)
		if ((d->tag[i & (DEDUP_WAYS - 1)] & DEDUP_EPOCH) != s->epoch)
			break;
	if (i >= DEDUP_WAYS)
		i = (a >> 8) & (DEDUP_WAYS - 1);
	d->tag[i & (DEDUP_WAYS - 1)] = tag;
	return 0;
}

/* Forgets the key seen_before() recorded: its event could not be sent. */
static __always_inline void forget(struct scratch *s)
{
	__u32 set = (__u32)s->key[0] & (DEDUP_SETS - 1);
	struct dedup_set *d = bpf_map_lookup_elem(&dedup, &set);
	int i;

	if (!d)
		return;
#pragma unroll
	for (i = 0; i < DEDUP_WAYS; i++)
		if (d->tag[i] == s->key[1])
			d->tag[i] = 0;
}

/* Reads what every event needs of the current task into the scratch
 * area: its root and cwd, and its fd table. On the hot path (sys_exit)
 * these are direct (BTF) loads, which cost next to nothing at run time,
 * unlike a probe read (about 75 ns each here).
 *
 * Through the trusted pointer bpf_get_current_task_btf() returns, each
 * load of a pointer from the task costs the verifier four linear searches
 * of the kernel's whole BTF (for its __safe_trusted and __safe_rcu
 * markers), about half a millisecond each on these machines: 4 to 5 ms of
 * every start for the two loads here. Through tr_cast() the task pointer
 * is untrusted and the same loads cost no search, so that is used when
 * the tracer can (HAVE_CAST). The trusted loads stay as the
 * fallback for other kernels, and they are why this is a global function,
 * verified once: inlined, the searches were repeated for every verifier
 * state reaching it. Exec, which is rare, uses tr_load_task_exec()'s probe
 * reads. */
__noinline int tr_load_task(__u64 current)
{
	struct scratch *s = get_scratch();
	struct task_struct *task;

	/* `current` is the current task's address, from the caller's
	 * bpf_get_current_task() (when HAVE_CAST). */
	if (HAVE_CAST)
		task = CAST(task_struct, current);
	else
		task = bpf_get_current_task_btf();
	struct fs_struct *fs = task->fs;
	struct files_struct *files = task->files;
	struct fdtable *fdt = files ? files->fdt : NULL;

	if (!s)
		return -1;
	s->root_mnt = fs ? (__u64)fs->root.mnt : 0;
	s->root_dentry = fs ? (__u64)fs->root.dentry : 0;
	s->pwd_mnt = fs ? (__u64)fs->pwd.mnt : 0;
	struct dentry *pwd = fs ? fs->pwd.dentry : NULL;
	s->pwd_dentry = (__u64)pwd;
	s->pwd_hash_len = pwd ? pwd->d_name.hash_len : 0;
	s->pwd_inode = pwd ? (__u64)pwd->d_inode : 0;
	s->max_fds = fdt ? fdt->max_fds : 0;
	s->fd_arr = fdt ? (__u64)fdt->fd : 0;
	return 0;
}

/* tr_load_task() with probe reads, for sched_process_exec. */
__noinline int tr_load_task_exec(void)
{
	struct scratch *s = get_scratch();
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (!s)
		return -1;
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct path root = BPF_CORE_READ(fs, root), pwd = BPF_CORE_READ(fs, pwd);
	s->root_mnt = (__u64)root.mnt;
	s->root_dentry = (__u64)root.dentry;
	s->pwd_mnt = (__u64)pwd.mnt;
	s->pwd_dentry = (__u64)pwd.dentry;
	s->pwd_hash_len = 0; /* not used: exec names are not deduplicated */
	s->pwd_inode = 0;
	s->max_fds = BPF_CORE_READ(fdt, max_fds);
	s->fd_arr = (__u64)BPF_CORE_READ(fdt, fd);
	return 0;
}

/* The struct file behind fd `fd` of the current task (its fd table read by
 * tr_load_task()), 0 when none. */
static __always_inline __u64 fd_file(struct scratch *s, __s32 fd)
{
	struct file **arr = (struct file **)s->fd_arr;
	struct file *f = NULL;

	if (fd < 0 || (__u32)fd >= s->max_fds || !arr)
		return 0;
	bpf_probe_read_kernel(&f, sizeof(f), &arr[fd]);
	return (__u64)f;
}

/* fd_file() for the colder paths (dirfds, exec). */
__noinline __u64 tr_fd_file(__s32 fd)
{
	struct scratch *s = get_scratch();

	return s ? fd_file(s, fd) : 0;
}

/* Kernel-internal file systems (pipes, sockets, anon inodes, namespaces)
 * hold no file an image could need; they are not recorded at all. */
static __always_inline int internal_fs(unsigned long magic)
{
	return magic == PIPEFS_MAGIC || magic == SOCKFS_MAGIC || magic == ANON_INODE_FS_MAGIC ||
	       magic == NSFS_MAGIC || magic == PIDFS_MAGIC;
}

static __always_inline int pseudo_fs(unsigned long magic)
{
	return magic == PROC_SUPER_MAGIC || magic == SYSFS_MAGIC || magic == DEVPTS_SUPER_MAGIC ||
	       magic == CGROUP2_SUPER_MAGIC || magic == DEBUGFS_MAGIC || magic == TRACEFS_MAGIC ||
	       magic == BPF_FS_MAGIC || magic == SECURITYFS_MAGIC;
}

/* Starts the event in the scratch area. */
__noinline int tr_header(__u32 type, __u32 kind, __u32 syscall_nr, __s32 err)
{
	struct scratch *s = get_scratch();
	__u64 id = bpf_get_current_pid_tgid();
	struct tr_event *ev;

	if (!s)
		return -1;
	ev = &s->ev;
	ev->ts_ns = bpf_ktime_get_ns();
	ev->type = type;
	ev->kind = kind;
	ev->tgid = id >> 32;
	ev->tid = (__u32)id;
	ev->err = err;
	ev->mode = 0;
	ev->aux = 0;
	ev->aux2 = 0;
	ev->syscall = syscall_nr;
	ev->len[0] = 0;
	ev->len[1] = 0;
	ev->flags[0] = 0;
	ev->flags[1] = 0;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	return 0;
}

/* Walks (mnt, dentry) up to the task's root and stores the path as string
 * 0 of the event. Returns 0, or -1 when the path could not be had whole. */
__noinline int tr_put_path0(__u64 mnt, __u64 dentry)
{
	struct scratch *s = get_scratch();
	__u32 flags = 0, start, len;

	if (!s)
		return -1;
	start = walk_path(&s->walk_state, s->walk, mnt, dentry, s->root_mnt, s->root_dentry,
			  &flags);
	s->ev.flags[0] |= flags;
	if (flags & TR_F_TRUNCATED) {
		count(TR_C_PATH_TRUNCATED);
		s->ev.len[0] = 0;
		return -1;
	}
	if (start > TR_PATH_MAX)
		start = TR_PATH_MAX;
	len = TR_PATH_MAX - start;
	if (len > TR_PATH_MAX)
		len = TR_PATH_MAX;
	bpf_probe_read_kernel(s->data, len & (2 * TR_PATH_MAX - 1),
			      s->walk + (start & (TR_PATH_MAX - 1)));
	s->ev.len[0] = len;
	return 0;
}

/* Sends the event in the scratch area. Returns 0, or -1 (counted). */
static __always_inline int send(struct scratch *s)
{
	__u64 size = sizeof(struct tr_event) + (__u64)s->ev.len[0] + s->ev.len[1];

	if (size > sizeof(struct tr_event) + 2 * TR_PATH_MAX)
		size = sizeof(struct tr_event) + 2 * TR_PATH_MAX;
	/* Waking the consumer on every event costs an interrupt each (a
	 * self-IPI, dearer still in a VM), which once was most of the tracer's
	 * overhead. Userspace drains the ring on a short timer instead, and is
	 * woken early only when the ring is a quarter full. */
	__u64 wake = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >
			     bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 4
		     ? BPF_RB_FORCE_WAKEUP
		     : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&events, &s->ev, size, wake) != 0) {
		count(TR_C_RINGBUF_FULL);
		return -1;
	}
	count(TR_C_EVENTS);
	return 0;
}

/* An access through s->file_* (an open file or the cwd). Returns 0, or -1
 * when the event could not be sent. */
__noinline int tr_emit_file(__u32 kind, __u32 nr, __u32 aux)
{
	struct scratch *s = get_scratch();
	unsigned long magic;
	struct vfsmount *mnt;
	struct dentry *d;

	if (!s)
		return -1;
	mnt = (struct vfsmount *)s->file_mnt;
	d = (struct dentry *)s->file_dentry;
	if (HAVE_CAST)
		magic = CAST(vfsmount, s->file_mnt)->mnt_sb->s_magic;
	else
		magic = BPF_CORE_READ(mnt, mnt_sb, s_magic);
	if (internal_fs(magic))
		return 0;
	tr_header(TR_EV_FILE, kind, nr, 0);
	if (HAVE_CAST)
		s->ev.mode = CAST(dentry, s->file_dentry)->d_inode->i_mode;
	else
		s->ev.mode = BPF_CORE_READ(d, d_inode, i_mode);
	s->ev.aux = kind == TR_K_OPEN ? s->fflags : aux;
	s->ev.aux2 = s->fmode;
	if (s->fmode & FMODE_CREATED)
		s->ev.flags[0] |= TR_F_CREATED;
	if (pseudo_fs(magic))
		s->ev.flags[0] |= TR_F_PSEUDO;
	tr_put_path0((__u64)mnt, (__u64)d);
	return send(s);
}

/* Fills s->file_* and the mode and flags from a struct file. */
static __always_inline void file_of(struct scratch *s, __u64 file)
{
	struct file *f = (struct file *)file;
	/* f_mode, f_flags and f_path lie within a few dozen bytes of each
	 * other: one probe read instead of three. */
	__u32 lo = bpf_core_field_offset(struct file, f_mode);
	__u32 fl = bpf_core_field_offset(struct file, f_flags);
	__u32 pa = bpf_core_field_offset(struct file, f_path);

	if (HAVE_CAST) {
		struct file *c = CAST(file, file);
		s->fmode = c->f_mode;
		s->fflags = c->f_flags;
		s->file_mnt = (__u64)c->f_path.mnt;
		s->file_dentry = (__u64)c->f_path.dentry;
	} else if (fl > lo && pa > lo && pa + sizeof(struct path) - lo <= 128) {
		bpf_probe_read_kernel(s->window, (pa + sizeof(struct path) - lo) & 127,
				      (char *)f + lo);
		s->fmode = *(__u32 *)(s->window);
		s->fflags = *(__u32 *)(s->window + ((fl - lo) & 127));
		s->file_mnt = *(__u64 *)(s->window + ((pa - lo) & 127));
		s->file_dentry = *(__u64 *)(s->window + ((pa - lo + 8) & 127));
	} else {
		struct path p = BPF_CORE_READ(f, f_path);
		s->fmode = BPF_CORE_READ(f, f_mode);
		s->fflags = BPF_CORE_READ(f, f_flags);
		s->file_mnt = (__u64)p.mnt;
		s->file_dentry = (__u64)p.dentry;
	}
}

/* Fills s->file_* with the cwd. */
static __always_inline void cwd_as_file(struct scratch *s)
{
	s->fmode = 0;
	s->fflags = 0;
	s->file_mnt = s->pwd_mnt;
	s->file_dentry = s->pwd_dentry;
}

/* Fills s->base_* with the directory a relative name is relative to: the
 * dirfd's file, or the cwd. Returns 0, or -1 when the dirfd is not open. */
__noinline int tr_base_of(__s32 dirfd)
{
	struct scratch *s = get_scratch();

	if (!s)
		return -1;
	if (dirfd == AT_FDCWD) {
		if (!s->pwd_dentry)
			return -1;
		s->base_mnt = s->pwd_mnt;
		s->base_dentry = s->pwd_dentry;
		s->base_hash_len = s->pwd_hash_len;
		s->base_inode = s->pwd_inode;
		s->base_is_pwd = 1;
		return 0;
	}
	s->base_is_pwd = 0;
	__u64 file = tr_fd_file(dirfd);
	if (!file)
		return -1;
	if (HAVE_CAST) {
		struct file *c = CAST(file, file);
		s->base_mnt = (__u64)c->f_path.mnt;
		s->base_dentry = (__u64)c->f_path.dentry;
		return 0;
	}
	struct path p = BPF_CORE_READ((struct file *)file, f_path);
	s->base_mnt = (__u64)p.mnt;
	s->base_dentry = (__u64)p.dentry;
	return 0;
}

/* Reads a user (or, with `kernel`, a kernel) string into s->name. Returns
 * its length without the NUL, with TR_F_UNREADABLE or TR_F_TRUNCATED
 * shifted left by 16. */
static __always_inline __u32 read_name(struct scratch *s, __u64 ptr, __u32 kernel)
{
	long n;

	if (!ptr) {
		s->name[0] = 0;
		return 0;
	}
	if (kernel)
		n = bpf_probe_read_kernel_str(s->name, TR_PATH_MAX, (const char *)ptr);
	else
		n = bpf_probe_read_user_str(s->name, TR_PATH_MAX, (const char *)ptr);
	if (n <= 0) {
		s->name[0] = 0;
		return TR_F_UNREADABLE << 16;
	}
	if (n >= TR_PATH_MAX)
		return (TR_F_TRUNCATED << 16) | (TR_PATH_MAX - 1);
	return (__u32)(n - 1);
}

/* read_name() for the colder paths. */
__noinline __u32 tr_read_name(__u64 ptr, __u32 kernel)
{
	struct scratch *s = get_scratch();

	return s ? read_name(s, ptr, kernel) : TR_F_UNREADABLE << 16;
}

/* In tr_emit_lookup()'s type_kind: the name is a successful open's, whose
 * file file_of() read in this same syscall; the event carries that file's
 * f_flags and f_mode, so the name is recorded with the open's access mode
 * (written, not read, for O_WRONLY). */
#define LOOKUP_OPEN_MODE (1u << 16)

/* A lookup by name, the name in s->name: string 0 = base directory (from
 * s->base_*, when `have_base` is 1; none and TR_F_PREV_CWD when it is 2),
 * string 1 = the name as passed. Returns 0, or -1 when the event could not
 * be sent. */
__noinline int tr_emit_lookup(__u32 type_kind, __u32 nr, __s32 err, __u32 len_flags,
			      __u32 have_base)
{
	struct scratch *s = get_scratch();
	__u32 len = len_flags & 0xffff;
	__u8 nflags = len_flags >> 16;

	if (!s)
		return -1;
	tr_header((type_kind >> 8) & 0xff, type_kind & 0xff, nr, err);
	if (type_kind & LOOKUP_OPEN_MODE) {
		nflags |= TR_F_OPEN_MODE;
		s->ev.aux = s->fflags;
		s->ev.aux2 = s->fmode;
	}
	s->ev.flags[1] = nflags;
	if (have_base == 2)
		s->ev.flags[0] |= TR_F_PREV_CWD;
	else if (have_base)
		tr_put_path0(s->base_mnt, s->base_dentry);
	else if (len == 0 || s->name[0] != '/')
		/* A relative name whose dirfd is not open: nothing to anchor it. */
		s->ev.flags[0] |= TR_F_UNREADABLE;
	if (len >= TR_PATH_MAX)
		len = TR_PATH_MAX - 1;
	__u32 off = s->ev.len[0];
	if (off > TR_PATH_MAX)
		off = TR_PATH_MAX;
	bpf_probe_read_kernel(s->data + off, len & (TR_PATH_MAX - 1), s->name);
	s->ev.len[1] = len;
	return send(s);
}

/* Counts what is wrong with a name just read; returns 0 to go on with it,
 * -1 to drop it (the program's own bad pointer). */
static __always_inline int check_name(__u32 len_flags, __s32 err)
{
	__u8 nflags = len_flags >> 16;

	if (nflags & TR_F_UNREADABLE) {
		/* EFAULT is the program's own bad pointer; anything else means
		 * the kernel read a name we could not. */
		if (err == -EFAULT)
			return -1;
		count(TR_C_NAME_UNREADABLE);
	}
	if (nflags & TR_F_TRUNCATED)
		count(TR_C_PATH_TRUNCATED);
	return 0;
}

static __always_inline int relative_name(struct scratch *s, __u32 len_flags)
{
	return (len_flags & 0xffff) == 0 || s->name[0] != '/';
}

/* One name argument, not deduplicated: state-changing calls (rare, and
 * all needed in order) and the two names of rename and link. */
__noinline int tr_name_plain(__u64 uptr, __s32 dirfd, __u32 kind, __u32 nr, __s32 err)
{
	struct scratch *s = get_scratch();
	__u32 lf = tr_read_name(uptr, 0);
	int have_base = 0;

	if (!s || check_name(lf, err) != 0)
		return 0;
	if (relative_name(s, lf))
		have_base = tr_base_of(dirfd) == 0;
	tr_emit_lookup((TR_EV_LOOKUP << 8) | (kind & 0xff), nr, err, lf, have_base);
	return 0;
}

/* Argument i (0..5) of the current syscall, from s->args; 0 for i < 0. */
static __always_inline __u64 arg(struct scratch *s, int i)
{
	return i >= 0 ? s->args[i & 7] : 0;
}

/* What tr_decode() found, packed into its return value (plain integers
 * between global functions keep the verifier's work per function). */
#define D_KIND(x) ((x) & 0xff)   /* kind of the access to s->file_*, 0 = none */
#define D_NAMES (1u << 8)        /* the name argument(s) are recorded too */
#define D_PREV_CWD (1u << 9)     /* ... a relative one is relative to the cwd before the call */
#define D_PLAIN (1u << 10)       /* two names, or a change to the tree: no dedup */
#define D_IO_URING (1u << 11)    /* the process set up an io_uring */
#define D_AUX(x) ((x) >> 16)     /* mmap prot */

/* What on_emit sends, in s->op; the arguments are in s->op_*. Sending is
 * a program of its own, reached by tail call, because the code that
 * builds and sends events (the path walk above all) is as big as the code
 * that decides what to send: split in two, the two halves are verified at
 * once, on two CPUs, and on_exec shares the sending half instead of
 * carrying a copy. A repeat, which sends nothing, never leaves
 * on_sys_exit. */
#define OP_ACCESS 1   /* tr_access()'s first access: op_nr = nr | kind << 16, op_ret = err,
			 op_d = D_* bits, op_lf = the name's length and flags, op_how */
#define OP_PLAIN 2    /* tr_plain(op_nr, op_ret, op_d) */
#define OP_COMPAT 3   /* a 32-bit syscall, op_nr */
#define OP_IO_URING 4 /* io_uring_setup succeeded, op_nr */
#define OP_EXEC 5     /* sched_process_exec: op_ptr = bprm, op_nr = old pid */

/* Decides what a syscall accessed. Fills s->file_* when it reached a file
 * (or the cwd). Returns the D_* bits, 0 when there is nothing to record.
 * An fd becomes its file at one place (fd_file and file_of are inlined, so
 * that code is there once). */
__noinline __u32 tr_decode(__u32 nr, __s64 ret)
{
	struct scratch *s = get_scratch();
	const volatile struct tr_syscall *sc;
	__u32 found, not_found = 0;
	__s32 fd;
	__u64 f;

	if (!s || nr >= TR_NR_SYSCALLS)
		return 0;
	sc = &syscall_table[nr];
	__u8 kind = sc->kind, special = sc->special;
	__s8 fd_arg = sc->fd_arg, path_arg = sc->path_arg, flags_arg = sc->flags_arg;
	__u32 names = path_arg >= 0 ? D_NAMES : 0;

	if (sc->kind2 || kind == TR_K_MKDIR || kind == TR_K_CREATE || kind == TR_K_REMOVE ||
	    kind == TR_K_TRUNCATE)
		names |= D_PLAIN;

	switch (special) {
	case TR_SYS_IO_URING:
		return ret >= 0 ? D_IO_URING : 0;
	case TR_SYS_MMAP:
		fd = (int)s->args[4];
		if ((ret < 0 && ret > -4096) || (s->args[3] & MAP_ANONYMOUS) || fd < 0)
			return 0;
		found = TR_K_MMAP | ((s->args[2] & 7) << 16);
		goto resolve;
	case TR_SYS_CHDIR:
		if (fd_arg >= 0) /* fchdir */
			return ret == 0 ? (cwd_as_file(s), TR_K_CHDIR) : 0;
		if (ret != 0)
			return names; /* a failed chdir is a lookup */
		/* The new cwd, and the name. A relative name was relative to
		 * the old cwd, which is gone now: it goes out without a base
		 * (TR_F_PREV_CWD), after the new cwd, and userspace anchors it
		 * to the cwd it knew before. */
		cwd_as_file(s);
		return TR_K_CHDIR | names | D_PREV_CWD;
	case TR_SYS_EXECVE:
		if (ret == 0)
			return 0; /* seen at sched_process_exec */
		return names;
	}

	if (sc->yields_fd) {
		/* The name as asked for is recorded too: the fd only knows the
		 * final file, and the image needs every symlink on the way. */
		if (ret < 0)
			return names;
		fd = (__s32)ret;
		found = TR_K_OPEN | names;
		not_found = names;
		goto resolve;
	}
	if (fd_arg >= 0) {
		if (ret < 0)
			return 0;
		fd = (__s32)arg(s, fd_arg);
		found = kind;
		goto resolve;
	}
	if (flags_arg >= 0 && ret >= 0 && (arg(s, flags_arg) & AT_EMPTY_PATH)) {
		/* The AT_EMPTY_PATH form of a stat works on the dirfd. */
		char c = 0;
		const char *p = (const char *)arg(s, path_arg);
		if (p)
			bpf_probe_read_user(&c, 1, p);
		if (!p || c == 0) {
			fd = (int)arg(s, sc->dirfd_arg);
			if (fd == AT_FDCWD) {
				cwd_as_file(s);
				return kind;
			}
			found = kind;
			goto resolve;
		}
	}
	return names;

resolve:
	f = fd_file(s, fd);
	if (!f)
		return not_found;
	file_of(s, f);
	return found;
}

/* Records the names of a call that is never deduplicated: two names, or a
 * change to the tree (rare, and all needed in order). */
__noinline int tr_plain(__u32 nr, __s64 ret, __u32 d)
{
	struct scratch *s = get_scratch();
	const volatile struct tr_syscall *sc;
	__s32 err = ret < 0 ? (__s32)ret : 0;

	if (!s || nr >= TR_NR_SYSCALLS)
		return 0;
	sc = &syscall_table[nr];
	__u8 kind = sc->kind, kind2 = sc->kind2;
	__s8 d1 = sc->dirfd_arg, d2 = sc->dirfd_arg2, p2 = sc->path_arg2;

	if (D_KIND(d))
		tr_emit_file(D_KIND(d), nr, D_AUX(d));
	tr_name_plain(arg(s, sc->path_arg), d1 >= 0 ? (__s32)arg(s, d1) : AT_FDCWD, kind, nr, err);
	if (kind2 && p2 >= 0) {
		tr_name_plain(arg(s, p2), d2 >= 0 ? (__s32)arg(s, d2) : AT_FDCWD, kind2, nr, err);
		if (ret == 0 && kind == TR_K_REMOVE && kind2 == TR_K_CREATE)
			__sync_fetch_and_add(&rename_generation, 1);
	}
	return 0;
}

/* Builds the dedup key of one access (see tr_access) and returns 1 when it
 * was seen before, recording it otherwise. */
/* `what` is the file's access kind (D_KIND), 1 << 8 when the name counts,
 * and the mmap prot (D_AUX) above; `kind` is the syscall's kind. */
__noinline int tr_seen(__u32 what, __u32 kind, __s32 err, __u32 lf, __u32 have_base)
{
	struct scratch *s = get_scratch();
	__u32 fkind = D_KIND(what);
	__u32 names = what & (1u << 8);

	if (!s)
		return 0;
	key_start(s, ((__u64)fkind << 40) | ((__u64)kind << 32) | (__u32)err);
	if (fkind) {
		__u32 sub = 0;
		if (fkind == TR_K_OPEN)
			sub = (s->fflags & 3) | ((s->fmode & FMODE_CREATED) ? 4 : 0) |
			      ((s->fmode & 0x4000) ? 8 : 0);
		else if (fkind == TR_K_MMAP)
			sub = D_AUX(what) & 7;
		mix(s, sub);
		/* With the name and its base in the key, the file's address is
		 * identity enough: a reused dentry reached by the same name
		 * from the same directory has the same path. */
		if (names) {
			mix(s, s->file_mnt);
			mix(s, s->file_dentry);
		} else {
			tr_key_dentry(s->file_mnt, s->file_dentry);
		}
	}
	if (names) {
		if (have_base && s->base_is_pwd)
			mix_identity(s, s->base_mnt, s->base_dentry, s->base_hash_len,
				     s->base_inode);
		else if (have_base)
			tr_key_dentry(s->base_mnt, s->base_dentry);
		tr_key_name(lf & 0xffff);
	}
	return seen_before(s);
}

/* Records one access: the file reached (s->file_*, when D_KIND(d)) and/or
 * one name argument, deduplicated as one. Returns OP_ACCESS when it is new
 * and must be sent, 0 otherwise. */
__noinline int tr_access(__u32 nr, __s64 ret, __u32 d)
{
	struct scratch *s = get_scratch();
	const volatile struct tr_syscall *sc;
	__s32 err = ret < 0 ? (__s32)ret : 0;
	__u32 fkind = D_KIND(d), lf = 0;
	__u32 names = (d & D_NAMES) ? 1 : 0;
	int have_base = 0, dedup_it = 1, prev_cwd = 0;

	if (!s || nr >= TR_NR_SYSCALLS)
		return 0;
	sc = &syscall_table[nr];
	__u8 kind = sc->kind;
	__s8 dirfd_arg = sc->dirfd_arg;

	if (names) {
		lf = read_name(s, arg(s, sc->path_arg), 0);
		if (check_name(lf, err) != 0) {
			names = 0;
		} else if ((d & D_PREV_CWD) && relative_name(s, lf)) {
			/* Not deduplicated: the key would hold the new cwd, not
			 * the old one the name is relative to. Rare anyway. */
			prev_cwd = 1;
			dedup_it = 0;
		} else {
			if (relative_name(s, lf))
				have_base =
				    tr_base_of(dirfd_arg >= 0 ? (__s32)arg(s, dirfd_arg) : AT_FDCWD) == 0;
			if ((lf >> 16) || (lf & 0xffff) > HASH_NAME_MAX)
				dedup_it = 0;
		}
	}
	if (!fkind && !names)
		return 0;
	if (dedup_it &&
	    tr_seen(fkind | (names << 8) | (D_AUX(d) << 16), kind, err, lf, have_base))
		return 0;

	s->op_nr = nr | ((__u32)kind << 16);
	s->op_ret = err;
	s->op_d = d;
	s->op_lf = lf;
	s->op_how = (names ? 1 : 0) | (have_base ? 2 : 0) | (dedup_it ? 4 : 0) | (prev_cwd ? 8 : 0);
	return OP_ACCESS;
}

/* Sends what tr_access() found new (OP_ACCESS): the file, when D_KIND,
 * and the name, when op_how & 1 (op_how & 2: it has a base). When sending
 * fails, the key recorded as seen (op_how & 4) is forgotten again. */
__noinline int tr_send(void)
{
	struct scratch *s = get_scratch();
	__u32 nr, kind, d, fkind, lf, how;
	__s32 err;
	int failed = 0;

	if (!s)
		return 0;
	nr = s->op_nr & 0xffff;
	kind = (s->op_nr >> 16) & 0xff;
	d = s->op_d;
	fkind = D_KIND(d);
	lf = s->op_lf;
	how = s->op_how;
	err = (__s32)s->op_ret;
	if (fkind)
		failed |= tr_emit_file(fkind, nr, D_AUX(d));
	if (how & 1)
		failed |= tr_emit_lookup((TR_EV_LOOKUP << 8) | kind |
					     (fkind == TR_K_OPEN ? LOOKUP_OPEN_MODE : 0),
					 nr, err, lf, (how & 8) ? 2 : (how >> 1) & 1);
	if (failed && (how & 4))
		forget(s);
	return 0;
}

/* An ia32 syscall: its number means something else. Tells userspace once
 * per process (remembered in `compat_seen`); it marks the trace
 * incomplete. */
__noinline int tr_compat(__u32 nr)
{
	struct scratch *s = get_scratch();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u8 one = 1;

	if (!s || bpf_map_lookup_elem(&compat_seen, &tgid))
		return 0;
	/* If the table is full the warning is sent again next time, which is
	 * harmless; it is never lost. */
	bpf_map_update_elem(&compat_seen, &tgid, &one, BPF_ANY);
	tr_header(TR_EV_COMPAT, 0, nr, 0);
	if (send(s) != 0)
		bpf_map_delete_elem(&compat_seen, &tgid);
	return 0;
}

/* Reads the syscall's number and arguments from its registers into *nr
 * and s->args. Returns 0 to decode it, OP_COMPAT for a 32-bit one (whose
 * number means something else), -1 when it is not a file syscall. */
static __always_inline int take_syscall(struct scratch *s, struct pt_regs *r, int compat,
					__u32 *nr)
{
	__u32 n = (__u32)r->orig_ax;

	*nr = n;
	if (compat) {
		s->op_nr = n;
		return OP_COMPAT;
	}
	if (n >= TR_NR_SYSCALLS || (!syscall_table[n].kind && !syscall_table[n].special))
		return -1;
	s->args[0] = r->di;
	s->args[1] = r->si;
	s->args[2] = r->dx;
	s->args[3] = r->r10;
	s->args[4] = r->r8;
	s->args[5] = r->r9;
	return 0;
}

/* The part of sys_exit that runs for every syscall of the traced tree;
 * returns what on_emit is to send (OP_*), 0 for nothing. `current` is the
 * task's address and `regs` the tracepoint's pt_regs (both 0 without
 * HAVE_CAST, which fetches them with helpers instead: the
 * bpf_task_pt_regs() call alone was about 6% of the program's time).
 *
 * What is inlined and what is a global function is a trade between the
 * verifier (paid once per run) and the hot path (paid per syscall): on
 * these machines every call and return costs 10 to 15 ns, the kernel's
 * return thunk (the SRSO "safe RET" mitigation on AMD) included. This part,
 * the fd-to-file step and the name read are inlined; the task's loads and
 * the decode stay global functions, since inlining them made the verifier
 * do more work for no gain that could be measured. */
static __always_inline int sys_exit(__u64 current, __u64 regs, __s64 ret)
{
	struct scratch *s = get_scratch();
	__u32 nr = 0, d;
	int taken;

	if (!s)
		return 0;
	if (HAVE_CAST) {
		/* The tracepoint's own pt_regs and the task from on_sys_exit:
		 * plain loads, no helper call. */
		taken = take_syscall(s, CAST(pt_regs, regs),
				     CAST(task_struct, current)->thread_info.status & TS_COMPAT, &nr);
	} else {
		struct task_struct *task = bpf_get_current_task_btf();
		struct pt_regs *r = (struct pt_regs *)bpf_task_pt_regs(task);

		if (!r)
			return 0;
		taken = take_syscall(s, r, task->thread_info.status & TS_COMPAT, &nr);
	}
	if (taken != 0)
		return taken > 0 ? taken : 0;
	tr_load_task(current);
	d = tr_decode(nr, ret);
	if (d & (D_PLAIN | D_IO_URING)) {
		s->op_nr = nr;
		s->op_ret = ret;
		s->op_d = d;
		return (d & D_PLAIN) ? OP_PLAIN : OP_IO_URING;
	}
	if (d)
		return tr_access(nr, ret, d);
	return 0;
}

/* Hands the event in s->op to on_emit. The tail call only fails if
 * on_emit is not in its slot, which trace-root fills before it attaches
 * anything; should it ever fail, the loss is counted. */
static __always_inline int emit(void *ctx, struct scratch *s, __u32 op)
{
	s->op = op;
	bpf_tail_call(ctx, &emitters, 0);
	count(TR_C_EMIT_FAILED);
	return 0;
}

/* Every syscall of every process on the machine comes here: whether the
 * process is traced must be the first and cheapest question. With
 * HAVE_CAST the task is fetched once (one helper call) and serves the
 * question, the pt_regs check and tr_load_task(); otherwise each of those
 * costs a helper call (10 to 20 ns each here, the return thunk included). */
SEC("raw_tp/sys_exit")
int on_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct scratch *s;
	int op;

	if (HAVE_CAST) {
		__u64 current = bpf_get_current_task();

		if (!is_traced(CAST(task_struct, current)->tgid))
			return 0;
		op = sys_exit(current, ctx->args[0], (__s64)ctx->args[1]);
	} else {
		if (!is_traced(bpf_get_current_pid_tgid() >> 32))
			return 0;
		op = sys_exit(0, 0, (__s64)ctx->args[1]);
	}
	s = op ? get_scratch() : NULL;
	return s ? emit(ctx, s, op) : 0;
}

/* Parses "/dev/fd/N" or "/dev/fd/N/rest" (how the kernel names an
 * execveat file). Returns N, or -1; *rest_off is the offset of rest. */
static __always_inline int parse_dev_fd(const char *name, __u32 len, __u32 *rest_off)
{
	int fd = 0;
	__u32 i;

	if (len < 9 || name[0] != '/' || name[1] != 'd' || name[2] != 'e' || name[3] != 'v' ||
	    name[4] != '/' || name[5] != 'f' || name[6] != 'd' || name[7] != '/')
		return -1;
	for (i = 8; i < 19; i++) {
		char c = name[i & (TR_PATH_MAX - 1)];
		if (c >= '0' && c <= '9') {
			fd = fd * 10 + (c - '0');
			continue;
		}
		if (i == 8)
			return -1;
		if (c == '/') {
			*rest_off = i + 1;
			return fd;
		}
		if (c == 0) {
			*rest_off = i;
			return fd;
		}
		return -1;
	}
	return -1;
}

/* Copies the part of s->name starting at `off` to its front. */
static __always_inline __u32 shift_name(struct scratch *s, __u32 off, __u32 len)
{
	__u32 n;

	if (off >= len)
		return 0;
	n = len - off;
	if (n >= TR_PATH_MAX - 32)
		n = TR_PATH_MAX - 32;
	/* Overlapping copy through the walk buffer. */
	bpf_probe_read_kernel(s->walk, n & (TR_PATH_MAX - 1), s->name + (off & 31));
	bpf_probe_read_kernel(s->name, n & (TR_PATH_MAX - 1), s->walk);
	return n;
}

/* An execveat name, "/dev/fd/N/rest" or "/dev/fd/N" in s->name: moves rest
 * to the front of s->name. Returns N << 16 | the new length, or -1 when the
 * name is not of that form. */
__noinline __s32 tr_parse_dev_fd(__u32 len)
{
	struct scratch *s = get_scratch();
	__u32 rest = 0;
	int fd;

	if (!s)
		return -1;
	fd = parse_dev_fd(s->name, len, &rest);
	if (fd < 0 || fd > 0x7fff)
		return -1;
	return (fd << 16) | (rest & 0xffff);
}

__noinline __s32 tr_exec_dirfd(__u32 len)
{
	struct scratch *s = get_scratch();
	__s32 at = tr_parse_dev_fd(len);

	if (!s || at < 0)
		return -1;
	return (at & 0x7fff0000) | shift_name(s, at & 0xffff, len);
}

/* The exec name and interpreter, after the TR_EV_EXEC event was sent. */
__noinline int tr_exec_names(__u64 filename, __u64 interp)
{
	struct scratch *s = get_scratch();
	__u32 lf;
	__s32 dirfd = AT_FDCWD, at;
	int have_base = 0;

	if (!s)
		return 0;
	/* The name it was asked for, relative to the cwd or an execveat dirfd. */
	lf = tr_read_name(filename, 1);
	check_name(lf, 0);
	if (!(lf >> 16)) {
		at = tr_exec_dirfd(lf & 0xffff);
		if (at >= 0) {
			dirfd = at >> 16;
			lf = at & 0xffff;
		}
	}
	if (relative_name(s, lf))
		have_base = tr_base_of(dirfd) == 0;
	tr_emit_lookup((TR_EV_EXEC_NAME << 8) | TR_K_EXEC_NAME, 0, 0, lf, have_base);

	/* The #! interpreter, when a script handler replaced it. */
	if (interp && interp != filename) {
		lf = tr_read_name(interp, 1);
		check_name(lf, 0);
		have_base = relative_name(s, lf) && tr_base_of(AT_FDCWD) == 0;
		tr_emit_lookup((TR_EV_EXEC_NAME << 8) | TR_K_INTERP, 0, 0, lf, have_base);
	}
	return 0;
}

/* sched_process_exec (OP_EXEC): the file the kernel really runs, then the
 * names it was asked for. */
__noinline int tr_exec(__u64 bprm_addr, __u32 old_pid)
{
	struct linux_binprm *bprm = (struct linux_binprm *)bprm_addr;
	struct scratch *s = get_scratch();

	if (!s)
		return 0;
	tr_load_task_exec();
	struct file *f = BPF_CORE_READ(bprm, file);
	struct path fpath = BPF_CORE_READ(f, f_path);
	tr_header(TR_EV_EXEC, TR_K_EXEC_FILE, 0, 0);
	s->ev.mode = BPF_CORE_READ(f, f_inode, i_mode);
	s->ev.aux = old_pid;
	tr_put_path0((__u64)fpath.mnt, (__u64)fpath.dentry);
	send(s);

	tr_exec_names((__u64)BPF_CORE_READ(bprm, filename), (__u64)BPF_CORE_READ(bprm, interp));
	return 0;
}

SEC("raw_tp/sched_process_exec")
int on_exec(struct bpf_raw_tracepoint_args *ctx)
{
	struct scratch *s;

	if (!is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	s->op_ptr = ctx->args[2];         /* bprm */
	s->op_nr = (__u32)ctx->args[1];   /* old pid */
	return emit(ctx, s, OP_EXEC);
}

SEC("raw_tp/sched_process_fork")
int on_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	__u32 cpid = BPF_CORE_READ(child, pid);
	struct scratch *s;
	__u64 *w;

	if (ctgid == ptgid || cpid != ctgid || !is_traced(ptgid))
		return 0; /* a thread, or not ours */
	w = traced_word(ctgid);
	if (!w) {
		/* Only a pid above PID_MAX_LIMIT could miss the table. */
		count(TR_C_PROC_MAP_FULL);
		return 0;
	}
	__sync_fetch_and_or(w, 1ULL << (ctgid & 63));
	s = get_scratch();
	if (!s)
		return 0;
	tr_header(TR_EV_FORK, 0, 0, 0);
	s->ev.tgid = ptgid;
	s->ev.aux = ctgid;
	send(s);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int on_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx->args[0];
	__u32 tgid = BPF_CORE_READ(task, tgid);
	__u64 bit = 1ULL << (tgid & 63);
	struct scratch *s;
	__u64 *w;

	/* args[1] is group_dead: the last thread of the process is exiting. */
	if (!ctx->args[1])
		return 0;
	w = traced_word(tgid);
	if (!w || !(*w & bit))
		return 0;
	__sync_fetch_and_and(w, ~bit);
	bpf_map_delete_elem(&compat_seen, &tgid);
	s = get_scratch();
	if (!s)
		return 0;
	tr_header(TR_EV_EXIT, 0, 0, 0);
	s->ev.tgid = tgid;
	s->ev.aux = BPF_CORE_READ(task, exit_code);
	send(s);
	return 0;
}

/* Sends the event on_sys_exit or on_exec decided on (see OP_ACCESS). Not
 * attached to anything: reached by tail call, in the same task, on the
 * same CPU, so the scratch area still holds everything they found. */
SEC("raw_tp")
int on_emit(struct bpf_raw_tracepoint_args *ctx)
{
	struct scratch *s = get_scratch();

	if (!s)
		return 0;
	switch (s->op) {
	case OP_ACCESS:
		return tr_send();
	case OP_PLAIN:
		return tr_plain(s->op_nr, s->op_ret, s->op_d);
	case OP_COMPAT:
		return tr_compat(s->op_nr);
	case OP_IO_URING:
		tr_header(TR_EV_IO_URING, 0, s->op_nr, 0);
		send(s);
		return 0;
	case OP_EXEC:
		return tr_exec(s->op_ptr, s->op_nr);
	}
	return 0;
}
