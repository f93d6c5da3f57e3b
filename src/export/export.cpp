// Export: a list of paths -> an image root directory.
//
// The export runs in two phases so that bad input fails before anything is
// written:
//
// 1. Plan. Every listed path is walked from the source root one component
//    at a time, the way the kernel would resolve it, but through
//    openat2(RESOLVE_IN_ROOT) so that absolute symlinks mean "inside this
//    root". Each component met becomes a node of the plan: a directory is
//    kept with its own metadata; a symlink is kept verbatim and the walk
//    continues through its target (so /lib/x.so with /lib -> usr/lib puts
//    the symlink /lib, the directories /usr and /usr/lib, and the file in the
//    plan). A listed symlink pulls in its target the same way. Paths the
//    runtime provides (/proc, /sys, /dev, /run/*) stop the walk and are
//    counted. Listed paths that do not exist are collected and reported
//    together. Regular files sharing a (dev, ino) become hardlinks of the
//    first one in path order.
//
// 2. Write, in path order, which puts every directory before its contents.
//    The destination root is opened once; every parent directory is reached
//    with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) from it, and the
//    final component is always a plain name created relative to that parent
//    fd, so a symlink planted in the destination (DIR/usr -> /) is refused,
//    never followed. Files, symlinks and special files are created under a
//    temporary name in their final directory, get their content and
//    metadata, and are renamed into place: an interrupted export never leaves
//    a half-written file under its final name. Directories are created
//    owner-only and get their real owner, mode, xattrs and timestamps last,
//    deepest first, after everything inside them has been written (writing
//    into a directory changes its mtime, and a 0555 directory could not be
//    written into by a non-root exporter).
//
// Metadata the destination cannot hold is collected per path and reported;
// it fails the export at the end unless the caller accepts the loss.
#include "trace_root/export.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <iostream>
#include <map>
#include <set>

#include "beneath.hpp"
#include "copy_data.hpp"
#include "metadata.hpp"
#include "trace_root/escape.hpp"

namespace trace_root {

using beneath::Fd;
using beneath::Scope;

namespace {

// The kernel gives up on symlink chains longer than this (MAXSYMLINKS).
constexpr int kMaxSymlinks = 40;

std::string join(const std::string& dir, const std::string& name)
{
    return dir == "/" ? "/" + name : dir + "/" + name;
}

std::string display(const std::string& root, const std::string& path)
{
    // Raw bytes: callers escape (errno_message() does it itself).
    if (root == "/")
        return path;
    return root + (root.ends_with('/') ? path.substr(1) : path);
}

struct Node {
    struct stat st {};
    std::string link_target;   // symlinks: the target, verbatim
    std::string hardlink_of;   // regular files: earlier path with the same (dev, ino)
};

// ---- Phase 1: the plan -------------------------------------------------

class Planner {
public:
    Planner(int rootfd, std::string root_name) : rootfd_(rootfd), root_name_(std::move(root_name))
    {
    }

    void add(const std::string& listed);
    void link_hardlinks();

    std::map<std::string, Node> nodes;
    std::set<std::string> skipped_runtime;
    std::vector<std::string> problems;
    uint64_t dangling = 0;

private:
    // Returns 0, or an errno value for a component that does not resolve.
    int visit(const std::string& path, Node*& node);

