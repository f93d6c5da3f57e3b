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

#include "trace_root/allowlist.hpp"
#include "trace_root/cli.hpp"
#include "trace_root/escape.hpp"
#include "trace_root/export.hpp"
#include "trace_root/image.hpp"
#include "trace_root/report.hpp"
#include "trace_root/resolve.hpp"
#include "trace_root/sandbox.hpp"
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
    std::string list_file;
    bool annotated = false;
    ResolveOptions resolve;
    std::string export_dir;
    bool merge = false;
    bool accept_problems = false;
    bool verify = false;
    std::string image_file;
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
    const bool wants_set = !opt.list_file.empty() || !opt.export_dir.empty();
    if (!wants_set)
        return report.exit_status;
    if (report.exit_status != 0)
        std::cerr << "trace-root: warning: the workload exited with status "
                  << report.exit_status << "; its file set may be incomplete\n";

    // Step 4: resolve the accesses into the file set.
    auto set = resolve_report(report, opt.resolve);
    if (!set)
        return tl::unexpected(set.error());
    if (auto r = check_problems(*set, opt.accept_problems ? ProblemPolicy::Accept
                                                          : ProblemPolicy::Fail,
                                "the trace", "nothing was written or exported", "go on");
        !r)
        return tl::unexpected(r.error());

    // Step 5: the allow-list.
    if (!opt.list_file.empty()) {
        auto w = write_allowlist(*set, opt.annotated ? ListStyle::Annotated : ListStyle::Plain,
                                 opt.list_file);
        if (!w)
            return tl::unexpected(w.error());
        std::cerr << "trace-root: allow-list written to " << escape_path(opt.list_file) << "\n";
    }
    if (opt.export_dir.empty())
        return report.exit_status;

    // Step 6: export the set into the image root.
    ExportOptions eo;
    eo.from_root = opt.resolve.root;
    eo.to_dir = opt.export_dir;
    eo.merge = opt.merge ? MergePolicy::Merge : MergePolicy::RequireEmpty;
    auto stats = export_paths(eo, exportable_paths(*set));
    if (!stats)
        return tl::unexpected(stats.error());
    print_export_summary(*stats, opt.export_dir, std::cerr);

    // Step 7: verify that the slim root runs the workload.
    if (opt.verify) {
        VerifyOptions vo;
        vo.root = opt.export_dir;
        vo.source_root = opt.resolve.root;
        vo.command = opt.trace.command;
        // The sandbox starts in "/": a program named relative to the
        // directory the trace ran in is named by its absolute path there.
        if (vo.command[0].find('/') != std::string::npos && vo.command[0][0] != '/')
            vo.command[0] = report.cwd + "/" + vo.command[0];
        vo.incomplete = opt.trace.incomplete;
        vo.verbosity = opt.trace.verbosity;
        vo.ringbuf_mb = opt.trace.ringbuf_mb;
        vo.pin = opt.trace.pin;
        auto verified = verify_root(vo);
        if (!verified)
            return tl::unexpected(verified.error());
        print_verify_summary(*verified, vo);
        if (verified->exit_status != report.exit_status || !verified->missing.empty())
            return fail("the slim root in " + escape_path(opt.export_dir) +
                            " does not run the workload as the full system did (exit status " +
                            std::to_string(verified->exit_status) + ", traced run " +
                            std::to_string(report.exit_status) + ", " +
                            std::to_string(verified->missing.size()) + " files missing)",
                        "add the missing files with --include PATH, or check the workload "
                        "for behaviour that differs between runs");
    }

    // Step 8: the OCI image, with the traced command as its Cmd.
    if (!opt.image_file.empty()) {
        ImageOptions io;
        io.root = opt.export_dir;
        io.output = opt.image_file;
        io.cmd = opt.trace.command;
        auto image = write_image(io);
        if (!image)
            return tl::unexpected(image.error());
        for (const auto& w : image->warnings)
            std::cerr << "trace-root: warning: " << w << "\n";
        std::cerr << "trace-root: image written to " << escape_path(opt.image_file) << " ("
                  << image->manifest_digest << ")\n";
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
    app.add_option("--list", opt.list_file, "Write the allow-list of the traced set to FILE");
    app.add_flag("--annotated", opt.annotated, "Write the --list in its annotated form");
    app.add_option("--include", opt.resolve.includes,
                   "Add PATH or GLOB to the set, with its ELF closure and symlink chains "
                   "(repeatable)")
        ->allow_extra_args(false);  // one value each: never swallow the command after --
    app.add_option("--include-pack", opt.resolve.include_packs,
                   "Add a named set of files test runs rarely touch in full (repeatable): " +
                       include_packs_help())
        ->allow_extra_args(false);
    app.add_option("--export", opt.export_dir,
                   "After tracing, export the file set into the image root DIR");
    app.add_flag("--merge", opt.merge, "Let --export write into a non-empty DIR");
    app.add_flag("--accept-problems", opt.accept_problems,
                 "Write the list and export even when some paths could not be resolved "
                 "(an unresolvable library, a symlink loop, a truncated path)");
    app.add_flag("--verify", opt.verify,
                 "After --export, run the command again chrooted in DIR and fail if it "
                 "behaves differently or looks for files DIR lacks");
    app.add_option("--image", opt.image_file,
                   "After --export, write DIR as an OCI image archive FILE.tar (Cmd: the "
                   "traced command)");
    bool fail_on_io_uring = false;
    app.add_flag("--fail-on-io-uring", fail_on_io_uring,
                 "Fail when the workload uses io_uring (whose opens are not traced)");
    app.add_option("--only-under", opt.trace.only_under,
                   "Record only the subtree that starts at the first exec of this program "
                   "(absolute path), e.g. to leave the test harness out");
    app.add_option("--exclude-exe", opt.trace.exclude_exe,
                   "Do not record processes running this executable (absolute path; repeatable)")
        ->allow_extra_args(false);
    app.add_option("--ringbuf-mb", opt.trace.ringbuf_mb, "Ring buffer size in MiB (power of two)")
        ->check(CLI::Range(1u, 1024u));
    bool no_pin = false;
    app.add_flag("--no-pin", no_pin,
                 "Load the BPF programs anew instead of reusing those an earlier run kept in "
                 "/sys/fs/bpf/trace-root, and keep none there");
    app.add_flag("-v,--verbose", opt.verbose, "Show libbpf's messages and more detail");
    app.add_flag("-q,--quiet", opt.quiet, "No summary on stderr");
    app.add_option("command", opt.trace.command, "The command to trace (after --)");

    Outcome outcome = 0;
    bool ran_subcommand = false;
    auto note = [&](CLI::App* sub) { sub->parse_complete_callback([&] { ran_subcommand = true; }); };
    (void)note;
    // Stage subcommands register here.
    add_export_commands(app, outcome);
    add_verify_commands(app, outcome);
    add_resolve_commands(app, outcome);
    add_image_commands(app, outcome);
    add_audit_commands(app, outcome);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (fail_on_io_uring)
        opt.trace.io_uring = IoUringPolicy::Fail;
    opt.trace.pin = !no_pin;
    if ((opt.verify || !opt.image_file.empty()) && opt.export_dir.empty()) {
        std::cerr << "trace-root: error: --verify and --image need --export DIR\n";
        return 2;
    }
    for (auto* sub : app.get_subcommands())
        if (sub->parsed())
            ran_subcommand = true;
    if (!ran_subcommand)
        outcome = run_main_pipeline(opt);
    if (!outcome)
        return print_error(outcome.error());
    return *outcome;
}
