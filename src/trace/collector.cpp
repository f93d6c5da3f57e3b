#include "collector.hpp"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "trace_root/bpf_events.h"
#include "trace_root/escape.hpp"

namespace trace_root {

namespace {

constexpr uint32_t kFmodePath = 0x4000;

bool is_missing_errno(int32_t err) { return err == -ENOENT || err == -ENOTDIR; }

uint32_t path_flags_from_kernel(uint8_t f)
{
    uint32_t out = 0;
    if (f & TR_F_TRUNCATED)
        out |= kPathTruncated;
    if (f & TR_F_DELETED)
        out |= kPathDeleted;
    if (f & TR_F_PSEUDO)
        out |= kPathPseudo;
    if (f & TR_F_OUTSIDE)
        out |= kPathOutsideRoot;
    if (f & TR_F_UNREADABLE)
        out |= kPathUnreadable;
    return out;
}

// Access kinds of an open, from the opened file's f_flags and f_mode (not
// whether it created the file: that belongs to the file, not the name).
uint32_t open_mode_access(uint32_t f_flags, uint32_t f_mode)
{
    if (f_mode & kFmodePath)
        return kStat;
    switch (f_flags & O_ACCMODE) {
    case O_RDONLY: return kRead;
    case O_WRONLY: return kWrite;
    default: return kRead | kWrite;
    }
}

// Access kinds of a lookup by name, from its kind and result.
uint32_t lookup_access(const tr_event& ev)
{
    const int32_t err = ev.err;
    const bool missing = is_missing_errno(err);
    switch (ev.kind) {
    case TR_K_OPEN_NAME:
        // A successful open is also sent by name, so that the symlinks on
        // the way are known; the file itself comes as a TR_EV_FILE. The
        // name has the open's access mode when the kernel side could read
        // the file (it could not when another thread closed the fd first).
        if (err == 0)
            return (ev.flags[1] & TR_F_OPEN_MODE) ? open_mode_access(ev.aux, ev.aux2) : kRead;
        return missing ? kMissing : kStat;
    case TR_K_STAT:
    case TR_K_EXEC_FAILED:
        return missing ? kMissing : kStat;
    case TR_K_READLINK:
        return missing ? kMissing : err == -EINVAL ? kStat : kReadlink;
    case TR_K_CHDIR:
        return err == 0 ? kChdir : missing ? kMissing : kStat;
    case TR_K_MKDIR:
        return err == 0 ? kCreated : missing ? kMissing : kStat;
    case TR_K_CREATE:
        return err == 0 ? kCreated : missing ? kMissing : kStat;
    case TR_K_REMOVE:
        return err == 0 ? kRemoved : missing ? kMissing : kStat;
    case TR_K_TRUNCATE:
        return err == 0 ? kWrite : missing ? kMissing : kStat;
    case TR_K_EXEC_NAME:
        return kExec;
    case TR_K_INTERP:
        return kInterp;
    }
    return kStat;
}

uint32_t file_access(const tr_event& ev)
{
    switch (ev.kind) {
    case TR_K_OPEN: {
        uint32_t a = open_mode_access(ev.aux, ev.aux2);
        if ((ev.aux2 & kFmodePath) == 0 && (ev.flags[0] & TR_F_CREATED))
            a |= kCreated;
        return a;
    }
    case TR_K_MMAP: return kMmap;
    case TR_K_LISTDIR: return kListdir;
    case TR_K_CHDIR: return kChdir;
    case TR_K_EXEC_FILE: return kExec;
    }
    return kStat;
}

}  // namespace

std::string join_lookup(std::string_view base, std::string_view name)
{
    std::string joined;
    if (!name.empty() && name[0] == '/')
        joined = name;
    else if (name.empty())
        joined = base;
    else
        joined = std::string(base) + "/" + std::string(name);

    std::string out;
    out.reserve(joined.size());
    size_t i = 0;
    while (i < joined.size()) {
        while (i < joined.size() && joined[i] == '/')
            ++i;
        size_t j = joined.find('/', i);
        if (j == std::string::npos)
            j = joined.size();
        std::string_view comp(joined.data() + i, j - i);
        if (!comp.empty() && comp != ".") {
            out += '/';
            out.append(comp);
        }
        i = j;
    }
    return out.empty() ? "/" : out;
}

Collector::Collector(CollectorOptions options) : options_(std::move(options))
{
    scope_started_ = options_.only_under.empty();
}

Collector::Proc& Collector::proc(uint32_t tgid, std::string_view comm)
{
    auto [it, inserted] = procs_.try_emplace(tgid);
    if (inserted)
        it->second.in_scope = options_.only_under.empty();
    it->second.comm.assign(comm);
    return it->second;
}

void Collector::add_root_process(uint32_t pid, std::string comm, std::string cwd)
{
    proc(pid, comm).cwd = std::move(cwd);
}

void Collector::warn_once(std::string message)
{
    if (std::find(warnings_.begin(), warnings_.end(), message) == warnings_.end())
        warnings_.push_back(std::move(message));
}

void Collector::record(std::string path, uint32_t access, uint32_t flags, uint32_t mode,
                       const Proc& who, uint32_t pid)
{
    if (!who.in_scope)
        return;
    if (std::find(options_.exclude_exe.begin(), options_.exclude_exe.end(), who.exe) !=
        options_.exclude_exe.end())
        return;
    auto [it, inserted] = paths_.try_emplace(path);
    PathEntry& e = it->second;
    if (inserted) {
        e.path = std::move(path);
        e.first = {static_cast<int>(pid), who.comm, who.exe};
    }
    e.access |= access;
    e.flags |= flags;
    if (mode && !e.mode)
        e.mode = mode;
    ++e.count;
}

// 32-bit programs make ia32 syscalls, which the x86-64 table does not
// decode. The kernel side flags them as they happen; checking the ELF class
// of each exec'd file says which program it was.
void Collector::check_exec_class(const std::string& path, uint32_t pid)
{
    std::string full = options_.root == "/" ? path : options_.root + path;
    const int fd = open(full.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    unsigned char ident[EI_NIDENT] = {};
    const ssize_t n = pread(fd, ident, sizeof ident, 0);
    close(fd);
    if (n == EI_NIDENT && std::memcmp(ident, ELFMAG, SELFMAG) == 0 &&
        ident[EI_CLASS] == ELFCLASS32) {
        warn_once("process " + std::to_string(pid) + " runs the 32-bit program " +
                  escape_path(path) + ": its file accesses are not traced");
        compat_pids_.push_back(pid);
    }
}

void Collector::on_record(const void* data, size_t size)
{
    if (size < sizeof(tr_event)) {
        ++malformed_;
        return;
    }
    tr_event ev;
    std::memcpy(&ev, data, sizeof ev);
    const size_t body = size - sizeof ev;
    if (static_cast<size_t>(ev.len[0]) + ev.len[1] > body) {
        ++malformed_;
        return;
    }
    ++events_;
    const char* strings = static_cast<const char*>(data) + sizeof ev;
    std::string_view s0(strings, ev.len[0]);
    std::string_view s1(strings + ev.len[0], ev.len[1]);
    std::string_view comm(ev.comm, strnlen(ev.comm, sizeof ev.comm));
    Proc& who = proc(ev.tgid, comm);

    switch (ev.type) {
    case TR_EV_FORK: {
        auto child_comm = who.comm;
        Proc& child = proc(ev.aux, child_comm);
        Proc& parent = procs_[ev.tgid];
        child.exe = parent.exe;
        child.cwd = parent.cwd;
        child.in_scope = parent.in_scope;
        return;
    }
    case TR_EV_EXIT:
        return;
    case TR_EV_IO_URING:
        io_uring_pids_.push_back(ev.tgid);
        warn_once("process " + std::to_string(ev.tgid) + " (" + std::string(comm) +
                  ") uses io_uring: files it opens through io_uring are not traced");
        return;
    case TR_EV_COMPAT:
        compat_pids_.push_back(ev.tgid);
        warn_once("process " + std::to_string(ev.tgid) + " (" + std::string(comm) +
                  ") makes 32-bit (ia32) system calls: they are not traced");
        return;
    default:
        break;
    }

    const uint32_t flags0 = path_flags_from_kernel(ev.flags[0]);
    const uint32_t flags1 = path_flags_from_kernel(ev.flags[1]);
    if ((flags0 | flags1) & kPathTruncated) {
        // Counted as loss in the kernel; never recorded as if it were whole.
        return;
    }

    if (ev.type == TR_EV_FILE || ev.type == TR_EV_EXEC) {
        if (s0.empty())
            return;
        if (s0[0] != '/') {
            // The kernel walk always yields an absolute path; anything
            // else is a malformed record, counted, never recorded.
            ++malformed_;
            return;
        }
        std::string path(s0);
        if (ev.type == TR_EV_EXEC) {
            if (!options_.only_under.empty() && !who.in_scope &&
                path == options_.only_under) {
                who.in_scope = true;
                scope_started_ = true;
            }
            who.exe = path;
            check_exec_class(path, ev.tgid);
        }
        if (ev.type == TR_EV_FILE && ev.kind == TR_K_CHDIR) {
            // A deleted or pseudo directory leaves the cwd unknown.
            who.prev_cwd = std::move(who.cwd);
            who.cwd = flags0 == 0 ? path : std::string();
        }
        record(std::move(path), file_access(ev), flags0, ev.mode, who, ev.tgid);
        return;
    }

    if (ev.type == TR_EV_LOOKUP || ev.type == TR_EV_EXEC_NAME) {
        if (flags1 & kPathUnreadable)
            return;  // counted as loss in the kernel when the call succeeded
        const bool absolute = !s1.empty() && s1[0] == '/';
        if (!absolute && (ev.flags[0] & TR_F_PREV_CWD)) {
            // A relative chdir: the name is relative to the cwd before it,
            // and the event of the new cwd came just before this one.
            if (who.prev_cwd.empty()) {
                warn_once("a relative chdir to \"" + escape_path(s1) +
                          "\" could not be anchored: the directory it started from is not "
                          "known, so a symlink it went through may be missing");
                return;
            }
            record(join_lookup(who.prev_cwd, s1), lookup_access(ev), 0, 0, who, ev.tgid);
            return;
        }
        if (!absolute && (flags0 & kPathUnreadable)) {
            // The dirfd was not open: the call failed with EBADF, or the
            // name cannot be anchored. Either way there is no path.
            if (ev.err == 0)
                warn_once("a relative name \"" + escape_path(s1) +
                          "\" could not be anchored to its directory");
            return;
        }
        if (!absolute && s0.empty())
            return;
        std::string path = join_lookup(absolute ? std::string_view() : s0, s1);
        if (ev.type == TR_EV_EXEC_NAME && ev.kind == TR_K_EXEC_NAME && !who.in_scope &&
            path == options_.only_under) {
            who.in_scope = true;
            scope_started_ = true;
        }
        record(std::move(path), lookup_access(ev), absolute ? 0 : flags0 & ~kPathDeleted,
               0, who, ev.tgid);
    }
}

void Collector::finish(Report& report)
{
    report.paths.clear();
    report.paths.reserve(paths_.size());
    for (auto& [path, entry] : paths_)
        report.paths.push_back(std::move(entry));
    paths_.clear();
    std::sort(report.paths.begin(), report.paths.end(),
              [](const PathEntry& a, const PathEntry& b) { return a.path < b.path; });
    report.events = events_;
    report.processes = procs_.size();
    for (const auto& w : warnings_)
        report.warnings.push_back(w);
    if (!options_.only_under.empty() && !scope_started_)
        report.warnings.push_back("--only-under " + escape_path(options_.only_under) +
                                  ": that program was never executed, so nothing was recorded");
}

}  // namespace trace_root
