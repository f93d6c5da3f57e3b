// Fuzzes the checking of export list paths (any bytes may arrive from a list
// or a report) and pins its invariants: an accepted path is absolute, has no
// empty, "." or ".." component, and normalising it again changes nothing.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "trace_root/export.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    auto n = trace_root::normalize_export_path(in);
    if (!n)
        return 0;
    const std::string& p = *n;
    if (p.empty() || p[0] != '/')
        abort();
    if (p != "/" && (p.back() == '/' || p.find("//") != std::string::npos ||
                     p.find("/./") != std::string::npos || p.ends_with("/.") ||
                     p.find("/../") != std::string::npos || p.ends_with("/..")))
        abort();
    auto again = trace_root::normalize_export_path(p);
    if (!again || *again != p)
        abort();
    (void)trace_root::is_runtime_path(p);
    return 0;
}
