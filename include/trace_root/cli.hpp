// How each stage plugs its subcommands into the trace-root command line.
//
// Each stage provides one add_*_commands() function. It adds its CLI11
// subcommands to `app`; when one of them runs, its callback stores the exit
// status (or the error) in `outcome`. main() prints an error once, as
// "trace-root: error: ...", and exits with the status.
#pragma once

#include <CLI/CLI.hpp>

#include "trace_root/error.hpp"
#include "trace_root/resolve.hpp"

namespace trace_root {

using Outcome = Result<int>;

void add_resolve_commands(CLI::App& app, Outcome& outcome);  // list, merge, diff, explain
void add_export_commands(CLI::App& app, Outcome& outcome);   // export
void add_verify_commands(CLI::App& app, Outcome& outcome);   // verify
void add_image_commands(CLI::App& app, Outcome& outcome);    // image
void add_audit_commands(CLI::App& app, Outcome& outcome);    // audit

// What the commands that resolve a trace (the main command, list, merge,
// export) do with the paths that could not be resolved.
enum class ProblemPolicy { Fail, Accept };

// Prints every problem of `set` on stderr, one "trace-root: problem: ..." a line.
void print_problems(const FileSet& set);

// print_problems(), then, with Fail and any problem, an error: "N problem(s)
// resolving WHAT; NOT_DONE" with the hint to pass --accept-problems to ANYWAY.
Result<void> check_problems(const FileSet& set, ProblemPolicy policy, const std::string& what,
                            const std::string& not_done, const std::string& anyway);

}  // namespace trace_root
