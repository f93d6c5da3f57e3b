// Fuzz target: the dpkg database parsers audit reads from an image.
//
// The first byte picks the parser: even, parse_dpkg_status(); odd,
// parse_dpkg_list(). Invariants checked beyond "no crash, no sanitizer
// report": every package parsed has a name without a newline, and every
// listed path is absolute, holds no NUL or newline, and is at most 4096 bytes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "trace_root/audit.hpp"

using namespace trace_root;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size == 0)
        return 0;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] % 2 == 0) {
        auto pkgs = parse_dpkg_status(text, "fuzz/status");
        if (pkgs)
            for (const auto& p : *pkgs) {
                if (p.name.empty() || p.name.find('\n') != std::string::npos)
                    std::abort();
                (void)p.installed();
            }
    } else {
        auto paths = parse_dpkg_list(text, "fuzz/info.list");
        if (paths)
            for (const auto& p : *paths)
                if (p.empty() || p[0] != '/' || p.size() > 4096 ||
                    p.find('\0') != std::string::npos || p.find('\n') != std::string::npos)
                    std::abort();
    }
    return 0;
}
