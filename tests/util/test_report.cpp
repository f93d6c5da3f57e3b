#include <doctest/doctest.h>

#include "trace_root/report.hpp"

using namespace trace_root;

TEST_CASE("report JSON round-trips paths with newlines and invalid UTF-8")
{
    Report r;
    r.command = {"/bin/sh", "-c", "echo \xff"};
    r.exit_status = 3;
    r.loss.ringbuf_full = 2;
    PathEntry a;
    a.path = "/tmp/new\nline";
    a.access = kRead | kStat;
    a.first = {42, "sh", "/usr/bin/dash"};
    PathEntry b;
    b.path = "/tmp/bad\xfe\xff";
    b.access = kMissing;
    b.flags = kPathDeleted;
    r.paths = {a, b};
    const std::string text = report_to_json(r);
    auto back = report_from_json(text, "test");
    REQUIRE(back);
    REQUIRE(back->paths.size() == 2);
    CHECK(back->paths[0].path == "/tmp/bad\xfe\xff");
    CHECK(back->paths[0].flags == kPathDeleted);
    CHECK(back->paths[1].path == "/tmp/new\nline");
    CHECK(back->paths[1].access == (kRead | kStat));
    CHECK(back->paths[1].first.exe == "/usr/bin/dash");
    CHECK(back->command[2] == "echo \xff");
    CHECK(back->loss.ringbuf_full == 2);
    CHECK(back->exit_status == 3);
}

TEST_CASE("report reader names what is wrong")
{
    auto bad = report_from_json("{\"schema_version\": 99, \"paths\": []}", "r.json");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message.find("schema version 99") != std::string::npos);
    auto rel = report_from_json(
        R"({"schema_version":1,"command":[],"exit_status":0,"complete":true,)"
        R"("paths":[{"path":"relative","access":["read"]}]})",
        "r.json");
    REQUIRE_FALSE(rel);
    CHECK(rel.error().message.find("not absolute") != std::string::npos);
    CHECK_FALSE(report_from_json("not json", "r.json"));
    CHECK_FALSE(report_from_json(
        R"({"schema_version":1,"command":[],"exit_status":0,"complete":true,)"
        R"("paths":[{"path":"/a","access":["teleport"]}]})",
        "r.json"));
}

TEST_CASE("report writer: one line per path, quotes and backslashes survive")
{
    Report r;
    r.warnings = {"a \"quoted\" warning"};
    PathEntry a;
    a.path = "/tmp/quote\"back\\slash";
    a.access = kRead;
    a.count = 7;
    a.mode = 0100644;
    a.first = {7, "we\"ird\x01", "/bin/x\\y"};
    PathEntry b;
    b.path = "/tmp/plain";
    b.access = kStat | kMissing;
    b.flags = kPathPseudo | kPathUnreadable;
    r.paths = {b, a}; // sorted by path bytes, as the collector writes them
    const std::string text = report_to_json(r);
    // Each entry is one line of its own, so a diff of two reports is a
    // diff of paths.
    size_t entry_lines = 0, pos = 0;
    while ((pos = text.find("\n    {\"path\": ", pos)) != std::string::npos) {
        ++entry_lines;
        const size_t end = text.find('\n', pos + 1);
        REQUIRE(end != std::string::npos);
        CHECK(text.substr(pos + 1, end - pos - 1).find("\"first\": {") != std::string::npos);
        pos = end;
    }
    CHECK(entry_lines == 2);
    auto back = report_from_json(text, "test");
    REQUIRE(back);
    REQUIRE(back->paths.size() == 2);
    CHECK(back->paths[1].path == a.path);
    CHECK(back->paths[1].count == 7);
    CHECK(back->paths[1].mode == 0100644);
    CHECK(back->paths[1].first.comm == a.first.comm);
    CHECK(back->paths[1].first.exe == a.first.exe);
    CHECK(back->paths[0].flags == (kPathPseudo | kPathUnreadable));
    CHECK(back->paths[0].access == (kStat | kMissing));
    CHECK(back->warnings == r.warnings);

    Report empty;
    auto none = report_from_json(report_to_json(empty), "empty");
    REQUIRE(none);
    CHECK(none->paths.empty());
}
