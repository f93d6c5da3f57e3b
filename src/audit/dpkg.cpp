// Parsers of the dpkg database an image carries: var/lib/dpkg/status and the
// per-package file lists var/lib/dpkg/info/PKG.list. Both are outside input
// (an image can hold anything there), so every read is bounds-checked and
// every malformed line is an error naming the file and the line.
#include <algorithm>
#include <array>

#include "trace_root/audit.hpp"
#include "trace_root/escape.hpp"

namespace trace_root {

namespace {

constexpr size_t kMaxStatusBytes = size_t(256) << 20;
constexpr size_t kMaxListBytes = size_t(64) << 20;
constexpr size_t kMaxPathBytes = 4096;

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

// Splits off the next line (without its '\n'); false at the end.
bool next_line(std::string_view& text, std::string_view& line)
{
    if (text.empty())
        return false;
    const size_t nl = text.find('\n');
    line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    return true;
}

std::string where(const std::string& origin, size_t line_no)
{
    return escape_path(origin) + ":" + std::to_string(line_no);
}

}  // namespace

bool DpkgPackage::installed() const
{
    // "want flag state": only these states leave the package's files on disk.
    static constexpr std::array<std::string_view, 6> kWithFiles = {
        "installed", "half-configured", "unpacked", "half-installed", "triggers-awaited",
        "triggers-pending"};
    const size_t sp = status.rfind(' ');
    const std::string_view all = status;
    const std::string_view state = sp == std::string::npos ? all : all.substr(sp + 1);
    return std::find(kWithFiles.begin(), kWithFiles.end(), state) != kWithFiles.end();
}

Result<std::vector<DpkgPackage>> parse_dpkg_status(std::string_view text,
                                                   const std::string& origin)
{
    if (text.size() > kMaxStatusBytes)
        return fail(escape_path(origin) + ": " + std::to_string(text.size()) +
                    " bytes is more than a dpkg status file may hold here (256 MiB)");
    std::vector<DpkgPackage> out;
    DpkgPackage cur;
    bool in_stanza = false;
    size_t stanza_line = 0, line_no = 0;
    auto finish = [&]() -> Result<void> {
        if (!in_stanza)
            return {};
        if (cur.name.empty())
            return fail(where(origin, stanza_line) + ": a dpkg status stanza without a Package "
                                                     "field");
        out.push_back(std::move(cur));
        cur = DpkgPackage{};
        in_stanza = false;
        return {};
    };
    std::string_view line;
    while (next_line(text, line)) {
        ++line_no;
        if (line.find('\0') != std::string_view::npos)
            return fail(where(origin, line_no) + ": a NUL byte in the dpkg status file");
        if (trim(line).empty()) {
            if (auto f = finish(); !f)
                return tl::unexpected(f.error());
            continue;
        }
        if (line.front() == ' ' || line.front() == '\t') {
            if (!in_stanza)
                return fail(where(origin, line_no) + ": a continuation line outside a stanza");
            continue;  // part of a multi-line field (Description, Conffiles): not needed
        }
        const size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0)
            return fail(where(origin, line_no) + ": not a \"Field: value\" line");
        if (!in_stanza) {
            in_stanza = true;
            stanza_line = line_no;
        }
        const std::string_view field = line.substr(0, colon);
        const std::string_view value = trim(line.substr(colon + 1));
        if (field == "Package")
            cur.name = std::string(value);
        else if (field == "Version")
            cur.version = std::string(value);
        else if (field == "Architecture")
            cur.architecture = std::string(value);
        else if (field == "Status")
            cur.status = std::string(value);
    }
    if (auto f = finish(); !f)
        return tl::unexpected(f.error());
    return out;
}

Result<std::vector<std::string>> parse_dpkg_list(std::string_view text, const std::string& origin)
{
    if (text.size() > kMaxListBytes)
        return fail(escape_path(origin) + ": " + std::to_string(text.size()) +
                    " bytes is more than a dpkg file list may hold here (64 MiB)");
    std::vector<std::string> out;
    size_t line_no = 0;
    std::string_view line;
    while (next_line(text, line)) {
        ++line_no;
        if (line.empty())
            continue;
        if (line.find('\0') != std::string_view::npos)
            return fail(where(origin, line_no) + ": a NUL byte in a dpkg file list");
        if (line.front() != '/')
            return fail(where(origin, line_no) + ": not an absolute path: " + escape_path(line));
        if (line.size() > kMaxPathBytes)
            return fail(where(origin, line_no) + ": a path longer than 4096 bytes");
        if (line == "/.")
            continue;
        out.emplace_back(line);
    }
    return out;
}

}  // namespace trace_root
