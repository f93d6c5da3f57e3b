// From a trace report to the file set: classification and closure.
//
// Each report entry is classified before anything is walked:
//   - truncated, unreadable or outside-root paths are problems: the path is
//     not whole, so it can be neither exported nor quietly dropped;
//   - runtime-provided paths (/proc, /sys, /dev, pseudo files, what is below
//     /run) are never exported: the container runtime provides them;
//   - created, removed or already-deleted paths are not exported, but the
//     directories walked to reach them are, because the workload creates its
//     files in directories that must exist (/var/run/app);
//   - a failed lookup exports nothing of its own, but the directories it
//     walked are kept: the lookup must fail the same way in the image;
//   - everything else is canonicalised (canonical.cpp); the target, every
//     symlink on the way and every parent directory join the set.
// Then what the kernel and ld.so load without a call the tracer sees as an
// open is added: the PT_INTERP of executed ELF files, the #! interpreter of
// executed scripts (the kernel reads both with open_exec), and the DT_NEEDED
// closure of every executed or mapped ELF object and every --include'd one.
// Anything that cannot be resolved is a problem, reported, never dropped.
//
// An entry may be reached several ways; it keeps the first origin in the
// order of `Origin`, all access bits, and up to kMaxReasons reasons (the
// count of the rest is stated). Runtime, Created and Removed veto export.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "trace_root/allowlist.hpp"
#include "trace_root/elf.hpp"
#include "trace_root/escape.hpp"
#include "trace_root/resolve.hpp"


