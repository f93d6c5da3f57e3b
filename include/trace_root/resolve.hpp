// Resolve: from the raw accesses of a trace report to the exact file set an
// image root needs, with the reason every entry is there.
//
// Paths are canonicalised through the file system under `root` (never as
// text), so every symlink met on the way and every parent directory walked
// is part of the set. The ELF interpreter, #! interpreters and the ELF
// dependency closure are added, because the kernel and the dynamic linker load
// them without a system call the tracer sees as a plain open.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trace_root/error.hpp"
#include "trace_root/report.hpp"

namespace trace_root {

enum class FileType { Regular, Directory, Symlink, Other, Missing };
// Why an entry is in the set. When several apply, the first in this order is kept.
enum class Origin { Traced, Created, Removed, Runtime, Included, Dependency, SymlinkChain, Parent };

struct FileEntry {
    std::string path;                  // absolute, raw bytes, inside root
    FileType type = FileType::Missing;
    uint32_t access = 0;               // report Access bits (report.hpp)
    Origin origin = Origin::Traced;
    bool exported = false;             // false for runtime-provided, created, removed, missing
    std::vector<std::string> reasons;  // human-readable, raw bytes (escape before printing)
    std::string symlink_target;        // literal target, for symlinks
};

struct ResolveOptions {
    std::string root = "/";
    std::vector<std::string> includes;       // --include PATH|GLOB
    std::vector<std::string> include_packs;  // --include-pack NAME
};

struct FileSet {
    std::vector<FileEntry> entries;     // sorted by path bytes, unique
    std::vector<std::string> problems;  // unresolvable deps, loops, truncated paths, ...
};

Result<FileSet> resolve_report(const Report& report, const ResolveOptions& options);

// The paths export must copy (regular files, symlinks, needed dirs), sorted.
std::vector<std::string> exportable_paths(const FileSet& set);

// Unions several file sets: reasons and access bits are merged, and an entry
// is exported when it is exported in any input, unless one input says it is
// runtime-provided, created or removed.
FileSet merge_filesets(const std::vector<FileSet>& sets);

// The entry for `path` (exact bytes), or nullptr.
const FileEntry* find_entry(const FileSet& set, const std::string& path);

std::string file_type_name(FileType type);
std::string origin_name(Origin origin);

// ---- canonicalisation ------------------------------------------------------

enum class FollowFinal { Follow, NoFollow };

struct SymlinkHop {
    std::string link;    // canonical path of the symlink itself
    std::string target;  // its literal target
};

struct Canonical {
    std::string path;                  // canonical path (no symlinks, no . or ..)
    FileType type = FileType::Missing; // Missing: the walk stopped at a missing component
    std::vector<std::string> parents;  // every directory walked, in order, canonical
    std::vector<SymlinkHop> symlinks;  // every symlink followed, in order
    std::string final_target;          // literal target when type is Symlink (NoFollow)
};

// Walks `path` component by component under `root` as the kernel would with
// RESOLVE_IN_ROOT: absolute symlink targets and `..` never leave root. A
// missing component ends the walk with type Missing (the remaining
// components are appended as text). More than 40 symlinks is an error (a
// loop), as is a relative `path`.
class RootDir {
public:
    static Result<RootDir> open(const std::string& root);
    RootDir(RootDir&& other) noexcept;
    RootDir& operator=(RootDir&& other) noexcept;
    RootDir(const RootDir&) = delete;
    RootDir& operator=(const RootDir&) = delete;
    ~RootDir();

    Result<Canonical> canonicalize(const std::string& path, FollowFinal follow) const;
    const std::string& root() const { return root_; }
    int fd() const { return fd_; }

private:
    RootDir(std::string root, int fd) : root_(std::move(root)), fd_(fd) {}
    std::string root_;
    int fd_ = -1;
};

// Expands a pattern (`*` within a component, `**` for any depth) against
// the tree under root. Literal components are taken as they are written; a
// wildcard component lists the directory reached so far (following symlinks
// confined to root); `**` does not descend into symlinked directories. The
// result holds the matching paths as walked (not canonicalised), sorted.
Result<std::vector<std::string>> expand_glob(const RootDir& root, const std::string& pattern);

// The text `trace-root explain` prints for `path` (raw bytes): the entry as
// written or, when it is not in the set as written, how it resolves under
// root and the entry it resolves to. An error when neither is in the set.
Result<std::string> explain_path(const FileSet& set, const RootDir& root,
                                 const std::string& path);

// ---- include packs ---------------------------------------------------------

struct IncludePack {
    std::string name;
    std::string description;
    std::vector<std::string> patterns;  // globs, absolute
};

const std::vector<IncludePack>& include_packs();
const IncludePack* find_include_pack(const std::string& name);
// "ca-certificates: ..." lines for --help.
std::string include_packs_help();

}  // namespace trace_root
