// The audit walk: every file of an unpacked image root set against the used
// set, grouped by dpkg package and top-level directory, and the attack surface
// the image carries.
//
// How the walk stays inside the image: the root is opened once and every
// directory below it with openat(O_NOFOLLOW | O_DIRECTORY) relative to its
// parent's fd, every entry is looked at with fstatat(AT_SYMLINK_NOFOLLOW), so
// a symlink (absolute targets mean paths inside the image, not the host) is
// counted as what it is and never followed. A directory on another file
// system is a mount point inside a root directory (a bind mount, /proc): it
// is not part of the image, so it is left out, with a warning.
//
// Why canonical paths everywhere: the used set holds canonical paths (the
// tracer's paths walked through the image's symlinks), and the walk meets
// every file at its canonical path, because it never goes through a symlink.
// dpkg's .list files name paths as the package built them, which under a
// merged /usr ("/lib -> usr/lib") are not where the files lie: each listed
// path's directory is canonicalised through the image's symlinks (the last
// component is not followed: a listed symlink belongs to its package as a
// symlink), so /lib/x86_64-linux-gnu/libc.so.6 is attributed at
// /usr/lib/x86_64-linux-gnu/libc.so.6.
//
// Hardlinks: bytes and files are counted per inode, once. An inode is used
// when any of its names is; its package and directory are those of its first
// name that a package owns (else its first name in walk order).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "trace_root/audit.hpp"
#include "trace_root/escape.hpp"
#include "trace_root/image_read.hpp"
#include "trace_root/unique_fd.hpp"

namespace trace_root {

namespace {

constexpr size_t kMaxDepth = 2048;  // a path of 4096 bytes has at most 2048 components
const char* const kNoPackage = "(no package)";

using Fd = UniqueFd;

struct NameRule {
    const char* name;  // exact, or a prefix when `versioned`
    bool versioned;    // the rest may be a version: digits, '.', '-'
};

// Names of programs that widen what an attacker inside the container can do.
const std::vector<std::pair<SurfaceKind, std::vector<NameRule>>>& surface_rules()
{
    static const std::vector<std::pair<SurfaceKind, std::vector<NameRule>>> rules = {
        {SurfaceKind::Shell,
         {{"sh", false}, {"bash", false}, {"dash", false}, {"zsh", false}, {"ksh", true},
          {"mksh", false}, {"pdksh", false}, {"csh", false}, {"tcsh", false}, {"fish", false},
          {"ash", false}, {"rbash", false}, {"yash", false}, {"busybox", false},
          {"toybox", false}}},
        {SurfaceKind::PackageManager,
         {{"apt", false}, {"apt-get", false}, {"apt-cache", false}, {"apt-mark", false},
          {"apt-key", false}, {"aptitude", false}, {"dpkg", false}, {"dpkg-deb", false},
          {"dpkg-query", false}, {"dpkg-divert", false}, {"rpm", false}, {"yum", false},
          {"dnf", false}, {"microdnf", false}, {"apk", false}, {"pip", true},
          {"easy_install", true}, {"npm", false}, {"npx", false}, {"yarn", false},
          {"pnpm", false}, {"gem", false}, {"zypper", false}, {"pacman", false},
          {"conda", false}, {"mamba", false}}},
        {SurfaceKind::Compiler,
         {{"gcc", true}, {"g++", true}, {"cc", false}, {"c++", false}, {"c89", false},
          {"c99", false}, {"cpp", true}, {"clang", true}, {"clang++", true}, {"tcc", false},
          {"rustc", false}, {"cargo", false}, {"go", false}, {"gccgo", true}, {"javac", false},
          {"as", false}, {"ld", false}, {"ld.bfd", false}, {"ld.gold", false},
          {"gfortran", true}}},
        {SurfaceKind::Interpreter,
         {{"perl", true}, {"python", true}, {"pypy", true}, {"ruby", true}, {"irb", false},
          {"node", false}, {"nodejs", false}, {"lua", true}, {"luajit", false}, {"php", true},
          {"tclsh", true}, {"wish", true}, {"java", false}, {"jshell", false},
          {"Rscript", false}, {"guile", true}, {"awk", false}, {"gawk", false},
          {"mawk", false}, {"nawk", false}, {"expect", false}}},
    };
    return rules;
}

bool rule_matches(const NameRule& rule, std::string_view name)
{
    const std::string_view r = rule.name;
    if (name == r)
        return true;
    if (!rule.versioned || name.size() <= r.size() || name.substr(0, r.size()) != r)
        return false;
    const std::string_view rest = name.substr(r.size());
    if (!std::isdigit(static_cast<unsigned char>(rest.back())))
        return false;  // "python3-config", "gcc-ar" are not the program itself
    return std::all_of(rest.begin(), rest.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-';
    });
}

std::optional<SurfaceKind> program_kind(std::string_view name)
{
    // Cross tools carry the target triplet: x86_64-linux-gnu-gcc-12.
    if (const size_t t = name.find("-linux-gnu-"); t != std::string_view::npos)
        name.remove_prefix(t + 11);
    for (const auto& [kind, rules] : surface_rules())
        for (const auto& rule : rules)
            if (rule_matches(rule, name))
                return kind;
    return std::nullopt;
}

std::string top_directory(const std::string& path)
{
    const size_t slash = path.find('/', 1);
    if (slash == std::string::npos)
        return "/";
    return path.substr(0, slash);
}

Result<std::string> read_in_image(int root_fd, const std::string& path, size_t max_bytes)
{
    auto fd = open_in_image(root_fd, path, O_RDONLY | O_CLOEXEC);
    if (!fd)
        return tl::unexpected(fd.error());
    Fd owned(*fd);
    std::string out;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(owned.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return fail(errno_message("cannot read inside the image", escape_path(path), errno));
        }
        if (n == 0)
            break;
        if (out.size() + size_t(n) > max_bytes)
            return fail("/" + escape_path(path) + " in the image is larger than " +
                        std::to_string(max_bytes >> 20) + " MiB");
        out.append(buf, size_t(n));
    }
    return out;
}

