// JSON form of the trace report. Paths and other byte strings are stored in
// their escaped form (escape.hpp), which is always valid UTF-8, so
// nlohmann_json never sees invalid UTF-8 and every byte round-trips.
#include "trace_root/report.hpp"

#include <algorithm>
#include <array>

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
                 {"total", r.loss.total()}};
    j["warnings"] = r.warnings;
    json paths = json::array();
    for (const auto& p : r.paths) {
        json e;
        e["path"] = escape_path(p.path);
        e["access"] = access_names(p.access);
        if (p.flags)
            e["flags"] = path_flag_names(p.flags);
        e["count"] = p.count;
        if (p.mode)
            e["mode"] = p.mode;
        e["first"] = {{"pid", p.first.pid},
                      {"comm", escape_path(p.first.comm)},
                      {"exe", escape_path(p.first.exe)}};
        paths.push_back(std::move(e));
    }
    j["paths"] = std::move(paths);
    return j.dump(2) + "\n";
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