    int rootfd_;
    std::string root_name_;
};

int Planner::visit(const std::string& path, Node*& node)
{
    if (auto it = nodes.find(path); it != nodes.end()) {
        node = &it->second;
        return 0;
    }
    const int fd = beneath::open_at(rootfd_, beneath::relative(path), O_PATH | O_NOFOLLOW,
                                    Scope::InRoot);
    if (fd < 0)
        return errno;
    Fd owned(fd);
    Node n;
    if (fstat(fd, &n.st) != 0)
        return errno;
    if (S_ISLNK(n.st.st_mode)) {
        // readlinkat(fd, "") reads the symlink an O_PATH|O_NOFOLLOW fd refers to.
        std::string buf(static_cast<size_t>(n.st.st_size) + 1, '\0');
        for (;;) {
            const ssize_t len = readlinkat(fd, "", buf.data(), buf.size());
            if (len < 0)
                return errno;
            if (static_cast<size_t>(len) < buf.size()) {
                buf.resize(static_cast<size_t>(len));
                break;
            }
            buf.resize(buf.size() * 2);  // grew since fstat: never truncate a target
        }
        n.link_target = std::move(buf);
    }
    node = &nodes.emplace(path, std::move(n)).first->second;
    return 0;
}

void Planner::add(const std::string& listed)
{
    std::deque<std::string> todo;
    auto push_front_components = [&todo](const std::string& p) {
        std::vector<std::string> parts;
        size_t pos = 0;
        while (pos <= p.size()) {
            const size_t slash = p.find('/', pos);
            const size_t end = slash == std::string::npos ? p.size() : slash;
            if (end > pos)
                parts.push_back(p.substr(pos, end - pos));
            pos = end + 1;
        }
        todo.insert(todo.begin(), parts.begin(), parts.end());
    };
    push_front_components(listed);

    std::string cur = "/";
    int followed = 0;
    while (!todo.empty()) {
        const std::string name = todo.front();
        todo.pop_front();
        if (name == ".")
            continue;
        if (name == "..") {  // only from symlink targets: listed paths have none
            cur = beneath::split_parent(cur).first;
            continue;
        }
        const std::string next = join(cur, name);
        if (is_runtime_path(next)) {
            skipped_runtime.insert(next);
            return;
        }
        Node* node = nullptr;
        if (const int err = visit(next, node); err != 0) {
            if (followed > 0 && (err == ENOENT || err == ENOTDIR)) {
                ++dangling;  // a symlink on the way points at nothing: nothing more to export
                return;
            }
            problems.push_back(errno_message("cannot export", display(root_name_, listed), err) +
                               (next != listed ? " (at " + escape_path(next) + ")" : ""));
            return;
        }
        if (S_ISLNK(node->st.st_mode)) {
            if (++followed > kMaxSymlinks) {
                // A loop (or a chain longer than the kernel follows): the
                // links are exported as they are; like a dangling symlink
                // there is no target to add.
                ++dangling;
                return;
            }
            const std::string& target = node->link_target;
            if (target.starts_with('/'))
                cur = "/";
            push_front_components(target);
            continue;
        }
        if (!S_ISDIR(node->st.st_mode) && !todo.empty()) {
            if (followed > 0) {
                ++dangling;
                return;
            }
            problems.push_back(errno_message("cannot export", display(root_name_, listed),
                                             ENOTDIR));
            return;
        }
        cur = next;
    }
}

void Planner::link_hardlinks()
{
    std::map<std::pair<dev_t, ino_t>, std::string> first;
    for (auto& [path, node] : nodes) {
        if (!S_ISREG(node.st.st_mode) || node.st.st_nlink < 2)
            continue;
        auto [it, inserted] = first.emplace(std::pair{node.st.st_dev, node.st.st_ino}, path);
        if (!inserted)
            node.hardlink_of = it->second;
    }
}

// ---- Phase 2: writing ----------------------------------------------------

class Writer {
public:
    Writer(int srcroot, int dstroot, const ExportOptions& options, ExportStats& stats)
        : srcroot_(srcroot), dstroot_(dstroot), options_(options), stats_(stats)
    {
    }

    Result<void> write(const std::string& path, const Node& node);
    Result<void> finish_directory(const std::string& path, const Node& node);

private:
    Result<int> parent_of(const std::string& path, std::string& name);
    std::string temp_name();
    Result<void> write_directory(int parent, const std::string& name, const std::string& path);
    Result<void> write_regular(int parent, const std::string& name, const std::string& path,
                               const Node& node);
    Result<void> write_hardlink(int parent, const std::string& name, const std::string& path,
                                const Node& node);
    Result<void> write_other(int parent, const std::string& name, const std::string& path,
                             const Node& node);
    Result<void> rename_into_place(int parent, const std::string& tmp, const std::string& name,
                                   const std::string& path);
    std::vector<Xattr> source_xattrs(int fd, const std::string& path);
    std::string shown(const std::string& path) const { return display(options_.to_dir, path); }

