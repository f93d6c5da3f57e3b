// trace-root: which files does this application really need?
//
// The top level reads as the pipeline it runs: parse the command line, then
// trace, write the report and the list, and report loss. Subcommands (list,
// merge, diff, explain, export, verify, image, audit) are added by the stage
// that implements them. Errors are printed here, once.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "trace_root/cli.hpp"
#include "trace_root/report.hpp"
#include "trace_root/trace.hpp"

using namespace trace_root;

namespace {

int print_error(const Error& e)
{
    std::cerr << "trace-root: error: " << e.message << "\n";
    if (!e.hint.empty())
        std::cerr << "trace-root: hint: " << e.hint << "\n";
    return e.exit_code;
}

struct MainOptions {
    TraceOptions trace;
    std::string report_file;
    bool accept_incomplete = false;
    bool verbose = false;
    bool quiet = false;
};

Outcome run_main_pipeline(MainOptions& opt)
{
    if (opt.trace.command.empty())
        return fail("no command to trace", "usage: trace-root [OPTIONS] -- COMMAND [ARG...]", 2);
    opt.trace.incomplete =
        opt.accept_incomplete ? IncompletePolicy::Accept : IncompletePolicy::Fail;
    opt.trace.verbosity = opt.verbose ? Verbosity::Verbose
                          : opt.quiet ? Verbosity::Quiet
                                      : Verbosity::Normal;

    // Step 1: trace the command tree.
    auto traced = run_trace(opt.trace);
    if (!traced)
        return tl::unexpected(traced.error());
    const Report& report = traced->report;

    // Step 2: write the report.
    if (!opt.report_file.empty())
        if (auto w = write_report(report, opt.report_file); !w)
            return tl::unexpected(w.error());

    // Step 3: summarise, and refuse an incomplete trace unless accepted.
    if (opt.trace.verbosity != Verbosity::Quiet)
        print_trace_summary(report, opt.report_file);
    if (!traced->problems.empty()) {
        for (const auto& p : traced->problems)
            std::cerr << "trace-root: error: " << p << "\n";
        std::cerr << "trace-root: hint: the trace is incomplete; pass --accept-incomplete to "
                     "use it anyway\n";
        return report.exit_status != 0 ? report.exit_status : 1;
    }
    return report.exit_status;
}

}  // namespace

int main(int argc, char** argv)
{
    CLI::App app{"trace-root: trace which files a command tree really needs, then export, "
                 "verify, image or audit that set.\n"
                 "Usage: trace-root [OPTIONS] -- COMMAND [ARG...]"};
    app.name("trace-root");
    app.require_subcommand(0, 1);

    MainOptions opt;
    app.add_option("--report", opt.report_file, "Write the JSON report to FILE");
    app.add_flag("--accept-incomplete", opt.accept_incomplete,
                 "Exit with the workload's status even when events were lost or io_uring "
                 "was used (the report is marked incomplete)");
    bool fail_on_io_uring = false;
    app.add_flag("--fail-on-io-uring", fail_on_io_uring,
                 "Fail when the workload uses io_uring (whose opens are not traced)");
    app.add_option("--only-under", opt.trace.only_under,
                   "Record only the subtree that starts at the first exec of this program "
                   "(absolute path), e.g. to leave the test harness out");
    app.add_option("--exclude-exe", opt.trace.exclude_exe,
                   "Do not record processes running this executable (absolute path; repeatable)");
    app.add_option("--ringbuf-mb", opt.trace.ringbuf_mb, "Ring buffer size in MiB (power of two)")
        ->check(CLI::Range(1u, 1024u));
    app.add_flag("-v,--verbose", opt.verbose, "Show libbpf's messages and more detail");
    app.add_flag("-q,--quiet", opt.quiet, "No summary on stderr");
    app.add_option("command", opt.trace.command, "The command to trace (after --)");

    Outcome outcome = 0;
    bool ran_subcommand = false;
    auto note = [&](CLI::App* sub) { sub->parse_complete_callback([&] { ran_subcommand = true; }); };
    (void)note;
    // Stage subcommands register here.
    add_verify_commands(app, outcome);
    add_resolve_commands(app, outcome);
    add_image_commands(app, outcome);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (fail_on_io_uring)
        opt.trace.io_uring = IoUringPolicy::Fail;
    for (auto* sub : app.get_subcommands())
        if (sub->parsed())
            ran_subcommand = true;
    if (!ran_subcommand)
        outcome = run_main_pipeline(opt);
    if (!outcome)
        return print_error(outcome.error());
    return *outcome;
}
