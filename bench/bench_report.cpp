// Report writing and reading speed, on a synthetic report shaped like the
// open-heavy benchmark's (N paths under one directory, one process).
// Prints milliseconds and, as the ratio, what dumping the same report as a
// nlohmann_json DOM costs against trace-root's writer (report.cpp says why
// path entries are written directly).
//
// Usage: bench_report [N]   (default 10000)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "trace_root/report.hpp"

using namespace trace_root;

namespace {

template <typename F>
double best_ms(F&& f)
{
    double best = 1e18;
    for (int i = 0; i < 5; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        f();
        const auto t1 = std::chrono::steady_clock::now();
        best = std::min(best, std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    return best;
}

}  // namespace

int main(int argc, char** argv)
{
    const int n = argc > 1 ? std::atoi(argv[1]) : 10000;
    Report r;
    r.command = {"/var/tmp/trace-root-bench/openloop", "files", "10000", "15"};
    for (int i = 0; i < n; ++i) {
        PathEntry e;
        char name[64];
        std::snprintf(name, sizeof name, "/var/tmp/trace-root-bench/files/f%05d", i);
        e.path = name;
        e.access = kRead | kStat;
        e.count = 3;
        e.mode = 0100644;
        e.first = {4242, "openloop", "/var/tmp/trace-root-bench/openloop"};
        r.paths.push_back(std::move(e));
    }
    std::string text;
    const double write_ms = best_ms([&] { text = report_to_json(r); });
    size_t parsed = 0;
    const double read_ms = best_ms([&] {
        auto back = report_from_json(text, "bench");
        parsed = back ? back->paths.size() : 0;
    });
    const nlohmann::json dom = nlohmann::json::parse(text);
    std::string dumped;
    const double dom_ms = best_ms([&] { dumped = dom.dump(2); });
    if (parsed != r.paths.size()) {
        std::fprintf(stderr, "bench_report: the report did not read back (%zu of %zu paths)\n",
                     parsed, r.paths.size());
        return 1;
    }
    std::printf("report of %d paths (%zu bytes): write %.1f ms, read %.1f ms\n", n, text.size(),
                write_ms, read_ms);
    std::printf("dumping it as a json DOM (tree already built): %.1f ms (x%.1f the writer)\n",
                dom_ms, dom_ms / write_ms);
    return 0;
}