    int srcroot_;
    int dstroot_;
    const ExportOptions& options_;
    ExportStats& stats_;
    Fd parent_fd_;             // cache: files of one directory are written one after another
    std::string parent_path_;
    uint64_t temp_counter_ = 0;
};

Result<int> Writer::parent_of(const std::string& path, std::string& name)
{
    auto [parent, base] = beneath::split_parent(path);
    name = base;
    if (parent == "/")
        return dstroot_;
    if (parent_fd_.valid() && parent_path_ == parent)
        return parent_fd_.get();
    const int fd = beneath::open_at(dstroot_, beneath::relative(parent), O_PATH | O_DIRECTORY,
                                    Scope::Beneath);
    if (fd < 0) {
        const int err = errno;
        if (err == ELOOP || err == EXDEV)
            return fail(errno_message("refusing to write below", shown(parent), err),
                        "the destination holds a symlink where the source has a directory; "
                        "export into an empty directory, or remove it");
        return fail(errno_message("cannot open directory", shown(parent), err));
    }
    parent_fd_ = Fd(fd);
    parent_path_ = parent;
    return fd;
}

std::string Writer::temp_name()
{
    return ".trace-root-tmp." + std::to_string(getpid()) + "." + std::to_string(temp_counter_++);
}

std::vector<Xattr> Writer::source_xattrs(int fd, const std::string& path)
{
    std::vector<Xattr> xattrs;
    if (fd < 0) {
        // Symlinks and special files: reach them through their parent's fd.
        auto [parent, name] = beneath::split_parent(path);
        const int pfd = beneath::open_at(srcroot_, beneath::relative(parent),
                                         O_PATH | O_DIRECTORY, Scope::InRoot);
        if (pfd < 0) {
            stats_.not_preserved.push_back({path, "xattrs (source unreadable)", errno});
            return {};
        }
        Fd owned(pfd);
        if (const int err = read_xattrs(-1, beneath::fd_path(pfd, name), xattrs); err != 0)
            stats_.not_preserved.push_back({path, "xattrs (source unreadable)", err});
        return xattrs;
    }
    if (const int err = read_xattrs(fd, {}, xattrs); err != 0)
        stats_.not_preserved.push_back({path, "xattrs (source unreadable)", err});
    return xattrs;
}

Result<void> Writer::rename_into_place(int parent, const std::string& tmp,
                                       const std::string& name, const std::string& path)
{
    if (renameat(parent, tmp.c_str(), parent, name.c_str()) != 0) {
        const int err = errno;
        unlinkat(parent, tmp.c_str(), 0);
        return fail(errno_message("cannot rename into place", shown(path), err),
                    err == EISDIR ? "the destination has a directory where the source has a "
                                    "file"
                                  : "");
    }
    return {};
}

Result<void> Writer::write_directory(int parent, const std::string& name,
                                     const std::string& path)
{
    // Owner-only until finish_directory() gives it its real metadata.
    if (mkdirat(parent, name.c_str(), 0700) != 0) {
        const int err = errno;
        struct stat st {};
        if (err != EEXIST)
            return fail(errno_message("cannot create directory", shown(path), err));
        if (fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
            return fail(errno_message("cannot inspect", shown(path), errno));
        if (!S_ISDIR(st.st_mode))
            return fail("cannot create directory " + escape_path(shown(path)) +
                            ": something else exists " +
                            "there" + (S_ISLNK(st.st_mode) ? " (a symlink; not followed)" : ""),
                        "export into an empty directory, or remove it");
    }
    ++stats_.dirs;
    return {};
}

Result<void> Writer::write_regular(int parent, const std::string& name, const std::string& path,
                                   const Node& node)
{
    // O_NOATIME keeps the export from changing the source's access times;
    // it is refused (EPERM) for files the exporter does not own without
    // CAP_FOWNER, and then the file is simply opened without it.
    const std::string rel = beneath::relative(path);
    int sfd = beneath::open_at(srcroot_, rel, O_RDONLY | O_NOFOLLOW | O_NOATIME, Scope::InRoot);
    if (sfd < 0 && errno == EPERM)
        sfd = beneath::open_at(srcroot_, rel, O_RDONLY | O_NOFOLLOW, Scope::InRoot);
    if (sfd < 0)
        return fail(errno_message("cannot read", display(options_.from_root, path), errno));
    Fd src(sfd);

    const std::string tmp = temp_name();
    const int dfd = openat(parent, tmp.c_str(),
                           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (dfd < 0)
        return fail(errno_message("cannot create", shown(path), errno));
    Fd dst(dfd);
    auto abandon = [&](const std::string& what, int err) {
        dst.reset();
        unlinkat(parent, tmp.c_str(), 0);
        return fail(errno_message(what, shown(path), err),
                    err == ENOSPC || err == EDQUOT
                        ? "the destination file system is full; no partial file was left"
                        : "");
    };
    struct stat now {};
    if (fstat(src.get(), &now) != 0)
        return abandon("cannot inspect", errno);
    if (const int err = copy_file_data(src.get(), dst.get(), static_cast<uint64_t>(now.st_size));
        err != 0)
        return abandon("cannot write", err);

    const std::vector<Xattr> xattrs = source_xattrs(src.get(), path);
    apply_metadata({dst.get(), -1, {}}, node.st, xattrs, path, stats_.not_preserved);
    if (close(dst.release()) != 0) {  // NFS and some FUSE file systems report errors here
        const int err = errno;
        unlinkat(parent, tmp.c_str(), 0);
        return fail(errno_message("cannot write", shown(path), err));
    }
    if (auto r = rename_into_place(parent, tmp, name, path); !r)
        return r;
    ++stats_.files;
    stats_.bytes += static_cast<uint64_t>(now.st_size);
    return {};
}

Result<void> Writer::write_hardlink(int parent, const std::string& name, const std::string& path,
                                    const Node& node)
{
    // Link to the copy already written (path order puts it first).
    std::string first_name;
    auto [first_parent, first_base] = beneath::split_parent(node.hardlink_of);
    const int fpfd = first_parent == "/"
                         ? dup(dstroot_)
                         : beneath::open_at(dstroot_, beneath::relative(first_parent),
                                            O_PATH | O_DIRECTORY, Scope::Beneath);
    if (fpfd < 0)
        return fail(errno_message("cannot open directory", shown(first_parent), errno));
    Fd first_dir(fpfd);
    const std::string tmp = temp_name();
    if (linkat(first_dir.get(), first_base.c_str(), parent, tmp.c_str(), 0) != 0)
        return fail(errno_message("cannot hardlink " + escape_path(shown(node.hardlink_of)) + " as",
                                  shown(path), errno));
    if (auto r = rename_into_place(parent, tmp, name, path); !r)
        return r;
    ++stats_.hardlinks;
    return {};
}

Result<void> Writer::write_other(int parent, const std::string& name, const std::string& path,
                                 const Node& node)
{
    const std::string tmp = temp_name();
    const bool is_symlink = S_ISLNK(node.st.st_mode);
    const int rc = is_symlink ? symlinkat(node.link_target.c_str(), parent, tmp.c_str())
                              : mknodat(parent, tmp.c_str(), (node.st.st_mode & S_IFMT) | 0600,
                                        node.st.st_rdev);
    if (rc != 0)
        return fail(errno_message(is_symlink ? "cannot create symlink" : "cannot create node",
                                  shown(path), errno));
    const std::vector<Xattr> xattrs = source_xattrs(-1, path);
    apply_metadata({-1, parent, tmp}, node.st, xattrs, path, stats_.not_preserved);
    if (auto r = rename_into_place(parent, tmp, name, path); !r)
        return r;
    ++(is_symlink ? stats_.symlinks : stats_.specials);
    return {};
}

Result<void> Writer::write(const std::string& path, const Node& node)
{
    std::string name;
    auto parent = parent_of(path, name);
    if (!parent)
        return tl::unexpected(parent.error());
    if (S_ISDIR(node.st.st_mode))
        return write_directory(*parent, name, path);
    if (S_ISREG(node.st.st_mode))
        return node.hardlink_of.empty() ? write_regular(*parent, name, path, node)
                                        : write_hardlink(*parent, name, path, node);
    return write_other(*parent, name, path, node);
}

Result<void> Writer::finish_directory(const std::string& path, const Node& node)
{
    const int dfd = beneath::open_at(dstroot_, beneath::relative(path), O_RDONLY | O_DIRECTORY,
                                     Scope::Beneath);
    if (dfd < 0)
        return fail(errno_message("cannot open directory", shown(path), errno));
    Fd dst(dfd);
    const int sfd = beneath::open_at(srcroot_, beneath::relative(path), O_RDONLY | O_DIRECTORY,
                                     Scope::InRoot);
    std::vector<Xattr> xattrs;
    if (sfd < 0) {
        stats_.not_preserved.push_back({path, "xattrs (source unreadable)", errno});
    } else {
        Fd src(sfd);
        xattrs = source_xattrs(src.get(), path);
    }
    apply_metadata({dst.get(), -1, {}}, node.st, xattrs, path, stats_.not_preserved);
    return {};
}

// ---- The destination ------------------------------------------------------

Result<Fd> open_destination(const ExportOptions& options)
{
    const std::string& dir = options.to_dir;
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
        return fail(errno_message("cannot create", dir, errno));
    const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail(errno_message("cannot open", dir, errno));
    Fd owned(fd);
    if (options.merge == MergePolicy::Merge)
        return owned;

    const int listfd = dup(fd);
    DIR* d = listfd >= 0 ? fdopendir(listfd) : nullptr;
    if (!d)
        return fail(errno_message("cannot list", dir, errno));
    bool empty = true;
    while (const dirent* e = readdir(d)) {
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
            empty = false;
            break;
        }
    }
    closedir(d);
    if (!empty)
        return fail("the destination " + escape_path(dir) + " is not empty",
                    "pass --merge to export into it anyway");
    return owned;
}

std::string loss_line(const MetadataLoss& loss)
{
    return escape_path(loss.path) + ": could not preserve " + loss.what + ": " +
           std::strerror(loss.error);
}

}  // namespace

// ---- Public API ------------------------------------------------------------

Result<std::string> normalize_export_path(std::string_view path)
{
    const std::string shown = escape_path(path);
    if (path.empty())
        return fail("empty path in the export list");
    if (path.find('\0') != std::string_view::npos)
        return fail("path " + shown + " in the export list contains a NUL byte");
    if (path.front() != '/')
        return fail("relative path " + shown + " in the export list",
                    "every path must be absolute (start with '/')");
    std::string out;
    size_t pos = 0;
    while (pos < path.size()) {
        size_t slash = path.find('/', pos);
        if (slash == std::string_view::npos)
            slash = path.size();
        const std::string_view part = path.substr(pos, slash - pos);
        pos = slash + 1;
        if (part.empty() || part == ".")
            continue;
        if (part == "..")
            return fail("path " + shown + " in the export list contains '..'",
                        "list the path without '..' (trace-root writes resolved paths)");
        out += '/';
        out += part;
    }
    return out.empty() ? std::string("/") : out;
}

bool is_runtime_path(std::string_view p)
{
    auto under = [p](std::string_view top) {
        return p == top || (p.size() > top.size() && p.starts_with(top) && p[top.size()] == '/');
    };
    const bool in_run = p.size() > 5 && p.starts_with("/run/");
    return under("/proc") || under("/sys") || under("/dev") || in_run;
}

Result<ExportStats> export_paths(const ExportOptions& options,
                                 const std::vector<std::string>& paths)
{
    if (options.to_dir.empty())
        return fail("no destination directory given", "pass --to DIR");

    // Step 1: check every listed path before touching anything.
    std::set<std::string> wanted;
    std::vector<std::string> bad;
    for (const auto& p : paths) {
        auto n = normalize_export_path(p);
        if (!n)
            bad.push_back(n.error().message);
        else if (*n != "/")
            wanted.insert(*n);
    }
    if (!bad.empty()) {
        std::string msg = std::to_string(bad.size()) + " invalid path(s) in the export list:";
        for (const auto& b : bad)
            msg += "\n  " + b;
        return fail(msg, "every path must be absolute and free of '..'");
    }

    // Step 2: plan from the source root.
    const int rfd = open(options.from_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
        return fail(errno_message("cannot open source root", options.from_root, errno));
    Fd srcroot(rfd);
    Planner planner(srcroot.get(), options.from_root);
    for (const auto& p : wanted)
        planner.add(p);
    if (!planner.problems.empty()) {
        std::string msg = std::to_string(planner.problems.size()) +
                          " listed path(s) cannot be exported:";
        for (const auto& p : planner.problems)
            msg += "\n  " + p;
        return fail(msg, "fix the list or pass --from with the root the list was made in");
    }
    planner.link_hardlinks();

    // Step 3: open (and check) the destination.
    auto dst = open_destination(options);
    if (!dst)
        return tl::unexpected(dst.error());

    // Step 4: write everything, directories first by path order.
    ExportStats stats;
    stats.skipped_runtime.assign(planner.skipped_runtime.begin(), planner.skipped_runtime.end());
    stats.dangling_symlinks = planner.dangling;
    Writer writer(srcroot.get(), dst->get(), options, stats);
    for (const auto& [path, node] : planner.nodes)
        if (auto r = writer.write(path, node); !r)
            return tl::unexpected(r.error());

    // Step 5: directory metadata, deepest first.
    for (auto it = planner.nodes.rbegin(); it != planner.nodes.rend(); ++it)
        if (S_ISDIR(it->second.st.st_mode))
            if (auto r = writer.finish_directory(it->first, it->second); !r)
                return tl::unexpected(r.error());

    // Step 6: report what the destination could not hold.
    for (const auto& loss : stats.not_preserved)
        std::cerr << "trace-root: warning: " << loss_line(loss) << "\n";
    if (!stats.not_preserved.empty() && options.metadata_loss == MetadataLossPolicy::Fail)
        return fail(std::to_string(stats.not_preserved.size()) +
                        " item(s) of metadata could not be preserved in " +
                        escape_path(options.to_dir) + " (listed above)",
                    "export to a file system that supports them, or pass "
                    "--allow-metadata-loss to accept the loss");
    return stats;
}

void print_export_summary(const ExportStats& s, const std::string& to_dir, std::ostream& out)
{
    out << "trace-root: exported to " << escape_path(to_dir) << ": " << s.files << " files, "
        << s.dirs << " directories, " << s.symlinks << " symlinks, " << s.hardlinks
        << " hardlinks, " << s.specials << " special files, " << s.bytes << " bytes\n";
    if (!s.skipped_runtime.empty())
        out << "trace-root: skipped " << s.skipped_runtime.size()
            << " runtime-provided path(s) (/proc, /sys, /dev, /run/*): the container runtime "
               "provides them\n";
    if (s.dangling_symlinks != 0)
        out << "trace-root: " << s.dangling_symlinks
            << " symlink(s) point at nothing (or loop) in the source root; exported as they "
               "are\n";
    if (!s.not_preserved.empty())
        out << "trace-root: metadata not preserved: " << s.not_preserved.size()
            << " item(s) (listed above)\n";
    else
        out << "trace-root: metadata not preserved: none\n";
}

}  // namespace trace_root
