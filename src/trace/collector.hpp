// Turns the kernel's events into the report: one entry per distinct path,
// with its access kinds and the first process that touched it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "trace_root/report.hpp"

namespace trace_root {

struct CollectorOptions {
    // Only keep events from the subtree that starts at the first exec of
    // this program (absolute path, as the traced process sees it). Empty:
    // everything.
    std::string only_under;
    // Drop events of processes whose executable is one of these.
    std::vector<std::string> exclude_exe;
    // The root the traced processes see (for reading exec'd ELF headers).
    std::string root = "/";
};

class Collector {
public:
    explicit Collector(CollectorOptions options);

    // One ring-buffer record. Malformed records (sizes that do not add up)
    // are counted, never read past their end.
    void on_record(const void* data, size_t size);
    // The launched process, before it execs, and its working directory as
    // it sees it (empty: unknown).
    void add_root_process(uint32_t pid, std::string comm, std::string cwd = {});

    uint64_t events() const { return events_; }
    uint64_t malformed() const { return malformed_; }
    bool saw_io_uring() const { return !io_uring_pids_.empty(); }
    bool saw_compat() const { return !compat_pids_.empty(); }
    const std::vector<std::string>& warnings() const { return warnings_; }
    size_t process_count() const { return procs_.size(); }

    // Moves the collected paths, sorted by bytes, into `report`.
    void finish(Report& report);

private:
    struct Proc {
        std::string comm;
        std::string exe;
        // The working directory, from the launcher and each successful
        // chdir (inherited at fork), and the one before the last chdir: a
        // relative chdir's name is relative to that (TR_F_PREV_CWD).
        // Empty: unknown.
        std::string cwd, prev_cwd;
        bool in_scope = true;
    };
    Proc& proc(uint32_t tgid, std::string_view comm);
    void record(std::string path, uint32_t access, uint32_t flags, uint32_t mode,
                const Proc& who, uint32_t pid);
    void warn_once(std::string message);
    void check_exec_class(const std::string& path, uint32_t pid);

    CollectorOptions options_;
    std::unordered_map<uint32_t, Proc> procs_;
    std::unordered_map<std::string, PathEntry> paths_;
    std::vector<uint32_t> io_uring_pids_, compat_pids_;
    std::vector<std::string> warnings_;
    uint64_t events_ = 0;
    uint64_t malformed_ = 0;
    bool scope_started_ = false;
};

// Joins a base directory and a name as the kernel would look it up, with
// only the textual clean-ups that are safe whatever the symlinks: repeated
// slashes and "." components go, ".." stays (resolve walks it through the
// file system).
std::string join_lookup(std::string_view base, std::string_view name);

}  // namespace trace_root
