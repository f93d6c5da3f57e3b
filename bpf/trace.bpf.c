// SPDX-License-Identifier: GPL-2.0
/*
 * trace-root's kernel side: record every file a process tree touches.
 *
 * One tp_btf/sys_exit program decodes every file syscall through a table
 * (the `syscalls` map, filled by userspace) instead of one handler per
 * syscall. It runs at exit so it sees the result: the fd an open returned
 * is resolved to the file the kernel really opened, failures carry their
 * errno, and user strings are read after the kernel itself copied them (so
 * their pages are resident). x86-64 keeps the argument registers intact in
 * pt_regs across the syscall, so the arguments are read there.
 *
 * Scope: `traced` holds the tgids of the tree. sched_process_fork adds a
 * child in the kernel before it can run; threads share the tgid. Exec is
 * seen at sched_process_exec, where bprm names the file actually run.
 *
 * Repeats: the `dedup` LRU map remembers (file or name, kind, result).
 * An exact repeat is not sent again. Eviction only costs a repeat event; a
 * first access is never suppressed, and when sending fails the key is
 * removed again so the next repeat gets through.
 *
 * Loss: every place an event can be dropped increments a per-CPU counter;
 * userspace fails the run when any is non-zero.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "trace_root/bpf_events.h"

char LICENSE[] SEC("license") = "GPL";

#define AT_FDCWD -100
#define AT_EMPTY_PATH 0x1000
#define MAP_ANONYMOUS 0x20
#define TS_COMPAT 0x0002
#define FMODE_CREATED 0x100000
#define NR_SYSCALLS 512

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

/* Dedup keys. Accesses through a file are keyed on the head alone (a small
 * key hashes fast); lookups by name add the name, zero-padded. */
struct dedup_head {
	__u64 dentry;
	__u64 inode;
	__u64 mnt;
	__u64 root;
	__u64 hash_len;
	__u32 generation;
	__s32 err;
	__u8 kind;
	__u8 sub;
	__u16 name_len;
	__u32 pad;
};

struct dedup_key {
	struct dedup_head h;
	char name[TR_DEDUP_NAME];
};

struct scratch {
	struct tr_event ev;
	char data[2 * TR_PATH_MAX + 64];
	char walk[TR_PATH_MAX + TR_NAME_MAX];
	/* The dedup key's head, and right after it the name: a names key
	 * is the head plus the name's first TR_DEDUP_NAME bytes, read where
	 * they lie, so the name is never copied into a key. */
	struct dedup_head key;
	char name[TR_PATH_MAX];
	__u64 root_dentry; /* task->fs->root.dentry, read once per event */
	char window[128 + 16]; /* a span of one kernel struct, read at once */
};

_Static_assert(__builtin_offsetof(struct scratch, name) ==
		       __builtin_offsetof(struct scratch, key) + sizeof(struct dedup_head),
	       "a names key must be the head followed directly by the name");
_Static_assert(sizeof(struct dedup_key) == sizeof(struct dedup_head) + TR_DEDUP_NAME,
	       "the names map's key is the head and the name's first bytes");

#define DEDUP_NONE 0
#define DEDUP_FILES 1
#define DEDUP_NAMES 2

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} traced SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NR_SYSCALLS);
	__type(key, __u32);
	__type(value, struct tr_syscall);
} syscalls SEC(".maps");

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

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct dedup_head);
	__type(value, __u8);
} dedup_files SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct dedup_key);
	__type(value, __u8);
} dedup_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* Bumped when the traced tree renames something: every dentry-keyed dedup
 * entry becomes stale, since a renamed dentry keeps its address. */
__u32 rename_generation = 0;

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch_map, &zero);
}

static __always_inline char *walk_buffer(void)
{
	struct scratch *s = get_scratch();
	return s ? s->walk : NULL;
}

#include "path_walk.bpf.h"

static __always_inline void count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &which);
	if (v)
		*v += 1;
}

static __always_inline int is_traced(__u32 tgid)
{
	return bpf_map_lookup_elem(&traced, &tgid) != NULL;
}

static __always_inline __u64 arg_of(struct pt_regs *regs, int i)
{
	switch (i) {
	case 0: return regs->di;
	case 1: return regs->si;
	case 2: return regs->dx;
	case 3: return regs->r10;
	case 4: return regs->r8;
	case 5: return regs->r9;
	}
	return 0;
}

