// The one way the commands report paths that could not be resolved.
#include <iostream>

#include "trace_root/cli.hpp"
#include "trace_root/escape.hpp"

namespace trace_root {

void print_problems(const FileSet& set)
{
    for (const auto& p : set.problems)
        std::cerr << "trace-root: problem: " << escape_path(p) << "\n";
}

Result<void> check_problems(const FileSet& set, ProblemPolicy policy, const std::string& what,
                            const std::string& not_done, const std::string& anyway)
{
    print_problems(set);
    if (set.problems.empty() || policy == ProblemPolicy::Accept)
        return {};
    return fail(std::to_string(set.problems.size()) + " problem(s) resolving " + what + "; " +
                    not_done,
                "fix them, or pass --accept-problems to " + anyway + " anyway");
}

}  // namespace trace_root
