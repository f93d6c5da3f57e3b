// The tracer: run a command tree under the eBPF program and collect what it
// touched into a Report.
#pragma once

#include <string>
#include <vector>

#include "trace_root/error.hpp"
#include "trace_root/report.hpp"

namespace trace_root {

enum class IncompletePolicy { Fail, Accept };
enum class Verbosity { Quiet, Normal, Verbose };
// io_uring opens bypass the syscall tracepoints: by default a warning.
enum class IoUringPolicy { Warn, Fail };

struct TraceOptions {
    std::vector<std::string> command;
    // Loss, io_uring use or 32-bit syscalls make the trace incomplete: fail
    // unless the user accepted an incomplete trace.
    IncompletePolicy incomplete = IncompletePolicy::Fail;
    Verbosity verbosity = Verbosity::Normal;
    IoUringPolicy io_uring = IoUringPolicy::Warn;
    unsigned ringbuf_mb = 4;
    // Reuse the BPF programs an earlier run left pinned, and pin them for
    // the next run (see src/trace/pin_cache.hpp). false: load them anew
    // and leave nothing in the kernel.
    bool pin = true;
    // Scope: only the subtree from the first exec of this program (empty:
    // everything), and processes whose executable is not in exclude_exe.
    std::string only_under;
    std::vector<std::string> exclude_exe;
    // The root the workload sees (a sandbox's root for verify), used to read
    // the headers of the programs it runs.
    std::string root = "/";
    // How the workload is started. Null: fork and execvp in the current root.
    // verify passes a launcher that starts it inside its sandbox.
    class Launcher* launcher = nullptr;
};

// Starts the workload so that nothing it does escapes the trace.
//
// start() creates whatever processes it needs and must arrange that the
// process which will exec the workload blocks, right before execvp(), until
// one byte can be read from `go_fd` (it then closes go_fd and execs). It
// returns that process's pid as seen from trace-root's pid namespace; the
// tracer adds that pid to the traced set and only then writes the byte.
// `direct_child` receives the pid trace-root must waitpid() for: its exit
// status is taken as the workload's (for a sandbox, the sandbox's init
// must exit with the workload's status). If exec fails, the process that
// tried writes the errno as an int to `exec_error_fd` (opened O_CLOEXEC)
// before exiting with 127 (ENOENT) or 126. Before exec, that process must
// restore an empty signal mask (the tracer blocks SIGINT/SIGTERM/SIGCHLD).
class Launcher {
public:
    virtual ~Launcher() = default;
    virtual Result<int> start(const std::vector<std::string>& command, int go_fd,
                              int exec_error_fd, int& direct_child) = 0;
    // The working directory the workload starts in, as it sees it (empty:
    // unknown); the collector anchors a relative chdir's name to it.
    virtual std::string cwd() const { return {}; }
};

struct TraceResult {
    Report report;
    // Non-empty when the trace is incomplete and the policy is Fail.
    std::vector<std::string> problems;
};

Result<TraceResult> run_trace(const TraceOptions& options);

// Prints the end-of-run summary to stderr.
void print_trace_summary(const Report& report, const std::string& report_path);

}  // namespace trace_root
