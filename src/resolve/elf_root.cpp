// File access confined to an image root: every lookup is openat2() with
// RESOLVE_IN_ROOT on a directory fd of the root, so absolute symlinks and ".."
// resolve inside the root as they would after chroot, never on the host.
#include "elf_root.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>

namespace trace_root::elf_detail {

std::string join_path(std::string_view dir, std::string_view name)
{
    std::string out(dir);
    while (out.size() > 1 && out.back() == '/')
        out.pop_back();
    if (out.empty() || out.back() != '/')
        out += '/';
    size_t skip = 0;
    while (skip < name.size() && name[skip] == '/')
        ++skip;
    out.append(name.substr(skip));
    return out;
}

std::string dir_name(std::string_view path)
{
    std::string p(path);
    while (p.size() > 1 && p.back() == '/')
        p.pop_back();
    const size_t slash = p.rfind('/');
    if (slash == std::string::npos)
        return ".";
    if (slash == 0)
        return "/";
    p.resize(slash);
    return p;
}

Result<RootDir> RootDir::open(const std::string& root)
{
    if (root.empty() || root.find('\0') != std::string::npos)
        return fail("invalid root directory \"" + root + "\"");
    RootDir r;
    r.name_ = root;
    const int fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail(errno_message("cannot open root directory", root, errno));
    r.fd_ = UniqueFd(fd);
    char buf[PATH_MAX];
    if (::realpath(root.c_str(), buf) != nullptr)
        r.real_ = buf;
    return r;
}

int RootDir::open_at(const std::string& path, int flags) const
{
    if (path.empty() || path[0] != '/' || path.find('\0') != std::string::npos)
        return -EINVAL;
    struct open_how how = {};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    for (;;) {
        const long fd = ::syscall(SYS_openat2, fd_.get(), path.c_str(), &how, sizeof how);
        if (fd >= 0)
            return static_cast<int>(fd);
        // EAGAIN: a concurrent rename inside the root raced the lookup.
        if (errno == EINTR || errno == EAGAIN)
            continue;
        return -errno;
    }
}

int RootDir::open_regular(const std::string& path, struct stat* st) const
{
    UniqueFd probe(open_at(path, O_PATH));
    if (!probe)
        return probe.get();
    struct stat first;
    if (::fstat(probe.get(), &first) != 0)
        return -errno;
    if (!S_ISREG(first.st_mode))
        return kNotRegular;
    // Open for reading; O_NONBLOCK in case it was swapped for a FIFO meanwhile.
    UniqueFd fd(open_at(path, O_RDONLY | O_NONBLOCK | O_NOCTTY));
    if (!fd)
        return fd.get();
    if (::fstat(fd.get(), st) != 0)
        return -errno;
    if (!S_ISREG(st->st_mode) || st->st_dev != first.st_dev || st->st_ino != first.st_ino)
        return kNotRegular;
    return fd.release();
}

int RootDir::stat_at(const std::string& path, struct stat* st) const
{
    UniqueFd fd(open_at(path, O_PATH));
    if (!fd)
        return fd.get();
    if (::fstat(fd.get(), st) != 0)
        return -errno;
    return 0;
}

bool RootDir::is_dir(const std::string& path) const
{
    struct stat st;
    return stat_at(path, &st) == 0 && S_ISDIR(st.st_mode);
}

std::string RootDir::canonical(const std::string& path) const
{
    UniqueFd fd(open_at(path, O_PATH));
    if (!fd || real_.empty())
        return {};
    const std::string link = "/proc/self/fd/" + std::to_string(fd.get());
    char buf[PATH_MAX + 1];
    const ssize_t n = ::readlink(link.c_str(), buf, PATH_MAX);
    if (n <= 0 || buf[0] != '/')
        return {};
    std::string host(buf, static_cast<size_t>(n));
    if (real_ == "/")
        return host;
    if (host == real_)
        return "/";
    if (host.size() > real_.size() && host.compare(0, real_.size(), real_) == 0 &&
        host[real_.size()] == '/')
        return host.substr(real_.size());
    return {};   // e.g. a bind mount from elsewhere: cannot say
}

std::vector<std::string> RootDir::list_dir(const std::string& dir) const
{
    std::vector<std::string> names;
    const int fd = open_at(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return names;
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
        ::close(fd);
        return names;
    }
    while (const struct dirent* e = ::readdir(d)) {
        const std::string_view n(e->d_name);
        if (n == "." || n == "..")
            continue;
        names.emplace_back(n);
        if (names.size() > 100000)
            break;   // a hostile root: enough
    }
    ::closedir(d);
    return names;
}

Result<std::string> RootDir::read_small_file(const std::string& path, size_t max_bytes) const
{
    struct stat st;
    const int fd = open_regular(path, &st);
    if (fd == kNotRegular)
        return fail(path + " (in root " + name_ + "): not a regular file");
    if (fd < 0)
        return fail(errno_message("cannot open", path, -fd) + " (in root " + name_ + ")");
    UniqueFd guard(fd);
    std::string out;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(errno_message("cannot read", path, errno) + " (in root " + name_ + ")");
        if (n == 0)
            break;
        if (out.size() + static_cast<size_t>(n) > max_bytes)
            return fail("cannot read " + path + " (in root " + name_ + "): larger than " +
                        std::to_string(max_bytes) + " bytes");
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

namespace {

bool has_glob_meta(std::string_view s)
{
    return s.find_first_of("*?[") != std::string_view::npos;
}

std::vector<std::string> split_components(std::string_view path)
{
    std::vector<std::string> out;
    size_t i = 0;
    while (i < path.size()) {
        while (i < path.size() && path[i] == '/')
            ++i;
        const size_t start = i;
        while (i < path.size() && path[i] != '/')
            ++i;
        if (i > start)
            out.emplace_back(path.substr(start, i - start));
    }
    return out;
}

}  // namespace

std::vector<std::string> RootDir::glob(const std::string& pattern) const
{
    std::vector<std::string> paths{"/"};
    if (pattern.empty() || pattern[0] != '/')
        return {};
    constexpr size_t kMaxMatches = 10000;
    for (const std::string& comp : split_components(pattern)) {
        std::vector<std::string> next;
        for (const std::string& p : paths) {
            if (!has_glob_meta(comp)) {
                next.push_back(join_path(p, comp));
                continue;
            }
            std::vector<std::string> names = list_dir(p);
            std::sort(names.begin(), names.end());
            for (const std::string& n : names) {
                if (::fnmatch(comp.c_str(), n.c_str(), FNM_PERIOD) == 0)
                    next.push_back(join_path(p, n));
                if (next.size() >= kMaxMatches)
                    break;
            }
        }
        paths.swap(next);
        if (paths.empty())
            break;
    }
    std::vector<std::string> out;
    for (const std::string& p : paths) {
        struct stat st;
        if (stat_at(p, &st) == 0)
            out.push_back(p);
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace trace_root::elf_detail
