// Export: copy exactly a set of paths from a root file system into an image
// root directory that a Dockerfile can COPY into `FROM scratch`.
//
// Every path keeps its type (regular file, directory, symlink, hardlink,
// device, fifo) and all of its metadata: mode with setuid/setgid/sticky,
// numeric owner, nanosecond timestamps and every extended attribute (file
// capabilities, POSIX ACLs, SELinux labels, user.*). Parent directories come
// with their own metadata; a parent that is a symlink in the source (/lib ->
// usr/lib) is recreated as that symlink and its target exported. All writes
// stay beneath the destination whatever symlinks it or the source contain.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "trace_root/error.hpp"

namespace trace_root {

// A non-empty destination is only written into when the user asked to merge.
enum class MergePolicy { RequireEmpty, Merge };

// What to do when the destination cannot hold some metadata (for example an
// xattr on a file system without xattr support): fail after the export, or
// accept it. Either way every item is listed in ExportStats and warned about.
enum class MetadataLossPolicy { Fail, Accept };

struct ExportOptions {
    std::string from_root = "/";  // the source root file system
    std::string to_dir;           // the image root to write; created if missing
    MergePolicy merge = MergePolicy::RequireEmpty;
    MetadataLossPolicy metadata_loss = MetadataLossPolicy::Fail;
};

// One piece of metadata that could not be preserved on one path.
struct MetadataLoss {
    std::string path;  // absolute, inside the image root, raw bytes
    std::string what;  // "owner", "mode", "timestamps" or "xattr NAME"
    int error = 0;     // errno of the failing call
};

struct ExportStats {
    uint64_t files = 0;      // regular files copied (hardlinks not counted here)
    uint64_t dirs = 0;       // directories created or updated
    uint64_t symlinks = 0;
    uint64_t hardlinks = 0;  // extra names linked to a file copied once
    uint64_t specials = 0;   // device nodes, fifos and sockets
    uint64_t bytes = 0;      // bytes of regular file content copied
    uint64_t dangling_symlinks = 0;  // exported, but their target does not exist (or loops)
    std::vector<std::string> skipped_runtime;  // /proc, /sys, /dev, /run/*: the runtime provides
    std::vector<MetadataLoss> not_preserved;
};

// Checks one list path: absolute, no NUL byte, no ".." component. Returns it
// with "." components and repeated slashes removed ("/" stays "/").
Result<std::string> normalize_export_path(std::string_view path);

// True for paths the container runtime provides (/proc, /sys, /dev and
// their contents, and the contents of /run): never exported.
bool is_runtime_path(std::string_view normalized_path);

// Copies `paths` (absolute paths inside options.from_root) and everything they
// depend on (parents, symlink targets) into options.to_dir.
Result<ExportStats> export_paths(const ExportOptions& options,
                                 const std::vector<std::string>& paths);

// The end-of-export summary, for stderr.
void print_export_summary(const ExportStats& stats, const std::string& to_dir, std::ostream& out);

}  // namespace trace_root