static __always_inline struct file *fd_file(struct task_struct *task, int fd)
{
	/* Probe reads cost a helper call each, so the fd table's two fields
	 * are read in one. */
	struct files_struct *files = BPF_CORE_READ(task, files);
	struct fdtable *fdt;
	struct {
		unsigned int max_fds;
		struct file **fd;
	} head = {};
	struct file *f = NULL;

	if (!files || fd < 0)
		return NULL;
	fdt = BPF_CORE_READ(files, fdt);
	if (!fdt)
		return NULL;
	if (bpf_core_field_offset(struct fdtable, max_fds) == 0 &&
	    bpf_core_field_offset(struct fdtable, fd) == 8) {
		bpf_probe_read_kernel(&head, sizeof(head), fdt);
	} else {
		head.max_fds = BPF_CORE_READ(fdt, max_fds);
		head.fd = BPF_CORE_READ(fdt, fd);
	}
	if ((unsigned int)fd >= head.max_fds || !head.fd)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &head.fd[fd]);
	return f;
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

static __always_inline void fill_header(struct tr_event *ev, __u32 type, __u32 kind,
					__u32 syscall_nr, __s32 err)
{
	__u64 id = bpf_get_current_pid_tgid();

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
}

/* Walks `p` and stores it as string 0 of the event. */
static __always_inline void put_path0(struct scratch *s, struct vfsmount *mnt,
				      struct dentry *dentry, struct path *root)
{
	__u32 flags = 0;
	__u32 start = walk_path(mnt, dentry, root, &flags);
	__u32 len;

	if (flags & TR_F_TRUNCATED) {
		count(TR_C_PATH_TRUNCATED);
		len = 0;
	} else {
		if (start > TR_PATH_MAX)
			start = TR_PATH_MAX;
		len = TR_PATH_MAX - start;
		if (len > TR_PATH_MAX)
			len = TR_PATH_MAX;
		bpf_probe_read_kernel(s->data, len & (2 * TR_PATH_MAX - 1),
				      s->walk + (start & (TR_PATH_MAX - 1)));
	}
	s->ev.len[0] = len;
	s->ev.flags[0] |= flags;
}

/* Stores the first `len` bytes of s->name as string 1. */
static __always_inline void put_name1(struct scratch *s, __u32 len)
{
	__u32 off = s->ev.len[0];

	if (off > TR_PATH_MAX)
		off = TR_PATH_MAX;
	if (len >= TR_PATH_MAX)
		len = TR_PATH_MAX - 1;
	bpf_probe_read_kernel(s->data + off, len & (TR_PATH_MAX - 1), s->name);
	s->ev.len[1] = len;
}

/* Sends the event; on failure counts the loss and forgets the dedup key so
 * the next repeat is sent. */
static __always_inline void send(struct scratch *s, int deduped)
{
	__u64 size = sizeof(struct tr_event) + (__u64)s->ev.len[0] + s->ev.len[1];

	if (size > sizeof(struct tr_event) + 2 * TR_PATH_MAX)
		size = sizeof(struct tr_event) + 2 * TR_PATH_MAX;
	if (bpf_ringbuf_output(&events, &s->ev, size, 0) != 0) {
		count(TR_C_RINGBUF_FULL);
		if (deduped == DEDUP_FILES)
			bpf_map_delete_elem(&dedup_files, &s->key);
		else if (deduped == DEDUP_NAMES)
			bpf_map_delete_elem(&dedup_names, &s->key);
		return;
	}
	count(TR_C_EVENTS);
}

/* Returns 1 when this exact access was already sent (suppress it). The key
 * must be filled in s->key (only its head for DEDUP_FILES). Inserts it
 * otherwise. */
static __always_inline int seen_before(struct scratch *s, __u32 which)
{
	__u8 one = 1;
	long err;

	if (which == DEDUP_NAMES) {
		if (bpf_map_lookup_elem(&dedup_names, &s->key)) {
			count(TR_C_DEDUP_HITS);
			return 1;
		}
		err = bpf_map_update_elem(&dedup_names, &s->key, &one, BPF_ANY);
	} else {
		if (bpf_map_lookup_elem(&dedup_files, &s->key)) {
			count(TR_C_DEDUP_HITS);
			return 1;
		}
		err = bpf_map_update_elem(&dedup_files, &s->key, &one, BPF_ANY);
	}
	if (err != 0)
		count(TR_C_DEDUP_FAILED);
	return 0;
}

