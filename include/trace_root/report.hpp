// The trace report: what the kernel saw, one entry per distinct path.
//
// Written by the tracer (`trace-root --report FILE -- CMD`), read by every
// later stage (list, export, verify, audit). Paths are held here as raw bytes;
// in the JSON file they are written escaped (see escape.hpp), so any byte a
// Linux path may hold round-trips.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "trace_root/error.hpp"

namespace trace_root {

inline constexpr int kReportSchemaVersion = 1;

// Access kinds, a bit set per path.
enum Access : uint32_t {
    kRead = 1u << 0,
    kWrite = 1u << 1,
    kExec = 1u << 2,
    kMmap = 1u << 3,
    kStat = 1u << 4,
    kReadlink = 1u << 5,
    kListdir = 1u << 6,
    kMissing = 1u << 7,   // looked up and not found (ENOENT/ENOTDIR)
    kCreated = 1u << 8,   // created by the workload itself
    kRemoved = 1u << 9,   // removed (unlinked, rmdir'd, renamed away) by the workload
    kChdir = 1u << 10,    // used as a working directory
    kInterp = 1u << 11,   // named as the interpreter of a #! script
};

// Flags about the path itself, set by the kernel side.
enum PathFlag : uint32_t {
    kPathTruncated = 1u << 0,  // longer/deeper than the kernel walk allows: not whole
    kPathDeleted = 1u << 1,    // the file was already unlinked when seen
    kPathPseudo = 1u << 2,     // on a pseudo file system (proc, sysfs, pipes, sockets, ...)
    kPathOutsideRoot = 1u << 3,// reached outside the process's own root (fd from before chroot)
    kPathUnreadable = 1u << 4, // the user-space string could not be read
};

// Names of the access kinds, in bit order, as used in the JSON report.
std::vector<std::string> access_names(uint32_t access);
Result<uint32_t> access_from_names(const std::vector<std::string>& names);
std::vector<std::string> path_flag_names(uint32_t flags);
Result<uint32_t> path_flags_from_names(const std::vector<std::string>& names);

struct ProcessRef {
    int pid = 0;
    std::string comm;
    std::string exe;  // raw bytes
};

struct PathEntry {
    std::string path;       // absolute, raw bytes, inside the process's root
    uint32_t access = 0;    // Access bits
    uint32_t flags = 0;     // PathFlag bits
    ProcessRef first;       // first process that touched it
    uint64_t count = 0;     // events delivered for this path (kernel dedups exact repeats)
    uint32_t mode = 0;      // st_mode as the kernel saw it (0 when unknown, e.g. lookups)
};

// Every place an event can be lost, summed over CPUs by the tracer.
struct LossCounters {
    uint64_t ringbuf_full = 0;        // bpf_ringbuf_output failed
    uint64_t process_map_full = 0;    // a new process could not join the traced set
    uint64_t path_truncated = 0;      // a path was too long or too deep to be whole
    uint64_t name_unreadable = 0;     // a successful call whose path string could not be read
    uint64_t dedup_insert_failed = 0; // (informational) dedup map insert failed; event still sent
    uint64_t emit_failed = 0;         // the kernel side could not hand an event to its sender
    uint64_t total() const
    {
        return ringbuf_full + process_map_full + path_truncated + name_unreadable + emit_failed;
    }
};

struct Report {
    int schema_version = kReportSchemaVersion;
    std::vector<std::string> command;  // raw bytes per argument
    std::string cwd;                   // where the command was started
    int exit_status = 0;               // the workload's status (128+N for signal N)
    double duration_seconds = 0;
    bool complete = true;              // false when loss, io_uring or interruption made it partial
    std::vector<std::string> incomplete_reasons;
    uint64_t events = 0;
    uint64_t processes = 0;
    LossCounters loss;
    std::vector<std::string> warnings;
    std::vector<PathEntry> paths;      // sorted by path bytes, unique
};

// JSON (de)serialisation. read_report validates the schema and every field.
std::string report_to_json(const Report& report);
Result<Report> report_from_json(const std::string& text, const std::string& origin);
Result<Report> read_report(const std::string& file);
// Writes atomically: FILE.tmp.<pid> then rename, so no half-written report
// ever has the final name.
Result<void> write_report(const Report& report, const std::string& file);

}  // namespace trace_root
