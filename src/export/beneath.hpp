// File descriptors and path lookups that cannot escape a root directory.
//
// Export writes into a directory that may already hold hostile symlinks
// (DIR/usr -> /), and reads from a root file system whose absolute symlinks
// mean "inside this root", not "on the host". Every lookup therefore goes
// through openat2(): RESOLVE_IN_ROOT for the source (symlinks resolve as if
// the root were "/"), RESOLVE_BENEATH with no symlinks at all for the
// destination (a symlink where export expects a directory is a conflict, not
// something to follow). Never build a path by string concatenation and hand
// it to a plain open().
#pragma once

#include <sys/stat.h>

#include <string>
#include <utility>

#include "trace_root/error.hpp"
#include "trace_root/unique_fd.hpp"

namespace trace_root::beneath {

// A move-only owned file descriptor.
using Fd = trace_root::UniqueFd;

enum class Scope {
    InRoot,   // RESOLVE_IN_ROOT: symlinks followed, but "/" and ".." stay at the root
    Beneath,  // RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: plain directories only
};

// openat2() relative to `dirfd`, retrying EINTR/EAGAIN. `rel` is relative
// ("" or "." means dirfd itself). Returns the fd, or -1 with errno set.
int open_at(int dirfd, const std::string& rel, int flags, Scope scope, mode_t mode = 0);

// "/usr/lib/x" -> "usr/lib/x"; "/" -> ".".
std::string relative(const std::string& absolute_path);

// Splits "/a/b/c" into parent "/a/b" and name "c" ("/a" -> "/" and "a").
std::pair<std::string, std::string> split_parent(const std::string& absolute_path);

// lstat() of `absolute_path` inside the root `rootfd` (intermediate symlinks
// resolve inside the root, the last component is not followed).
// Returns 0, or an errno value.
int lstat_in_root(int rootfd, const std::string& absolute_path, struct stat& st);

// "/proc/self/fd/N/NAME": lets the l*xattr() calls, which take only a path,
// reach NAME in the directory open as N without a second path walk.
std::string fd_path(int dirfd, const std::string& name);

}  // namespace trace_root::beneath