static __always_inline void key_reset(struct scratch *s, __u8 kind, __u8 sub, __s32 err,
				      struct task_struct *task)
{
	__builtin_memset(&s->key, 0, sizeof(s->key));
	s->key.kind = kind;
	s->key.sub = sub;
	s->key.err = err;
	s->key.generation = rename_generation;
	s->key.root = s->root_dentry;
}

/* The dentry's identity for a dedup key: its inode and the hash and
 * length of its name, read in one probe read (they are 16 bytes apart). */
static __always_inline void key_dentry(struct scratch *s, struct dentry *d)
{
	__u32 nm = bpf_core_field_offset(struct dentry, d_name);
	__u32 in = bpf_core_field_offset(struct dentry, d_inode);

	if (in > nm && in + 8 - nm <= 64) {
		bpf_probe_read_kernel(s->window, (in + 8 - nm) & 127, (char *)d + nm);
		s->key.hash_len = *(__u64 *)(s->window); /* qstr starts with hash_len */
		s->key.inode = *(__u64 *)(s->window + ((in - nm) & 63));
	} else {
		s->key.inode = (__u64)BPF_CORE_READ(d, d_inode);
		s->key.hash_len = BPF_CORE_READ(d, d_name.hash_len);
	}
}

/* An access through an open file, or to the cwd itself when `f` is NULL:
 * its path as string 0. */
static __always_inline void emit_path(struct scratch *s, struct task_struct *task,
				      struct file *f, __u32 kind, __u32 nr, __u32 aux)
{
	struct path p;
	struct path root;
	unsigned long magic;
	__u32 fmode = 0, fflags = 0;
	__u8 sub = 0;

	if (f) {
		/* f_mode, f_flags and f_path lie within a few dozen bytes of
		 * each other: one probe read instead of three. */
		__u32 lo = bpf_core_field_offset(struct file, f_mode);
		__u32 fl = bpf_core_field_offset(struct file, f_flags);
		__u32 pa = bpf_core_field_offset(struct file, f_path);
		if (fl > lo && pa > lo && pa + sizeof(struct path) - lo <= 128) {
			bpf_probe_read_kernel(s->window, (pa + sizeof(struct path) - lo) & 127,
					      (char *)f + lo);
			fmode = *(__u32 *)(s->window);
			fflags = *(__u32 *)(s->window + ((fl - lo) & 127));
			p.mnt = *(struct vfsmount **)(s->window + ((pa - lo) & 127));
			p.dentry = *(struct dentry **)(s->window + ((pa - lo + 8) & 127));
		} else {
			p = BPF_CORE_READ(f, f_path);
			fmode = BPF_CORE_READ(f, f_mode);
			fflags = BPF_CORE_READ(f, f_flags);
		}
	} else {
		p = BPF_CORE_READ(task, fs, pwd);
	}
	if (kind == TR_K_OPEN)
		sub = (fflags & 3) | ((fmode & FMODE_CREATED) ? 4 : 0) | ((fmode & 0x4000) ? 8 : 0);
	else if (kind == TR_K_MMAP)
		sub = aux & 7;

	key_reset(s, kind, sub, 0, task);
	s->key.dentry = (__u64)p.dentry;
	s->key.mnt = (__u64)p.mnt;
	key_dentry(s, p.dentry);
	if (seen_before(s, DEDUP_FILES))
		return;
	/* Checked only for a first access: a repeat costs no extra reads. */
	magic = BPF_CORE_READ(p.mnt, mnt_sb, s_magic);
	if (internal_fs(magic))
		return;

	fill_header(&s->ev, TR_EV_FILE, kind, nr, 0);
	s->ev.mode = BPF_CORE_READ(p.dentry, d_inode, i_mode);
	s->ev.aux = kind == TR_K_OPEN ? fflags : aux;
	s->ev.aux2 = fmode;
	if (fmode & FMODE_CREATED)
		s->ev.flags[0] |= TR_F_CREATED;
	if (pseudo_fs(magic))
		s->ev.flags[0] |= TR_F_PSEUDO;
	root = BPF_CORE_READ(task, fs, root);
	put_path0(s, p.mnt, p.dentry, &root);
	send(s, DEDUP_FILES);
}

/* The directory a name is relative to: the dirfd's file, or the cwd. */
static __always_inline int base_of(struct task_struct *task, int dirfd, struct path *out)
{
	if (dirfd == AT_FDCWD) {
		*out = BPF_CORE_READ(task, fs, pwd);
		return 0;
	}
	struct file *f = fd_file(task, dirfd);
	if (!f)
		return -1;
	*out = BPF_CORE_READ(f, f_path);
	return 0;
}

