// Verify: run a workload in a slim image root, as a container would, while
// tracing it, and name every file it looked for that the root lacks but the
// source root has ("what is my slim image missing").
//
// The sandbox: private mount and pid namespaces (optionally a network
// namespace), the workload as pid 1 (as CMD is in a container), chrooted in
// an overlay whose lower layer is the image root and whose upper layer is a
// throw-away tmpfs, so the root itself is never changed; /proc, a minimal
// /dev and a tmpfs /tmp (unless the root's /tmp holds files) are mounted
// inside.
#pragma once

#include <string>
#include <vector>

#include "trace_root/error.hpp"
#include "trace_root/report.hpp"
#include "trace_root/trace.hpp"

namespace trace_root {

enum class NetworkPolicy { Host, Isolated };  // Isolated: a new netns with only "lo", up

struct SandboxOptions {
    std::string root;  // the image root (left unchanged)
    NetworkPolicy network = NetworkPolicy::Host;
};

// A Launcher (see trace.hpp) that starts the command in the sandbox.
// start() may be called once per object. The temporary directory the overlay
// is mounted on is removed by the destructor.
class SandboxLauncher : public Launcher {
public:
    explicit SandboxLauncher(SandboxOptions options);
    ~SandboxLauncher() override;
    SandboxLauncher(const SandboxLauncher&) = delete;
    SandboxLauncher& operator=(const SandboxLauncher&) = delete;

    Result<int> start(const std::vector<std::string>& command, int go_fd, int exec_error_fd,
                      int& direct_child) override;
    // The workload starts in the root of the sandbox.
    std::string cwd() const override { return "/"; }

private:
    SandboxOptions options_;
    std::string temp_dir_;
};

// True when ROOT/tmp is a directory holding files (for example a workload
// that lives under /tmp was exported). The sandbox then keeps ROOT's /tmp
// (writable through the overlay) instead of hiding it under a fresh tmpfs.
bool root_has_tmp_content(const std::string& root);

struct VerifyOptions {
    std::string root;                // the slim image root to verify
    std::string source_root = "/";   // where missing files are looked up
    std::vector<std::string> command;
    NetworkPolicy network = NetworkPolicy::Host;
    IncompletePolicy incomplete = IncompletePolicy::Fail;
    Verbosity verbosity = Verbosity::Normal;
    unsigned ringbuf_mb = 16;
    bool pin = true;  // see TraceOptions::pin
};

struct VerifyResult {
    int exit_status = 0;                // the workload's (128+N on signal N)
    Report report;                      // paths as seen inside the root
    std::vector<std::string> missing;   // looked for, absent from root, present in source_root
    std::vector<std::string> problems;  // why the trace is incomplete (empty unless Fail)
};

// Runs the command in the sandbox under the tracer and computes `missing`.
Result<VerifyResult> verify_root(const VerifyOptions& options);

// Which of the report's failed lookups exist in `source_root` but not in
// `root`: sorted, unique. Runtime-provided paths and /tmp are left out.
Result<std::vector<std::string>> missing_from_root(const Report& report, const std::string& root,
                                                   const std::string& source_root);

// Prints the missing files (escaped, one a line) and a verdict to stderr.
void print_verify_summary(const VerifyResult& result, const VerifyOptions& options);

}  // namespace trace_root