namespace trace_root {

namespace {

constexpr size_t kMaxReasons = 8;
constexpr int kMaxInterpreterDepth = 4;  // the kernel's limit for #! chains

bool under(std::string_view path, std::string_view dir)
{
    return path.size() > dir.size() && path.substr(0, dir.size()) == dir &&
           path[dir.size()] == '/';
}

bool is_runtime_path(std::string_view path)
{
    if (path.empty() || path[0] != '/')
        return true;  // "pipe:[12]", "anon_inode:[eventfd]", ...
    for (std::string_view d : {"/proc", "/sys", "/dev"})
        if (path == d || under(path, d))
            return true;
    return under(path, "/run");
}

bool vetoes_export(Origin o)
{
    return o == Origin::Runtime || o == Origin::Created || o == Origin::Removed;
}

std::string join(const std::vector<std::string>& parts, const char* sep)
{
    std::string out;
    for (const auto& p : parts) {
        if (!out.empty())
            out += sep;
        out += p;
    }
    return out;
}

std::string by_process(const ProcessRef& p)
{
    if (p.pid == 0 && p.comm.empty())
        return {};
    std::string out = " by pid " + std::to_string(p.pid) + " (" + p.comm;
    if (!p.exe.empty())
        out += ", " + p.exe;
    return out + ")";
}

std::string parent_of(const std::string& path)
{
    const size_t slash = path.rfind('/');
    return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

// Reads up to the kernel's 256-byte binprm buffer. Returns the #!
// interpreter path, or "" when the file does not start with "#!".
Result<std::string> read_script_interpreter(const RootDir& root, const std::string& canonical)
{
    const std::string rel = canonical == "/" ? "." : canonical.substr(1);
    const int fd = openat(root.fd(), rel.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fail(errno_message("cannot read", escape_path(canonical), errno));
    char buf[256];
    ssize_t n;
    do {
        n = read(fd, buf, sizeof buf);
    } while (n < 0 && errno == EINTR);
    const int err = errno;
    close(fd);
    if (n < 0)
        return fail(errno_message("cannot read", escape_path(canonical), err));
    const std::string_view head(buf, static_cast<size_t>(n));
    if (head.size() < 2 || head.substr(0, 2) != "#!")
        return std::string();
    size_t i = 2;
    while (i < head.size() && (head[i] == ' ' || head[i] == '\t'))
        ++i;
    size_t j = i;
    while (j < head.size() && head[j] != ' ' && head[j] != '\t' && head[j] != '\n' &&
           head[j] != '\0')
        ++j;
    if (j == head.size() && head.find('\n') == std::string_view::npos && n == sizeof buf)
        return fail(escape_path(canonical) + ": #! line longer than 256 bytes",
                    "the kernel cannot run it either");
    if (i == j)
        return fail(escape_path(canonical) + ": #! line names no interpreter");
    return std::string(head.substr(i, j - i));
}

bool file_is_elf(const RootDir& root, const std::string& canonical)
{
    const std::string rel = canonical == "/" ? "." : canonical.substr(1);
    const int fd = openat(root.fd(), rel.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    char magic[4];
    const ssize_t n = pread(fd, magic, sizeof magic, 0);
    close(fd);
    return n == 4 && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F';
}


struct Acc {
    FileEntry entry;
    bool want_export = false;
    bool veto = false;
    size_t more_reasons = 0;
};

class Builder {
public:
    explicit Builder(const RootDir& root) : root_(root) {}

    void note(const std::string& path, FileType type, Origin origin, uint32_t access,
              bool exportable, const std::string& reason, const std::string& target = {})
    {
        if (path == "/")
            return;  // the image root always exists
        if (is_runtime_path(path) && origin != Origin::Runtime) {
            exportable = false;
            origin = Origin::Runtime;
        }
        auto [it, fresh] = entries_.try_emplace(path);
        Acc& a = it->second;
        FileEntry& e = a.entry;
        if (fresh) {
            e.path = path;
            e.type = type;
            e.origin = origin;
        } else {
            if (e.type == FileType::Missing)
                e.type = type;
            if (origin < e.origin)
                e.origin = origin;
        }
        if (!target.empty())
            e.symlink_target = target;
        e.access |= access;
        a.want_export = a.want_export || exportable;
        a.veto = a.veto || vetoes_export(origin);
        if (!reason.empty() && std::find(e.reasons.begin(), e.reasons.end(), reason) ==
                                   e.reasons.end()) {
            if (e.reasons.size() < kMaxReasons)
                e.reasons.push_back(reason);
            else
                ++a.more_reasons;
        }
    }

    void problem(std::string p) { problems_.push_back(std::move(p)); }

    // Canonicalises `path`, adding every symlink and directory met. Returns
    // nothing (after noting a problem) when the walk itself fails.
    std::optional<Canonical> walk(const std::string& path, FollowFinal follow)
    {
        auto c = root_.canonicalize(path, follow);
        if (!c) {
            problem(c.error().message);
            return std::nullopt;
        }
        for (const auto& hop : c->symlinks)
            note(hop.link, FileType::Symlink, Origin::SymlinkChain, 0, true,
                 "symlink " + hop.link + " -> " + hop.target + " on the way to " + path,
                 hop.target);
        for (const auto& dir : c->parents)
            note(dir, FileType::Directory, Origin::Parent, 0, true,
                 "directory on the way to " + path);
        return std::move(*c);
    }

    // Adds a path found by other means than the trace (interpreter,
    // dependency, --include), following symlinks to the file itself.
    std::optional<Canonical> add_found(const std::string& path, Origin origin,
                                       const std::string& reason)
    {
        auto c = walk(path, FollowFinal::Follow);
        if (!c)
            return std::nullopt;
        if (c->type == FileType::Missing) {
            problem(escape_path(path) + " (" + reason + ") does not exist under " + root_.root());
            return std::nullopt;
        }
        note(c->path, c->type, origin, 0, exportable_type(c->type), reason);
        if (c->type == FileType::Regular)
            check_executable(c->path, reason, 0);
        return c;
    }

    void add_report_entry(const PathEntry& pe);
    size_t add_include(const std::string& pattern, const std::string& reason,
                       bool must_match);
    void close_elf_dependencies();

    FileSet finish()
    {
        FileSet set;
        set.entries.reserve(entries_.size());
        for (auto& [path, a] : entries_) {
            a.entry.exported = a.want_export && !a.veto;
            if (a.more_reasons)
                a.entry.reasons.push_back("... and " + std::to_string(a.more_reasons) +
                                          " more reasons");
            set.entries.push_back(std::move(a.entry));
        }
        set.problems = std::move(problems_);
        return set;
    }

private:
    static bool exportable_type(FileType t)
    {
        return t == FileType::Regular || t == FileType::Directory || t == FileType::Symlink;
    }

    void check_executable(const std::string& canonical, const std::string& why, int depth);

    const RootDir& root_;
    std::map<std::string, Acc> entries_;
    std::vector<std::string> problems_;
    std::set<std::string> elf_objects_;   // canonical paths of exec'd, mapped, included ELFs
    std::set<std::string> interp_done_;
};

void Builder::add_report_entry(const PathEntry& pe)
{
    const std::string what = join(access_names(pe.access), ", ") + by_process(pe.first);
    const std::string shown = escape_path(pe.path);

    // Step 1: paths that are not whole.
    if (pe.flags & (kPathTruncated | kPathUnreadable)) {
        problem(shown + ": the kernel could not record the whole path (" +
                join(path_flag_names(pe.flags), ", ") + "; " + what +
                "): the file it names cannot be exported");
        note(pe.path, FileType::Missing, Origin::Traced, pe.access, false,
             what + "; path not whole, not exported");
        return;
    }
    if (pe.flags & kPathOutsideRoot) {
        problem(shown + ": reached outside the process's root (" + what +
                "); it cannot be exported as a path of the image");
        note(pe.path, FileType::Missing, Origin::Traced, pe.access, false,
             what + "; outside the process root, not exported");
        return;
    }

    // Step 2: what the runtime provides.
    if ((pe.flags & kPathPseudo) || is_runtime_path(pe.path)) {
        note(pe.path, FileType::Other, Origin::Runtime, pe.access, false,
             what + "; provided by the container runtime, not exported");
        return;
    }

    // Step 3: the workload's own files; keep the directories they live in.
    if (pe.access & (kCreated | kRemoved) || (pe.flags & kPathDeleted)) {
        const Origin o = (pe.access & kCreated) ? Origin::Created : Origin::Removed;
        const char* why = (pe.access & kCreated)   ? "created by the workload"
                          : (pe.access & kRemoved) ? "removed by the workload"
                                                   : "already deleted when seen";
        auto c = walk(pe.path, FollowFinal::NoFollow);
        if (!c)
            return;
        note(c->path, c->type, o, pe.access, false,
             what + "; " + why + ", not exported (its directory is)");
        note(parent_of(c->path), FileType::Directory, Origin::Parent, 0, true,
             "directory of " + c->path + " (" + why + ")");
        return;
    }

    // Step 4: a real file of the root.
    auto c = walk(pe.path, FollowFinal::Follow);
    if (!c)
        return;
    const uint32_t succeeded = pe.access & ~uint32_t(kMissing);
    if (c->type == FileType::Missing) {
        const bool dangling_ok = !c->symlinks.empty() &&
                                 (succeeded & ~uint32_t(kReadlink | kStat)) == 0;
        if (succeeded != 0 && !dangling_ok)
            problem(shown + " was used (" + what + ") but " + escape_path(c->path) +
                    " does not exist under " + root_.root() + " now");
        note(c->path, FileType::Missing, Origin::Traced, pe.access, false,
             what + (succeeded ? "; does not exist now" : "; looked up, not found"));
        return;
    }
    if (is_runtime_path(c->path)) {
        note(c->path, FileType::Other, Origin::Runtime, pe.access, false,
             what + " as " + pe.path + "; provided by the container runtime, not exported");
        return;
    }
    if (c->type == FileType::Other) {
        note(c->path, c->type, Origin::Traced, pe.access, false,
             what + "; a device, fifo or socket: not exported");
        return;
    }
    note(c->path, c->type, Origin::Traced, pe.access, true,
         c->path == pe.path ? what : what + " as " + pe.path);
    if (c->type != FileType::Regular)
        return;
    if (pe.access & kExec)
        check_executable(c->path, "executed", 0);
    if (pe.access & kMmap)
        if (file_is_elf(root_, c->path))
            elf_objects_.insert(c->path);
}

// Adds what the kernel loads to run `canonical`: the interpreter of a #!
// script (recursively, as the kernel does); an ELF joins the closure, which
// brings its PT_INTERP.
void Builder::check_executable(const std::string& canonical, const std::string& why, int depth)
{
    if (!interp_done_.insert(canonical).second)
        return;
    auto head = read_script_interpreter(root_, canonical);
    if (!head) {
        problem(head.error().message);
        return;
    }
    if (!head->empty()) {
        if ((*head)[0] != '/') {
            problem(escape_path(canonical) + ": #! interpreter \"" + escape_path(*head) +
                    "\" is not an absolute path; it cannot be resolved for the image");
            return;
        }
        if (depth >= kMaxInterpreterDepth) {
            problem(escape_path(canonical) + ": #! interpreters nested deeper than " +
                    std::to_string(kMaxInterpreterDepth));
            return;
        }
        auto c = walk(*head, FollowFinal::Follow);
        if (!c)
            return;
        if (c->type != FileType::Regular) {
            problem(escape_path(canonical) + ": #! interpreter " + escape_path(*head) +
                    " is not a file under " + root_.root());
            return;
        }
        note(c->path, c->type, Origin::Dependency, kInterp, true,
             "#! interpreter of " + canonical + " (" + why + ")");
        check_executable(c->path, "#! interpreter", depth + 1);
        return;
    }
    // An ELF: its PT_INTERP comes with the closure (elf_closure).
    if (file_is_elf(root_, canonical))
        elf_objects_.insert(canonical);
}

// Adds what `pattern` names; returns how many paths it named. A literal
// path that does not exist is a problem; so is a glob matching nothing when
// `must_match`.
size_t Builder::add_include(const std::string& pattern, const std::string& reason,
                            bool must_match)
{
    auto pat = parse_pattern(pattern);
    if (!pat) {
        problem(reason + ": " + pat.error().message);
        return 0;
    }
    std::vector<std::string> found;
    if (pat->has_wildcard()) {
        auto g = expand_pattern(root_, *pat);
        if (!g) {
            problem(reason + ": " + g.error().message);
            return 0;
        }
        found = std::move(*g);
        if (found.empty() && must_match)
            problem(reason + ": matched nothing under " + root_.root());
    } else {
        auto c = root_.canonicalize(pat->literal_path(), FollowFinal::NoFollow);
        if (!c || c->type == FileType::Missing) {
            if (must_match)
                problem(reason + ": " + escape_path(pat->literal_path()) +
                        " does not exist under " + root_.root());
            return 0;
        }
        found.push_back(pat->literal_path());
    }
    for (const auto& p : found) {
        auto c = add_found(p, Origin::Included, reason);
        if (c && c->type == FileType::Regular && file_is_elf(root_, c->path))
            elf_objects_.insert(c->path);
    }
    return found.size();
}

void Builder::close_elf_dependencies()
{
    if (elf_objects_.empty())
        return;
    const std::vector<std::string> objects(elf_objects_.begin(), elf_objects_.end());
    auto deps = elf_closure(root_.root(), objects);
    if (!deps) {
        problem(deps.error().message);
        return;
    }
    for (const auto& d : *deps) {
        if (d.resolved.empty()) {
            problem(escape_path(d.object) + " needs " + escape_path(d.needed) +
                    ", which cannot be found under " + root_.root() +
                    (d.how.empty() ? "" : " (" + d.how + ")"));
            continue;
        }
        const std::string what = d.needed == "PT_INTERP" ? "PT_INTERP of " + d.object
                                                         : "DT_NEEDED " + d.needed + " of " +
                                                               d.object + " via " + d.how;
        add_found(d.resolved, Origin::Dependency, what);
    }
}

}  // namespace

Result<FileSet> resolve_report(const Report& report, const ResolveOptions& options)
{
    auto root = RootDir::open(options.root);
    if (!root)
        return tl::unexpected(root.error());
    Builder b(*root);

    // Step 1: the report itself must be whole.
    if (!report.complete)
        b.problem("the trace report is incomplete" +
                  (report.incomplete_reasons.empty()
                       ? std::string()
                       : ": " + join(report.incomplete_reasons, "; ")));

    // Step 2: what the kernel saw.
    for (const auto& pe : report.paths)
        b.add_report_entry(pe);

    // Step 3: what the user added by hand.
    for (const auto& inc : options.includes)
        b.add_include(inc, "--include " + inc, true);
    for (const auto& name : options.include_packs) {
        const IncludePack* pack = find_include_pack(name);
        if (!pack)
            return fail("unknown include pack \"" + name + "\"",
                        "see `trace-root list --help` for the packs");
        size_t matched = 0;
        for (const auto& pat : pack->patterns)
            matched += b.add_include(pat, "--include-pack " + name + " (" + pat + ")", false);
        if (matched == 0)
            b.problem("--include-pack " + name + " matched nothing under " + root->root());
    }

    // Step 4: what ld.so will load.
    b.close_elf_dependencies();

    return b.finish();
}

std::vector<std::string> exportable_paths(const FileSet& set)
{
    std::vector<std::string> out;
    for (const auto& e : set.entries)
        if (e.exported)
            out.push_back(e.path);
    return out;
}

FileSet merge_filesets(const std::vector<FileSet>& sets)
{
    std::map<std::string, Acc> merged;
    std::vector<std::string> problems;
    for (const auto& s : sets) {
        for (const auto& p : s.problems)
            if (std::find(problems.begin(), problems.end(), p) == problems.end())
                problems.push_back(p);
        for (const auto& e : s.entries) {
            auto [it, fresh] = merged.try_emplace(e.path);
            Acc& a = it->second;
            if (fresh) {
                a.entry = e;
                a.entry.reasons.clear();
            } else {
                if (a.entry.type == FileType::Missing)
                    a.entry.type = e.type;
                a.entry.origin = std::min(a.entry.origin, e.origin);
                a.entry.access |= e.access;
                if (a.entry.symlink_target.empty())
                    a.entry.symlink_target = e.symlink_target;
            }
            a.want_export = a.want_export || e.exported;
            a.veto = a.veto || vetoes_export(e.origin);
            for (const auto& r : e.reasons)
                if (std::find(a.entry.reasons.begin(), a.entry.reasons.end(), r) ==
                    a.entry.reasons.end())
                    a.entry.reasons.push_back(r);
        }
    }
    FileSet out;
    for (auto& [path, a] : merged) {
        a.entry.exported = a.want_export && !a.veto;
        out.entries.push_back(std::move(a.entry));
    }
    out.problems = std::move(problems);
    return out;
}

const FileEntry* find_entry(const FileSet& set, const std::string& path)
{
    auto it = std::lower_bound(set.entries.begin(), set.entries.end(), path,
                               [](const FileEntry& e, const std::string& p) { return e.path < p; });
    return it != set.entries.end() && it->path == path ? &*it : nullptr;
}

Result<std::string> explain_path(const FileSet& set, const RootDir& root,
                                 const std::string& path)
{
    std::string out;
    const FileEntry* e = find_entry(set, path);
    if (!e && !path.empty() && path[0] == '/') {
        // Not there as written: say how it resolves, and explain that.
        auto c = root.canonicalize(path, FollowFinal::Follow);
        if (!c)
            return tl::unexpected(c.error());
        if (c->path != path) {
            out += escape_list_path(path) + " resolves to " + escape_list_path(c->path) + "\n";
            for (const auto& hop : c->symlinks)
                out += "  through symlink " + escape_path(hop.link) + " -> " +
                       escape_path(hop.target) + "\n";
            e = find_entry(set, c->path);
        }
    }
    if (!e)
        return fail(escape_path(path) + " is not in the file set",
                    "the workload never touched it; add it with --include");
    out += escape_list_path(e->path) + "\n";
    out += "  type: " + file_type_name(e->type) + "\n";
    out += "  origin: " + origin_name(e->origin) + "\n";
    out += std::string("  exported: ") + (e->exported ? "yes" : "no") + "\n";
    if (e->access)
        out += "  access: " + join(access_names(e->access), ", ") + "\n";
    if (e->type == FileType::Symlink)
        out += "  target: " + escape_path(e->symlink_target) + "\n";
    out += "  why:\n";
    for (const auto& r : e->reasons)
        out += "    " + escape_path(r) + "\n";
    return out;
}

std::string file_type_name(FileType type)
{
    switch (type) {
    case FileType::Regular: return "file";
    case FileType::Directory: return "directory";
    case FileType::Symlink: return "symlink";
    case FileType::Other: return "special";
    case FileType::Missing: return "missing";
    }
    return "?";
}

std::string origin_name(Origin origin)
{
    switch (origin) {
    case Origin::Traced: return "traced";
    case Origin::Created: return "created";
    case Origin::Removed: return "removed";
    case Origin::Runtime: return "runtime";
    case Origin::Included: return "included";
    case Origin::Dependency: return "dependency";
    case Origin::SymlinkChain: return "symlink-chain";
    case Origin::Parent: return "parent";
    }
    return "?";
}

}  // namespace trace_root
