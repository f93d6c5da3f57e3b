// libFuzzer target for the allow-list parser: any bytes must give rules or a
// clean error, never a crash; a parsed literal path must round-trip through
// the list escaping, and matching must not crash on any pattern and path.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "trace_root/allowlist.hpp"

using namespace trace_root;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    auto rules = parse_allowlist(text, "fuzz.list");
    if (!rules)
        return 0;
    for (const auto& r : *rules) {
        if (r.kind == ListRule::Kind::Include)
            continue;
        const Pattern& p = r.pattern;
        if (!p.has_wildcard()) {
            const std::string raw = p.literal_path();
            auto again = parse_pattern(escape_list_path(raw));
            if (!again || again->has_wildcard() || again->literal_path() != raw)
                abort();
            if (!pattern_matches(p, raw))
                abort();
        }
        (void)pattern_matches(p, r.pattern.text);
        (void)pattern_matches(p, "/usr/lib/x86_64-linux-gnu/libc.so.6");
    }
    return 0;
}
