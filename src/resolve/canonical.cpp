// Canonicalisation of paths under a root, through the file system.
//
// Why not text: "/lib/../etc" is "/etc" as text, but when /lib is a symlink
// to usr/lib the kernel resolves it to "/usr/etc". Collapsing `..` as text is
// how tools lose files (and how tracers get bypassed), so every path here is
// walked one component at a time with fstatat(AT_SYMLINK_NOFOLLOW) on a
// directory fd of the root:
//
//   - `resolved` holds the components walked so far. They never contain a
//     symlink, so `resolved` is always a real directory inside root and a
//     fstatat relative to the root fd cannot leave it.
//   - A symlink met is recorded with its literal target (readlinkat); its
//     target's components are pushed in front of the components still to do.
//     An absolute target restarts at root, a relative one at the symlink's
//     directory, which is exactly the kernel's rule; `..` that follows then
//     pops a real directory, again as the kernel does (RESOLVE_IN_ROOT: `..`
//     at root stays at root).
//   - The final component is followed only with FollowFinal::Follow. A
//     trailing slash or a `..` after it means it is not final, so it is
//     followed, as the kernel does.
//   - Every directory walked through is a parent: the image needs it.
//   - After 40 symlinks (the kernel's MAXSYMLINKS) the walk fails: a loop is
//     an error, never a hang.
//   - A missing component ends the walk with type Missing; the rest is kept as
//     text so the caller can name the path.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>

#include "trace_root/allowlist.hpp"
#include "trace_root/escape.hpp"
#include "trace_root/resolve.hpp"