/* A lookup by name: string 0 = base directory (empty for an absolute
 * name), string 1 = the name as passed. `name_len` bytes are in s->name. */
static __always_inline void emit_lookup(struct scratch *s, struct task_struct *task,
					__u32 type, __u32 kind, __u32 nr, __s32 err, int dirfd,
					__u32 name_len, __u8 name_flags, int dedup_it)
{
	struct path base = {};
	struct path root;
	int relative = name_len == 0 || s->name[0] != '/';
	int have_base = 0;

	if (relative)
		have_base = base_of(task, dirfd, &base) == 0;

	if (dedup_it && name_len < TR_DEDUP_NAME && !(name_flags & TR_F_UNREADABLE)) {
		key_reset(s, kind, 0, err, task);
		if (have_base) {
			s->key.dentry = (__u64)base.dentry;
			s->key.mnt = (__u64)base.mnt;
			key_dentry(s, base.dentry);
		}
		s->key.name_len = name_len;
		if (name_len < TR_DEDUP_NAME && seen_before(s, DEDUP_NAMES))
			return;
	} else {
		dedup_it = 0;
	}

	fill_header(&s->ev, type, kind, nr, err);
	s->ev.flags[1] = name_flags;
	if (have_base) {
		root = BPF_CORE_READ(task, fs, root);
		put_path0(s, base.mnt, base.dentry, &root);
	} else if (relative) {
		/* A relative name whose dirfd is not open: nothing to anchor it. */
		s->ev.flags[0] |= TR_F_UNREADABLE;
	}
	put_name1(s, name_len);
	send(s, dedup_it ? DEDUP_NAMES : DEDUP_NONE);
}

/* Reads a user string into s->name. Returns its length without the NUL;
 * sets TR_F_UNREADABLE or TR_F_TRUNCATED in *flags. */
static __always_inline __u32 read_user_name(struct scratch *s, const char *uptr, __u8 *flags)
{
	long n;

	if (!uptr) {
		s->name[0] = 0;
		return 0;
	}
	/* Zero the part of the name a dedup key holds, so that bytes after
	 * the NUL are the same for equal names. */
	__builtin_memset(s->name, 0, TR_DEDUP_NAME);
	n = bpf_probe_read_user_str(s->name, TR_PATH_MAX, uptr);
	if (n <= 0) {
		*flags |= TR_F_UNREADABLE;
		s->name[0] = 0;
		return 0;
	}
	if (n >= TR_PATH_MAX)
		*flags |= TR_F_TRUNCATED;
	return (__u32)(n - 1);
}

static __always_inline void handle_name(struct scratch *s, struct task_struct *task, __u32 nr,
					long ret, __u8 kind, int dirfd, const char *uptr,
					int absolute_only)
{
	__u8 nflags = 0;
	__u32 len;
	__s32 err = ret < 0 ? (__s32)ret : 0;

	len = read_user_name(s, uptr, &nflags);
	if (nflags & TR_F_UNREADABLE) {
		/* EFAULT is the program's own bad pointer; anything else means
		 * the kernel read a name we could not. */
		if (err != -14)
			count(TR_C_NAME_UNREADABLE);
		else
			return;
	}
	if (absolute_only && (len == 0 || s->name[0] != '/'))
		return;
	if (nflags & TR_F_TRUNCATED)
		count(TR_C_PATH_TRUNCATED);
	/* State-changing calls are rare and must all be seen in order. */
	int dedup_it = kind != TR_K_MKDIR && kind != TR_K_CREATE && kind != TR_K_REMOVE &&
		       kind != TR_K_TRUNCATE;
	emit_lookup(s, task, TR_EV_LOOKUP, kind, nr, err, dirfd, len, nflags, dedup_it);
}

/* The name arguments of one call (rename and link have two). They are
 * handled in a bpf_loop() callback, so the verifier checks that code once
 * rather than once per name. */
struct names_ctx {
	__u64 uptr[2];
	__s32 dirfd[2];
	__u8 kind[2];
	__u8 absolute_only[2];
	long ret;
	__u32 nr;
};

