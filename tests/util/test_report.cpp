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
