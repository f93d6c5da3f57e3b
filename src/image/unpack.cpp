// unpack_image(): apply an image's layers into a directory, treating every
// byte of the image as hostile.
//
// Where the bytes come from is hidden behind a Source: a directory (an OCI
// layout on disk) or a tar archive (an OCI layout archive, or `docker save`
// output, possibly compressed). An archive is read again from the start for
// each blob: tar has no index, and this keeps memory flat however big the
// layers are (libarchive seeks over the members in between when it can).
//
// Layers are applied in order. Each member path is first checked textually
// (normalize_member_path: relative, no ".."), then its parent directory is
// opened from the destination with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS): the kernel refuses any walk that would leave the
// destination, including through absolute symlinks or symlinks climbing
// "..", so a member like "evil/passwd" after "evil -> /etc" is an error, not
// a write to the host's /etc. The final name is always created with *at()
// calls relative to that parent, with O_NOFOLLOW/O_EXCL, after removing
// whatever a lower layer left there. Symlink targets that climb above the
// image root are refused outright (check_symlink_target), and hardlinks may
// only point at a member already unpacked.
//
// Whiteouts follow the OCI image spec: ".wh.NAME" deletes NAME from lower
// layers, and ".wh..wh..opq" hides everything a lower layer put in its
// directory. Both only ever apply to lower layers, so the paths a layer writes
// are recorded, a whiteout of a path written by the same layer is ignored, and
// opaque directories are pruned when the layer is complete (whatever the order
// of its members).
//
// Directory mtimes are set when the directory entry is applied; members
// created in it afterwards change them again. Audit does not use them.
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string_view>

#include "sha256.hpp"
#include "trace_root/escape.hpp"
#include "trace_root/image.hpp"
#include "trace_root/image_read.hpp"
#include "trace_root/unique_fd.hpp"

