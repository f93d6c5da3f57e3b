// `trace-root export`: a list or a report -> an image root directory.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "trace_root/allowlist.hpp"
#include "trace_root/cli.hpp"
#include "trace_root/escape.hpp"
#include "trace_root/export.hpp"
#include "trace_root/report.hpp"
#include "trace_root/resolve.hpp"

namespace trace_root {
namespace {

struct ExportArgs {
    std::string list, report, to, from = "/";
    bool merge = false;
    bool allow_metadata_loss = false;
    bool accept_problems = false;
};

// The paths to copy: an allow-list expanded against the source root, or a
// report resolved against it (adding ELF dependencies and symlink chains).
Result<std::vector<std::string>> paths_to_export(const ExportArgs& a)
{
    if (!a.list.empty())
        return expand_allowlist_file(a.list, a.from);
    auto report = read_report(a.report);
    if (!report)
        return tl::unexpected(report.error());
    ResolveOptions ro;
    ro.root = a.from;
    auto set = resolve_report(*report, ro);
    if (!set)
        return tl::unexpected(set.error());
    if (auto r = check_problems(*set, a.accept_problems ? ProblemPolicy::Accept
                                                        : ProblemPolicy::Fail,
                                escape_path(a.report), "nothing was exported", "export");
        !r)
        return tl::unexpected(r.error());
    return exportable_paths(*set);
}

Outcome run_export(const ExportArgs& a)
{
    // Step 1: the file set.
    auto paths = paths_to_export(a);
    if (!paths)
        return tl::unexpected(paths.error());

    // Step 2: copy it.
    ExportOptions o;
    o.from_root = a.from;
    o.to_dir = a.to;
    o.merge = a.merge ? MergePolicy::Merge : MergePolicy::RequireEmpty;
    o.metadata_loss = a.allow_metadata_loss ? MetadataLossPolicy::Accept : MetadataLossPolicy::Fail;
    auto stats = export_paths(o, *paths);
    if (!stats)
        return tl::unexpected(stats.error());

    // Step 3: the summary, on stderr.
    print_export_summary(*stats, a.to, std::cerr);
    return 0;
}

}  // namespace

void add_export_commands(CLI::App& app, Outcome& outcome)
{
    auto args = std::make_shared<ExportArgs>();
    CLI::App* sub = app.add_subcommand(
        "export",
        "Copy exactly the listed files, with their parents, symlink chains, hardlinks and all "
        "metadata (owner, mode, setuid, nanosecond times, xattrs, file capabilities, ACLs) "
        "into DIR, ready for COPY into a FROM scratch image. /proc, /sys, /dev and the "
        "contents of /run are skipped: the runtime provides them.");
    auto* list = sub->add_option("--list", args->list, "Allow-list FILE to export");
    auto* report = sub->add_option("--report", args->report,
                                   "Trace report FILE to resolve (ELF dependencies, symlink "
                                   "chains) and export");
    list->excludes(report);
    sub->add_option("--to", args->to, "The image root DIR to write (created if missing)")
        ->required();
    sub->add_option("--from", args->from,
                    "Export from this unpacked root file system instead of / (default /)");
    sub->add_flag("--merge", args->merge, "Export into DIR even if it is not empty");
    sub->add_flag("--allow-metadata-loss", args->allow_metadata_loss,
                  "Succeed even when DIR's file system cannot hold some metadata (each item is "
                  "still listed as a warning)");
    sub->add_flag("--accept-problems", args->accept_problems,
                  "With --report: export even when some paths could not be resolved");
    sub->callback([args, &outcome, list, report] {
        if (list->count() == 0 && report->count() == 0)
            outcome = fail("export needs --list FILE or --report FILE", {}, 2);
        else
            outcome = run_export(*args);
    });
}

}  // namespace trace_root
