// The verified BPF programs, kept pinned in bpffs from one run to the next.
//
// Loading the programs is most of trace-root's start-up: the kernel's
// verifier and JIT take about 10 ms of a 15 ms start on every run. Pinned
// programs stay loaded after the run that made them, so a later run only
// opens them, resets the maps they use and attaches them, which takes well
// under a millisecond. The run that uses the pins holds an flock() on the
// cache directory for its whole life; a run that finds it taken (another
// trace-root is running) loads programs and maps of its own, as without
// the cache, so concurrent and nested runs never share state.
//
// Layout: /sys/fs/bpf/trace-root/ (mode 0700, owned by the user), holding
// one directory named after the key of the programs in it: a digest of
// everything that makes them (the BPF object, its read-only data, the ring
// buffer's size). In it, "map_NAME" pins map NAME, and "tp_NAME" a program
// attached to raw tracepoint NAME. Attachments are never pinned: each run
// attaches for itself, so nothing runs in the kernel between runs, and a
// run killed with SIGKILL detaches with its last file descriptor.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trace_root/error.hpp"
#include "trace_root/unique_fd.hpp"

namespace trace_root {

class PinCache {
public:
    static constexpr const char* kDir = "/sys/fs/bpf/trace-root";

    // Takes the cache for this run. nullopt, with the reason in `why_not`,
    // when it cannot be used: no bpffs at /sys/fs/bpf, a directory that is
    // not the user's own (then `warning` says so), or another run using it.
    static std::optional<PinCache> take(std::string& why_not, std::string& warning);

    // What is pinned under one key, opened.
    struct Set {
        std::vector<std::pair<std::string, UniqueFd>> maps;      // NAME, fd
        std::vector<std::pair<std::string, UniqueFd>> programs;  // tracepoint, fd
        int map(std::string_view name) const;                    // -1 if absent
    };

    // The objects pinned under `key`; nullopt with the reason when there
    // are none (or they cannot be opened).
    std::optional<Set> open(const std::string& key, std::string& why_not) const;

    // Pins these objects under `key`: maps as {NAME, fd}, programs as
    // {tracepoint, fd}. They appear together or not at all (pinned into a
    // fresh directory that is then renamed). What other builds pinned is
    // removed first, and of this build's other keys (another ring buffer
    // size, the full BTF) only the kKeep newest stay: each holds its ring
    // buffer and tables in kernel memory.
    Result<void> publish(const std::string& key,
                         const std::vector<std::pair<std::string, int>>& maps,
                         const std::vector<std::pair<std::string, int>>& programs) const;
    static constexpr size_t kKeep = 2;

private:
    explicit PinCache(UniqueFd dir) : dir_(std::move(dir)) {}
    UniqueFd dir_;  // the cache directory, flock()ed
};

}  // namespace trace_root
