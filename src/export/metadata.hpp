// Reading and restoring the metadata of one exported file: owner, mode,
// extended attributes, timestamps.
#pragma once

#include <sys/stat.h>

#include <string>
#include <vector>

#include "trace_root/export.hpp"

namespace trace_root {

struct Xattr {
    std::string name;
    std::string value;
};

// All extended attributes of an open file (fd >= 0) or, for symlinks and
// special files, of `path` without following it. Returns 0 or an errno
// value; a file system without xattr support gives an empty list.
int read_xattrs(int fd, const std::string& path, std::vector<Xattr>& out);

// Where to apply metadata: an open fd (regular files, directories) or a
// name in an open parent directory (symlinks, device nodes, fifos).
struct MetaTarget {
    int fd = -1;
    int parent = -1;
    std::string name;
};

// Applies owner, mode, xattrs and timestamps from `st`/`xattrs`, in the
// order that keeps them all: chown first (it clears setuid/setgid and
// security.capability), then chmod, then xattrs, then the timestamps (every
// earlier step changes ctime, and xattr writes may touch mtime on some file
// systems). What cannot be set is appended to `losses` under `shown_path`.
void apply_metadata(const MetaTarget& target, const struct stat& st,
                    const std::vector<Xattr>& xattrs, const std::string& shown_path,
                    std::vector<MetadataLoss>& losses);

}  // namespace trace_root
