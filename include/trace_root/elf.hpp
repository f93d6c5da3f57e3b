// ELF reading and the dynamic linker's dependency closure (resolve stage).
//
// What the kernel and glibc's ld.so load without a system call the tracer
// sees as such: the PT_INTERP of an executed ELF and the DT_NEEDED libraries,
// transitively. The search follows glibc's rules (elf/dl-load.c):
//
//   1. a DT_NEEDED name that is already loaded in this process (same path,
//      a name it was found by, or its DT_SONAME) is that object;
//   2. a name containing '/' is a path (after $ORIGIN/$LIB/$PLATFORM
//      expansion); a relative one depends on the working directory and is
//      reported unresolved;
//   3. DT_RPATH of the object and then of each object that loaded it, up to
//      the executable, only if the object itself has no DT_RUNPATH (and an
//      object that has DT_RUNPATH contributes no DT_RPATH of its own);
//   4. LD_LIBRARY_PATH is never used: we resolve for an image, not for a shell;
//   5. DT_RUNPATH of the object itself (never inherited);
//   6. /etc/ld.so.cache of the root ("glibc-ld.so.cache1.1", or the old
//      "ld.so-1.7.0" one); when the root has none (or it is unreadable or
//      malformed), the directories of /etc/ld.so.conf with its `include`
//      globs, in order, as ldconfig would have put them in a cache;
//      with DF_1_NODEFLIB, cache entries in the default directories are not
//      used;
//   7. the default directories, unless the object has DF_1_NODEFLIB. Debian
//      multiarch: /lib/<triplet>, /usr/lib/<triplet>, /lib, /usr/lib (i386
//      also /lib32, /usr/lib32), when the root has a /lib/<triplet> or
//      /usr/lib/<triplet> directory; otherwise the FHS ones (/lib64,
//      /usr/lib64 for 64-bit; /lib, /usr/lib for 32-bit).
//
// $ORIGIN is the directory of the object inside the root: for a top-level
// object with a PT_INTERP (an executable) the directory of its canonical path
// (the kernel's /proc/self/exe); for a library the directory of the path it
// was found by, as ld.so does. $LIB is "lib/<triplet>" on a multiarch root
// (this machine's ld.so: lib/x86_64-linux-gnu), else lib64 / lib32 / lib.
// $PLATFORM is the AT_PLATFORM the kernel gives (x86_64, i686, aarch64); a
// path element whose $PLATFORM is unknown for the machine is dropped, as
// ld.so drops an element it cannot expand. Both $X and ${X} are accepted.
//
// A candidate file of another ELF class or e_machine is skipped and the search
// goes on (as ld.so does); a candidate that exists but is not a usable ELF
// shared object (no ELF magic, truncated, other byte order or OS ABI, an
// executable) stops the search with that reason, as ld.so stops with
// "invalid ELF header". Not searched: glibc-hwcaps and legacy hwcap
// subdirectories (x86-64-v3, tls, x86_64 ...) and hwcap-specific cache
// entries; the baseline library is picked, which runs on every CPU.
//
// Every file access is relative to a directory fd of `root` with
// openat2(RESOLVE_IN_ROOT): an absolute symlink or `..` inside the root
// resolves inside the root, never on the host. Root "/" is the live system.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "trace_root/error.hpp"

namespace trace_root {

struct ElfInfo {
    bool is_elf = false;
    int elf_class = 0;        // ELFCLASS32 / ELFCLASS64
    int machine = 0;          // e_machine
    int osabi = 0;
    std::string interp;       // PT_INTERP, empty if none
    std::string soname;
    std::vector<std::string> needed, rpath, runpath;   // rpath/runpath split on ':'
    // Beyond the required interface, used by the loader's checks:
    int type = 0;             // e_type: ET_EXEC, ET_DYN, ...
    int data = 0;             // EI_DATA: ELFDATA2LSB / ELFDATA2MSB
    uint64_t flags_1 = 0;     // DT_FLAGS_1 (DF_1_NODEFLIB, DF_1_PIE, ...)
};

// Parses ELF bytes (bounds-checked, hostile input). Non-ELF input (no ELF
// magic): is_elf=false, no error. Bytes with the ELF magic that cannot be
// parsed (truncated, offsets outside the file, unterminated strings) are an
// error naming `origin_for_errors`. Reads the program headers (PT_INTERP,
// PT_DYNAMIC, PT_LOAD) as the kernel and ld.so do, not the section headers,
// so a stripped-of-sections object reads the same.
Result<ElfInfo> parse_elf(std::string_view bytes, const std::string& origin_for_errors);

// Reads `path` (absolute, inside `root`; root "/" = live system) resolving
// symlinks inside root. A path that is not a regular file (a directory, a
// device, a FIFO: none is opened for reading) gives is_elf=false. A missing
// path is an error.
Result<ElfInfo> read_elf(const std::string& root, const std::string& path);

struct ElfDependency {
    std::string object;    // absolute path (inside root) of the ELF that needs it
    std::string needed;    // the DT_NEEDED name, or "PT_INTERP"
    std::string resolved;  // absolute path inside root as the loader finds it; empty = unresolved
    std::string how;       // "DT_RUNPATH $ORIGIN/../lib", "ld.so.cache", "default /usr/lib", or
                           // why it could not be resolved
};

// PT_INTERP and DT_NEEDED followed transitively from `objects` (absolute
// paths inside root). Non-ELF inputs are skipped. Returns every edge,
// unresolved ones included (never hidden).
//
// Each top-level object is its own process: its load set (what "already
// loaded" means, which objects' DT_RPATH are inherited) is its own. Edges are
// returned in discovery order (breadth first, as ld.so loads), identical
// edges once. Paths are as the loader builds them (`$ORIGIN/../lib` gives
// "/dir/bin/../lib/libx.so"; a cache entry gives its path): canonicalise them
// through the file system, not as text. Each file is read once per call (a
// file reached by two paths is one object, as ld.so compares device and
// inode). A top-level object that is missing, or has the ELF magic but cannot
// be parsed, gives one edge with `needed` and `resolved` empty and `how`
// saying why, and the closure of the others goes on. A relative path in
// `objects` or a root that cannot be opened is an error.
//
// "how" for a resolved edge: "PT_INTERP", "path" (a name with '/'),
// "already loaded" / "already loaded (DT_SONAME)", "DT_RPATH <element>",
// "DT_RPATH <element> of <loader>", "DT_RUNPATH <element>", "ld.so.cache",
// "ld.so.conf <dir>", "default <dir>", possibly followed by
// "; skipped <path>: <reason>" for candidates of another class or machine.
// For an unresolved one: "not found (searched ...)" or the reason the loader
// would stop.
Result<std::vector<ElfDependency>> elf_closure(const std::string& root,
                                               const std::vector<std::string>& objects);

// One entry of /etc/ld.so.cache.
struct LdCacheEntry {
    int32_t flags = 0;     // FLAG_ELF_LIBC6 | FLAG_X8664_LIB64 = 0x0303, ...
    std::string key;       // soname
    std::string value;     // absolute path
    uint64_t hwcap = 0;    // non-zero: a hwcap-specific entry
};

// Parses the bytes of an ld.so.cache: the new "glibc-ld.so.cache1.1" format
// (either byte order, as its header says), alone or after an old
// "ld.so-1.7.0" table, or the old format alone. Bounds-checked for hostile
// input; entries are returned in file order.
Result<std::vector<LdCacheEntry>> parse_ld_so_cache(std::string_view bytes,
                                                    const std::string& origin_for_errors);

}  // namespace trace_root