namespace trace_root {

using image_detail::Sha256;

namespace {

constexpr size_t kMaxJsonBlob = 16u << 20;
constexpr int kMaxDepth = 512;

int sys_openat2(int dirfd, const std::string& path, int flags, uint64_t resolve)
{
    struct open_how how {};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.resolve = resolve;
    const char* p = path.empty() ? "." : path.c_str();
    for (int attempt = 0; attempt < 32; ++attempt) {
        const long r = syscall(SYS_openat2, dirfd, p, &how, sizeof how);
        if (r >= 0)
            return static_cast<int>(r);
        // EAGAIN: a concurrent rename somewhere on the path; try again.
        if (errno != EAGAIN && errno != EINTR)
            return -1;
    }
    return -1;
}

constexpr uint64_t kBeneath = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;

std::string la_error(archive* a)
{
    const char* s = archive_error_string(a);
    return s != nullptr ? s : "unknown libarchive error";
}

// ---- compressions ---------------------------------------------------------

// Image archives and layers are read as tar, plain or compressed with gzip or
// zstd (the compressions the OCI image spec has layer media types for, and
// the ones plan_oci() admits, which docker's layers and archives use too),
// or with xz or bzip2, which people use to ship a `docker save` archive.
// They are named here instead of archive_read_support_filter_all() because
// trace-root links libarchive statically (TRACE_ROOT_STATIC_DEPS, see
// cmake/StaticDeps.cmake) to cut its start-up: a static archive contributes
// only the members the code references, and "all" would pull in every
// decompressor with its library (liblzma, libbz2, liblz4...). Other
// compressions are refused by name (other_compression below).
void support_image_formats(archive* a)
{
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_lzma(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_format_tar(a);
}

constexpr const char* kReadCompressions =
    "plain tar or tar compressed with gzip, zstd, xz or bzip2";

struct OtherCompression {
    const char* name;
    const char* decompress;  // the command that undoes it
};

// When libarchive refused an input, what its first bytes say it is, if that
// is a compression trace-root does not read; nullptr otherwise.
const OtherCompression* other_compression(const std::string& head)
{
    using namespace std::string_view_literals;
    struct Magic {
        std::string_view bytes;
        OtherCompression what;
    };
    static const Magic kMagics[] = {
        {"\x04\x22\x4D\x18"sv, {"lz4", "lz4 -d"}},
        {"LZIP"sv, {"lzip", "lzip -d"}},
        {"\x89LZO\0"sv, {"lzop", "lzop -d"}},
        {"\x1F\x9D"sv, {"compress (.Z)", "gzip -d"}},
    };
    for (const auto& m : kMagics)
        if (head.compare(0, m.bytes.size(), m.bytes) == 0)
            return &m.what;
    return nullptr;
}

// The first bytes of a file, for other_compression(); empty if unreadable.
std::string file_head(const std::string& path)
{
    std::string head(16, '\0');
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    const ssize_t n = fd >= 0 ? pread(fd, head.data(), head.size(), 0) : -1;
    if (fd >= 0)
        close(fd);
    head.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return head;
}

std::pair<std::string, std::string> split_parent(const std::string& norm)
{
    const auto slash = norm.rfind('/');
    if (slash == std::string::npos)
        return {"", norm};
    return {norm.substr(0, slash), norm.substr(slash + 1)};
}

// ---- where blobs come from ------------------------------------------------

class ByteStream {
public:
    virtual ~ByteStream() = default;
    // 0 at the end.
    virtual Result<size_t> read(char* buf, size_t n) = 0;
};

using StreamFn = std::function<Result<void>(ByteStream&)>;

class Source {
public:
    explicit Source(std::string label) : label_(std::move(label)) {}
    virtual ~Source() = default;
    virtual bool has(const std::string& name) = 0;
    virtual Result<void> with_stream(const std::string& name, const StreamFn& fn) = 0;
    const std::string& label() const { return label_; }

    Result<std::string> read_all(const std::string& name, size_t max)
    {
        std::string out;
        auto r = with_stream(name, [&](ByteStream& s) -> Result<void> {
            char buf[65536];
            for (;;) {
                auto n = s.read(buf, sizeof buf);
                if (!n)
                    return tl::unexpected(n.error());
                if (*n == 0)
                    return {};
                if (out.size() + *n > max)
                    return fail(label_ + ": " + name + " is larger than " + std::to_string(max) +
                                " bytes, too large for image JSON");
                out.append(buf, *n);
            }
        });
        if (!r)
            return tl::unexpected(r.error());
        return out;
    }

private:
    std::string label_;
};

class FdStream : public ByteStream {
public:
    FdStream(int fd, std::string what) : fd_(fd), what_(std::move(what)) {}
    Result<size_t> read(char* buf, size_t n) override
    {
        for (;;) {
            const ssize_t r = ::read(fd_, buf, n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return fail(errno_message("cannot read", what_, errno));
            return static_cast<size_t>(r);
        }
    }

private:
    int fd_;
    std::string what_;
};

class DirSource : public Source {
public:
    DirSource(std::string label, UniqueFd dir) : Source(std::move(label)), dir_(std::move(dir)) {}

    bool has(const std::string& name) override
    {
        UniqueFd fd(sys_openat2(dir_.get(), name, O_PATH, kBeneath | RESOLVE_NO_SYMLINKS));
        struct stat st {};
        return fd.valid() && fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode);
    }

    Result<void> with_stream(const std::string& name, const StreamFn& fn) override
    {
        const std::string what = label() + "/" + name;
        UniqueFd fd(sys_openat2(dir_.get(), name, O_RDONLY, kBeneath | RESOLVE_NO_SYMLINKS));
        if (!fd.valid()) {
            if (errno == EXDEV || errno == ELOOP)
                return fail(what + ": is or goes through a symlink; image layout files are "
                                   "read only as plain files inside the layout");
            return fail(errno_message("cannot open", what, errno));
        }
        struct stat st {};
        if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
            return fail("cannot read " + what + ": not a regular file");
        FdStream s(fd.get(), what);
        return fn(s);
    }

private:
    UniqueFd dir_;
};

using ReadArchive = std::unique_ptr<archive, int (*)(archive*)>;

class MemberStream : public ByteStream {
public:
    MemberStream(archive* a, std::string what, int64_t size)
        : a_(a), what_(std::move(what)), size_(size)
    {
    }
    Result<size_t> read(char* buf, size_t n) override
    {
        const la_ssize_t r = archive_read_data(a_, buf, n);
        if (r < 0)
            return fail("cannot read " + what_ + ": " + la_error(a_) +
                        " (is the archive truncated?)");
        done_ += r;
        if (r == 0 && done_ < size_)
            return fail("cannot read " + what_ + ": truncated archive (" +
                        std::to_string(done_) + " of " + std::to_string(size_) + " bytes)");
        return static_cast<size_t>(r);
    }

private:
    archive* a_;
    std::string what_;
    int64_t size_;
    int64_t done_ = 0;
};

class ArchiveSource : public Source {
public:
    explicit ArchiveSource(std::string path) : Source(path), path_(std::move(path)) {}

    // One pass over the archive: which regular-file members it holds.
    Result<void> scan()
    {
        auto a = open();
        if (!a)
            return tl::unexpected(a.error());
        for (;;) {
            archive_entry* e = nullptr;
            const int r = archive_read_next_header(a->get(), &e);
            if (r == ARCHIVE_EOF)
                break;
            if (r < ARCHIVE_WARN)
                return fail("cannot read image archive " + path_ + ": " + la_error(a->get()) +
                            " (is it truncated, or not a tar archive?)");
            const char* pn = archive_entry_pathname(e);
            if (pn != nullptr && archive_entry_filetype(e) == AE_IFREG) {
                // Members that cannot be named safely are never looked up.
                if (auto n = normalize_member_path(pn); n && !n->empty())
                    if (!members_.insert(*n).second)
                        return fail("image archive " + path_ + ": member " + escape_path(*n) +
                                    " appears twice; refusing an ambiguous archive");
            }
            if (archive_read_data_skip(a->get()) < ARCHIVE_WARN)
                return fail("cannot read image archive " + path_ + ": " + la_error(a->get()) +
                            " (is it truncated?)");
        }
        return {};
    }

    bool has(const std::string& name) override { return members_.count(name) != 0; }

    Result<void> with_stream(const std::string& name, const StreamFn& fn) override
    {
        auto a = open();
        if (!a)
            return tl::unexpected(a.error());
        for (;;) {
            archive_entry* e = nullptr;
            const int r = archive_read_next_header(a->get(), &e);
            if (r == ARCHIVE_EOF)
                return fail("image archive " + path_ + ": no member " + escape_path(name));
            if (r < ARCHIVE_WARN)
                return fail("cannot read image archive " + path_ + ": " + la_error(a->get()) +
                            " (is it truncated?)");
            const char* pn = archive_entry_pathname(e);
            if (pn != nullptr && archive_entry_filetype(e) == AE_IFREG) {
                auto n = normalize_member_path(pn);
                if (n && *n == name) {
                    MemberStream s(a->get(), path_ + ": " + escape_path(name),
                                   archive_entry_size(e));
                    return fn(s);
                }
            }
            if (archive_read_data_skip(a->get()) < ARCHIVE_WARN)
                return fail("cannot read image archive " + path_ + ": " + la_error(a->get()) +
                            " (is it truncated?)");
        }
    }

private:
    Result<ReadArchive> open()
    {
        ReadArchive a(archive_read_new(), archive_read_free);
        support_image_formats(a.get());
        if (archive_read_open_filename(a.get(), path_.c_str(), 1 << 16) != ARCHIVE_OK) {
            if (const auto* c = other_compression(file_head(path_)))
                return fail("cannot open image archive " + path_ + ": it is " + c->name +
                                "-compressed, and trace-root reads image archives as " +
                                kReadCompressions,
                            std::string("decompress it first (") + c->decompress + ")");
            return fail("cannot open image archive " + path_ + ": " + la_error(a.get()));
        }
        return a;
    }

    std::string path_;
    std::set<std::string> members_;
};

// ---- removing what lower layers left --------------------------------------

// The names in a directory stream, without "." and "..".
std::vector<std::string> entry_names(DIR* d)
{
    std::vector<std::string> names;
    while (dirent* de = readdir(d))
        if (std::strcmp(de->d_name, ".") != 0 && std::strcmp(de->d_name, "..") != 0)
            names.emplace_back(de->d_name);
    return names;
}

Result<void> remove_tree_at(int dirfd, const std::string& name, const std::string& shown,
                            int depth = 0)
{
    struct stat st {};
    if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return {};
        return fail(errno_message("cannot stat", shown, errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dirfd, name.c_str(), 0) != 0)
            return fail(errno_message("cannot remove", shown, errno));
        return {};
    }
    if (depth > kMaxDepth)
        return fail("cannot remove " + shown + ": nested deeper than " +
                    std::to_string(kMaxDepth));
    const int fd = openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fail(errno_message("cannot open", shown, errno));
    DIR* d = fdopendir(fd);
    if (d == nullptr) {
        close(fd);
        return fail(errno_message("cannot read", shown, errno));
    }
    const std::vector<std::string> names = entry_names(d);
    Result<void> r;
    for (const auto& n : names) {
        r = remove_tree_at(::dirfd(d), n, shown + "/" + escape_path(n), depth + 1);
        if (!r)
            break;
    }
    closedir(d);
    if (!r)
        return r;
    if (unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0)
        return fail(errno_message("cannot remove", shown, errno));
    return {};
}

Result<void> empty_directory(int fd, const std::string& shown)
{
    const int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dup_fd < 0)
        return fail(errno_message("cannot open", shown, errno));
    DIR* d = fdopendir(dup_fd);
    if (d == nullptr) {
        close(dup_fd);
        return fail(errno_message("cannot read", shown, errno));
    }
    const std::vector<std::string> names = entry_names(d);
    closedir(d);
    for (const auto& n : names)
        if (auto r = remove_tree_at(fd, n, shown + "/" + escape_path(n)); !r)
            return r;
    return {};
}

// ---- applying one layer ---------------------------------------------------

struct InnerFeed {
    ByteStream* in = nullptr;
    std::vector<char> buf = std::vector<char>(1 << 16);
    Sha256 hash;
    int64_t bytes = 0;
    std::string error;
    std::string head;  // the blob's first bytes, to name a compression not read
};

la_ssize_t inner_read(archive* a, void* client, const void** out)
{
    auto* f = static_cast<InnerFeed*>(client);
    auto n = f->in->read(f->buf.data(), f->buf.size());
    if (!n) {
        f->error = n.error().message;
        archive_set_error(a, EIO, "%s", f->error.c_str());
        return -1;
    }
    f->hash.update(f->buf.data(), *n);
    f->bytes += static_cast<int64_t>(*n);
    if (f->head.size() < 16)
        f->head.append(f->buf.data(), std::min(*n, 16 - f->head.size()));
    *out = f->buf.data();
    return static_cast<la_ssize_t>(*n);
}

class LayerApplier {
public:
    LayerApplier(int root_fd, UnpackResult& result) : root_(root_fd), result_(result) {}

