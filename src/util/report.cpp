// JSON form of the trace report. Paths and other byte strings are stored in
// their escaped form (escape.hpp), which is always valid UTF-8, so
// nlohmann_json never sees invalid UTF-8 and every byte round-trips.
#include "trace_root/report.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "trace_root/escape.hpp"
#include "trace_root/fs_util.hpp"

namespace trace_root {

using nlohmann::json;

namespace {

constexpr std::array<const char*, 12> kAccessNames = {
    "read", "write", "exec", "mmap", "stat", "readlink",
    "listdir", "missing", "created", "removed", "chdir", "interp"};
constexpr std::array<const char*, 5> kFlagNames = {
    "truncated", "deleted", "pseudo", "outside_root", "unreadable"};

template <size_t N>
std::vector<std::string> bit_names(uint32_t bits, const std::array<const char*, N>& names)
{
    std::vector<std::string> out;
    for (size_t i = 0; i < N; ++i)
        if (bits & (1u << i))
            out.emplace_back(names[i]);
    return out;
}

template <size_t N>
Result<uint32_t> bits_from_names(const std::vector<std::string>& in,
                                 const std::array<const char*, N>& names, const char* what)
{
    uint32_t bits = 0;
    for (const auto& name : in) {
        auto it = std::find_if(names.begin(), names.end(),
                               [&](const char* n) { return name == n; });
        if (it == names.end())
            return fail(std::string("unknown ") + what + " \"" + escape_path(name) + "\"");
        bits |= 1u << (it - names.begin());
    }
    return bits;
}

// Typed access to a JSON object member, with an error naming the field.
struct Reader {
    const std::string& origin;
    std::string error;

    template <typename T>
    bool get(const json& obj, const char* key, T& out, bool required = true)
    {
        if (!error.empty())
            return false;
        auto it = obj.find(key);
        if (it == obj.end()) {
            if (required)
                error = origin + ": missing field \"" + key + "\"";
            return false;
        }
        try {
            out = it->template get<T>();
        } catch (const json::exception&) {
            error = origin + ": field \"" + key + "\" has the wrong type";
            return false;
        }
        return true;
    }

    bool path(const json& obj, const char* key, std::string& out, bool required = true)
    {
        std::string escaped;
        if (!get(obj, key, escaped, required))
            return false;
        auto raw = unescape_path(escaped);
        if (!raw) {
            error = origin + ": field \"" + key + "\": " + raw.error().message;
            return false;
        }
        out = std::move(*raw);
        return true;
    }
};

}  // namespace

std::vector<std::string> access_names(uint32_t access) { return bit_names(access, kAccessNames); }
Result<uint32_t> access_from_names(const std::vector<std::string>& names)
{
    return bits_from_names(names, kAccessNames, "access kind");
}
std::vector<std::string> path_flag_names(uint32_t flags) { return bit_names(flags, kFlagNames); }
Result<uint32_t> path_flags_from_names(const std::vector<std::string>& names)
{
    return bits_from_names(names, kFlagNames, "path flag");
}

namespace {

// Appends `s` as a JSON string. Every caller passes escape_path() output,
// which is valid UTF-8 holding no control byte, so only the quote and the
// backslash need escaping; a control byte is escaped anyway, so the output
// is valid JSON whatever the input.
void append_json_string(std::string& out, std::string_view s)
{
    static constexpr char digits[] = "0123456789abcdef";
    out += '"';
    size_t plain = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        const auto b = static_cast<uint8_t>(s[i]);
        if (b != '"' && b != '\\' && b >= 0x20)
            continue;
        out.append(s.substr(plain, i - plain));
        if (b == '"' || b == '\\') {
            out += '\\';
            out += static_cast<char>(b);
        } else {
            out += "\\u00";
            out += digits[b >> 4];
            out += digits[b & 0xf];
        }
        plain = i + 1;
    }
    out.append(s.substr(plain));
    out += '"';
}

template <size_t N>
void append_names(std::string& out, uint32_t bits, const std::array<const char*, N>& names)
{
    out += '[';
    bool first = true;
    for (size_t i = 0; i < N; ++i) {
        if (!(bits & (1u << i)))
            continue;
        if (!first)
            out += ", ";
        first = false;
        out += '"';
        out += names[i];
        out += '"';
    }
    out += ']';
}

// One path entry, on one line: a report stays a line per path, so a diff
// of two reports reads like a diff of two allow-lists.
void append_path_entry(std::string& out, const PathEntry& p)
{
    out += "    {\"path\": ";
    append_json_string(out, escape_path(p.path));
    out += ", \"access\": ";
    append_names(out, p.access, kAccessNames);
    if (p.flags) {
        out += ", \"flags\": ";
        append_names(out, p.flags, kFlagNames);
    }
    out += ", \"count\": ";
    out += std::to_string(p.count);
    if (p.mode) {
        out += ", \"mode\": ";
        out += std::to_string(p.mode);
    }
    out += ", \"first\": {\"pid\": ";
    out += std::to_string(p.first.pid);
    out += ", \"comm\": ";
    append_json_string(out, escape_path(p.first.comm));
    out += ", \"exe\": ";
    append_json_string(out, escape_path(p.first.exe));
    out += "}}";
}

}  // namespace

