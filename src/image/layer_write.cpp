// The layer tar of an image, written with libarchive in pax format.
//
// Reproducibility is the point of this file: the same root gives the same
// bytes. So entries are sorted by their byte-wise path (a parent always sorts
// before its children, since it is a prefix of them), owners are numeric with
// no user or group names, only mtime is recorded (atime and ctime change on
// every read), extended attributes are sorted by name and written only as
// SCHILY.xattr records (what Go's archive/tar, and so skopeo, umoci, podman and
// docker read), and the gzip header carries no timestamp and no file name.
//
// The uncompressed tar stream is hashed on its way into the compressor (the
// diff_id), and the compressed stream on its way to disk (the blob digest), so
// the root is read once and nothing is held in memory.
//
// Nothing is dropped silently: a file that changes size while it is read is an
// error, a name that an image reader would take for a whiteout marker is an
// error, and a socket (which a tar cannot hold) is reported as a warning.
#include "layer_write.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <utility>

#include "sha256.hpp"
#include "trace_root/unique_fd.hpp"

namespace trace_root::image_detail {
namespace {

struct WalkEntry {
    std::string rel;  // path below the root, no leading "./" or "/"
    struct stat st;
};

// Directory trees deeper than this are refused rather than risking the stack
// and the file-descriptor limit; real roots are far shallower.
constexpr int kMaxDepth = 512;

Result<void> walk(const std::string& root, const std::string& rel, int depth,
                  std::vector<WalkEntry>& out)
{
    const std::string dir = rel.empty() ? root : root + "/" + rel;
    if (depth > kMaxDepth)
        return fail("cannot pack " + dir + ": directories nested deeper than " +
                    std::to_string(kMaxDepth));
    const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fail(errno_message("cannot open directory", dir, errno));
    DIR* d = fdopendir(fd);
    if (d == nullptr) {
        const int err = errno;
        close(fd);
        return fail(errno_message("cannot read directory", dir, err));
    }
    std::unique_ptr<DIR, int (*)(DIR*)> guard(d, closedir);
    std::vector<std::string> names;
    errno = 0;
    while (dirent* de = readdir(d)) {
        const std::string name = de->d_name;
        if (name != "." && name != "..")
            names.push_back(name);
        errno = 0;
    }
    if (errno != 0)
        return fail(errno_message("cannot read directory", dir, errno));
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
        WalkEntry e;
        e.rel = rel.empty() ? name : rel + "/" + name;
        if (fstatat(fd, name.c_str(), &e.st, AT_SYMLINK_NOFOLLOW) != 0)
            return fail(errno_message("cannot stat", root + "/" + e.rel, errno));
        if (name.rfind(".wh.", 0) == 0)
            return fail("cannot put " + root + "/" + e.rel +
                            " in an image layer: names starting with \".wh.\" are whiteout "
                            "markers, and every image reader would delete the file instead",
                        "rename the file in the root");
        out.push_back(e);
        if (S_ISDIR(e.st.st_mode))
            if (auto r = walk(root, e.rel, depth + 1, out); !r)
                return r;
    }
    return {};
}

struct Sink {
    int fd = -1;
    Sha256 hash;
    uint64_t bytes = 0;
    int err = 0;
};

la_ssize_t sink_write(archive* a, void* client, const void* buf, size_t n)
{
    auto* s = static_cast<Sink*>(client);
    const char* p = static_cast<const char*>(buf);
    size_t done = 0;
    while (done < n) {
        const ssize_t w = write(s->fd, p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            s->err = w < 0 ? errno : EIO;
            archive_set_error(a, s->err, "%s", std::strerror(s->err));
            return -1;
        }
        done += static_cast<size_t>(w);
    }
    s->hash.update(buf, n);
    s->bytes += n;
    return static_cast<la_ssize_t>(n);
}

struct Feed {
    archive* compressor = nullptr;
    Sha256 hash;
};

la_ssize_t feed_write(archive* a, void* client, const void* buf, size_t n)
{
    auto* f = static_cast<Feed*>(client);
    f->hash.update(buf, n);
    const la_ssize_t w = archive_write_data(f->compressor, buf, n);
    if (w < 0 || static_cast<size_t>(w) != n) {
        archive_set_error(a, EIO, "compressor: %s", archive_error_string(f->compressor));
        return -1;
    }
    return w;
}

using ArchivePtr = std::unique_ptr<archive, int (*)(archive*)>;
using EntryPtr = std::unique_ptr<archive_entry, void (*)(archive_entry*)>;

std::string la_error(archive* a)
{
    const char* s = archive_error_string(a);
    return s != nullptr ? s : "unknown libarchive error";
}

Result<void> add_xattrs(const std::string& path, archive_entry* e)
{
    ssize_t len = llistxattr(path.c_str(), nullptr, 0);
    if (len < 0) {
        if (errno == ENOTSUP)
            return {};
        return fail(errno_message("cannot list extended attributes of", path, errno));
    }
    if (len == 0)
        return {};
    std::string names(static_cast<size_t>(len), '\0');
    len = llistxattr(path.c_str(), names.data(), names.size());
    if (len < 0)
        return fail(errno_message("cannot list extended attributes of", path, errno));
    names.resize(static_cast<size_t>(len));
    std::vector<std::string> sorted;
    for (size_t pos = 0; pos < names.size();) {
        const size_t end = names.find('\0', pos);
        const size_t stop = end == std::string::npos ? names.size() : end;
        if (stop > pos)
            sorted.push_back(names.substr(pos, stop - pos));
        pos = stop + 1;
    }
    std::sort(sorted.begin(), sorted.end());
    for (const auto& name : sorted) {
        ssize_t vlen = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
        if (vlen < 0)
            return fail(errno_message("cannot read extended attribute " + name + " of", path,
                                      errno));
        std::string value(static_cast<size_t>(vlen), '\0');
        vlen = lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
        if (vlen < 0)
            return fail(errno_message("cannot read extended attribute " + name + " of", path,
                                      errno));
        value.resize(static_cast<size_t>(vlen));
        archive_entry_xattr_add_entry(e, name.c_str(), value.data(), value.size());
    }
    return {};
}

Result<void> copy_data(const std::string& path, const struct stat& st, archive* tar)
{
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid())
        return fail(errno_message("cannot open", path, errno));
    std::vector<char> buf(1 << 16);
    uint64_t total = 0;
    for (;;) {
        const ssize_t n = read(fd.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(errno_message("cannot read", path, errno));
        if (n == 0)
            break;
        total += static_cast<uint64_t>(n);
        if (total > static_cast<uint64_t>(st.st_size))
            break;
        if (archive_write_data(tar, buf.data(), static_cast<size_t>(n)) != n)
            return fail("cannot write " + path + " into the layer: " + la_error(tar));
    }
    if (total != static_cast<uint64_t>(st.st_size))
        return fail("cannot pack " + path + ": it changed size while being read (" +
                        std::to_string(st.st_size) + " bytes at stat, " +
                        std::to_string(total) + " or more read)",
                    "do not change the root while the image is written");
    return {};
}

}  // namespace