    // Apply the layer read from `in`; `layer` names it in messages. When
    // `expect` is given, the blob's size and digest must match it.
    Result<void> apply(ByteStream& in, const std::string& layer, const Descriptor* expect)
    {
        layer_ = layer;
        touched_.clear();
        opaque_.clear();
        InnerFeed feed;
        feed.in = &in;
        ReadArchive a(archive_read_new(), archive_read_free);
        support_image_formats(a.get());
        if (archive_read_open(a.get(), &feed, nullptr, inner_read, nullptr) != ARCHIVE_OK) {
            if (const auto* c = feed.error.empty() ? other_compression(feed.head) : nullptr)
                return fail(layer + ": the layer is " + c->name +
                                "-compressed, and trace-root reads layers as " +
                                kReadCompressions,
                            std::string("decompress the layer (") + c->decompress +
                                ") and rebuild the image");
            return fail(layer + ": not a (compressed) tar layer: " + la_error(a.get()));
        }
        for (;;) {
            archive_entry* e = nullptr;
            const int r = archive_read_next_header(a.get(), &e);
            if (r == ARCHIVE_EOF)
                break;
            if (r < ARCHIVE_WARN)
                return fail(layer + ": cannot read the layer tar: " + la_error(a.get()) +
                            " (is it truncated?)");
            if (auto m = apply_member(a.get(), e); !m)
                return m;
            ++result_.members;
        }
        // The rest of the blob (compression trailer, padding) counts for the digest.
        for (;;) {
            auto n = in.read(feed.buf.data(), feed.buf.size());
            if (!n)
                return tl::unexpected(n.error());
            if (*n == 0)
                break;
            feed.hash.update(feed.buf.data(), *n);
            feed.bytes += static_cast<int64_t>(*n);
        }
        if (expect != nullptr) {
            if (feed.bytes != expect->size)
                return fail(layer + ": blob has " + std::to_string(feed.bytes) +
                            " bytes, its descriptor says " + std::to_string(expect->size));
            const std::string got = feed.hash.digest();
            if (got != expect->digest)
                return fail(layer + ": blob digest " + got + " does not match its descriptor " +
                            expect->digest);
        }
        for (const auto& dir : opaque_)
            if (auto r = prune_opaque(dir); !r)
                return r;
        return {};
    }

private:
    std::string where(const std::string& member) const
    {
        return layer_ + ": member " + escape_path(member);
    }