// The header fields go through nlohmann_json. The path entries, which are
// nearly all of a report, are written directly: as a json DOM they cost
// some twenty allocations each, and for 10,000 paths building and dumping
// the DOM took 60 to 75 ms, a tenth of the tracer's whole overhead on the
// open-heavy benchmark (bench/bench_report.cpp times this writer against
// dumping an already built DOM, which alone is slower). The
// fuzz target fuzz_report checks that what is written reads back the same.
std::string report_to_json(const Report& r)
{
    json j;
    j["schema_version"] = r.schema_version;
    j["path_encoding"] = "trace-root-escape-v1";
    json cmd = json::array();
    for (const auto& a : r.command)
        cmd.push_back(escape_path(a));
    j["command"] = cmd;
    j["cwd"] = escape_path(r.cwd);
    j["exit_status"] = r.exit_status;
    j["duration_seconds"] = r.duration_seconds;
    j["complete"] = r.complete;
    j["incomplete_reasons"] = r.incomplete_reasons;
    j["events"] = r.events;
    j["processes"] = r.processes;
    j["loss"] = {{"ringbuf_full", r.loss.ringbuf_full},
                 {"process_map_full", r.loss.process_map_full},
                 {"path_truncated", r.loss.path_truncated},
                 {"name_unreadable", r.loss.name_unreadable},
                 {"dedup_insert_failed", r.loss.dedup_insert_failed},
                 {"emit_failed", r.loss.emit_failed},
                 {"total", r.loss.total()}};
    j["warnings"] = r.warnings;
    std::string out = j.dump(2);
    // `out` is "{\n  ...\n}": reopen it for the paths, the last member.
    out.resize(out.size() - 2);
    out += ",\n  \"paths\": [";
    out.reserve(out.size() + r.paths.size() * 160);
    for (size_t i = 0; i < r.paths.size(); ++i) {
        out += i ? ",\n" : "\n";
        append_path_entry(out, r.paths[i]);
    }
    out += r.paths.empty() ? "]\n}\n" : "\n  ]\n}\n";
    return out;
}

Result<Report> report_from_json(const std::string& text, const std::string& origin)
{
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        return fail(origin + ": not a valid JSON report: " + e.what());
    }
    if (!j.is_object())
        return fail(origin + ": not a trace-root report (the top level is not an object)");
    Reader rd{origin, {}};
    Report r;
    rd.get(j, "schema_version", r.schema_version);
    if (rd.error.empty() && r.schema_version != kReportSchemaVersion)
        return fail(origin + ": report schema version " + std::to_string(r.schema_version) +
                    " is not supported (this trace-root reads version " +
                    std::to_string(kReportSchemaVersion) + ")");
    std::vector<std::string> cmd;
    rd.get(j, "command", cmd);
    for (const auto& a : cmd) {
        auto raw = unescape_path(a);
        if (!raw)
            return fail(origin + ": field \"command\": " + raw.error().message);
        r.command.push_back(*raw);
    }
    rd.path(j, "cwd", r.cwd, false);
    rd.get(j, "exit_status", r.exit_status);
    rd.get(j, "duration_seconds", r.duration_seconds, false);
    rd.get(j, "complete", r.complete);
    rd.get(j, "incomplete_reasons", r.incomplete_reasons, false);
    rd.get(j, "events", r.events, false);
    rd.get(j, "processes", r.processes, false);
    rd.get(j, "warnings", r.warnings, false);
    if (auto it = j.find("loss"); it != j.end() && it->is_object()) {
        rd.get(*it, "ringbuf_full", r.loss.ringbuf_full, false);
        rd.get(*it, "process_map_full", r.loss.process_map_full, false);
        rd.get(*it, "path_truncated", r.loss.path_truncated, false);
        rd.get(*it, "name_unreadable", r.loss.name_unreadable, false);
        rd.get(*it, "dedup_insert_failed", r.loss.dedup_insert_failed, false);
        rd.get(*it, "emit_failed", r.loss.emit_failed, false);
    }
    auto pit = j.find("paths");
    if (rd.error.empty() && (pit == j.end() || !pit->is_array()))
        return fail(origin + ": missing array \"paths\"");
    if (!rd.error.empty())
        return fail(rd.error);
    for (const auto& e : *pit) {
        if (!e.is_object())
            return fail(origin + ": an entry of \"paths\" is not an object");
        PathEntry p;
        std::vector<std::string> access, flags;
        rd.path(e, "path", p.path);
        rd.get(e, "access", access);
        rd.get(e, "flags", flags, false);
        rd.get(e, "count", p.count, false);
        rd.get(e, "mode", p.mode, false);
        if (auto f = e.find("first"); f != e.end() && f->is_object()) {
            rd.get(*f, "pid", p.first.pid, false);
            rd.path(*f, "comm", p.first.comm, false);
            rd.path(*f, "exe", p.first.exe, false);
        }
        if (!rd.error.empty())
            return fail(rd.error);
        if (p.path.empty() || p.path[0] != '/')
            return fail(origin + ": path \"" + escape_path(p.path) + "\" is not absolute");
        auto a = access_from_names(access);
        if (!a)
            return fail(origin + ": " + a.error().message);
        auto fl = path_flags_from_names(flags);
        if (!fl)
            return fail(origin + ": " + fl.error().message);
        p.access = *a;
        p.flags = *fl;
        r.paths.push_back(std::move(p));
    }
    std::sort(r.paths.begin(), r.paths.end(),
              [](const PathEntry& a, const PathEntry& b) { return a.path < b.path; });
    for (size_t i = 1; i < r.paths.size(); ++i)
        if (r.paths[i].path == r.paths[i - 1].path)
            return fail(origin + ": path \"" + escape_path(r.paths[i].path) +
                        "\" appears twice");
    return r;
}

Result<Report> read_report(const std::string& file)
{
    auto text = read_file(file);
    if (!text)
        return tl::unexpected(text.error());
    return report_from_json(*text, file);
}

Result<void> write_report(const Report& report, const std::string& file)
{
    return write_file_atomic(file, report_to_json(report));
}

}  // namespace trace_root
