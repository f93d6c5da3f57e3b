#include "beneath.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace trace_root::beneath {

int open_at(int dirfd, const std::string& rel, int flags, Scope scope, mode_t mode)
{
    struct open_how how {};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
    how.resolve = RESOLVE_NO_MAGICLINKS;
    how.resolve |=
        scope == Scope::InRoot ? RESOLVE_IN_ROOT : (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
    const char* p = rel.empty() ? "." : rel.c_str();
    // EAGAIN: a concurrent rename somewhere on the system made the kernel
    // unable to prove the walk stayed inside; the walk is simply retried.
    for (int attempt = 0;; ++attempt) {
        const long fd = syscall(SYS_openat2, dirfd, p, &how, sizeof how);
        if (fd >= 0)
            return static_cast<int>(fd);
        if (errno == EINTR || (errno == EAGAIN && attempt < 64))
            continue;
        return -1;
    }
}

std::string relative(const std::string& absolute_path)
{
    size_t i = 0;
    while (i < absolute_path.size() && absolute_path[i] == '/')
        ++i;
    return i == absolute_path.size() ? std::string(".") : absolute_path.substr(i);
}

std::pair<std::string, std::string> split_parent(const std::string& absolute_path)
{
    const size_t slash = absolute_path.rfind('/');
    if (slash == std::string::npos)
        return {"/", absolute_path};
    std::string parent = slash == 0 ? std::string("/") : absolute_path.substr(0, slash);
    return {parent, absolute_path.substr(slash + 1)};
}

int lstat_in_root(int rootfd, const std::string& absolute_path, struct stat& st)
{
    const int fd = open_at(rootfd, relative(absolute_path), O_PATH | O_NOFOLLOW, Scope::InRoot);
    if (fd < 0)
        return errno;
    const int rc = fstat(fd, &st);
    const int err = errno;
    close(fd);
    return rc == 0 ? 0 : err;
}

std::string fd_path(int dirfd, const std::string& name)
{
    return "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
}

}  // namespace trace_root::beneath
