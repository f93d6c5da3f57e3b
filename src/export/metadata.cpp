#include "metadata.hpp"

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>

#include "beneath.hpp"

namespace trace_root {

namespace {

bool unsupported(int err) { return err == ENOTSUP || err == ENOSYS; }

ssize_t list_names(int fd, const std::string& path, char* buf, size_t size)
{
    return fd >= 0 ? flistxattr(fd, buf, size) : llistxattr(path.c_str(), buf, size);
}

ssize_t get_value(int fd, const std::string& path, const char* name, char* buf, size_t size)
{
    return fd >= 0 ? fgetxattr(fd, name, buf, size) : lgetxattr(path.c_str(), name, buf, size);
}

}  // namespace

int read_xattrs(int fd, const std::string& path, std::vector<Xattr>& out)
{
    out.clear();
    std::string names;
    // The list can grow between the sizing call and the reading call: retry
    // on ERANGE rather than truncate.
    for (;;) {
        const ssize_t need = list_names(fd, path, nullptr, 0);
        if (need < 0)
            return unsupported(errno) ? 0 : errno;
        if (need == 0)
            return 0;
        names.resize(static_cast<size_t>(need));
        const ssize_t got = list_names(fd, path, names.data(), names.size());
        if (got < 0 && errno == ERANGE)
            continue;
        if (got < 0)
            return errno;
        names.resize(static_cast<size_t>(got));
        break;
    }
    size_t pos = 0;
    while (pos < names.size()) {
        const size_t end = names.find('\0', pos);
        const std::string name = names.substr(pos, end == std::string::npos ? end : end - pos);
        pos = end == std::string::npos ? names.size() : end + 1;
        if (name.empty())
            continue;
        std::string value;
        for (;;) {
            const ssize_t need = get_value(fd, path, name.c_str(), nullptr, 0);
            if (need < 0 && errno == ENODATA)
                break;  // removed since it was listed
            if (need < 0)
                return errno;
            value.resize(static_cast<size_t>(need));
            const ssize_t got = get_value(fd, path, name.c_str(), value.data(), value.size());
            if (got < 0 && errno == ERANGE)
                continue;
            if (got < 0)
                return errno;
            value.resize(static_cast<size_t>(got));
            out.push_back({name, value});
            break;
        }
    }
    return 0;
}

void apply_metadata(const MetaTarget& t, const struct stat& st, const std::vector<Xattr>& xattrs,
                    const std::string& shown_path, std::vector<MetadataLoss>& losses)
{
    const bool by_fd = t.fd >= 0;
    const bool is_symlink = S_ISLNK(st.st_mode);

    const int own = by_fd ? fchown(t.fd, st.st_uid, st.st_gid)
                          : fchownat(t.parent, t.name.c_str(), st.st_uid, st.st_gid,
                                     AT_SYMLINK_NOFOLLOW);
    if (own != 0)
        losses.push_back({shown_path, "owner", errno});

    if (!is_symlink) {  // a symlink's mode is always 0777 and cannot be changed
        const mode_t mode = st.st_mode & 07777;
        const int rc = by_fd ? fchmod(t.fd, mode) : fchmodat(t.parent, t.name.c_str(), mode, 0);
        if (rc != 0)
            losses.push_back({shown_path, "mode", errno});
    }

    const std::string path = by_fd ? std::string() : beneath::fd_path(t.parent, t.name);
    for (const auto& x : xattrs) {
        const int rc = by_fd ? fsetxattr(t.fd, x.name.c_str(), x.value.data(), x.value.size(), 0)
                             : lsetxattr(path.c_str(), x.name.c_str(), x.value.data(),
                                         x.value.size(), 0);
        if (rc != 0)
            losses.push_back({shown_path, "xattr " + x.name, errno});
    }

    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    const int rc = by_fd ? futimens(t.fd, times)
                         : utimensat(t.parent, t.name.c_str(), times, AT_SYMLINK_NOFOLLOW);
    if (rc != 0)
        losses.push_back({shown_path, "timestamps", errno});
}

}  // namespace trace_root
