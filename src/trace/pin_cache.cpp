// The pinned-program cache (see pin_cache.hpp). Every step works on the
// cache directory's file descriptor, which holds the lock; bpf_obj_pin()
// and bpf_obj_get() only take paths, so those are built from kDir.
#include "pin_cache.hpp"

#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace trace_root {

namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;
// Pin names: a map NAME is "map_NAME", a program attached to raw
// tracepoint NAME is "tp_NAME".
constexpr std::string_view kMapPrefix = "map_", kProgramPrefix = "tp_";

std::string errstr(int e) { return std::strerror(e); }

// The names in directory `fd` (a dup of it is read, so `fd` stays usable).
Result<std::vector<std::string>> entries(int fd, const std::string& what)
{
    const int copy = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* d = copy >= 0 ? fdopendir(copy) : nullptr;
    if (!d) {
        const int e = errno;
        if (copy >= 0)
            close(copy);
        return fail("cannot read " + what + ": " + errstr(e));
    }
    std::vector<std::string> names;
    while (const dirent* ent = readdir(d)) {
        const std::string name = ent->d_name;
        if (name != "." && name != "..")
            names.push_back(name);
    }
    closedir(d);
    return names;
}

// Removes `name` in directory `dir`: a pin, or a directory of pins.
Result<void> remove_entry(int dir, const std::string& name, const std::string& where)
{
    if (unlinkat(dir, name.c_str(), 0) == 0)
        return {};
    if (errno != EISDIR && errno != EPERM)
        return fail("cannot remove " + where + "/" + name + ": " + errstr(errno));
    UniqueFd sub(openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub.valid())
        return fail("cannot open " + where + "/" + name + ": " + errstr(errno));
    auto names = entries(sub.get(), where + "/" + name);
    if (!names)
        return tl::unexpected(names.error());
    for (const auto& n : *names)
        if (unlinkat(sub.get(), n.c_str(), 0) != 0)
            return fail("cannot remove " + where + "/" + name + "/" + n + ": " + errstr(errno));
    if (unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0)
        return fail("cannot remove " + where + "/" + name + ": " + errstr(errno));
    return {};
}

}  // namespace

