// `trace-root audit`: what an existing image carries that its workload never
// uses. The command reads as its pipeline: unpack the image, get the used set
// (trace the workload inside the image, or read a list or report), set the
// image's files against it, and write the table, JSON and HTML.
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>

#include <filesystem>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "trace_root/allowlist.hpp"
#include "trace_root/audit.hpp"
#include "trace_root/cli.hpp"
#include "trace_root/escape.hpp"
#include "trace_root/fs_util.hpp"
#include "trace_root/image_read.hpp"
#include "trace_root/report.hpp"
#include "trace_root/resolve.hpp"
#include "trace_root/sandbox.hpp"
#include "trace_root/trace.hpp"

namespace trace_root {
namespace {

struct AuditArgs {
    std::string image, list, report, json, html;
    std::vector<std::string> command;
    bool no_network = false;
    bool accept_incomplete = false;
    bool no_pin = false;
    bool quiet = false;
    bool verbose = false;
};

// The directory an image archive is unpacked into: under /var/tmp (images are
// large; /tmp is often a small tmpfs), removed again whatever happens.
class UnpackDir {
public:
    ~UnpackDir()
    {
        if (path_.empty())
            return;
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);  // never follows symlinks
        if (ec)
            std::cerr << "trace-root: warning: cannot remove the unpacked image "
                      << escape_path(path_) << ": " << ec.message() << "\n";
    }
    Result<std::string> create()
    {
        std::string tmpl = "/var/tmp/trace-root-audit-XXXXXX";
        if (mkdtemp(tmpl.data()) == nullptr)
            return fail(errno_message("cannot create a directory to unpack the image into",
                                      "/var/tmp/trace-root-audit-XXXXXX", errno));
        path_ = tmpl;
        return path_;
    }

private:
    std::string path_;
};

// The workload: the command given, else the image's Entrypoint + Cmd.
Result<std::vector<std::string>> workload(const AuditArgs& a, const UnpackResult& image)
{
    if (!a.command.empty())
        return a.command;
    std::vector<std::string> cmd;
    if (image.config) {
        if (image.config->entrypoint)
            cmd = *image.config->entrypoint;
        if (image.config->cmd)
            cmd.insert(cmd.end(), image.config->cmd->begin(), image.config->cmd->end());
    }
    if (cmd.empty())
        return fail("no workload to audit " + escape_path(a.image) + " with: no COMMAND, no "
                        "--list or --report, and " +
                        (image.config ? "the image config has no Entrypoint or Cmd"
                                      : "a root directory has no image config"),
                    "usage: trace-root audit --image IMAGE -- COMMAND [ARG...], or --list FILE",
                    2);
    return cmd;
}

// Runs the workload inside the image root, as verify does: pid 1 in private
// namespaces, chrooted in an overlay of the root, traced.
Result<Report> trace_in_image(const AuditArgs& a, const UnpackResult& image)
{
    auto cmd = workload(a, image);
    if (!cmd)
        return tl::unexpected(cmd.error());
    if (image.config) {
        // The sandbox starts the workload with trace-root's environment, in
        // "/", as root: the image's Env is applied here, the rest is said.
        for (const auto& e : image.config->env)
            if (const size_t eq = e.find('='); eq != std::string::npos && eq > 0)
                setenv(e.substr(0, eq).c_str(), e.substr(eq + 1).c_str(), 1);
        if (!image.config->working_dir.empty() && image.config->working_dir != "/")
            std::cerr << "trace-root: warning: the workload runs in / , not in the image's "
                         "WorkingDir " << escape_path(image.config->working_dir) << "\n";
        if (!image.config->user.empty() && image.config->user != "root" &&
            image.config->user != "0")
            std::cerr << "trace-root: warning: the workload runs as root, not as the image's "
                         "User " << escape_path(image.config->user) << "\n";
    }
    SandboxLauncher launcher(
        {image.root, a.no_network ? NetworkPolicy::Isolated : NetworkPolicy::Host});
    TraceOptions t;
    t.command = *cmd;
    t.incomplete = a.accept_incomplete ? IncompletePolicy::Accept : IncompletePolicy::Fail;
    t.verbosity = a.verbose ? Verbosity::Verbose : a.quiet ? Verbosity::Quiet : Verbosity::Normal;
    t.root = image.root;
    t.launcher = &launcher;
    t.pin = !a.no_pin;
    // stdout is for the audit table: the workload's own output goes to
    // stderr, as it would to a container's log, not into the table.
    std::cout.flush();
    const int saved_stdout = dup(STDOUT_FILENO);
    if (saved_stdout < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
        return fail(errno_message("cannot send the workload's output to stderr", "stdout", errno));
    auto traced = run_trace(t);
    dup2(saved_stdout, STDOUT_FILENO);
    close(saved_stdout);
    if (!traced)
        return tl::unexpected(traced.error());
    if (!traced->problems.empty()) {
        for (const auto& p : traced->problems)
            std::cerr << "trace-root: error: " << p << "\n";
        return fail("the trace of the workload in " + escape_path(a.image) +
                        " is incomplete, so the used set may be too",
                    "pass --accept-incomplete to audit with it anyway");
    }
    if (traced->report.exit_status != 0)
        std::cerr << "trace-root: warning: the workload exited with status "
                  << traced->report.exit_status << "; what it used may be less than it needs\n";
    return std::move(traced->report);
}

// The canonical paths inside the image root the workload used.
Result<std::vector<std::string>> used_set(const AuditArgs& a, const UnpackResult& image)
{
    if (!a.list.empty()) {
        auto paths = expand_allowlist_file(a.list, image.root);
        if (!paths)
            return tl::unexpected(paths.error());
        return used_paths_from_list(*paths, image.root);
    }
    Report report;
    if (!a.report.empty()) {
        auto r = read_report(a.report);
        if (!r)
            return tl::unexpected(r.error());
        report = std::move(*r);
    } else {
        auto r = trace_in_image(a, image);
        if (!r)
            return tl::unexpected(r.error());
        report = std::move(*r);
    }
    ResolveOptions ro;
    ro.root = image.root;
    auto set = resolve_report(report, ro);
    if (!set)
        return tl::unexpected(set.error());
    for (const auto& p : set->problems)
        std::cerr << "trace-root: warning: " << escape_path(p) << "\n";
    return used_paths_from_fileset(*set, image.root);
}

Outcome run_audit(const AuditArgs& a)
{
    // Step 1: the image as a root directory.
    UnpackDir dir;
    auto dest = dir.create();
    if (!dest)
        return tl::unexpected(dest.error());
    auto image = unpack_image(a.image, *dest);
    if (!image)
        return tl::unexpected(image.error());
    for (const auto& w : image->warnings)
        std::cerr << "trace-root: warning: " << w << "\n";

    // Step 2: what the workload used.
    auto used = used_set(a, *image);
    if (!used)
        return tl::unexpected(used.error());

    // Step 3: every file of the image against it.
    auto result = audit_root(image->root, *used);
    if (!result)
        return tl::unexpected(result.error());

    // Step 4: the outputs; files only once everything has succeeded.
    if (!a.json.empty())
        if (auto w = write_file_atomic(a.json, audit_to_json(*result, a.image)); !w)
            return tl::unexpected(w.error());
    if (!a.html.empty())
        if (auto w = write_file_atomic(a.html, audit_to_html(*result, a.image)); !w)
            return tl::unexpected(w.error());
    for (const auto& w : result->warnings)
        std::cerr << "trace-root: warning: " << w << "\n";
    std::cout << format_audit_table(*result, a.image);
    return 0;
}

}  // namespace

void add_audit_commands(CLI::App& app, Outcome& outcome)
{
    auto args = std::make_shared<AuditArgs>();
    CLI::App* sub = app.add_subcommand(
        "audit",
        "Audit an existing image: which files, bytes, packages and attack surface (shells, "
        "package managers, compilers, interpreters, setuid/setgid files, world-writable "
        "directories) it carries that its workload never uses. The workload is COMMAND (or the "
        "image's Entrypoint and Cmd), run inside the image as verify does, traced; or an "
        "existing trace given with --list or --report, its paths inside the image. The table "
        "goes to stdout.\n"
        "Usage: trace-root audit --image IMAGE [--json FILE] [--html FILE] [-- COMMAND ...]\n"
        "       trace-root audit --image IMAGE (--list FILE | --report FILE) [--json FILE] "
        "[--html FILE]");
    sub->add_option("--image", args->image,
                    "A root file system directory, an OCI image layout (directory or tar) or a "
                    "docker save archive")
        ->required();
    auto* list = sub->add_option("--list", args->list,
                                 "Use this allow-list (paths inside the image) as the used set");
    auto* report = sub->add_option("--report", args->report,
                                   "Use this trace report (paths inside the image), resolved "
                                   "against the image, as the used set");
    list->excludes(report);
    sub->add_option("--json", args->json, "Write the audit as JSON to FILE");
    sub->add_option("--html", args->html,
                    "Write a self-contained HTML page (treemaps, surface list) to FILE");
    sub->add_flag("--no-network", args->no_network,
                  "Run the workload in a new network namespace with only loopback");
    sub->add_flag("--accept-incomplete", args->accept_incomplete,
                  "Audit even when the trace of the workload lost events");
    sub->add_flag("--no-pin", args->no_pin,
                  "Load the BPF programs anew, and keep none in /sys/fs/bpf/trace-root");
    sub->add_flag("-q,--quiet", args->quiet, "Less output on stderr");
    sub->add_flag("-v,--verbose", args->verbose, "Show libbpf's messages and more detail");
    auto* command = sub->add_option("command", args->command,
                                    "The workload to run inside the image, after --");
    sub->callback([args, &outcome, list, report, command] {
        if ((list->count() > 0 || report->count() > 0) && command->count() > 0)
            outcome = fail("audit takes a COMMAND or --list/--report, not both", {}, 2);
        else
            outcome = run_audit(*args);
    });
}

}  // namespace trace_root
