/* Records shared by the kernel side (bpf/trace.bpf.c) and the userspace
 * collector (src/trace/). Plain C, fixed-width types, no padding surprises.
 *
 * Every record in the ring buffer starts with struct tr_event. Variable
 * length strings follow the header back to back: first `len[0]` bytes of
 * string 0, then `len[1]` bytes of string 1 (no NUL terminators). What the
 * strings mean depends on the record type; see enum tr_event_type.
 */
#ifndef TRACE_ROOT_BPF_EVENTS_H
#define TRACE_ROOT_BPF_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TR_PATH_MAX 4096    /* a path longer than this is flagged truncated */
#define TR_NAME_MAX 256     /* one component, NAME_MAX + 1 */
#define TR_MAX_DEPTH 2048   /* components walked: PATH_MAX / 2 */
#define TR_NR_SYSCALLS 512  /* size of the syscall decoding table */

/* The helper number the BPF code calls where it means the kfunc
 * bpf_rdonly_cast(); the tracer rewrites each such call into the kfunc
 * call before load (see bpf/cast.bpf.h). No real helper has it. */
#define TR_CAST_CALL 0x7ffffff0

/* The running kernel's BTF ids of the structs the programs cast pointers
 * to (bpf/cast.bpf.h); all 0 when casts are not used. */
struct tr_btf_ids {
	__u32 task_struct;
	__u32 file;
	__u32 dentry;
	__u32 vfsmount;
	__u32 mount;
	__u32 pt_regs;
};

/* A run's settings, the one element of the `run_config` map. */
struct tr_config {
	__u64 hash_seed[2]; /* the dedup hash's key, random on every run */
	__u64 epoch;        /* 1 to 255, the previous run's plus one: see `dedup` */
};

enum tr_event_type {
	/* An access through a file the kernel opened: s0 = absolute path of
	 * the file (from the fd table, or from task->fs for chdir). */
	TR_EV_FILE = 1,
	/* A lookup by name: s0 = absolute directory the name is relative to
	 * (the dirfd's path or the cwd; empty when the name is absolute),
	 * s1 = the name exactly as the program passed it. */
	TR_EV_LOOKUP = 2,
	/* execve/execveat succeeded: s0 = absolute path of the file the kernel
	 * really runs (bprm->file: the interpreter of a #! script, the ELF
	 * itself otherwise), s1 = bprm->filename as given, base in `aux`: see
	 * TR_EV_EXEC_NAME. */
	TR_EV_EXEC = 3,
	/* Companion of TR_EV_EXEC: s0 = base directory for s1 (cwd, or the
	 * dirfd's path for execveat), s1 = filename; and for a script a second
	 * one with kind TR_K_INTERP and s1 = the #! interpreter string. */
	TR_EV_EXEC_NAME = 4,
	TR_EV_FORK = 5,     /* aux = child tgid */
	TR_EV_EXIT = 6,     /* aux = exit code as in wait status */
	TR_EV_IO_URING = 7, /* the process set up an io_uring */
	TR_EV_COMPAT = 8,   /* a 32-bit (ia32) syscall was seen: not decoded */
};

/* What the access was; userspace maps this to report access kinds. */
enum tr_kind {
	TR_K_OPEN = 1,      /* aux = file f_flags, mode = i_mode, fmode in aux2 */
	TR_K_EXEC_FILE,     /* bprm->file */
	TR_K_EXEC_NAME,     /* bprm->filename */
	TR_K_INTERP,        /* #! interpreter */
	TR_K_STAT,          /* stat family, access family */
	TR_K_READLINK,
	TR_K_CHDIR,
	TR_K_LISTDIR,       /* getdents */
	TR_K_MMAP,          /* aux = prot */
	TR_K_MKDIR,         /* created a directory (on success) */
	TR_K_CREATE,        /* created a non-directory name: link, symlink, mknod, rename target */
	TR_K_REMOVE,        /* unlink, rmdir, rename source */
	TR_K_TRUNCATE,
	TR_K_OPEN_NAME,     /* a failed open: the name that was asked for */
	TR_K_EXEC_FAILED,   /* a failed execve: the name that was asked for */
};

