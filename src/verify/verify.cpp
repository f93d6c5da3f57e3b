// verify_root(): trace the workload inside the sandbox, then answer "what
// is my slim image missing": every path the workload looked up and did not
// find that the source root does have.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <algorithm>
#include <filesystem>
#include <optional>
#include <cstdlib>
#include <iostream>
#include <set>

#include "../export/beneath.hpp"
#include "trace_root/escape.hpp"
#include "trace_root/export.hpp"
#include "trace_root/sandbox.hpp"

namespace trace_root {

namespace {

// Lookups there say nothing about the image: the sandbox (like a container
// runtime) provides /proc, /dev and /run's contents, and /tmp is a fresh
// tmpfs (when the root's own /tmp is empty) whose host counterpart is
// unrelated.
bool is_sandbox_provided(const std::string& p, bool tmpfs_tmp)
{
    return is_runtime_path(p) || (tmpfs_tmp && (p == "/tmp" || p.starts_with("/tmp/")));
}

// When the command cannot be executed there is no trace to compare; say
// whether the program (or, if it is there, its loader) is what is missing.
std::string explain_missing_program(const VerifyOptions& options)
{
    const std::string& name = options.command[0];
    std::vector<std::string> candidates;
    if (name.find('/') != std::string::npos) {
        candidates.push_back(name.starts_with('/') ? name : "/" + name);
    } else {
        const char* env = std::getenv("PATH");
        const std::string path = env ? env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                                             "/sbin:/bin";
        size_t pos = 0;
        while (pos <= path.size()) {
            const size_t colon = std::min(path.find(':', pos), path.size());
            const std::string dir = path.substr(pos, colon - pos);
            if (dir.starts_with('/'))
                candidates.push_back(dir + "/" + name);
            pos = colon + 1;
        }
    }
    const int rfd = open(options.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    const int sfd = open(options.source_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    beneath::Fd root_fd(rfd), source_fd(sfd);
    if (rfd < 0 || sfd < 0)
        return {};
    struct stat st {};
    for (const auto& c : candidates) {
        auto p = normalize_export_path(c);
        if (!p)
            continue;
        const bool in_root = beneath::lstat_in_root(rfd, *p, st) == 0;
        if (in_root)
            return " (" + escape_path(*p) + " is in " + escape_path(options.root) +
                   "; its ELF interpreter or #! interpreter may be missing)";
        if (beneath::lstat_in_root(sfd, *p, st) == 0)
            return " (" + escape_path(*p) + " is missing from " + escape_path(options.root) +
                   " but exists in " + escape_path(options.source_root) + ")";
    }
    return {};
}

// Whether `path` resolves inside the root, following every symlink.
bool resolves(int rootfd, const std::string& path)
{
    const int fd =
        beneath::open_at(rootfd, beneath::relative(path), O_PATH, beneath::Scope::InRoot);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

// Where `path` ends up in the root `rootfd` (named `root_name`), symlinks
// followed: read back from /proc/self/fd and made relative to the root.
std::optional<std::string> resolved_path(int rootfd, const std::string& path,
                                         const std::string& root_name)
{
    const int fd =
        beneath::open_at(rootfd, beneath::relative(path), O_PATH, beneath::Scope::InRoot);
    if (fd < 0)
        return std::nullopt;
    beneath::Fd owned(fd);
    std::string buf(PATH_MAX + 1, '\0');
    const std::string link = "/proc/self/fd/" + std::to_string(fd);
    const ssize_t n = readlink(link.c_str(), buf.data(), buf.size());
    if (n <= 0 || static_cast<size_t>(n) >= buf.size())
        return path;  // cannot tell where: name the symlink itself
    buf.resize(static_cast<size_t>(n));
    std::error_code ec;
    const std::string root = std::filesystem::canonical(root_name, ec).string();
    if (ec)
        return path;
    if (root == "/")
        return buf;
    if (buf.starts_with(root + "/"))
        return buf.substr(root.size());
    return path;
}

}  // namespace

Result<std::vector<std::string>> missing_from_root(const Report& report, const std::string& root,
                                                   const std::string& source_root)
{
    const int rfd = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
        return fail(errno_message("cannot open the root", root, errno));
    beneath::Fd root_fd(rfd);
    const int sfd = open(source_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0)
        return fail(errno_message("cannot open the source root", source_root, errno));
    beneath::Fd source_fd(sfd);

    constexpr uint32_t kNotWhole = kPathTruncated | kPathUnreadable | kPathPseudo |
                                   kPathOutsideRoot;
    const bool tmpfs_tmp = !root_has_tmp_content(root);
    std::set<std::string> missing;
    for (const auto& e : report.paths) {
        if (!(e.access & kMissing) || (e.access & kCreated) || (e.flags & kNotWhole))
            continue;
        auto path = normalize_export_path(e.path);
        if (!path || is_sandbox_provided(*path, tmpfs_tmp))
            continue;
        if (resolves(root_fd.get(), *path))
            continue;  // there after all
        struct stat st {};
        const bool in_root = beneath::lstat_in_root(root_fd.get(), *path, st) == 0;
        if (!in_root) {
            if (beneath::lstat_in_root(source_fd.get(), *path, st) == 0)
                missing.insert(*path);
            continue;
        }
        // A symlink in the root whose target is missing: name the target,
        // as the source root resolves it.
        if (auto target = resolved_path(source_fd.get(), *path, source_root))
            missing.insert(*target);
    }
    return std::vector<std::string>(missing.begin(), missing.end());
}

Result<VerifyResult> verify_root(const VerifyOptions& options)
{
    if (options.command.empty())
        return fail("no command to verify", "usage: trace-root verify --root DIR -- COMMAND", 2);

    // Step 1: run the workload in the sandbox, under the tracer.
    SandboxLauncher launcher({options.root, options.network});
    TraceOptions trace;
    trace.command = options.command;
    trace.incomplete = options.incomplete;
    trace.verbosity = options.verbosity;
    trace.ringbuf_mb = options.ringbuf_mb;
    trace.pin = options.pin;
    trace.root = options.root;
    trace.launcher = &launcher;
    auto traced = run_trace(trace);
    if (!traced) {
        Error e = traced.error();
        if (e.exit_code == 127)
            e.message += explain_missing_program(options);
        return tl::unexpected(e);
    }

    // Step 2: compare its failed lookups with the source root.
    auto missing = missing_from_root(traced->report, options.root, options.source_root);
    if (!missing)
        return tl::unexpected(missing.error());

    VerifyResult result;
    result.exit_status = traced->report.exit_status;
    result.report = std::move(traced->report);
    result.missing = std::move(*missing);
    result.problems = std::move(traced->problems);
    return result;
}

void print_verify_summary(const VerifyResult& r, const VerifyOptions& options)
{
    const std::string root = escape_path(options.root);
    const std::string source = escape_path(options.source_root);
    if (r.missing.empty()) {
        std::cerr << "trace-root: verify: nothing the workload looked for is missing from " << root
                  << "\n";
    } else {
        std::cerr << "trace-root: verify: " << r.missing.size()
                  << " file(s) the workload looked for are missing from " << root
                  << " but exist in " << source << ":\n";
        for (const auto& p : r.missing)
            std::cerr << "  " << escape_path(p) << "\n";
    }
    std::cerr << "trace-root: verify: the command exited with status " << r.exit_status
              << (r.exit_status == 0 ? "" : " (failed)") << " in " << root << "\n";
}

}  // namespace trace_root
