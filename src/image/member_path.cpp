// Checks on tar member paths and link targets: the first line of defence of
// the image reader (the second is openat2 RESOLVE_BENEATH on every write).
#include <string>
#include <vector>

#include "trace_root/escape.hpp"
#include "trace_root/image_read.hpp"

namespace trace_root {
namespace {

constexpr size_t kMaxPath = 4096;
constexpr size_t kMaxName = 255;

std::vector<std::string_view> split(std::string_view s)
{
    std::vector<std::string_view> out;
    size_t pos = 0;
    while (pos <= s.size()) {
        size_t end = s.find('/', pos);
        if (end == std::string_view::npos)
            end = s.size();
        out.push_back(s.substr(pos, end - pos));
        pos = end + 1;
    }
    return out;
}

}  // namespace

Result<std::string> normalize_member_path(std::string_view raw)
{
    const std::string shown = escape_path(raw);
    if (raw.empty())
        return fail("tar member with an empty name");
    if (raw.size() > kMaxPath)
        return fail("tar member " + shown.substr(0, 200) + "...: name longer than " +
                    std::to_string(kMaxPath) + " bytes");
    if (raw.find('\0') != std::string_view::npos)
        return fail("tar member " + shown + ": name holds a NUL byte");
    if (raw[0] == '/')
        return fail("tar member " + shown + ": absolute path; image members must be relative "
                                            "to the image root");
    std::string out;
    for (std::string_view comp : split(raw)) {
        if (comp.empty() || comp == ".")
            continue;
        if (comp == "..")
            return fail("tar member " + shown + ": holds a \"..\" component, which could "
                                                "reach outside the image root");
        if (comp.size() > kMaxName)
            return fail("tar member " + shown + ": a name component is longer than " +
                        std::to_string(kMaxName) + " bytes");
        if (!out.empty())
            out += '/';
        out.append(comp);
    }
    return out;
}

Result<void> check_symlink_target(std::string_view member, std::string_view target)
{
    const std::string shown = escape_path(member);
    if (target.empty())
        return fail("tar member " + shown + ": symlink with an empty target");
    if (target.size() > kMaxPath)
        return fail("tar member " + shown + ": symlink target longer than " +
                    std::to_string(kMaxPath) + " bytes");
    if (target.find('\0') != std::string_view::npos)
        return fail("tar member " + shown + ": symlink target holds a NUL byte");
    // Depth below the image root of the directory the target is resolved from.
    long depth = 0;
    if (target[0] != '/') {
        for (std::string_view comp : split(member))
            if (!comp.empty() && comp != ".")
                ++depth;
        --depth;  // the member's own name is not a directory to resolve from
        if (depth < 0)
            depth = 0;
    }
    for (std::string_view comp : split(target)) {
        if (comp.empty() || comp == ".")
            continue;
        if (comp == "..") {
            if (--depth < 0)
                return fail("tar member " + shown + ": symlink to " + escape_path(target) +
                            " climbs above the image root");
        } else {
            ++depth;
        }
    }
    return {};
}

}  // namespace trace_root
