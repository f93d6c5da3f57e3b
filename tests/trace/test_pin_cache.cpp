// Integration tests of the pinned-program cache (src/trace/pin_cache.hpp):
// runs of the real trace-root through the real kernel that reuse, skip or
// refuse the programs an earlier run kept in /sys/fs/bpf/trace-root. They
// need root, as CI has, and run one at a time (they remove the cache).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "../support/run.hpp"
#include "trace_root/report.hpp"

using namespace trace_root;
using namespace trace_root::testing;
namespace fs = std::filesystem;

namespace {

const std::string kTraceRoot = TRACE_ROOT_BIN;
const std::string kCache = "/sys/fs/bpf/trace-root";
const std::string kFixtures = FIXTURE_DIR;

struct Traced {
    RunResult run;
    Report report;
};

Traced trace(const std::string& report_file, std::vector<std::string> options,
             std::vector<std::string> command)
{
    std::vector<std::string> argv = {kTraceRoot, "-v", "--report", report_file};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    Traced t;
    t.run = run(argv);
    if (auto report = read_report(report_file))
        t.report = std::move(*report);
    return t;
}

bool has(const Report& r, const std::string& path, uint32_t access)
{
    return std::any_of(r.paths.begin(), r.paths.end(), [&](const PathEntry& e) {
        return e.path == path && (e.access & access) == access;
    });
}

bool mentions(const Report& r, const std::string& part)
{
    return std::any_of(r.paths.begin(), r.paths.end(),
                       [&](const PathEntry& e) { return e.path.find(part) != std::string::npos; });
}

std::set<std::string> paths(const Report& r)
{
    std::set<std::string> s;
    for (const auto& e : r.paths)
        s.insert(e.path);
    return s;
}

bool contains(const std::string& text, const std::string& part)
{
    return text.find(part) != std::string::npos;
}

// Waits up to 10 s for `path` to exist.
bool wait_for(const std::string& path)
{
    for (int i = 0; i < 1000; ++i) {
        if (fs::exists(path))
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

// Starts trace-root in the background, its stderr into `err_file`.
pid_t start(const std::vector<std::string>& args, const std::string& err_file)
{
    const pid_t pid = fork();
    if (pid == 0) {
        const int fd = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int null_fd = open("/dev/null", O_RDWR);
        dup2(null_fd, 0);
        dup2(null_fd, 1);
        dup2(fd, 2);
        std::vector<char*> argv;
        argv.push_back(const_cast<char*>(kTraceRoot.c_str()));
        for (const auto& a : args)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(kTraceRoot.c_str(), argv.data());
        _exit(127);
    }
    return pid;
}

// Kills and reaps a background trace-root, unless it was reaped already.
struct Reap {
    pid_t pid;
    ~Reap()
    {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    }
};

// Makes sure the cache holds programs, as a previous run leaves them.
void warm_up()
{
    TempDir tmp;
    auto r = run({kTraceRoot, "-q", "--", "/bin/true"});
    REQUIRE(r.exit_status == 0);
}

}  // namespace

TEST_CASE("a later run reuses the programs an earlier run pinned, and traces the same")
{
    TempDir tmp;
    write_text(tmp / "stat_me", "x");
    const std::vector<std::string> command = {
        "/bin/sh", "-c", "test -e '" + (tmp / "stat_me") + "' && ! test -e '" + (tmp / "no") + "'"};

    fs::remove_all(kCache);
    auto first = trace(tmp / "first.json", {}, command);
    INFO(first.run.err);
    REQUIRE(first.run.exit_status == 0);
    CHECK(contains(first.run.err, "none reused: none pinned for this build"));
    CHECK(contains(first.run.err, "pinned the programs at " + kCache + "/"));

    auto second = trace(tmp / "second.json", {}, command);
    INFO(second.run.err);
    REQUIRE(second.run.exit_status == 0);
    CHECK(contains(second.run.err, "reused the programs pinned at " + kCache + "/"));
    CHECK_FALSE(contains(second.run.err, "verifier"));

    auto cold = trace(tmp / "cold.json", {"--no-pin"}, command);
    INFO(cold.run.err);
    REQUIRE(cold.run.exit_status == 0);
    CHECK(contains(cold.run.err, "none reused: --no-pin"));

    for (const Traced* t : {&first, &second, &cold}) {
        CHECK(has(t->report, tmp / "stat_me", kStat));
        CHECK(has(t->report, tmp / "no", kMissing));
        CHECK(t->report.loss.total() == 0);
        CHECK(t->report.complete);
    }
    CHECK(paths(first.report) == paths(second.report));
    CHECK(paths(first.report) == paths(cold.report));
}

TEST_CASE("--no-pin leaves nothing in /sys/fs/bpf, and a run without it keeps whole programs")
{
    fs::remove_all(kCache);
    auto r = run({kTraceRoot, "-q", "--no-pin", "--", "/bin/true"});
    REQUIRE(r.exit_status == 0);
    CHECK_FALSE(fs::exists(kCache));

    r = run({kTraceRoot, "-q", "--", "/bin/true"});
    REQUIRE(r.exit_status == 0);
    REQUIRE(fs::is_directory(kCache));
    CHECK((fs::status(kCache).permissions() & fs::perms::all) == fs::perms::owner_all);
    std::vector<fs::path> keys(fs::directory_iterator(kCache), fs::directory_iterator{});
    REQUIRE(keys.size() == 1);
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(keys[0]))
        names.insert(e.path().filename());
    CHECK(names == std::set<std::string>{"map_compat_seen", "map_counters", "map_emitters",
                                         "map_events", "map_run_config", "map_traced",
                                         "tp_sched_process_exec", "tp_sched_process_exit",
                                         "tp_sched_process_fork", "tp_sys_exit"});
}

TEST_CASE("a run killed with SIGKILL leaves nothing the next run reports")
{
    // The killed run's workload leaves a process behind that keeps looking
    // up new names: it stays in the pinned traced set, and its last lookups
    // stay in the pinned ring buffer, records nobody read. The next run
    // must drop both.
    TempDir tmp;
    warm_up();
    const std::string marker = tmp / "stale-marker";
    const std::string started = tmp / "started";
    const pid_t killed = start(
        {"-q", "--report", tmp / "killed.json", "--", "/bin/sh", "-c",
         "setsid /bin/sh -c 'touch " + started + "; i=0; while :; do test -e " + marker +
             "$i; i=$((i+1)); done' </dev/null >/dev/null 2>&1 & exec sleep 60"},
        tmp / "killed.err");
    Reap reap_killed{killed};
    struct KillLoop {
        std::string marker;
        ~KillLoop() { run({"/usr/bin/pkill", "-KILL", "-f", marker}); }
    } kill_loop{marker};
    REQUIRE(wait_for(started));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    kill(killed, SIGKILL);
    waitpid(killed, nullptr, 0);
    reap_killed.pid = -1;

    auto next = trace(tmp / "next.json", {}, {"/bin/cat", "/etc/hostname"});
    INFO(next.run.err);
    REQUIRE(next.run.exit_status == 0);
    CHECK(contains(next.run.err, "reused the programs pinned at"));
    CHECK(has(next.report, "/etc/hostname", kRead));
    CHECK_FALSE(mentions(next.report, "stale-marker"));
    CHECK(next.report.processes == 1);
    CHECK(next.report.loss.total() == 0);
}

TEST_CASE("a run while another uses the pinned programs loads its own, and each sees only its "
          "own tree")
{
    TempDir tmp;
    warm_up();
    const std::string a_started = tmp / "a-started", go = tmp / "go";
    const pid_t a = start({"-v", "--report", tmp / "a.json", "--", "/bin/sh", "-c",
                           "test -e " + (tmp / "a-early") + "; touch " + a_started +
                               "; while ! test -e " + go + "; do sleep 0.01; done; test -e " +
                               (tmp / "a-late")},
                          tmp / "a.err");
    Reap reap_a{a};
    REQUIRE(wait_for(a_started));

    auto b = trace(tmp / "b.json", {}, {"/bin/sh", "-c", "! test -e " + (tmp / "b-only")});
    INFO(b.run.err);
    REQUIRE(b.run.exit_status == 0);
    CHECK(contains(b.run.err, "none reused: another trace-root is using " + kCache));
    CHECK(has(b.report, tmp / "b-only", kMissing));
    CHECK_FALSE(mentions(b.report, "a-early"));
    CHECK_FALSE(mentions(b.report, "a-late"));

    write_text(go, "");
    int status = 0;
    REQUIRE(waitpid(a, &status, 0) == a);
    reap_a.pid = -1;
    CHECK(WIFEXITED(status));
    auto a_report = read_report(tmp / "a.json");
    REQUIRE(a_report);
    CHECK(has(*a_report, tmp / "a-early", kMissing));
    CHECK(has(*a_report, tmp / "a-late", kMissing));
    CHECK_FALSE(mentions(*a_report, "b-only"));
    CHECK(a_report->loss.total() == 0);
}

TEST_CASE("the dedup table an earlier run filled does not make a later run send repeats")
{
    // The pinned table keeps the tags of every run before. The first run
    // leaves more of them than the table has ways (131,072), so most of
    // its sets are full; in the second, 20,000 new names looked up three
    // times must still arrive about once each, not evict each other.
    TempDir tmp;
    warm_up();
    // Only the tags it leaves matter, so a lost event would not spoil it.
    auto fill = trace(tmp / "fill.json", {"--accept-incomplete"},
                      {kFixtures + "/fx_stat_many", tmp / "a", "150000", "1"});
    INFO(fill.run.err);
    REQUIRE(fill.run.exit_status == 0);
    CHECK(contains(fill.run.err, "reused the programs pinned at"));

    auto t = trace(tmp / "t.json", {}, {kFixtures + "/fx_stat_many", tmp / "b", "20000", "3"});
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    CHECK(contains(t.run.err, "reused the programs pinned at"));
    CHECK(t.report.loss.total() == 0);
    size_t names = 0;
    for (const auto& e : t.report.paths)
        names += e.path.rfind(tmp / "b/n", 0) == 0 && (e.access & kMissing) ? 1 : 0;
    CHECK(names == 20000);
    // 20,000 first lookups and a few dozen events of the process itself;
    // the evictions of a table full of old tags sent about three times as
    // many.
    CHECK(t.report.events < 21000);
}

TEST_CASE("a cache directory somebody else owns is not used, and the user is told")
{
    warm_up();
    REQUIRE(chown(kCache.c_str(), 65534, 65534) == 0);
    auto r = run({kTraceRoot, "--", "/bin/true"});
    fs::remove_all(kCache);
    INFO(r.err);
    CHECK(r.exit_status == 0);
    CHECK(contains(r.err, "warning: " + kCache + " belongs to uid 65534"));
    CHECK(contains(r.err, "rm -r " + kCache));
}