    void touch(const std::string& norm)
    {
        std::string p = norm;
        while (!p.empty() && touched_.insert(p).second) {
            const auto slash = p.rfind('/');
            p = slash == std::string::npos ? std::string() : p.substr(0, slash);
        }
    }

    Result<UniqueFd> open_dir(const std::string& rel, const std::string& member, bool create)
    {
        UniqueFd fd(sys_openat2(root_, rel, O_PATH | O_DIRECTORY, kBeneath));
        if (fd.valid())
            return fd;
        if (errno == ENOENT && create) {
            // Make the missing parents one by one, each opened from the root again.
            std::string prefix;
            UniqueFd cur(sys_openat2(root_, "", O_PATH | O_DIRECTORY, kBeneath));
            size_t pos = 0;
            while (pos <= rel.size()) {
                size_t end = rel.find('/', pos);
                if (end == std::string::npos)
                    end = rel.size();
                const std::string comp = rel.substr(pos, end - pos);
                prefix = prefix.empty() ? comp : prefix + "/" + comp;
                UniqueFd next(sys_openat2(root_, prefix, O_PATH | O_DIRECTORY, kBeneath));
                if (!next.valid() && errno == ENOENT) {
                    if (mkdirat(cur.get(), comp.c_str(), 0755) != 0 && errno != EEXIST)
                        return fail(errno_message("cannot create directory " + prefix + " for",
                                                  where(member), errno));
                    next = UniqueFd(sys_openat2(root_, prefix, O_PATH | O_DIRECTORY, kBeneath));
                }
                if (!next.valid())
                    return open_error(member, prefix);
                cur = std::move(next);
                pos = end + 1;
            }
            return cur;
        }
        return open_error(member, rel);
    }

    tl::unexpected<Error> open_error(const std::string& member, const std::string& dir)
    {
        const int err = errno;
        if (err == EXDEV)
            return fail(where(member) + ": its directory " + escape_path(dir) +
                        " goes through a symlink that leads out of the image root (an absolute "
                        "symlink, or one climbing \"..\"); refusing to write through it");
        if (err == ENOTDIR)
            return fail(where(member) + ": a parent in " + escape_path(dir) +
                        " is not a directory");
        if (err == ELOOP)
            return fail(where(member) + ": too many symlinks in " + escape_path(dir));
        return fail(errno_message(where(member) + ": cannot open directory", escape_path(dir),
                                  err));
    }

    void warn(const std::string& msg) { result_.warnings.push_back(msg); }

