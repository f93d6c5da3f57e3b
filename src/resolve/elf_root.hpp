// Internal to the ELF part of the resolve stage: file access confined to an
// image root (openat2 with RESOLVE_IN_ROOT on a directory fd of the root),
// and the ld.so.conf reader that uses it.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "trace_root/elf.hpp"
#include "trace_root/error.hpp"
#include "trace_root/unique_fd.hpp"

namespace trace_root::elf_detail {

using UniqueFd = trace_root::UniqueFd;

// A root directory opened once; every lookup is resolved inside it.
class RootDir {
public:
    static Result<RootDir> open(const std::string& root);

    const std::string& name() const { return name_; }

    // openat2(root_fd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS).
    // `path` must be absolute; returns the fd or -errno.
    int open_at(const std::string& path, int flags) const;

    // Opens a regular file for reading without opening anything else for
    // reading (a FIFO or device is only looked at with O_PATH).
    // Returns fd >= 0 and fills *st; -errno; or kNotRegular.
    static constexpr int kNotRegular = -100000;
    int open_regular(const std::string& path, struct stat* st) const;

    // stat() of the path inside root, following symlinks inside root; -errno or 0.
    int stat_at(const std::string& path, struct stat* st) const;
    bool is_dir(const std::string& path) const;

    // The path with every symlink resolved inside root, as an absolute path
    // inside root ("/usr/lib/x86_64-linux-gnu/libc.so.6"), or empty when it
    // cannot be determined.
    std::string canonical(const std::string& path) const;

    // Names in a directory inside root (no "." and ".."), unsorted; empty on error.
    std::vector<std::string> list_dir(const std::string& dir) const;

    // Reads a small regular file inside root.
    Result<std::string> read_small_file(const std::string& path, size_t max_bytes) const;

    // glob(3) without flags, inside root: `*`, `?`, `[...]` in any component,
    // a leading '.' matched only explicitly, results sorted byte-wise, only
    // paths that exist.
    std::vector<std::string> glob(const std::string& pattern) const;

private:
    std::string name_;   // as given
    std::string real_;   // realpath of the root on the host, for canonical()
    UniqueFd fd_;
};

// Joins an absolute directory inside root and a name with one '/'.
std::string join_path(std::string_view dir, std::string_view name);
// Directory part of an absolute path ("/a/b" -> "/a", "/a" -> "/").
std::string dir_name(std::string_view path);

// One directory named by ld.so.conf, with the file that named it.
struct LdConfDir {
    std::string dir;
    std::string conf_file;
};

// The directories of /etc/ld.so.conf inside root, following `include` globs
// (relative patterns relative to the including file's directory), in the
// order ldconfig reads them, duplicates dropped; `hwcap` lines ignored.
// Missing file: empty list. Problems met are added to *notes.
std::vector<LdConfDir> read_ld_so_conf(const RootDir& root, std::vector<std::string>* notes);

// Parses the text of one ld.so.conf-format file (exposed for tests and the
// fuzzer): directories and include patterns in order.
struct LdConfLine {
    bool include = false;   // `include PATTERN`: text is the pattern
    std::string text;       // the directory, or the pattern
};
std::vector<LdConfLine> parse_ld_so_conf_text(std::string_view text);

}  // namespace trace_root::elf_detail
