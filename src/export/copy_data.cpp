// Fast, sparse-preserving file content copy.
//
// Order of attempts, cheapest first:
//  1. FICLONE: a reflink shares the extents (btrfs, xfs, bcachefs, overlay on
//     those); it is instant and keeps holes.
//  2. The data extents one by one: SEEK_DATA finds the next extent, SEEK_HOLE
//     its end; each is copied with copy_file_range(), which lets the kernel
//     copy without bouncing through user space (and offload to the server on
//     NFS). Holes are skipped, and a final ftruncate() sets the size, so a
//     sparse source gives a sparse copy. File systems without SEEK_DATA
//     report the whole file as one extent.
//  3. pread()/pwrite() for an extent when copy_file_range() refuses the pair
//     of file systems (EXDEV on old kernels, EINVAL/EOPNOTSUPP on some
//     special file systems).
#include "copy_data.hpp"

#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace trace_root {

namespace {

int copy_extent_rw(int src, int dst, off_t begin, off_t end)
{
    std::vector<char> buf(1 << 20);
    off_t pos = begin;
    while (pos < end) {
        const size_t want = static_cast<size_t>(std::min<off_t>(end - pos, off_t(buf.size())));
        const ssize_t n = pread(src, buf.data(), want, pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            return 0;  // the source shrank while being copied; copy what is there
        ssize_t done = 0;
        while (done < n) {
            const ssize_t w = pwrite(dst, buf.data() + done, static_cast<size_t>(n - done),
                                     pos + done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return errno;
            done += w;
        }
        pos += n;
    }
    return 0;
}

// Copies [begin, end). Sets `use_rw` once copy_file_range is refused so later
// extents go straight to read/write.
int copy_extent(int src, int dst, off_t begin, off_t end, bool& use_rw)
{
    off_t in = begin;
    off_t out = begin;
    while (!use_rw && in < end) {
        const ssize_t n = copy_file_range(src, &in, dst, &out, static_cast<size_t>(end - in), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP ||
                      errno == ENOSYS || errno == EBADF)) {
            use_rw = true;
            break;
        }
        if (n < 0)
            return errno;
        if (n == 0)
            return 0;  // source shrank
    }
    return use_rw ? copy_extent_rw(src, dst, in, end) : 0;
}

}  // namespace

int copy_file_data(int src, int dst, uint64_t size)
{
    if (size == 0)
        return 0;
    if (ioctl(dst, FICLONE, src) == 0)
        return 0;

    const off_t total = static_cast<off_t>(size);
    bool use_rw = false;
    off_t pos = 0;
    while (pos < total) {
        off_t data = lseek(src, pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break;  // only a hole is left
        if (data < 0)
            data = pos;  // no SEEK_DATA support: treat the rest as data
        off_t hole = lseek(src, data, SEEK_HOLE);
        if (hole < 0 || hole > total)
            hole = total;
        if (data >= total)
            break;
        if (const int err = copy_extent(src, dst, data, hole, use_rw); err != 0)
            return err;
        pos = hole;
    }
    if (ftruncate(dst, total) != 0)
        return errno;
    return 0;
}

}  // namespace trace_root
