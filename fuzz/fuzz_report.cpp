// Fuzzes the report reader (hostile JSON) and the path escaping, and pins
// their invariants: an accepted report writes back to JSON that reads as
// the same report, and every byte string escapes to valid UTF-8 without a
// newline and unescapes to itself.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "trace_root/escape.hpp"
#include "trace_root/report.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string in(reinterpret_cast<const char*>(data), size);

    const std::string escaped = trace_root::escape_path(in);
    if (!trace_root::is_valid_utf8(escaped) || escaped.find('\n') != std::string::npos)
        abort();
    if (in.find('\0') == std::string::npos) {
        auto back = trace_root::unescape_path(escaped);
        if (!back || *back != in)
            abort();
    }
    (void)trace_root::unescape_path(in);

    auto report = trace_root::report_from_json(in, "fuzz");
    if (report) {
        auto again = trace_root::report_from_json(trace_root::report_to_json(*report), "again");
        if (!again || again->paths.size() != report->paths.size())
            abort();
        for (size_t i = 0; i < report->paths.size(); ++i)
            if (again->paths[i].path != report->paths[i].path ||
                again->paths[i].access != report->paths[i].access)
                abort();
    }
    return 0;
}