bool exists_in_image(int root_fd, const char* rel)
{
    struct stat st {};
    return fstatat(root_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

struct Ownership {
    std::vector<PackageUsage> packages;          // index 0: "(no package)"
    std::unordered_map<std::string, size_t> owner;  // canonical path -> package index
};

// Reads the dpkg database and maps every listed path, canonicalised, to its
// package. A missing list for an installed package is a warning.
Result<Ownership> read_dpkg(const RootDir& root, std::vector<std::string>& warnings)
{
    Ownership own;
    own.packages.push_back({kNoPackage, {}, {}});
    auto status = read_in_image(root.fd(), "var/lib/dpkg/status", size_t(256) << 20);
    if (!status)
        return tl::unexpected(status.error());
    auto pkgs = parse_dpkg_status(*status, root.root() + "/var/lib/dpkg/status");
    if (!pkgs)
        return tl::unexpected(pkgs.error());

    std::unordered_map<std::string, std::string> canonical_dirs;
    auto canonical_of = [&](const std::string& listed) -> std::string {
        const size_t slash = listed.rfind('/');
        const std::string dir = slash == 0 ? "/" : listed.substr(0, slash);
        const std::string base = listed.substr(slash + 1);
        auto it = canonical_dirs.find(dir);
        if (it == canonical_dirs.end()) {
            auto c = root.canonicalize(dir, FollowFinal::Follow);
            it = canonical_dirs.emplace(dir, c ? c->path : dir).first;
        }
        if (base.empty() || base == "." || base == "..")
            return listed;
        return it->second == "/" ? "/" + base : it->second + "/" + base;
    };

    for (const auto& p : *pkgs) {
        if (!p.installed())
            continue;
        std::string text;
        std::string used_name;
        // Multi-Arch: same packages list as NAME:ARCH.list, the others as NAME.list.
        std::vector<std::string> candidates;
        if (!p.architecture.empty())
            candidates.push_back(p.name + ":" + p.architecture);
        candidates.push_back(p.name);
        for (const auto& n : candidates) {
            auto t = read_in_image(root.fd(), "var/lib/dpkg/info/" + n + ".list",
                                   size_t(64) << 20);
            if (t) {
                text = std::move(*t);
                used_name = n;
                break;
            }
        }
        if (used_name.empty()) {
            warnings.push_back("package " + escape_path(p.name) +
                               " is installed but has no var/lib/dpkg/info list; its files "
                               "count as \"(no package)\"");
            continue;
        }
        auto listed = parse_dpkg_list(text, root.root() + "/var/lib/dpkg/info/" + used_name +
                                                ".list");
        if (!listed)
            return tl::unexpected(listed.error());
        const size_t index = own.packages.size();
        own.packages.push_back({p.name, p.version, {}});
        for (const auto& path : *listed)
            own.owner.emplace(canonical_of(path), index);  // the first package keeps it
    }
    return own;
}

struct Inode {
    std::string first_path;
    uint64_t bytes = 0;
    bool used = false;
    size_t package = 0;
    bool owned = false;
};

struct Walk {
    const std::unordered_set<std::string>* used = nullptr;
    const Ownership* own = nullptr;
    dev_t root_dev = 0;
    int root_fd = -1;
    std::map<std::pair<dev_t, ino_t>, Inode> inodes;
    std::vector<SurfaceItem> surface;
    std::vector<std::string> warnings;
};

// Programs are what PATH finds: files in a bin or sbin directory (/usr/bin,
// /usr/local/sbin, /opt/venv/bin). A script named dpkg in /etc/cron.daily, or
// the /etc/alternatives links that bin symlinks go through, are not named twice.
bool in_program_dir(const std::string& dir_path)
{
    const std::string last = dir_path.substr(dir_path.rfind('/') + 1);
    return last == "bin" || last == "sbin";
}

// For a surface name: is this an executable program (a symlink to one counts)?
bool is_program(const RootDir& root, const std::string& path, const struct stat& st)
{
    if (S_ISREG(st.st_mode))
        return (st.st_mode & 0111) != 0;
    if (!S_ISLNK(st.st_mode))
        return false;
    auto c = root.canonicalize(path, FollowFinal::Follow);
    if (!c || c->type != FileType::Regular)
        return false;
    struct stat target {};
    const std::string rel = c->path.substr(1);
    return fstatat(root.fd(), rel.c_str(), &target, AT_SYMLINK_NOFOLLOW) == 0 &&
           (target.st_mode & 0111) != 0;
}

Result<void> walk_dir(Walk& w, const RootDir& root, int dir_fd, const std::string& dir_path,
                      size_t depth)
{
    if (depth > kMaxDepth)
        return fail(escape_path(root.root() + dir_path) + ": directories nested deeper than " +
                    std::to_string(kMaxDepth));
    const int list_fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (list_fd < 0)
        return fail(errno_message("cannot list", root.root() + dir_path, errno));
    DIR* d = fdopendir(list_fd);
    if (d == nullptr) {
        ::close(list_fd);
        return fail(errno_message("cannot list", root.root() + dir_path, errno));
    }
    std::vector<std::string> names;
    errno = 0;
    while (dirent* e = readdir(d)) {
        const std::string n = e->d_name;
        if (n != "." && n != "..")
            names.push_back(n);
    }
    const int read_err = errno;
    closedir(d);
    if (read_err != 0)
        return fail(errno_message("cannot list", root.root() + dir_path, read_err));
    std::sort(names.begin(), names.end());

    for (const auto& name : names) {
        const std::string path = (dir_path == "/" ? "" : dir_path) + "/" + name;
        struct stat st {};
        if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
            return fail(errno_message("cannot stat", root.root() + path, errno));
        const bool used = w.used->count(path) != 0;

        if (S_ISDIR(st.st_mode)) {
            if (st.st_dev != w.root_dev) {
                w.warnings.push_back(escape_path(path) + " is a mount point of another file "
                                     "system; its contents were not audited");
                continue;
            }
            if ((st.st_mode & S_IWOTH) != 0)
                w.surface.push_back({path, {},
                                     (st.st_mode & S_ISVTX) ? SurfaceKind::WorldWritableDir
                                                            : SurfaceKind::WorldWritableDirNoSticky,
                                     used});
            const int sub = ::openat(dir_fd, name.c_str(),
                                     O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                return fail(errno_message("cannot open", root.root() + path, errno));
            Fd owned(sub);
            if (auto r = walk_dir(w, root, sub, path, depth + 1); !r)
                return r;
            continue;
        }

        Inode& ino = w.inodes[{st.st_dev, st.st_ino}];
        const auto owner = w.own->owner.find(path);
        if (ino.first_path.empty()) {
            ino.first_path = path;
            ino.bytes = S_ISREG(st.st_mode) ? uint64_t(st.st_size) : 0;
        }
        if (!ino.owned && owner != w.own->owner.end()) {
            ino.owned = true;
            ino.package = owner->second;
            ino.first_path = path;
        }
        ino.used = ino.used || used;

        if (S_ISREG(st.st_mode) && (st.st_mode & S_ISUID))
            w.surface.push_back({path, {}, SurfaceKind::Setuid, used});
        if (S_ISREG(st.st_mode) && (st.st_mode & S_ISGID))
            w.surface.push_back({path, {}, SurfaceKind::Setgid, used});
        if (auto kind = program_kind(name);
            kind && in_program_dir(dir_path) && is_program(root, path, st))
            w.surface.push_back({path, {}, *kind, used});
    }
    return {};
}

void add(Usage& u, const Inode& ino)
{
    if (ino.used) {
        ++u.used_files;
        u.used_bytes += ino.bytes;
    } else {
        ++u.unused_files;
        u.unused_bytes += ino.bytes;
    }
}

// Top-level symlinks to directories (merged /usr: /bin -> usr/bin), so that
// /usr/bin/sh is also named as /bin/sh, as people know it.
std::vector<std::pair<std::string, std::string>> top_level_aliases(const RootDir& root)
{
    std::vector<std::pair<std::string, std::string>> out;  // canonical dir, link
    const int list_fd = ::openat(root.fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (list_fd < 0)
        return out;
    DIR* d = fdopendir(list_fd);
    if (d == nullptr) {
        ::close(list_fd);
        return out;
    }
    while (dirent* e = readdir(d)) {
        if (e->d_type != DT_LNK)
            continue;
        const std::string link = std::string("/") + e->d_name;
        auto c = root.canonicalize(link, FollowFinal::Follow);
        if (c && c->type == FileType::Directory && c->path != "/")
            out.emplace_back(c->path, link);
    }
    closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

std::string surface_kind_name(SurfaceKind kind)
{
    switch (kind) {
    case SurfaceKind::Shell: return "shell";
    case SurfaceKind::PackageManager: return "package_manager";
    case SurfaceKind::Compiler: return "compiler";
    case SurfaceKind::Interpreter: return "interpreter";
    case SurfaceKind::Setuid: return "setuid";
    case SurfaceKind::Setgid: return "setgid";
    case SurfaceKind::WorldWritableDir: return "world_writable_dir";
    case SurfaceKind::WorldWritableDirNoSticky: return "world_writable_dir_no_sticky";
    }
    return "unknown";
}

double AuditResult::unused_share() const
{
    const uint64_t total = totals.total_bytes();
    return total == 0 ? 0.0 : double(totals.unused_bytes) / double(total);
}

namespace {

void add_canonical(const Canonical& c, std::unordered_set<std::string>& out)
{
    for (const auto& p : c.parents)
        out.insert(p);
    for (const auto& hop : c.symlinks)
        out.insert(hop.link);
    if (c.type != FileType::Missing)
        out.insert(c.path);
}

std::vector<std::string> sorted(const std::unordered_set<std::string>& s)
{
    std::vector<std::string> v(s.begin(), s.end());
    std::sort(v.begin(), v.end());
    return v;
}

}  // namespace

Result<std::vector<std::string>> used_paths_from_list(const std::vector<std::string>& paths,
                                                      const std::string& root)
{
    auto r = RootDir::open(root);
    if (!r)
        return tl::unexpected(r.error());
    std::unordered_set<std::string> out;
    for (const auto& p : paths) {
        // A symlink loop or a relative path names nothing the image holds
        // beyond the links walked: keep what the walk got (the path itself).
        auto c = r->canonicalize(p, FollowFinal::Follow);
        if (c)
            add_canonical(*c, out);
        auto n = r->canonicalize(p, FollowFinal::NoFollow);
        if (n)
            add_canonical(*n, out);
    }
    return sorted(out);
}

Result<std::vector<std::string>> used_paths_from_fileset(const FileSet& set,
                                                         const std::string& root)
{
    std::vector<std::string> paths;
    for (const auto& e : set.entries)
        if (e.type != FileType::Missing)
            paths.push_back(e.path);
    return used_paths_from_list(paths, root);
}

Result<AuditResult> audit_root(const std::string& root_path, const std::vector<std::string>& used)
{
    auto root = RootDir::open(root_path);
    if (!root)
        return tl::unexpected(root.error());
    AuditResult result;
    struct stat root_st {};
    if (fstat(root->fd(), &root_st) != 0)
        return fail(errno_message("cannot stat", root_path, errno));

    // Step 1: who owns what (dpkg), and which databases are not read.
    Ownership own;
    own.packages.push_back({kNoPackage, {}, {}});
    if (exists_in_image(root->fd(), "var/lib/dpkg/status")) {
        auto o = read_dpkg(*root, result.warnings);
        if (!o)
            return tl::unexpected(o.error());
        own = std::move(*o);
        result.has_dpkg = true;
    }
    if (exists_in_image(root->fd(), "var/lib/rpm") ||
        exists_in_image(root->fd(), "usr/lib/sysimage/rpm"))
        result.warnings.push_back("the image holds an rpm database, which audit does not read: "
                                  "files of rpm packages count as \"(no package)\"");

    // Step 2: walk every file.
    const std::unordered_set<std::string> used_set(used.begin(), used.end());
    Walk w;
    w.used = &used_set;
    w.own = &own;
    w.root_dev = root_st.st_dev;
    w.root_fd = root->fd();
    if (auto r = walk_dir(w, *root, root->fd(), "/", 0); !r)
        return tl::unexpected(r.error());
    for (auto& warning : w.warnings)
        result.warnings.push_back(std::move(warning));

    // Step 3: sum per inode.
    std::map<std::string, Usage> dirs;
    for (const auto& [key, ino] : w.inodes) {
        add(result.totals, ino);
        add(own.packages[ino.package].usage, ino);
        add(dirs[top_directory(ino.first_path)], ino);
    }
    auto by_unused = [](const auto& a, const auto& b) {
        if (a.usage.unused_bytes != b.usage.unused_bytes)
            return a.usage.unused_bytes > b.usage.unused_bytes;
        if (a.usage.used_bytes != b.usage.used_bytes)
            return a.usage.used_bytes > b.usage.used_bytes;
        return a.name < b.name;
    };
    for (auto& p : own.packages)
        if (p.usage.used_files + p.usage.unused_files > 0 || p.name != kNoPackage)
            result.by_package.push_back(std::move(p));
    std::sort(result.by_package.begin(), result.by_package.end(), by_unused);
    for (auto& [name, usage] : dirs)
        result.by_directory.push_back({name, usage});
    std::sort(result.by_directory.begin(), result.by_directory.end(), by_unused);

    // Step 4: the surface, named as people know it.
    const auto aliases = top_level_aliases(*root);
    for (auto& item : w.surface)
        for (const auto& [dir, link] : aliases)
            if (item.path.size() > dir.size() && item.path.compare(0, dir.size(), dir) == 0 &&
                item.path[dir.size()] == '/')
                item.aliases.push_back(link + item.path.substr(dir.size()));
    std::sort(w.surface.begin(), w.surface.end(), [](const SurfaceItem& a, const SurfaceItem& b) {
        if (a.used != b.used)
            return !a.used;
        if (a.kind != b.kind)
            return a.kind < b.kind;
        return a.path < b.path;
    });
    result.surface = std::move(w.surface);
    return result;
}

}  // namespace trace_root
