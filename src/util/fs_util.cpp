#include "trace_root/fs_util.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace trace_root {

Result<void> write_file_atomic(const std::string& file, const std::string& data)
{
    const std::string tmp = file + ".tmp." + std::to_string(getpid());
    const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(errno_message("cannot create", tmp, errno));
    size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            const int err = n < 0 ? errno : EIO;
            close(fd);
            unlink(tmp.c_str());
            return fail(errno_message("cannot write", file, err));
        }
        done += static_cast<size_t>(n);
    }
    // No fsync: it took 10 to 60 ms for a 2 MB report on these machines,
    // more than tracing a whole Python start-up. The rename keeps readers
    // and interrupted runs from ever seeing a half-written file; only a
    // power cut right after may leave some file systems with an empty one,
    // which the rerun of the job that a power cut forces anyway replaces.
    // close() still reports what the file system deferred (NFS, quotas).
    if (close(fd) != 0) {
        const int err = errno;
        unlink(tmp.c_str());
        return fail(errno_message("cannot write", file, err));
    }
    if (rename(tmp.c_str(), file.c_str()) != 0) {
        const int err = errno;
        unlink(tmp.c_str());
        return fail(errno_message("cannot rename into place", file, err));
    }
    return {};
}

Result<std::string> read_file(const std::string& file, size_t max_bytes)
{
    const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(errno_message("cannot open", file, errno));
    std::string out;
    char buf[65536];
    for (;;) {
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            const int err = errno;
            close(fd);
            return fail(errno_message("cannot read", file, err));
        }
        if (n == 0)
            break;
        if (out.size() + static_cast<size_t>(n) > max_bytes) {
            close(fd);
            return fail("cannot read " + file + ": larger than " + std::to_string(max_bytes) +
                        " bytes");
        }
        out.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return out;
}

}  // namespace trace_root