namespace trace_root {

namespace {

constexpr int kMaxSymlinks = 40;     // the kernel's MAXSYMLINKS
constexpr size_t kMaxGlobDepth = 256; // deeper trees under `**` are an error, not cut short

bool is_runtime_mount(const std::string& canonical)
{
    return canonical == "/proc" || canonical == "/sys" || canonical == "/dev";
}

std::string join_abs(const std::vector<std::string>& parts)
{
    if (parts.empty())
        return "/";
    std::string out;
    for (const auto& p : parts) {
        out += '/';
        out += p;
    }
    return out;
}

// Relative to the root fd: "." for root itself.
std::string rel_of(const std::string& abs)
{
    if (abs == "/")
        return ".";
    return abs.substr(1);
}

std::vector<std::string> split_components(const std::string& path)
{
    std::vector<std::string> out;
    size_t i = 0;
    while (i <= path.size()) {
        const size_t j = path.find('/', i);
        const size_t end = j == std::string::npos ? path.size() : j;
        out.push_back(path.substr(i, end - i));
        if (j == std::string::npos)
            break;
        i = j + 1;
    }
    return out;
}

FileType type_of(mode_t mode)
{
    if (S_ISREG(mode))
        return FileType::Regular;
    if (S_ISDIR(mode))
        return FileType::Directory;
    if (S_ISLNK(mode))
        return FileType::Symlink;
    return FileType::Other;
}

std::string shown(const std::string& root, const std::string& path)
{
    if (root == "/" || root.empty())
        return escape_path(path);
    return escape_path(root + path);
}

Result<std::string> read_link(int rootfd, const std::string& root, const std::string& abs)
{
    char buf[4097];
    const ssize_t n = readlinkat(rootfd, rel_of(abs).c_str(), buf, sizeof buf);
    if (n < 0)
        return fail(errno_message("cannot read symlink", shown(root, abs), errno));
    if (static_cast<size_t>(n) >= sizeof buf)
        return fail("symlink target longer than 4096 bytes: " + shown(root, abs));
    return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

Result<RootDir> RootDir::open(const std::string& root)
{
    const std::string r = root.empty() ? "/" : root;
    const int fd = ::open(r.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail(errno_message("cannot open root directory", r, errno),
                    "pass an existing directory with --root");
    std::string norm = r;
    while (norm.size() > 1 && norm.back() == '/')
        norm.pop_back();
    return RootDir(norm, fd);
}

RootDir::RootDir(RootDir&& other) noexcept : root_(std::move(other.root_)), fd_(other.fd_)
{
    other.fd_ = -1;
}

RootDir& RootDir::operator=(RootDir&& other) noexcept
{
    if (this != &other) {
        if (fd_ >= 0)
            ::close(fd_);
        root_ = std::move(other.root_);
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

RootDir::~RootDir()
{
    if (fd_ >= 0)
        ::close(fd_);
}

Result<Canonical> RootDir::canonicalize(const std::string& path, FollowFinal follow) const
{
    if (path.empty() || path[0] != '/')
        return fail("not an absolute path: \"" + escape_path(path) + "\"");
    Canonical out;
    std::vector<std::string> resolved;
    std::deque<std::string> todo;
    for (auto& c : split_components(path))
        todo.push_back(std::move(c));
    int links = 0;
    FileType current = FileType::Directory;  // the type of join_abs(resolved)
    bool stopped_at_runtime = false;

    while (!todo.empty()) {
        std::string name = std::move(todo.front());
        todo.pop_front();
        if (name.empty() || name == ".")
            continue;
        if (name == "..") {
            if (!resolved.empty())
                resolved.pop_back();
            current = FileType::Directory;
            continue;
        }
        if (current != FileType::Directory) {
            // A component after a non-directory: the kernel says ENOTDIR.
            todo.push_front(std::move(name));
            break;
        }
        resolved.push_back(std::move(name));
        const std::string abs = join_abs(resolved);
        if (is_runtime_mount(abs)) {
            stopped_at_runtime = true;
            break;
        }
        struct stat st {};
        if (fstatat(fd_, rel_of(abs).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT && errno != ENOTDIR)
                return fail(errno_message("cannot look up", shown(root_, abs), errno));
            current = FileType::Missing;
            break;
        }
        const bool last = todo.empty();
        current = type_of(st.st_mode);
        if (current == FileType::Symlink) {
            auto target = read_link(fd_, root_, abs);
            if (!target)
                return tl::unexpected(target.error());
            if (last && follow == FollowFinal::NoFollow) {
                out.final_target = *target;
                break;
            }
            if (++links > kMaxSymlinks)
                return fail("too many levels of symbolic links (a loop?) resolving " +
                            shown(root_, path) + ": gave up at " + escape_path(abs) + " -> " +
                            escape_path(*target));
            out.symlinks.push_back({abs, *target});
            resolved.pop_back();
            current = FileType::Directory;
            if (target->empty()) {  // the kernel fails an empty target with ENOENT
                current = FileType::Missing;
                break;
            }
            if ((*target)[0] == '/')
                resolved.clear();
            auto parts = split_components(*target);
            for (auto it = parts.rbegin(); it != parts.rend(); ++it)
                todo.push_front(std::move(*it));
            continue;
        }
        if (current == FileType::Directory && !last)
            out.parents.push_back(abs);
    }

    out.path = join_abs(resolved);
    out.type = stopped_at_runtime ? FileType::Other : current;
    if (current == FileType::Missing || !todo.empty()) {
        if (!stopped_at_runtime)
            out.type = FileType::Missing;
        for (const auto& rest : todo) {
            if (rest.empty() || rest == ".")
                continue;
            if (out.path.back() != '/')
                out.path += '/';
            out.path += rest;
        }
    }
    return out;
}

// ---- glob expansion ----------------------------------------------------------

namespace {

struct DirEntryInfo {
    std::string name;
    FileType type;
};

Result<std::vector<DirEntryInfo>> list_dir(const RootDir& root, const std::string& canonical)
{
    const int fd = openat(root.fd(), rel_of(canonical).c_str(),
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fail(errno_message("cannot list directory", shown(root.root(), canonical), errno));
    DIR* dir = fdopendir(fd);
    if (!dir) {
        const int err = errno;
        close(fd);
        return fail(errno_message("cannot list directory", shown(root.root(), canonical), err));
    }
    std::vector<DirEntryInfo> out;
    while (dirent* d = readdir(dir)) {
        const std::string name = d->d_name;
        if (name == "." || name == "..")
            continue;
        struct stat st {};
        if (fstatat(dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;  // vanished while listing
        out.push_back({name, type_of(st.st_mode)});
    }
    closedir(dir);
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
}

// Every path below `walked` (whose real directory is `canonical`), not
// following symlinked directories; directories only when `dirs_only`.
Result<void> descend(const RootDir& root, const std::string& walked, const std::string& canonical,
                     bool dirs_only, size_t depth, std::vector<std::string>& out)
{
    if (depth > kMaxGlobDepth)
        return fail("directory tree deeper than " + std::to_string(kMaxGlobDepth) +
                    " levels under " + shown(root.root(), canonical) + " while expanding **");
    auto entries = list_dir(root, canonical);
    if (!entries)
        return tl::unexpected(entries.error());
    const std::string wbase = walked == "/" ? "" : walked;
    const std::string cbase = canonical == "/" ? "" : canonical;
    for (const auto& e : *entries) {
        if (!dirs_only || e.type == FileType::Directory)
            out.push_back(wbase + "/" + e.name);
        if (e.type == FileType::Directory && !is_runtime_mount(cbase + "/" + e.name))
            if (auto r = descend(root, wbase + "/" + e.name, cbase + "/" + e.name, dirs_only,
                                 depth + 1, out);
                !r)
                return r;
    }
    return {};
}

}  // namespace

Result<std::vector<std::string>> expand_glob(const RootDir& root, const std::string& pattern)
{
    auto parsed = parse_pattern(pattern);
    if (!parsed)
        return tl::unexpected(parsed.error());
    return expand_pattern(root, *parsed);
}

Result<std::vector<std::string>> expand_pattern(const RootDir& root, const Pattern& pattern)
{
    std::vector<std::string> current{"/"};
    const auto& parts = pattern.parts;
    for (size_t i = 0; i < parts.size(); ++i) {
        const auto& part = parts[i];
        const bool last = i + 1 == parts.size();
        std::vector<std::string> next;
        for (const auto& prefix : current) {
            const std::string base = prefix == "/" ? "" : prefix;
            if (!part.wildcard()) {
                next.push_back(base + "/" + part.pieces[0]);
                continue;
            }
            auto dir = root.canonicalize(prefix, FollowFinal::Follow);
            if (!dir)
                return tl::unexpected(dir.error());
            if (dir->type != FileType::Directory)
                continue;
            if (part.any_depth) {
                // Not last: zero or more directories. Last: one or more entries.
                if (!last)
                    next.push_back(prefix);
                if (auto r = descend(root, prefix, dir->path, !last, 0, next); !r)
                    return tl::unexpected(r.error());
                continue;
            }
            auto entries = list_dir(root, dir->path);
            if (!entries)
                return tl::unexpected(entries.error());
            for (const auto& e : *entries)
                if (pattern_component_matches(part, e.name))
                    next.push_back(base + "/" + e.name);
        }
        current = std::move(next);
    }
    std::vector<std::string> out;
    for (const auto& p : current) {
        auto c = root.canonicalize(p, FollowFinal::NoFollow);
        if (!c)
            return tl::unexpected(c.error());
        if (c->type != FileType::Missing && p != "/")
            out.push_back(p);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

}  // namespace trace_root