/* Flags on each string (flags[i]). */
#define TR_F_TRUNCATED   (1u << 0) /* longer than TR_PATH_MAX or deeper than TR_MAX_DEPTH */
#define TR_F_DELETED     (1u << 1) /* the dentry was unlinked */
#define TR_F_PSEUDO      (1u << 2) /* pipe, socket, anon inode, or a kernel-internal mount */
#define TR_F_OUTSIDE     (1u << 3) /* the walk ended at a root other than the task's root */
#define TR_F_UNREADABLE  (1u << 4) /* the user string could not be read */
#define TR_F_CREATED     (1u << 5) /* FMODE_CREATED: this open created the file */
#define TR_F_OPEN_MODE   (1u << 6) /* in flags[1] of a successful open's name: aux and
				      aux2 hold the opened file's f_flags and f_mode */
#define TR_F_PREV_CWD    (1u << 7) /* in flags[0] of a successful relative chdir's name:
				      no s0; the name is relative to the cwd the process had
				      before this call, which userspace knows (the TR_EV_FILE
				      of the new cwd comes just before) */

/* Loss and statistics counters, one per-CPU array slot each. */
enum tr_counter {
	TR_C_RINGBUF_FULL = 0,   /* bpf_ringbuf_output failed: an event is lost */
	TR_C_PROC_MAP_FULL,      /* a forked process could not be added: its events are lost */
	TR_C_PATH_TRUNCATED,     /* a path could not be emitted whole */
	TR_C_NAME_UNREADABLE,    /* a successful call whose name could not be read */
	TR_C_DEDUP_FAILED,       /* always 0 now (the dedup table never refuses); kept for the report schema */
	TR_C_EVENTS,             /* events sent */
	TR_C_DEDUP_HITS,         /* repeats suppressed in the kernel */
	TR_C_EMIT_FAILED,        /* the tail call to the sender failed: an event is lost */
	TR_C_MAX,
};

/* Per-syscall decoding, filled by userspace into the programs' read-only
 * `syscall_table`, indexed by syscall number. arg indexes are 0..5, or -1 for none. */
struct tr_syscall {
	__u8 kind;         /* enum tr_kind of the name-based access, 0 = not traced */
	__s8 dirfd_arg;    /* argument holding the dirfd, -1 = AT_FDCWD */
	__s8 path_arg;     /* argument holding the user path string, -1 = none */
	__s8 fd_arg;       /* argument holding an fd whose file is accessed, -1 = none */
	__u8 yields_fd;    /* the return value is a new fd (opens) */
	__u8 kind2;        /* second name (rename, link, symlink target side) */
	__s8 dirfd_arg2;
	__s8 path_arg2;
	__s8 flags_arg;    /* AT_* flags (for AT_EMPTY_PATH), -1 = none */
	__u8 special;      /* TR_SYS_* below */
	__u8 pad[6];
};

#define TR_SYS_NONE 0
#define TR_SYS_MMAP 1
#define TR_SYS_CHDIR 2     /* on success: emit the new cwd */
#define TR_SYS_IO_URING 3
#define TR_SYS_EXECVE 4    /* success is seen at sched_process_exec; only failures here */

struct tr_event {
	__u64 ts_ns;
	__u32 type;        /* enum tr_event_type */
	__u32 kind;        /* enum tr_kind */
	__u32 tgid;
	__u32 tid;
	__s32 err;         /* 0 or -errno of the call */
	__u32 mode;        /* i_mode of the file, 0 when unknown */
	__u32 aux;         /* open flags, mmap prot, child pid, exit code */
	__u32 aux2;        /* f_mode for opens */
	__u32 syscall;     /* syscall number, 0 for scheduler events */
	__u16 len[2];
	__u8 flags[2];
	__u8 pad[6];
	char comm[16];
	/* followed by len[0] + len[1] bytes */
};

#endif /* TRACE_ROOT_BPF_EVENTS_H */