std::optional<PinCache> PinCache::take(std::string& why_not, std::string& warning)
{
    // Where nothing mounted the BPF filesystem at boot (systemd does), it
    // is mounted here, root's only, as trace-root would mount tracefs.
    struct statfs fs;
    if (statfs("/sys/fs/bpf", &fs) != 0 || fs.f_type != kBpfFsMagic) {
        if (mount("bpf", "/sys/fs/bpf", "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") != 0 ||
            statfs("/sys/fs/bpf", &fs) != 0 || fs.f_type != kBpfFsMagic) {
            why_not = "no BPF filesystem is mounted at /sys/fs/bpf, and mounting one failed: " +
                      errstr(errno);
            return std::nullopt;
        }
    }
    if (mkdir(kDir, 0700) != 0 && errno != EEXIST) {
        why_not = std::string("cannot create ") + kDir + ": " + errstr(errno);
        return std::nullopt;
    }
    UniqueFd dir(::open(kDir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st;
    if (!dir.valid() || fstat(dir.get(), &st) != 0) {
        why_not = std::string("cannot open ") + kDir + ": " + errstr(errno);
        return std::nullopt;
    }
    // /sys/fs/bpf is writable by everyone (mode 1777): a directory made by
    // somebody else could hold programs of theirs.
    if (st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
        why_not = std::string(kDir) + " belongs to uid " + std::to_string(st.st_uid) +
                  " or is writable by others";
        warning = why_not + ", so the BPF programs are loaded anew on every run; remove it (rm -r " +
                  kDir + ") to let trace-root keep them there";
        return std::nullopt;
    }
    if (flock(dir.get(), LOCK_EX | LOCK_NB) != 0) {
        why_not = errno == EWOULDBLOCK ? std::string("another trace-root is using ") + kDir
                                       : std::string("cannot lock ") + kDir + ": " + errstr(errno);
        return std::nullopt;
    }
    return PinCache(std::move(dir));
}

int PinCache::Set::map(std::string_view name) const
{
    for (const auto& [n, fd] : maps)
        if (n == name)
            return fd.get();
    return -1;
}

std::optional<PinCache::Set> PinCache::open(const std::string& key, std::string& why_not) const
{
    UniqueFd sub(openat(dir_.get(), key.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub.valid()) {
        why_not = errno == ENOENT ? "none pinned for this build, kernel and ring buffer size"
                                  : "cannot open " + std::string(kDir) + "/" + key + ": " +
                                        errstr(errno);
        return std::nullopt;
    }
    auto names = entries(sub.get(), std::string(kDir) + "/" + key);
    if (!names) {
        why_not = names.error().message;
        return std::nullopt;
    }
    Set set;
    for (const auto& name : *names) {
        const std::string path = std::string(kDir) + "/" + key + "/" + name;
        const bool is_map = name.rfind(kMapPrefix, 0) == 0,
                   is_prog = name.rfind(kProgramPrefix, 0) == 0;
        if (!is_map && !is_prog) {
            why_not = "unexpected entry " + path;
            return std::nullopt;
        }
        UniqueFd fd(bpf_obj_get(path.c_str()));
        if (!fd.valid()) {
            why_not = "cannot open " + path + ": " + errstr(errno);
            return std::nullopt;
        }
        (is_map ? set.maps : set.programs)
            .emplace_back(name.substr((is_map ? kMapPrefix : kProgramPrefix).size()),
                          std::move(fd));
    }
    return set;
}

Result<void> PinCache::publish(const std::string& key,
                               const std::vector<std::pair<std::string, int>>& maps,
                               const std::vector<std::pair<std::string, int>>& programs) const
{
    // A key is the build's digest, then "-" and what the run chose.
    const std::string build = key.substr(0, key.find('-') + 1);
    auto names = entries(dir_.get(), kDir);
    if (!names)
        return tl::unexpected(names.error());
    std::vector<std::pair<timespec, std::string>> same_build;
    for (const auto& name : *names) {
        struct stat st;
        if (name != key && name.rfind(build, 0) == 0 &&
            fstatat(dir_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(st.st_mode) && name.find("-new") == std::string::npos) {
            same_build.emplace_back(st.st_mtim, name);
            continue;
        }
        if (auto r = remove_entry(dir_.get(), name, kDir); !r)
            return r;
    }
    std::sort(same_build.begin(), same_build.end(), [](const auto& a, const auto& b) {
        return a.first.tv_sec != b.first.tv_sec ? a.first.tv_sec > b.first.tv_sec
                                                : a.first.tv_nsec > b.first.tv_nsec;
    });
    for (size_t i = kKeep; i < same_build.size(); ++i)
        if (auto r = remove_entry(dir_.get(), same_build[i].second, kDir); !r)
            return r;
    const std::string fresh = key + "-new";
    if (mkdirat(dir_.get(), fresh.c_str(), 0700) != 0)
        return fail("cannot create " + std::string(kDir) + "/" + fresh + ": " + errstr(errno));
    auto pin = [&](const std::string& name, int fd) -> Result<void> {
        const std::string path = std::string(kDir) + "/" + fresh + "/" + name;
        if (bpf_obj_pin(fd, path.c_str()) != 0)
            return fail("cannot pin " + path + ": " + errstr(errno));
        return {};
    };
    Result<void> done;
    for (const auto& [name, fd] : maps)
        if (done)
            done = pin(std::string(kMapPrefix) + name, fd);
    for (const auto& [tracepoint, fd] : programs)
        if (done)
            done = pin(std::string(kProgramPrefix) + tracepoint, fd);
    if (done && renameat(dir_.get(), fresh.c_str(), dir_.get(), key.c_str()) != 0)
        done = fail("cannot rename " + std::string(kDir) + "/" + fresh + ": " + errstr(errno));
    if (!done)
        (void)remove_entry(dir_.get(), fresh, kDir);
    return done;
}

}  // namespace trace_root
