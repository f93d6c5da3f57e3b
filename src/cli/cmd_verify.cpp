// `trace-root verify`: run a command in a slim root, traced, and name what
// the root is missing.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "trace_root/cli.hpp"
#include "trace_root/report.hpp"
#include "trace_root/sandbox.hpp"

namespace trace_root {
namespace {

struct VerifyArgs {
    VerifyOptions options;
    std::string report_file;
    bool no_network = false;
    bool accept_incomplete = false;
    bool no_pin = false;
    bool quiet = false;
    bool verbose = false;
};

Outcome run_verify(VerifyArgs& a)
{
    VerifyOptions& o = a.options;
    o.network = a.no_network ? NetworkPolicy::Isolated : NetworkPolicy::Host;
    o.incomplete = a.accept_incomplete ? IncompletePolicy::Accept : IncompletePolicy::Fail;
    o.pin = !a.no_pin;
    o.verbosity = a.verbose ? Verbosity::Verbose : a.quiet ? Verbosity::Quiet : Verbosity::Normal;

    // Step 1: run it in the sandbox, traced.
    auto r = verify_root(o);
    if (!r)
        return tl::unexpected(r.error());

    // Step 2: the report of the run in the sandbox, if asked for.
    if (!a.report_file.empty())
        if (auto w = write_report(r->report, a.report_file); !w)
            return tl::unexpected(w.error());

    // Step 3: what the root is missing, and the verdict.
    print_verify_summary(*r, o);
    if (!r->problems.empty()) {
        for (const auto& p : r->problems)
            std::cerr << "trace-root: error: " << p << "\n";
        std::cerr << "trace-root: hint: the trace is incomplete, so the missing-file list may "
                     "be too; pass --accept-incomplete to use it anyway\n";
        return r->exit_status != 0 ? r->exit_status : 1;
    }
    return r->exit_status;
}

}  // namespace

void add_verify_commands(CLI::App& app, Outcome& outcome)
{
    auto args = std::make_shared<VerifyArgs>();
    CLI::App* sub = app.add_subcommand(
        "verify",
        "Run COMMAND chrooted in DIR, as pid 1 in private mount and pid namespaces, with "
        "/proc, a minimal /dev and a tmpfs /tmp; DIR is not changed (writes go to a throw-away "
        "overlay). The command is traced, and every file it looked for that DIR lacks but the "
        "source root has is listed on stderr. Exits with COMMAND's status.\n"
        "Usage: trace-root verify --root DIR [--from SRC] [--] COMMAND [ARG...]");
    VerifyOptions& o = args->options;
    sub->add_option("--root", o.root, "The slim image root DIR to run in")->required();
    sub->add_option("--from", o.source_root,
                    "Where missing files are looked up (default /)");
    sub->add_option("--report", args->report_file,
                    "Write the JSON report of the run in the sandbox to FILE");
    sub->add_flag("--no-network", args->no_network,
                  "Run in a new network namespace with only the loopback interface");
    sub->add_flag("--accept-incomplete", args->accept_incomplete,
                  "Exit with the command's status even when the trace lost events");
    sub->add_option("--ringbuf-mb", o.ringbuf_mb, "Ring buffer size in MiB (power of two)")
        ->check(CLI::Range(1u, 1024u));
    sub->add_flag("--no-pin", args->no_pin,
                  "Load the BPF programs anew, and keep none in /sys/fs/bpf/trace-root");
    sub->add_flag("-q,--quiet", args->quiet, "Less output on stderr");
    sub->add_flag("-v,--verbose", args->verbose, "Show libbpf's messages and more detail");
    // After "--" everything is the command, options and all; without "--"
    // the command must not start with an option verify knows.
    sub->add_option("command", o.command, "The command to run, after --");
    sub->callback([args, &outcome] {
        outcome = run_verify(*args);
    });
}

}  // namespace trace_root
