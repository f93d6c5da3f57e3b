// The resolve subcommands: list, merge, diff, explain.
//
// Each reads reports or allow-lists, resolves them under --root and writes
// machine-readable output to stdout (or -o FILE, atomically); problems and
// summaries go to stderr.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "trace_root/allowlist.hpp"
#include "trace_root/cli.hpp"
#include "trace_root/escape.hpp"
#include "trace_root/fs_util.hpp"
#include "trace_root/report.hpp"
#include "trace_root/resolve.hpp"

namespace trace_root {

namespace {

struct ResolveArgs {
    std::string root = "/";
    std::vector<std::string> includes;
    std::vector<std::string> packs;
    bool accept_problems = false;
};

struct ListArgs : ResolveArgs {
    std::string report;
    std::string output;
    bool annotated = false;
};

struct MergeArgs : ResolveArgs {
    std::vector<std::string> inputs;
    std::string output;
    bool annotated = false;
};

struct DiffArgs : ResolveArgs {
    std::string a, b;
    bool check = false;
};

struct ExplainArgs : ResolveArgs {
    std::string path;
    std::string report;
};

const char* kFormatHelp =
    "Allow-list format: one absolute path per line, byte-sorted as written by trace-root.\n"
    "  # text           a comment (also after a path, following a space or a tab)\n"
    "  /a/b             a path; '*' matches within one component, '**' any depth\n"
    "                   (/a/** is everything below /a, not /a itself)\n"
    "  !PATTERN         exclude what earlier lines added (later lines win)\n"
    "  include F.list   another list, relative to this file's directory\n"
    "Any byte is written escaped: \\\\ \\n \\r \\t \\xHH (control bytes, invalid UTF-8),\n"
    "plus \\x23 for '#', \\x2a for '*' and \\x20 for a trailing space.\n";

void add_resolve_options(CLI::App* sub, ResolveArgs& a)
{
    sub->add_option("--root", a.root, "Resolve paths under DIR (default /)");
    sub->add_option("--include", a.includes,
                    "Add PATH or GLOB by hand, with its ELF closure and symlink chains");
    sub->add_option("--include-pack", a.packs, "Add a named set of files (see below)");
    sub->add_flag("--accept-problems", a.accept_problems,
                  "Write the output even when some paths could not be resolved");
}

Result<void> emit(const std::string& output, const std::string& text)
{
    if (output.empty() || output == "-") {
        std::cout << text << std::flush;
        if (!std::cout)
            return fail("cannot write to stdout");
        return {};
    }
    return write_file_atomic(output, text);
}

ResolveOptions resolve_options(const ResolveArgs& a)
{
    ResolveOptions o;
    o.root = a.root;
    o.includes = a.includes;
    o.include_packs = a.packs;
    return o;
}

bool looks_like_report(const std::string& text)
{
    for (char c : text) {
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r')
            continue;
        return c == '{';
    }
    return false;
}

// A report is resolved; an allow-list is expanded, each path an entry.
Result<FileSet> load_input(const std::string& file, const ResolveArgs& a, bool with_extras)
{
    auto text = read_file(file);
    if (!text)
        return tl::unexpected(text.error());
    if (looks_like_report(*text)) {
        auto report = report_from_json(*text, file);
        if (!report)
            return tl::unexpected(report.error());
        ResolveOptions o = resolve_options(a);
        if (!with_extras) {
            o.includes.clear();
            o.include_packs.clear();
        }
        return resolve_report(*report, o);
    }
    auto paths = expand_allowlist_file(file, a.root);
    if (!paths)
        return tl::unexpected(paths.error());
    auto root = RootDir::open(a.root);
    if (!root)
        return tl::unexpected(root.error());
    FileSet set;
    for (const auto& p : *paths) {
        FileEntry e;
        e.path = p;
        e.origin = Origin::Included;
        e.exported = true;
        e.reasons.push_back("listed in " + file);
        if (auto c = root->canonicalize(p, FollowFinal::NoFollow)) {
            e.type = c->type;
            e.symlink_target = c->final_target;
        }
        set.entries.push_back(std::move(e));
    }
    return set;
}

Outcome run_list(const ListArgs& a)
{
    auto report = read_report(a.report);
    if (!report)
        return tl::unexpected(report.error());
    auto set = resolve_report(*report, resolve_options(a));
    if (!set)
        return tl::unexpected(set.error());
    if (auto r = check_problems(*set, a.accept_problems ? ProblemPolicy::Accept
                                                        : ProblemPolicy::Fail, a.report,
                                "nothing was written", "write the list");
        !r)
        return tl::unexpected(r.error());
    const auto style = a.annotated ? ListStyle::Annotated : ListStyle::Plain;
    if (auto w = emit(a.output, format_allowlist(*set, style)); !w)
        return tl::unexpected(w.error());
    return 0;
}

Outcome run_merge(const MergeArgs& a)
{
    std::vector<FileSet> sets;
    for (size_t i = 0; i < a.inputs.size(); ++i) {
        // --include and packs are added once, with the first input.
        auto s = load_input(a.inputs[i], a, i == 0);
        if (!s)
            return tl::unexpected(s.error());
        sets.push_back(std::move(*s));
    }
    FileSet merged = merge_filesets(sets);
    if (auto r = check_problems(merged, a.accept_problems ? ProblemPolicy::Accept
                                                         : ProblemPolicy::Fail, "the inputs",
                                "nothing was written", "write the list");
        !r)
        return tl::unexpected(r.error());
    const auto style = a.annotated ? ListStyle::Annotated : ListStyle::Plain;
    if (auto w = emit(a.output, format_allowlist(merged, style)); !w)
        return tl::unexpected(w.error());
    return 0;
}

Outcome run_diff(const DiffArgs& a)
{
    auto left = load_input(a.a, a, true);
    if (!left)
        return tl::unexpected(left.error());
    auto right = load_input(a.b, a, true);
    if (!right)
        return tl::unexpected(right.error());
    print_problems(*left);
    print_problems(*right);
    const PathDiff d = diff_paths(exportable_paths(*left), exportable_paths(*right));
    const std::string out = format_diff(d);
    std::cout << out << std::flush;
    std::cerr << "trace-root: diff: " << d.added.size() << " added, " << d.removed.size()
              << " removed\n";
    return a.check && !d.empty() ? 1 : 0;
}

Outcome run_explain(const ExplainArgs& a)
{
    auto wanted = unescape_path(a.path);
    if (!wanted)
        return tl::unexpected(wanted.error());
    auto report = read_report(a.report);
    if (!report)
        return tl::unexpected(report.error());
    auto set = resolve_report(*report, resolve_options(a));
    if (!set)
        return tl::unexpected(set.error());
    auto root = RootDir::open(a.root);
    if (!root)
        return tl::unexpected(root.error());

    auto out = explain_path(*set, *root, *wanted);
    if (!out)
        return fail(out.error().message + " of " + a.report, out.error().hint);
    std::cout << *out << std::flush;
    return 0;
}

}  // namespace

void add_resolve_commands(CLI::App& app, Outcome& outcome)
{
    {
        auto a = std::make_shared<ListArgs>();
        auto* sub = app.add_subcommand("list", "Write the allow-list of a trace report");
        sub->add_option("report", a->report, "The JSON report (trace-root --report)")
            ->required();
        sub->add_option("-o,--output", a->output, "Write to FILE (atomically) instead of stdout");
        sub->add_flag("--annotated", a->annotated,
                      "Say after each path why it is there, and list what is not exported");
        add_resolve_options(sub, *a);
        sub->footer(std::string(kFormatHelp) + "\n" + include_packs_help());
        sub->callback([a, &outcome] { outcome = run_list(*a); });
    }
    {
        auto a = std::make_shared<MergeArgs>();
        auto* sub = app.add_subcommand(
            "merge", "Union of reports and allow-lists from several runs, as one allow-list");
        sub->add_option("inputs", a->inputs, "Reports (JSON) or allow-lists")->required();
        sub->add_option("-o,--output", a->output, "Write to FILE (atomically) instead of stdout");
        sub->add_flag("--annotated", a->annotated, "Say after each path why it is there");
        add_resolve_options(sub, *a);
        sub->callback([a, &outcome] { outcome = run_merge(*a); });
    }
    {
        auto a = std::make_shared<DiffArgs>();
        auto* sub = app.add_subcommand(
            "diff", "Paths added (+) and removed (-) from A to B (reports or allow-lists)");
        sub->add_option("a", a->a, "The old report or list")->required();
        sub->add_option("b", a->b, "The new report or list")->required();
        sub->add_flag("--check", a->check, "Exit 1 when they differ");
        add_resolve_options(sub, *a);
        sub->callback([a, &outcome] { outcome = run_diff(*a); });
    }
    {
        auto a = std::make_shared<ExplainArgs>();
        auto* sub = app.add_subcommand("explain", "Why PATH is in the file set of a report");
        sub->add_option("path", a->path, "The path, escaped as in an allow-list")->required();
        sub->add_option("report", a->report, "The JSON report")->required();
        add_resolve_options(sub, *a);
        sub->callback([a, &outcome] { outcome = run_explain(*a); });
    }
}

}  // namespace trace_root