Result<LayerBlob> write_layer(const std::string& root, const std::string& blob_file,
                              Compression compression, std::optional<int64_t> clamp)
{
    // Step 1: list the root, sorted.
    std::vector<WalkEntry> entries;
    if (auto r = walk(root, "", 0, entries); !r)
        return tl::unexpected(r.error());
    std::sort(entries.begin(), entries.end(),
              [](const WalkEntry& a, const WalkEntry& b) { return a.rel < b.rel; });

    // Step 2: set up tar -> hash -> compressor -> hash -> file.
    UniqueFd blob_fd(open(blob_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!blob_fd.valid())
        return fail(errno_message("cannot create", blob_file, errno));
    Sink sink;
    sink.fd = blob_fd.get();

    ArchivePtr comp(archive_write_new(), archive_write_free);
    archive_write_set_format_raw(comp.get());
    if (compression == Compression::Gzip) {
        archive_write_add_filter_gzip(comp.get());
        // No mtime in the gzip header: it would differ on every run.
        archive_write_set_filter_option(comp.get(), "gzip", "timestamp", nullptr);
    } else if (archive_write_add_filter_zstd(comp.get()) != ARCHIVE_OK) {
        return fail("cannot compress with zstd: " + la_error(comp.get()),
                    "install zstd, or use --compression gzip");
    }
    archive_write_set_bytes_in_last_block(comp.get(), 1);
    if (archive_write_open(comp.get(), &sink, nullptr, sink_write, nullptr) != ARCHIVE_OK)
        return fail("cannot write " + blob_file + ": " + la_error(comp.get()));
    {
        EntryPtr raw(archive_entry_new(), archive_entry_free);
        archive_entry_set_pathname(raw.get(), "layer.tar");
        archive_entry_set_filetype(raw.get(), AE_IFREG);
        if (archive_write_header(comp.get(), raw.get()) != ARCHIVE_OK)
            return fail("cannot write " + blob_file + ": " + la_error(comp.get()));
    }

    Feed feed;
    feed.compressor = comp.get();
    ArchivePtr tar(archive_write_new(), archive_write_free);
    archive_write_set_format_pax(tar.get());
    archive_write_set_format_option(tar.get(), "pax", "xattrheader", "SCHILY");
    archive_write_set_bytes_in_last_block(tar.get(), 1);
    if (archive_write_open(tar.get(), &feed, nullptr, feed_write, nullptr) != ARCHIVE_OK)
        return fail("cannot start the layer tar: " + la_error(tar.get()));

    // Step 3: one entry per file; a second name of the same inode is a hardlink.
    LayerBlob out;
    std::map<std::pair<dev_t, ino_t>, std::string> first_name;
    for (const auto& w : entries) {
        const std::string path = root + "/" + w.rel;
        const struct stat& st = w.st;
        if (S_ISSOCK(st.st_mode)) {
            out.warnings.push_back("left out " + path + ": a socket cannot be stored in a tar "
                                   "layer (the program recreates it when it runs)");
            continue;
        }
        EntryPtr e(archive_entry_new(), archive_entry_free);
        archive_entry_copy_pathname(e.get(), w.rel.c_str());
        archive_entry_set_mode(e.get(), st.st_mode);
        archive_entry_set_uid(e.get(), st.st_uid);
        archive_entry_set_gid(e.get(), st.st_gid);
        int64_t sec = st.st_mtim.tv_sec;
        long nsec = st.st_mtim.tv_nsec;
        if (clamp && sec >= *clamp) {
            sec = *clamp;
            nsec = 0;
        }
        archive_entry_set_mtime(e.get(), sec, nsec);
        bool with_data = false;
        if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
            auto [it, inserted] = first_name.try_emplace({st.st_dev, st.st_ino}, w.rel);
            if (!inserted) {
                archive_entry_copy_hardlink(e.get(), it->second.c_str());
                archive_entry_set_size(e.get(), 0);
                if (archive_write_header(tar.get(), e.get()) < ARCHIVE_WARN)
                    return fail("cannot write " + path + " into the layer: " + la_error(tar.get()));
                ++out.entries;
                continue;
            }
        }
        if (S_ISREG(st.st_mode)) {
            archive_entry_set_size(e.get(), st.st_size);
            with_data = st.st_size > 0;
        } else if (S_ISLNK(st.st_mode)) {
            std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
            const ssize_t n = readlink(path.c_str(), target.data(), target.size());
            if (n < 0)
                return fail(errno_message("cannot read symlink", path, errno));
            if (static_cast<size_t>(n) >= target.size())
                return fail("cannot pack " + path + ": the symlink changed while being read");
            target.resize(static_cast<size_t>(n));
            archive_entry_copy_symlink(e.get(), target.c_str());
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            archive_entry_set_rdevmajor(e.get(), major(st.st_rdev));
            archive_entry_set_rdevminor(e.get(), minor(st.st_rdev));
        }
        if (auto r = add_xattrs(path, e.get()); !r)
            return tl::unexpected(r.error());
        // ARCHIVE_WARN is what libarchive returns when a name is not valid in
        // the current locale: the bytes are still written as they are.
        if (archive_write_header(tar.get(), e.get()) < ARCHIVE_WARN)
            return fail("cannot write " + path + " into the layer: " + la_error(tar.get()));
        if (with_data)
            if (auto r = copy_data(path, st, tar.get()); !r)
                return tl::unexpected(r.error());
        ++out.entries;
    }

    // Step 4: finish both streams and take the digests.
    if (archive_write_close(tar.get()) != ARCHIVE_OK)
        return fail("cannot finish the layer tar: " + la_error(tar.get()));
    if (archive_write_close(comp.get()) != ARCHIVE_OK)
        return fail("cannot write " + blob_file + ": " + la_error(comp.get()));
    if (fsync(sink.fd) != 0)
        return fail(errno_message("cannot write", blob_file, errno));
    out.diff_id = feed.hash.digest();
    out.digest = sink.hash.digest();
    out.size = sink.bytes;
    return out;
}

}  // namespace trace_root::image_detail