static long name_step(__u32 i, struct names_ctx *c)
{
	struct scratch *s = get_scratch();
	struct task_struct *task = bpf_get_current_task_btf();

	if (!s)
		return 1;
	i &= 1;
	handle_name(s, task, c->nr, c->ret, c->kind[i], c->dirfd[i], (const char *)c->uptr[i],
		    c->absolute_only[i]);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	__u32 nr = (__u32)regs->orig_ax;
	struct tr_syscall *sc;
	struct task_struct *task;
	struct scratch *s;

	if (nr >= NR_SYSCALLS)
		return 0;
	sc = bpf_map_lookup_elem(&syscalls, &nr);
	if (!sc || (!sc->kind && !sc->special))
		return 0;
	if (!is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;

	task = bpf_get_current_task_btf();
	s = get_scratch();
	if (!s)
		return 0;
	s->root_dentry = (__u64)task->fs->root.dentry;
	if (task->thread_info.status & TS_COMPAT) {
		/* An ia32 syscall: its number means something else. Tell
		 * userspace once per process; it marks the trace incomplete. */
		key_reset(s, 0xff, 0, 0, task);
		s->key.dentry = bpf_get_current_pid_tgid() >> 32;
		if (!seen_before(s, DEDUP_FILES)) {
			fill_header(&s->ev, TR_EV_COMPAT, 0, nr, 0);
			send(s, DEDUP_FILES);
		}
		return 0;
	}

	/* Decide what was accessed, then emit it from one place: each inlined
	 * copy of an emit costs the verifier (and so every start-up) dearly. */
	struct file *file = NULL;   /* accessed through this open file, or */
	int at_cwd = 0;             /* accessed: the cwd itself */
	__u32 fkind = 0, faux = 0;
	int names = 1;              /* record the name arguments too */
	int absolute_only = 0;      /* only names that do not depend on the old cwd */

	switch (sc->special) {
	case TR_SYS_IO_URING:
		if (ret >= 0) {
			fill_header(&s->ev, TR_EV_IO_URING, 0, nr, 0);
			send(s, DEDUP_NONE);
		}
		return 0;
	case TR_SYS_MMAP: {
		int fd = (int)arg_of(regs, 4);
		if ((ret < 0 && ret > -4096) || (arg_of(regs, 3) & MAP_ANONYMOUS) || fd < 0)
			return 0;
		file = fd_file(task, fd);
		if (!file)
			return 0;
		fkind = TR_K_MMAP;
		faux = (__u32)arg_of(regs, 2);
		names = 0;
		break;
	}
	case TR_SYS_CHDIR:
		if (ret == 0) {
			/* The new cwd; of the name, only an absolute one can be
			 * anchored: the cwd a relative one was relative to is gone. */
			at_cwd = 1;
			fkind = TR_K_CHDIR;
			absolute_only = 1;
		}
		break;
	case TR_SYS_EXECVE:
		if (ret == 0)
			return 0; /* seen at sched_process_exec */
		break;
	}

	if (!fkind && sc->yields_fd && ret >= 0) {
		/* The name as asked for is recorded too: the fd only knows the
		 * final file, and the image needs every symlink on the way. */
		file = fd_file(task, (int)ret);
		fkind = file ? TR_K_OPEN : 0;
	} else if (!fkind && sc->fd_arg >= 0) {
		if (ret < 0)
			return 0;
		file = fd_file(task, (int)arg_of(regs, sc->fd_arg));
		fkind = file ? sc->kind : 0;
		names = 0;
	} else if (!fkind && sc->flags_arg >= 0 && ret >= 0 &&
		   (arg_of(regs, sc->flags_arg) & AT_EMPTY_PATH)) {
		/* The AT_EMPTY_PATH form of a stat works on the dirfd. */
		char c = 0;
		const char *p = (const char *)arg_of(regs, sc->path_arg);
		if (p)
			bpf_probe_read_user(&c, 1, p);
		if (!p || c == 0) {
			int fd = (int)arg_of(regs, sc->dirfd_arg);
			if (fd == AT_FDCWD)
				at_cwd = 1;
			else
				file = fd_file(task, fd);
			fkind = (file || at_cwd) ? sc->kind : 0;
			names = 0;
		}
	}

	if (fkind)
		emit_path(s, task, at_cwd ? NULL : file, fkind, nr, faux);
	if (!names)
		return 0;
	struct names_ctx c = {.ret = ret, .nr = nr};
	__u32 n = 0;
	if (sc->path_arg >= 0) {
		c.uptr[0] = arg_of(regs, sc->path_arg);
		c.dirfd[0] = sc->dirfd_arg >= 0 ? (int)arg_of(regs, sc->dirfd_arg) : AT_FDCWD;
		c.kind[0] = sc->kind;
		c.absolute_only[0] = absolute_only;
		n = 1;
		if (sc->kind2 && sc->path_arg2 >= 0) {
			c.uptr[1] = arg_of(regs, sc->path_arg2);
			c.dirfd[1] = sc->dirfd_arg2 >= 0 ? (int)arg_of(regs, sc->dirfd_arg2) : AT_FDCWD;
			c.kind[1] = sc->kind2;
			n = 2;
		}
	}
	if (n)
		bpf_loop(n, name_step, &c, 0);
	if (n == 2 && ret == 0 && sc->kind == TR_K_REMOVE && sc->kind2 == TR_K_CREATE)
		__sync_fetch_and_add(&rename_generation, 1);
	return 0;
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

/* Copies the user-visible part of s->name starting at `off` to its front. */
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

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct scratch *s;
	struct task_struct *task = bpf_get_current_task_btf();
	struct path fpath, root;
	const char *filename = BPF_CORE_READ(bprm, filename);
	const char *interp = BPF_CORE_READ(bprm, interp);
	long n;

	if (!is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	s = get_scratch();
	if (!s)
		return 0;

	/* The file the kernel really runs. */
	struct file *f = BPF_CORE_READ(bprm, file);
	fpath = BPF_CORE_READ(f, f_path);
	root = BPF_CORE_READ(task, fs, root);
	fill_header(&s->ev, TR_EV_EXEC, TR_K_EXEC_FILE, 0, 0);
	s->ev.mode = BPF_CORE_READ(f, f_inode, i_mode);
	s->ev.aux = old_pid;
	put_path0(s, fpath.mnt, fpath.dentry, &root);
	send(s, DEDUP_NONE);

	/* The name it was asked for, relative to the cwd or an execveat dirfd. */
	__u8 nflags = 0;
	__u32 len = 0;
	int dirfd = AT_FDCWD;
	n = bpf_probe_read_kernel_str(s->name, TR_PATH_MAX, filename);
	if (n > 0) {
		__u32 rest = 0;
		len = n - 1;
		int fd = parse_dev_fd(s->name, len, &rest);
		if (fd >= 0) {
			dirfd = fd;
			len = shift_name(s, rest, len);
		}
	} else {
		nflags |= TR_F_UNREADABLE;
		count(TR_C_NAME_UNREADABLE);
	}
	if (n >= TR_PATH_MAX) {
		nflags |= TR_F_TRUNCATED;
		count(TR_C_PATH_TRUNCATED);
	}
	emit_lookup(s, task, TR_EV_EXEC_NAME, TR_K_EXEC_NAME, 0, 0, dirfd, len, nflags, 0);

	/* The #! interpreter, when a script handler replaced it. */
	if (interp && interp != filename) {
		s = get_scratch();
		if (!s)
			return 0;
		nflags = 0;
		n = bpf_probe_read_kernel_str(s->name, TR_PATH_MAX, interp);
		len = n > 0 ? n - 1 : 0;
		if (n <= 0) {
			nflags |= TR_F_UNREADABLE;
			count(TR_C_NAME_UNREADABLE);
		}
		emit_lookup(s, task, TR_EV_EXEC_NAME, TR_K_INTERP, 0, 0, AT_FDCWD, len, nflags, 0);
	}
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	__u32 cpid = BPF_CORE_READ(child, pid);
	__u8 one = 1;
	struct scratch *s;

	if (ctgid == ptgid || cpid != ctgid || !is_traced(ptgid))
		return 0; /* a thread, or not ours */
	if (bpf_map_update_elem(&traced, &ctgid, &one, BPF_ANY) != 0) {
		count(TR_C_PROC_MAP_FULL);
		return 0;
	}
	s = get_scratch();
	if (!s)
		return 0;
	fill_header(&s->ev, TR_EV_FORK, 0, 0, 0);
	s->ev.tgid = ptgid;
	s->ev.aux = ctgid;
	send(s, DEDUP_NONE);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *task, bool group_dead)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct scratch *s;

	if (!group_dead || !is_traced(tgid))
		return 0;
	bpf_map_delete_elem(&traced, &tgid);
	s = get_scratch();
	if (!s)
		return 0;
	fill_header(&s->ev, TR_EV_EXIT, 0, 0, 0);
	s->ev.tgid = tgid;
	s->ev.aux = BPF_CORE_READ(task, exit_code);
	send(s, DEDUP_NONE);
	return 0;
}