    void set_metadata(int fd, archive_entry* e, const std::string& member)
    {
        if (fchown(fd, archive_entry_uid(e), archive_entry_gid(e)) != 0)
            warn(errno_message(where(member) + ": cannot set owner", "", errno));
        // After chown, which clears set-user-ID and set-group-ID bits.
        if (fchmod(fd, archive_entry_perm(e) & 07777) != 0)
            warn(errno_message(where(member) + ": cannot set mode", "", errno));
        archive_entry_xattr_reset(e);
        const char* name = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
            if (fsetxattr(fd, name, value, size, 0) != 0)
                warn(errno_message(where(member) + ": cannot set extended attribute", name,
                                   errno));
        struct timespec ts[2];
        ts[0].tv_sec = ts[1].tv_sec = archive_entry_mtime(e);
        ts[0].tv_nsec = ts[1].tv_nsec = archive_entry_mtime_nsec(e);
        futimens(fd, ts);
    }

    Result<void> write_data(archive* a, int fd, archive_entry* e, const std::string& member)
    {
        for (;;) {
            const void* buf = nullptr;
            size_t size = 0;
            la_int64_t offset = 0;
            const int r = archive_read_data_block(a, &buf, &size, &offset);
            if (r == ARCHIVE_EOF)
                break;
            if (r < ARCHIVE_WARN)
                return fail(where(member) + ": cannot read its data: " + la_error(a) +
                            " (is the layer truncated?)");
            const char* p = static_cast<const char*>(buf);
            while (size > 0) {
                const ssize_t w = pwrite(fd, p, size, offset);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0)
                    return fail(errno_message(where(member) + ": cannot write", "", errno));
                p += w;
                size -= static_cast<size_t>(w);
                offset += w;
            }
        }
        if (ftruncate(fd, archive_entry_size(e)) != 0)
            return fail(errno_message(where(member) + ": cannot set size", "", errno));
        return {};
    }

    Result<void> apply_whiteout(const std::string& parent, const std::string& base,
                                const std::string& member)
    {
        if (base == ".wh..wh..opq") {
            auto dir = open_dir(parent, member, true);
            if (!dir)
                return tl::unexpected(dir.error());
            touch(parent);
            opaque_.push_back(parent);
            return {};
        }
        if (base.rfind(".wh..wh.", 0) == 0) {
            warn(where(member) + ": unknown whiteout marker ignored");
            return {};
        }
        const std::string name = base.substr(4);
        if (name.empty() || name == "." || name == "..")
            return fail(where(member) + ": whiteout of an invalid name");
        const std::string target = parent.empty() ? name : parent + "/" + name;
        if (touched_.count(target))
            return {};  // same layer: whiteouts hide lower layers only
        UniqueFd dir(sys_openat2(root_, parent, O_PATH | O_DIRECTORY, kBeneath));
        if (!dir.valid()) {
            if (errno == ENOENT)
                return {};  // nothing below to hide
            return open_error(member, parent);
        }
        return remove_tree_at(dir.get(), name, where(member));
    }

