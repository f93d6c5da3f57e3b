// How each stage plugs its subcommands into the trace-root command line.
//
// Each stage provides one add_*_commands() function. It adds its CLI11
// subcommands to `app`; when one of them runs, its callback stores the exit
// status (or the error) in `outcome`. main() prints an error once, as
// "trace-root: error: ...", and exits with the status.
#pragma once

#include <CLI/CLI.hpp>

#include "trace_root/error.hpp"

namespace trace_root {

using Outcome = Result<int>;

void add_resolve_commands(CLI::App& app, Outcome& outcome);  // list, merge, diff, explain
void add_export_commands(CLI::App& app, Outcome& outcome);   // export
void add_verify_commands(CLI::App& app, Outcome& outcome);   // verify
void add_image_commands(CLI::App& app, Outcome& outcome);    // image
void add_audit_commands(CLI::App& app, Outcome& outcome);    // audit

}  // namespace trace_root
