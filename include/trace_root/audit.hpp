// Audit: what an image carries that its workload never used.
//
// audit_root() walks an unpacked image root (lstat only, never following a
// symlink, never leaving the root's file system) and sets every file against
// the used set: the canonical paths a traced workload touched, with their
// symlink chains, parent directories and ELF closure (see resolve.hpp). It
// counts files and bytes used and unused (a hardlinked inode once), groups
// the bytes by dpkg package and by top-level directory, and lists the attack
// surface the image carries: shells, package managers, compilers and
// interpreters, setuid and setgid files, world-writable directories.
//
// The dpkg database (var/lib/dpkg/status, var/lib/dpkg/info/*.list) is
// outside input: its parsers are bounds-checked and fuzzed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "trace_root/error.hpp"
#include "trace_root/resolve.hpp"

namespace trace_root {

inline constexpr int kAuditSchemaVersion = 1;

// ---- the dpkg database -----------------------------------------------------

struct DpkgPackage {
    std::string name;
    std::string architecture;  // empty when the stanza has none
    std::string version;
    std::string status;        // e.g. "install ok installed"
    bool installed() const;    // the status's last word is one that has files on disk
};

// Parses var/lib/dpkg/status: stanzas separated by blank lines, "Field: value"
// lines, continuation lines starting with a space or tab. A stanza without a
// Package field, a field line without ':' or an unreasonable size is an error
// naming `origin` and the line.
Result<std::vector<DpkgPackage>> parse_dpkg_status(std::string_view text,
                                                   const std::string& origin);

// Parses a var/lib/dpkg/info/PKG.list: one absolute path per line; "/." is the
// root itself and is left out. A relative path, a NUL byte or an unreasonable
// size is an error naming `origin` and the line.
Result<std::vector<std::string>> parse_dpkg_list(std::string_view text,
                                                 const std::string& origin);

// ---- the audit -------------------------------------------------------------

enum class SurfaceKind {
    Shell,
    PackageManager,
    Compiler,
    Interpreter,
    Setuid,
    Setgid,
    WorldWritableDir,          // o+w with the sticky bit
    WorldWritableDirNoSticky,  // o+w without it: anyone may delete or replace entries
};
std::string surface_kind_name(SurfaceKind kind);

struct SurfaceItem {
    std::string path;                  // as it lies in the image (raw bytes)
    std::vector<std::string> aliases;  // the same file through top-level symlinks (/bin/sh)
    SurfaceKind kind = SurfaceKind::Shell;
    bool used = false;
};

struct Usage {
    uint64_t used_files = 0, unused_files = 0;
    uint64_t used_bytes = 0, unused_bytes = 0;
    uint64_t total_bytes() const { return used_bytes + unused_bytes; }
};

struct PackageUsage {
    std::string name;     // "(no package)" for files no .list names
    std::string version;  // empty for "(no package)"
    Usage usage;
};

struct DirectoryUsage {
    std::string name;  // "/usr", or "/" for files right at the root
    Usage usage;
};

struct AuditResult {
    Usage totals;                          // non-directory files; bytes of regular files
    std::vector<PackageUsage> by_package;  // sorted by unused bytes, largest first
    std::vector<DirectoryUsage> by_directory;  // same order
    std::vector<SurfaceItem> surface;      // sorted: unused first, then by kind and path
    bool has_dpkg = false;
    std::vector<std::string> warnings;     // e.g. an rpm database that is not read
    double unused_share() const;           // unused bytes / total bytes (0 for an empty image)
};

// The canonical used set: every existing path of `set` canonicalised under
// `root` (symlinks followed, each link and parent walked kept as used).
Result<std::vector<std::string>> used_paths_from_fileset(const FileSet& set,
                                                         const std::string& root);
// The same for plain paths, e.g. an expanded allow-list.
Result<std::vector<std::string>> used_paths_from_list(const std::vector<std::string>& paths,
                                                      const std::string& root);

// `used` holds canonical absolute paths inside `root`, sorted or not.
Result<AuditResult> audit_root(const std::string& root, const std::vector<std::string>& used);

// ---- output ----------------------------------------------------------------

// The readable table for stdout.
std::string format_audit_table(const AuditResult& result, const std::string& image);
// The JSON document (schema_version kAuditSchemaVersion).
std::string audit_to_json(const AuditResult& result, const std::string& image);
// One self-contained HTML page: squarified SVG treemaps by directory and by
// package (used and unused bytes), and the surface list. No network fetches.
std::string audit_to_html(const AuditResult& result, const std::string& image);

// Squarified treemap layout (exposed for tests): rectangles for `weights`
// (all > 0, sorted descending) filling x, y, w, h, in the same order.
struct Rect {
    double x = 0, y = 0, w = 0, h = 0;
};
std::vector<Rect> squarify(const std::vector<double>& weights, Rect area);

}  // namespace trace_root