    Result<void> apply_member(archive* a, archive_entry* e)
    {
        const char* raw = archive_entry_pathname(e);
        if (raw == nullptr)
            return fail(layer_ + ": a member has no name");
        auto norm = normalize_member_path(raw);
        if (!norm)
            return fail(layer_ + ": " + norm.error().message);
        const std::string& member = *norm;
        if (member.empty())
            return {};  // the root itself: the destination is already there
        const auto [parent, base] = split_parent(member);
        if (base.rfind(".wh.", 0) == 0)
            return apply_whiteout(parent, base, member);

        const char* hardlink = archive_entry_hardlink(e);
        const mode_t type = archive_entry_filetype(e);
        if (hardlink == nullptr && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK &&
            type != AE_IFCHR && type != AE_IFBLK && type != AE_IFIFO) {
            warn(where(member) + ": unsupported member type skipped (socket or unknown)");
            return {};
        }
        // Check link targets before touching anything.
        std::string link_target;
        UniqueFd link_dir;
        std::string link_base;
        if (hardlink != nullptr) {
            auto t = normalize_member_path(hardlink);
            if (!t || t->empty())
                return fail(where(member) + ": hardlink target " + escape_path(hardlink) +
                            (t ? " is the image root" : ": " + t.error().message));
            if (*t == member)
                return {};
            auto [tp, tb] = split_parent(*t);
            auto d = open_dir(tp, member, false);
            if (!d)
                return fail(where(member) + ": hardlink target " + escape_path(*t) +
                            " is not an earlier member: " + d.error().message);
            struct stat st {};
            if (fstatat(d->get(), tb.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(st.st_mode))
                return fail(where(member) + ": hardlink target " + escape_path(*t) +
                            " is not an earlier non-directory member");
            link_dir = std::move(*d);
            link_base = tb;
        } else if (type == AE_IFLNK) {
            const char* t = archive_entry_symlink(e);
            if (t == nullptr)
                return fail(where(member) + ": symlink without a target");
            if (auto c = check_symlink_target(member, t); !c)
                return fail(layer_ + ": " + c.error().message);
            link_target = t;
        }

        auto pdir = open_dir(parent, member, true);
        if (!pdir)
            return tl::unexpected(pdir.error());
        const int pfd = pdir->get();
        touch(member);
        struct stat old {};
        const bool exists = fstatat(pfd, base.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0;
        const bool keep_dir = exists && S_ISDIR(old.st_mode) && hardlink == nullptr &&
                              type == AE_IFDIR;
        if (exists && !keep_dir)
            if (auto r = remove_tree_at(pfd, base, where(member)); !r)
                return r;

        if (hardlink != nullptr) {
            if (linkat(link_dir.get(), link_base.c_str(), pfd, base.c_str(), 0) != 0)
                return fail(errno_message(where(member) + ": cannot create hardlink", "", errno));
            return {};
        }
        switch (type) {
        case AE_IFREG: {
            UniqueFd fd(openat(pfd, base.c_str(),
                               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
            if (!fd.valid())
                return fail(errno_message(where(member) + ": cannot create", "", errno));
            if (auto r = write_data(a, fd.get(), e, member); !r)
                return r;
            set_metadata(fd.get(), e, member);
            return {};
        }
        case AE_IFDIR: {
            if (!keep_dir && mkdirat(pfd, base.c_str(), 0700) != 0)
                return fail(errno_message(where(member) + ": cannot create directory", "", errno));
            UniqueFd fd(openat(pfd, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!fd.valid())
                return fail(errno_message(where(member) + ": cannot open directory", "", errno));
            set_metadata(fd.get(), e, member);
            return {};
        }
        case AE_IFLNK: {
            if (symlinkat(link_target.c_str(), pfd, base.c_str()) != 0)
                return fail(errno_message(where(member) + ": cannot create symlink", "", errno));
            if (fchownat(pfd, base.c_str(), archive_entry_uid(e), archive_entry_gid(e),
                         AT_SYMLINK_NOFOLLOW) != 0)
                warn(errno_message(where(member) + ": cannot set owner", "", errno));
            struct timespec ts[2];
            ts[0].tv_sec = ts[1].tv_sec = archive_entry_mtime(e);
            ts[0].tv_nsec = ts[1].tv_nsec = archive_entry_mtime_nsec(e);
            utimensat(pfd, base.c_str(), ts, AT_SYMLINK_NOFOLLOW);
            // Extended attributes of a symlink itself (rare: security.* labels)
            // are not applied: only privileged callers could, through the path.
            if (archive_entry_xattr_count(e) > 0)
                warn(where(member) + ": extended attributes of a symlink were not applied");
            return {};
        }
        default: {  // device nodes and FIFOs
            const dev_t dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
            if (mknodat(pfd, base.c_str(), type | 0600, type == AE_IFIFO ? 0 : dev) != 0) {
                warn(errno_message(where(member) + ": cannot create device node or FIFO", "",
                                   errno));
                return {};
            }
            UniqueFd fd(openat(pfd, base.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
            if (fd.valid()) {
                fchownat(fd.get(), "", archive_entry_uid(e), archive_entry_gid(e), AT_EMPTY_PATH);
                fchmodat(pfd, base.c_str(), archive_entry_perm(e) & 07777, 0);
            }
            return {};
        }
        }
    }

    // Remove from `dir` what lower layers put there: everything this layer
    // did not write itself.
    Result<void> prune_opaque(const std::string& dir, int depth = 0)
    {
        if (depth > kMaxDepth)
            return fail(layer_ + ": opaque directory " + escape_path(dir) + " nested too deep");
        UniqueFd fd(sys_openat2(root_, dir, O_RDONLY | O_DIRECTORY, kBeneath));
        if (!fd.valid())
            return open_error(dir.empty() ? "." : dir, dir);
        const int dup_fd = openat(fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR* d = dup_fd >= 0 ? fdopendir(dup_fd) : nullptr;
        if (d == nullptr) {
            if (dup_fd >= 0)
                close(dup_fd);
            return fail(errno_message(layer_ + ": cannot read directory", escape_path(dir),
                                      errno));
        }
        std::vector<std::string> names;
        while (dirent* de = readdir(d))
            if (std::strcmp(de->d_name, ".") != 0 && std::strcmp(de->d_name, "..") != 0)
                names.emplace_back(de->d_name);
        closedir(d);
        for (const auto& n : names) {
            const std::string child = dir.empty() ? n : dir + "/" + n;
            struct stat st {};
            if (fstatat(fd.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
                continue;
            if (!touched_.count(child)) {
                if (auto r = remove_tree_at(fd.get(), n, where(child)); !r)
                    return r;
            } else if (S_ISDIR(st.st_mode)) {
                if (auto r = prune_opaque(child, depth + 1); !r)
                    return r;
            }
        }
        return {};
    }

    int root_;
    UnpackResult& result_;
    std::string layer_;
    std::set<std::string> touched_;
    std::vector<std::string> opaque_;
};

// ---- finding the layers ---------------------------------------------------

struct LayerRef {
    std::string member;
    std::optional<Descriptor> descriptor;
};

struct Plan {
    std::string config_text;
    std::vector<LayerRef> layers;
};

std::string blob_member(const Descriptor& d)
{
    return "blobs/sha256/" + d.digest.substr(7);
}

Result<std::string> read_blob(Source& src, const Descriptor& d, const std::string& what)
{
    const std::string name = blob_member(d);
    if (!src.has(name))
        return fail(src.label() + ": " + what + " blob " + name + " is missing");
    if (d.size > static_cast<int64_t>(kMaxJsonBlob))
        return fail(src.label() + ": " + what + " " + d.digest + " is larger than " +
                    std::to_string(kMaxJsonBlob) + " bytes");
    auto text = src.read_all(name, kMaxJsonBlob);
    if (!text)
        return tl::unexpected(text.error());
    if (static_cast<int64_t>(text->size()) != d.size ||
        image_detail::sha256_digest(*text) != d.digest)
        return fail(src.label() + ": " + what + " blob " + name +
                    " does not match its descriptor's size and digest");
    return text;
}

bool is_manifest_type(const std::string& t)
{
    return t == "application/vnd.oci.image.manifest.v1+json" ||
           t == "application/vnd.docker.distribution.manifest.v2+json";
}

bool is_index_type(const std::string& t)
{
    return t == "application/vnd.oci.image.index.v1+json" ||
           t == "application/vnd.docker.distribution.manifest.list.v2+json";
}

bool is_layer_type(const std::string& t)
{
    static const std::set<std::string> ok = {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    };
    return ok.count(t) != 0;
}

Result<Descriptor> choose_manifest(Source& src, const OciIndex& index, int depth)
{
    std::vector<Descriptor> candidates;
    for (const auto& d : index.manifests)
        if (is_manifest_type(d.media_type) || is_index_type(d.media_type))
            candidates.push_back(d);
    if (candidates.empty())
        return fail(src.label() + ": the image index lists no image manifest");
    if (candidates.size() > 1) {
        const Platform host = host_platform();
        std::vector<Descriptor> match;
        for (const auto& d : candidates)
            if (d.platform_architecture == host.architecture && d.platform_os == host.os &&
                (d.platform_variant.empty() || host.variant.empty() ||
                 d.platform_variant == host.variant))
                match.push_back(d);
        if (match.empty()) {
            std::string list;
            for (const auto& d : candidates)
                list += " " + (d.platform_os.empty() ? std::string("?") : d.platform_os) + "/" +
                        (d.platform_architecture.empty() ? "?" : d.platform_architecture);
            return fail(src.label() + ": the image index lists " +
                        std::to_string(candidates.size()) + " manifests and none is for " +
                        host.os + "/" + host.architecture + ":" + list);
        }
        candidates = match;
    }
    const Descriptor d = candidates.front();
    if (!is_index_type(d.media_type))
        return d;
    if (depth >= 4)
        return fail(src.label() + ": image indexes nested more than 4 deep");
    auto text = read_blob(src, d, "nested index");
    if (!text)
        return tl::unexpected(text.error());
    auto nested = parse_oci_index(*text);
    if (!nested)
        return fail(src.label() + ": " + nested.error().message);
    return choose_manifest(src, *nested, depth + 1);
}

Result<Plan> plan_oci(Source& src)
{
    auto index_text = src.read_all("index.json", kMaxJsonBlob);
    if (!index_text)
        return tl::unexpected(index_text.error());
    auto index = parse_oci_index(*index_text);
    if (!index)
        return fail(src.label() + ": " + index.error().message);
    auto mdesc = choose_manifest(src, *index, 0);
    if (!mdesc)
        return tl::unexpected(mdesc.error());
    auto mtext = read_blob(src, *mdesc, "manifest");
    if (!mtext)
        return tl::unexpected(mtext.error());
    auto manifest = parse_oci_manifest(*mtext);
    if (!manifest)
        return fail(src.label() + ": " + manifest.error().message);
    Plan plan;
    auto ctext = read_blob(src, manifest->config, "config");
    if (!ctext)
        return tl::unexpected(ctext.error());
    plan.config_text = *ctext;
    for (const auto& l : manifest->layers) {
        if (!is_layer_type(l.media_type))
            return fail(src.label() + ": layer " + l.digest + " has media type " +
                        l.media_type.substr(0, 100) + ", which trace-root cannot unpack",
                        "only tar layers, plain, gzip or zstd, are supported");
        const std::string name = blob_member(l);
        if (!src.has(name))
            return fail(src.label() + ": layer blob " + name + " is missing from the image",
                        "a foreign or non-distributable layer must be pulled into the image "
                        "first, e.g. with skopeo copy");
        plan.layers.push_back({name, l});
    }
    return plan;
}

Result<Plan> plan_docker(Source& src)
{
    auto text = src.read_all("manifest.json", kMaxJsonBlob);
    if (!text)
        return tl::unexpected(text.error());
    auto entries = parse_docker_manifest(*text);
    if (!entries)
        return fail(src.label() + ": " + entries.error().message);
    if (entries->size() != 1)
        return fail(src.label() + ": manifest.json lists " + std::to_string(entries->size()) +
                        " images; trace-root unpacks exactly one",
                    "docker save one image at a time");
    const auto& entry = entries->front();
    Plan plan;
    if (!src.has(entry.config))
        return fail(src.label() + ": config " + escape_path(entry.config) + " is missing");
    auto ctext = src.read_all(entry.config, kMaxJsonBlob);
    if (!ctext)
        return tl::unexpected(ctext.error());
    plan.config_text = *ctext;
    // docker save records no blob digests beside the layers, so the layer
    // bytes are not checked against anything here.
    for (const auto& l : entry.layers) {
        if (!src.has(l))
            return fail(src.label() + ": layer " + escape_path(l) + " is missing");
        plan.layers.push_back({l, std::nullopt});
    }
    return plan;
}

Result<UniqueFd> prepare_dest(const std::string& dest)
{
    if (mkdir(dest.c_str(), 0755) != 0 && errno != EEXIST)
        return fail(errno_message("cannot create unpack directory", dest, errno));
    UniqueFd fd(open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid())
        return fail(errno_message("cannot open unpack directory", dest, errno));
    const int dup_fd = openat(fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* d = dup_fd >= 0 ? fdopendir(dup_fd) : nullptr;
    if (d == nullptr) {
        if (dup_fd >= 0)
            close(dup_fd);
        return fail(errno_message("cannot read unpack directory", dest, errno));
    }
    bool empty = true;
    while (dirent* de = readdir(d))
        if (std::strcmp(de->d_name, ".") != 0 && std::strcmp(de->d_name, "..") != 0)
            empty = false;
    closedir(d);
    if (!empty)
        return fail("cannot unpack into " + dest + ": the directory is not empty",
                    "unpack into a new or empty directory");
    return fd;
}

Result<UnpackResult> unpack_into(Source& src, ImageKind kind, int dest_fd,
                                 const std::string& dest)
{
    auto plan = kind == ImageKind::OciLayout ? plan_oci(src) : plan_docker(src);
    if (!plan)
        return tl::unexpected(plan.error());
    auto config = parse_image_config(plan->config_text);
    if (!config)
        return fail(src.label() + ": " + config.error().message);
    if (config->diff_ids.size() != plan->layers.size())
        return fail(src.label() + ": the config lists " +
                    std::to_string(config->diff_ids.size()) + " layer diff_ids but the manifest " +
                    std::to_string(plan->layers.size()) + " layers");
    UnpackResult result;
    result.kind = kind;
    result.root = dest;
    result.config = *config;
    LayerApplier applier(dest_fd, result);
    for (const auto& layer : plan->layers) {
        const std::string label = src.label() + ": layer " + escape_path(layer.member);
        auto r = src.with_stream(layer.member, [&](ByteStream& s) {
            return applier.apply(s, label, layer.descriptor ? &*layer.descriptor : nullptr);
        });
        if (!r)
            return tl::unexpected(r.error());
        ++result.layers;
    }
    return result;
}

}  // namespace

Result<UnpackResult> unpack_image(const std::string& image, const std::string& dest)
{
    // Step 1: what kind of image is this?
    struct stat st {};
    if (stat(image.c_str(), &st) != 0)
        return fail(errno_message("cannot open image", image, errno));
    std::unique_ptr<Source> src;
    ImageKind kind;
    if (S_ISDIR(st.st_mode)) {
        UniqueFd dir(open(image.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dir.valid())
            return fail(errno_message("cannot open image", image, errno));
        auto ds = std::make_unique<DirSource>(image, std::move(dir));
        if (ds->has("oci-layout") && ds->has("index.json")) {
            kind = ImageKind::OciLayout;
        } else if (ds->has("manifest.json")) {
            kind = ImageKind::DockerArchive;
        } else {
            UnpackResult r;
            r.kind = ImageKind::RootDirectory;
            r.root = image;
            return r;
        }
        src = std::move(ds);
    } else if (S_ISREG(st.st_mode)) {
        auto as = std::make_unique<ArchiveSource>(image);
        if (auto r = as->scan(); !r)
            return tl::unexpected(r.error());
        if (as->has("oci-layout") && as->has("index.json"))
            kind = ImageKind::OciLayout;
        else if (as->has("manifest.json"))
            kind = ImageKind::DockerArchive;
        else
            return fail(image + ": neither an OCI image layout (oci-layout, index.json) nor a "
                                "docker save archive (manifest.json)");
        src = std::move(as);
    } else {
        return fail("cannot use image " + image + ": not a directory or a file");
    }

    // Step 2: an empty destination, then the layers; on error, empty it again.
    auto dest_fd = prepare_dest(dest);
    if (!dest_fd)
        return tl::unexpected(dest_fd.error());
    auto result = unpack_into(*src, kind, dest_fd->get(), dest);
    if (!result) {
        if (auto r = empty_directory(dest_fd->get(), dest); !r)
            result.error().message += " (and cleaning up failed: " + r.error().message + ")";
    }
    return result;
}

Result<int> open_in_image(int root_fd, const std::string& path, int flags)
{
    const int fd = sys_openat2(root_fd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (fd < 0)
        return fail(errno_message("cannot open inside the image", escape_path(path), errno));
    return fd;
}

}  // namespace trace_root
