// x86-64 syscall numbers and argument positions of every call that names,
// opens, lists, maps, runs, creates or removes a file. Each row is one
// syscall; the kernel side reads this table from its read-only `syscall_table`, so
// adding a syscall is adding a row here.
#include "syscall_table.hpp"

#include <sys/syscall.h>

namespace trace_root {

namespace {

struct Row {
    uint32_t nr;
    const char* name;
    tr_syscall d;
};

constexpr int8_t kNone = -1;

// A lookup by name: `dirfd` and `path` are argument positions (-1 = none).
constexpr Row by_name(uint32_t nr, const char* name, uint8_t kind, int8_t dirfd, int8_t path,
                      int8_t flags = kNone)
{
    return {nr, name, {kind, dirfd, path, kNone, 0, 0, kNone, kNone, flags, TR_SYS_NONE, {}}};
}
// An open: the returned fd names the file; a failure names what was asked for.
constexpr Row opens(uint32_t nr, const char* name, int8_t dirfd, int8_t path)
{
    return {nr, name, {TR_K_OPEN_NAME, dirfd, path, kNone, 1, 0, kNone, kNone, kNone,
                       TR_SYS_NONE, {}}};
}
// A call on an open fd, argument `fd`.
constexpr Row on_fd(uint32_t nr, const char* name, uint8_t kind, int8_t fd,
                    uint8_t special = TR_SYS_NONE)
{
    return {nr, name, {kind, kNone, kNone, fd, 0, 0, kNone, kNone, kNone, special, {}}};
}
// Two names: rename, link.
constexpr Row two_names(uint32_t nr, const char* name, uint8_t kind, int8_t dirfd, int8_t path,
                        uint8_t kind2, int8_t dirfd2, int8_t path2)
{
    return {nr, name, {kind, dirfd, path, kNone, 0, kind2, dirfd2, path2, kNone, TR_SYS_NONE,
                       {}}};
}
constexpr Row special(Row r, uint8_t what)
{
    r.d.special = what;
    return r;
}

const Row kRows[] = {
    opens(SYS_open, "open", kNone, 0),
    opens(SYS_creat, "creat", kNone, 0),
    opens(SYS_openat, "openat", 0, 1),
    opens(SYS_openat2, "openat2", 0, 1),
    opens(SYS_open_by_handle_at, "open_by_handle_at", kNone, kNone),
    // Exec: success is recorded at sched_process_exec, failures here.
    special(by_name(SYS_execve, "execve", TR_K_EXEC_FAILED, kNone, 0), TR_SYS_EXECVE),
    special(by_name(SYS_execveat, "execveat", TR_K_EXEC_FAILED, 0, 1, 4), TR_SYS_EXECVE),
    // Lookups by name.
    by_name(SYS_stat, "stat", TR_K_STAT, kNone, 0),
    by_name(SYS_lstat, "lstat", TR_K_STAT, kNone, 0),
    by_name(SYS_newfstatat, "newfstatat", TR_K_STAT, 0, 1, 3),
    by_name(SYS_statx, "statx", TR_K_STAT, 0, 1, 2),
    by_name(SYS_access, "access", TR_K_STAT, kNone, 0),
    by_name(SYS_faccessat, "faccessat", TR_K_STAT, 0, 1),
    by_name(SYS_faccessat2, "faccessat2", TR_K_STAT, 0, 1, 3),
    by_name(SYS_statfs, "statfs", TR_K_STAT, kNone, 0),
    by_name(SYS_chroot, "chroot", TR_K_STAT, kNone, 0),
    by_name(SYS_name_to_handle_at, "name_to_handle_at", TR_K_STAT, 0, 1, 4),
    by_name(SYS_inotify_add_watch, "inotify_add_watch", TR_K_STAT, kNone, 1),
    by_name(SYS_getxattr, "getxattr", TR_K_STAT, kNone, 0),
    by_name(SYS_lgetxattr, "lgetxattr", TR_K_STAT, kNone, 0),
    by_name(SYS_listxattr, "listxattr", TR_K_STAT, kNone, 0),
    by_name(SYS_llistxattr, "llistxattr", TR_K_STAT, kNone, 0),
    by_name(SYS_chmod, "chmod", TR_K_STAT, kNone, 0),
    by_name(SYS_fchmodat, "fchmodat", TR_K_STAT, 0, 1),
    by_name(SYS_chown, "chown", TR_K_STAT, kNone, 0),
    by_name(SYS_lchown, "lchown", TR_K_STAT, kNone, 0),
    by_name(SYS_fchownat, "fchownat", TR_K_STAT, 0, 1, 4),
    by_name(SYS_readlink, "readlink", TR_K_READLINK, kNone, 0),
    by_name(SYS_readlinkat, "readlinkat", TR_K_READLINK, 0, 1),
    // Directories: working directory and listings. A successful chdir
    // records the new cwd itself; a failed one is a lookup.
    special(by_name(SYS_chdir, "chdir", TR_K_CHDIR, kNone, 0), TR_SYS_CHDIR),
    on_fd(SYS_fchdir, "fchdir", TR_K_CHDIR, 0, TR_SYS_CHDIR),
    on_fd(SYS_getdents64, "getdents64", TR_K_LISTDIR, 0),
    on_fd(SYS_getdents, "getdents", TR_K_LISTDIR, 0),
    // Mapping a file: fd is argument 4, prot argument 2.
    on_fd(SYS_mmap, "mmap", TR_K_MMAP, kNone, TR_SYS_MMAP),
    // What the workload creates and removes itself.
    by_name(SYS_mkdir, "mkdir", TR_K_MKDIR, kNone, 0),
    by_name(SYS_mkdirat, "mkdirat", TR_K_MKDIR, 0, 1),
    by_name(SYS_mknod, "mknod", TR_K_CREATE, kNone, 0),
    by_name(SYS_mknodat, "mknodat", TR_K_CREATE, 0, 1),
    by_name(SYS_unlink, "unlink", TR_K_REMOVE, kNone, 0),
    by_name(SYS_unlinkat, "unlinkat", TR_K_REMOVE, 0, 1),
    by_name(SYS_rmdir, "rmdir", TR_K_REMOVE, kNone, 0),
    two_names(SYS_rename, "rename", TR_K_REMOVE, kNone, 0, TR_K_CREATE, kNone, 1),
    two_names(SYS_renameat, "renameat", TR_K_REMOVE, 0, 1, TR_K_CREATE, 2, 3),
    two_names(SYS_renameat2, "renameat2", TR_K_REMOVE, 0, 1, TR_K_CREATE, 2, 3),
    two_names(SYS_link, "link", TR_K_STAT, kNone, 0, TR_K_CREATE, kNone, 1),
    two_names(SYS_linkat, "linkat", TR_K_STAT, 0, 1, TR_K_CREATE, 2, 3),
    // symlink's first argument is the literal target, not a lookup.
    by_name(SYS_symlink, "symlink", TR_K_CREATE, kNone, 1),
    by_name(SYS_symlinkat, "symlinkat", TR_K_CREATE, 1, 2),
    by_name(SYS_truncate, "truncate", TR_K_TRUNCATE, kNone, 0),
    // io_uring opens bypass the syscall tracepoints: only detect its use.
    on_fd(SYS_io_uring_setup, "io_uring_setup", 0, kNone, TR_SYS_IO_URING),
};

}  // namespace

namespace {

std::vector<SyscallEntry> build()
{
    std::vector<SyscallEntry> out;
    for (const Row& r : kRows)
        out.push_back({r.nr, r.name, r.d});
    return out;
}

}  // namespace

const std::vector<SyscallEntry>& traced_syscalls()
{
    static const std::vector<SyscallEntry> table = build();
    return table;
}

}  // namespace trace_root
