// Stress: 8 parallel workers start many short-lived processes that
// together open 80,000 distinct files. The report must contain every one,
// or trace-root must exit non-zero and say how many events it lost: never
// silently short.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "../support/run.hpp"
#include "trace_root/report.hpp"

using namespace trace_root;
using namespace trace_root::testing;
namespace fs = std::filesystem;

TEST_CASE("80,000 files opened by 8 parallel workers are all in the report, or loss is reported")
{
    TempDir tmp;
    constexpr int kWorkers = 8, kDirs = 80, kPerDir = 1000;
    std::vector<std::string> expected;
    int create_failures = 0;
    for (int d = 0; d < kDirs; ++d) {
        const std::string dir = tmp / ("d" + std::to_string(d));
        fs::create_directories(dir);
        for (int f = 0; f < kPerDir; ++f) {
            const std::string path = dir + "/f" + std::to_string(f);
            const int fd = open(path.c_str(), O_WRONLY | O_CREAT, 0644);
            create_failures += fd < 0;
            close(fd);
            expected.push_back(path);
        }
    }
    REQUIRE(create_failures == 0);
    // Each worker takes every 8th directory and opens its files with many
    // short-lived cat processes, writing down what it opened.
    std::string script;
    for (int w = 0; w < kWorkers; ++w) {
        script += "( for d in $(seq " + std::to_string(w) + " " + std::to_string(kWorkers) + " " +
                  std::to_string(kDirs - 1) + "); do ls -d " + tmp.path() +
                  "/d$d/* | xargs -n 50 cat; ls -d " + tmp.path() + "/d$d/* >> " + tmp.path() +
                  "/opened." + std::to_string(w) + "; done ) & ";
    }
    script += "wait";
    const std::string report_file = tmp / "report.json";
    auto r = run({TRACE_ROOT_BIN, "--report", report_file, "--", "/bin/sh", "-c", script});
    INFO(r.err);
    auto report = read_report(report_file);
    REQUIRE(report);

    std::set<std::string> opened_by_workers;
    for (int w = 0; w < kWorkers; ++w) {
        std::ifstream in(tmp / ("opened." + std::to_string(w)));
        for (std::string line; std::getline(in, line);)
            opened_by_workers.insert(line);
    }
    REQUIRE(opened_by_workers.size() == expected.size());

    std::set<std::string> read_in_report;
    for (const auto& p : report->paths)
        if (p.access & kRead)
            read_in_report.insert(p.path);
    size_t missing = 0;
    for (const auto& path : opened_by_workers)
        missing += read_in_report.count(path) == 0;

    if (report->loss.total() == 0) {
        CHECK(r.exit_status == 0);
        CHECK(missing == 0);
        CHECK(report->complete);
    } else {
        // Loss is allowed only when it is said: non-zero exit, a message.
        CHECK(r.exit_status != 0);
        CHECK(r.err.find("lost") != std::string::npos);
        CHECK_FALSE(report->complete);
    }
    MESSAGE("events " << report->events << ", lost " << report->loss.total() << ", missing "
                      << missing);
}
