// Integration tests of the tracer: each traces a real fixture program
// through the real kernel and asserts the exact absolute paths in the
// report. They need root (to load BPF), as CI has.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "../support/run.hpp"
#include "trace_root/report.hpp"

using namespace trace_root;
using namespace trace_root::testing;
namespace fs = std::filesystem;

namespace {

const std::string kTraceRoot = TRACE_ROOT_BIN;
const std::string kFixtures = FIXTURE_DIR;

struct Traced {
    RunResult run;
    Report report;
};

Traced trace(const TempDir& tmp, std::vector<std::string> command,
             std::vector<std::string> options = {})
{
    const std::string report_file = tmp / "report.json";
    std::vector<std::string> argv = {kTraceRoot, "--report", report_file};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    Traced t;
    t.run = run(argv);
    auto report = read_report(report_file);
    if (report)
        t.report = std::move(*report);
    else
        INFO("stderr: " << t.run.err << " report: " << report.error().message);
    return t;
}

const PathEntry* find(const Report& r, const std::string& path)
{
    auto it = std::find_if(r.paths.begin(), r.paths.end(),
                           [&](const PathEntry& e) { return e.path == path; });
    return it == r.paths.end() ? nullptr : &*it;
}

bool has(const Report& r, const std::string& path, uint32_t access)
{
    const PathEntry* e = find(r, path);
    return e && (e->access & access) == access;
}

std::string real(const std::string& p) { return fs::canonical(p).string(); }

}  // namespace

TEST_CASE("records dlopen of a library that is not in DT_NEEDED")
{
    TempDir tmp;
    const std::string plugin = real(kFixtures + "/libfxplugin.so");
    auto t = trace(tmp, {kFixtures + "/fx_dlopen", plugin});
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    CHECK(has(t.report, plugin, kRead | kMmap));
    CHECK(t.report.complete);
    CHECK(t.report.loss.total() == 0);
}

TEST_CASE("resolves openat with a real dirfd and a relative path")
{
    TempDir tmp;
    fs::create_directories(tmp / "d/sub");
    write_text(tmp / "d/sub/present.txt", "x");
    auto t = trace(tmp, {kFixtures + "/fx_openat_dirfd", tmp / "d"});
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    CHECK(has(t.report, tmp / "d/sub/present.txt", kRead));
    CHECK(has(t.report, tmp / "d/absent.txt", kMissing));
    CHECK(has(t.report, tmp / "d", kRead));
}

TEST_CASE("resolves a relative open after chdir")
{
    TempDir tmp;
    fs::create_directories(tmp / "work");
    write_text(tmp / "work/data.txt", "x");
    auto t = trace(tmp, {kFixtures + "/fx_chdir_open", tmp / "work", "data.txt"});
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    CHECK(has(t.report, tmp / "work/data.txt", kRead));
    CHECK(has(t.report, tmp / "work", kChdir));
}

TEST_CASE("a relative chdir through a symlink records the symlink")
{
    // trace-root starts in tmp, so the workload does too; chdir("lib")
    // then goes through the symlink tmp/lib, relative to that cwd.
    TempDir tmp;
    fs::create_directories(tmp / "real/lib");
    write_text(tmp / "real/lib/data.txt", "x");
    fs::create_symlink("real/lib", tmp / "lib");
    const std::string report_file = tmp / "report.json";
    auto r = run({"/usr/bin/env", "-C", tmp.path(), kTraceRoot, "--report", report_file, "--",
                  kFixtures + "/fx_chdir_open", "lib", "data.txt"});
    INFO(r.err);
    REQUIRE(r.exit_status == 0);
    auto report = read_report(report_file);
    REQUIRE(report);
    const std::string dir = real(tmp.path());
    CHECK(has(*report, dir + "/lib", kChdir));
    CHECK(has(*report, dir + "/real/lib", kChdir));
    CHECK(has(*report, dir + "/real/lib/data.txt", kRead));
}

TEST_CASE("records stat-only, access-only, readlink and ENOENT probes")
{
    TempDir tmp;
    write_text(tmp / "stat_me", "x");
    write_text(tmp / "access_me", "x");
    fs::create_symlink("stat_me", tmp / "link");
    auto t = trace(tmp, {kFixtures + "/fx_stat_access", tmp / "stat_me", tmp / "access_me",
                         tmp / "link", tmp / "no/such/file"});
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    const PathEntry* s = find(t.report, tmp / "stat_me");
    REQUIRE(s);
    CHECK(s->access == kStat);
    CHECK(has(t.report, tmp / "access_me", kStat));
    CHECK(has(t.report, tmp / "link", kReadlink));
    const PathEntry* m = find(t.report, tmp / "no/such/file");
    REQUIRE(m);
    CHECK(m->access == kMissing);
}

TEST_CASE("records a #! script, its interpreter and the file really run")
{
    TempDir tmp;
    write_text(tmp / "script.sh", "#!/bin/sh\nexit 0\n", 0755);
    auto t = trace(tmp, {tmp / "script.sh"});
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    CHECK(has(t.report, tmp / "script.sh", kExec));
    CHECK(has(t.report, "/bin/sh", kInterp));
    CHECK(has(t.report, real("/bin/sh"), kExec));
}

TEST_CASE("records execveat by dirfd and relative name, and by fd with AT_EMPTY_PATH")
{
    TempDir tmp;
    fs::create_directories(tmp / "bin");
    fs::copy_file("/bin/true", tmp / "bin/mytrue");
    chmod((tmp / "bin/mytrue").c_str(), 0755);
    auto t = trace(tmp, {kFixtures + "/fx_execveat", tmp / "bin", "mytrue"});
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    const PathEntry* e = find(t.report, tmp / "bin/mytrue");
    REQUIRE(e);
    CHECK((e->access & kExec));
    // Two execs of the same file, one by name and one by fd: both seen.
    CHECK(e->count >= 2);
}

TEST_CASE("follows a double-forked daemon until it exits")
{
    TempDir tmp;
    write_text(tmp / "late.txt", "x");
    auto t = trace(tmp, {kFixtures + "/fx_daemon", tmp / "late.txt"});
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    CHECK(has(t.report, tmp / "late.txt", kRead));
    CHECK(t.report.processes >= 3);
}

TEST_CASE("follows an exec from a thread that is not the group leader")
{
    TempDir tmp;
    write_text(tmp / "from_thread.txt", "hello");
    auto t = trace(tmp, {kFixtures + "/fx_thread_exec", tmp / "from_thread.txt"});
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    CHECK(t.run.out == "hello");  // cat really ran, from the thread's exec
    CHECK(has(t.report, tmp / "from_thread.txt", kRead));
    CHECK(has(t.report, real("/bin/cat"), kExec));
}

TEST_CASE("records a path longer than 255 bytes and deeper than 64 components")
{
    TempDir tmp;
    std::string dir = tmp.path();
    for (int i = 0; i < 80; ++i)
        dir += "/d" + std::to_string(i % 10) + "xxxxxxx";
    fs::create_directories(dir);
    const std::string file = dir + "/deep.txt";
    write_text(file, "x");
    REQUIRE(file.size() > 255);
    auto t = trace(tmp, {"/bin/cat", file});
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    CHECK(has(t.report, file, kRead));
    CHECK(t.report.loss.path_truncated == 0);
}

TEST_CASE("a path longer than PATH_MAX is flagged as lost, never emitted partial")
{
    TempDir tmp;
    // A directory chain whose absolute path exceeds 4096 bytes, built and
    // used by relative names (an absolute name that long is refused).
    const std::string comp(100, 'a');
    const std::string script = "import os\nos.chdir('" + tmp.path() + "')\n"
                               "for i in range(45):\n"
                               "    os.mkdir('" + comp + "')\n"
                               "    os.chdir('" + comp + "')\n"
                               "open('f', 'w').write('x')\n"
                               "open('f').read()\n";
    auto t = trace(tmp, {"/usr/bin/python3", "-c", script});
    INFO(t.run.err);
    CHECK(t.run.exit_status != 0);  // loss makes trace-root fail
    CHECK(t.report.loss.path_truncated > 0);
    CHECK_FALSE(t.report.complete);
    CHECK(t.run.err.find("lost") != std::string::npos);
    // A truncated walk would lose the front of the path: every path under
    // the chain must still start at the real root.
    for (const auto& p : t.report.paths)
        if (p.path.find(comp) != std::string::npos)
            CHECK_MESSAGE(p.path.rfind(tmp.path() + "/", 0) == 0, p.path.substr(0, 80));
    // With --accept-incomplete the exit status is the workload's (the
    // chain exists now; the script only walks and reads it).
    const std::string reuse = "import os\nos.chdir('" + tmp.path() + "')\n"
                              "for i in range(45):\n"
                              "    os.chdir('" + comp + "')\n"
                              "open('f').read()\n";
    auto accepted = trace(tmp, {"/usr/bin/python3", "-c", reuse}, {"--accept-incomplete"});
    CHECK(accepted.run.exit_status == 0);
    CHECK(accepted.report.loss.path_truncated > 0);
    CHECK_FALSE(accepted.report.complete);
}

TEST_CASE("round-trips names with a newline and with invalid UTF-8")
{
    TempDir tmp;
    const std::string nl = tmp / "new\nline";
    const std::string bad = tmp / "bad\xff\xfename";
    write_text(nl, "a");
    write_text(bad, "b");
    auto t = trace(tmp, {"/bin/cat", nl, bad});
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    CHECK(has(t.report, nl, kRead));
    CHECK(has(t.report, bad, kRead));
}

TEST_CASE("a chrooted workload gets the paths inside its root")
{
    TempDir tmp;
    const std::string root = tmp / "root";
    fs::create_directories(root + "/bin");
    fs::create_directories(root + "/data");
    fs::copy_file(kFixtures + "/fx_static_open", root + "/bin/fx");
    chmod((root + "/bin/fx").c_str(), 0755);
    write_text(root + "/data/file", "x");
    auto t = trace(tmp, {"/usr/sbin/chroot", root, "/bin/fx"});
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    const PathEntry* e = find(t.report, "/data/file");
    REQUIRE(e);
    CHECK((e->access & kRead));
    CHECK(e->first.comm == "fx");
    CHECK(find(t.report, root + "/data/file") == nullptr);
}

TEST_CASE("an unrelated process opening files at the same time does not appear")
{
    TempDir tmp;
    write_text(tmp / "unrelated.txt", "x");
    write_text(tmp / "mine.txt", "x");
    const pid_t noise = fork();
    if (noise == 0) {
        for (int i = 0; i < 20000; ++i) {
            const int fd = open((tmp / "unrelated.txt").c_str(), O_RDONLY);
            if (fd >= 0)
                close(fd);
            usleep(50);
        }
        _exit(0);
    }
    auto t = trace(tmp, {"/bin/sh", "-c", "sleep 0.3; cat " + (tmp / "mine.txt")});
    kill(noise, SIGKILL);
    waitpid(noise, nullptr, 0);
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    CHECK(has(t.report, tmp / "mine.txt", kRead));
    CHECK(find(t.report, tmp / "unrelated.txt") == nullptr);
}

TEST_CASE("created and removed files are marked as the workload's own")
{
    TempDir tmp;
    write_text(tmp / "old.txt", "x");
    auto t = trace(tmp, {"/bin/sh", "-c",
                         "echo x > " + (tmp / "new.txt") + " && mkdir " + (tmp / "newdir") +
                             " && rm " + (tmp / "old.txt") + " && mv " + (tmp / "new.txt") +
                             " " + (tmp / "moved.txt")});
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    CHECK(has(t.report, tmp / "new.txt", kCreated));
    CHECK(has(t.report, tmp / "new.txt", kRemoved));
    CHECK(has(t.report, tmp / "moved.txt", kCreated));
    CHECK(has(t.report, tmp / "newdir", kCreated));
    CHECK(has(t.report, tmp / "old.txt", kRemoved));
}

TEST_CASE("an open's name is recorded with the open's access mode")
{
    // The name as asked for (here a symlink) and the file reached both
    // carry the mode: written only, read only, or both.
    TempDir tmp;
    write_text(tmp / "target.txt", "x");
    write_text(tmp / "ro.txt", "x");
    write_text(tmp / "rw.txt", "x");
    fs::create_symlink("target.txt", tmp / "link");
    auto t = trace(tmp, {"/bin/sh", "-c",
                         "echo x >> " + (tmp / "link") + " && cat " + (tmp / "ro.txt") +
                             " > /dev/null && exec 3<> " + (tmp / "rw.txt")});
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    for (const char* written : {"link", "target.txt"}) {
        CAPTURE(written);
        CHECK(has(t.report, tmp / written, kWrite));
        CHECK_FALSE(has(t.report, tmp / written, kRead));
    }
    CHECK(has(t.report, tmp / "ro.txt", kRead));
    CHECK_FALSE(has(t.report, tmp / "ro.txt", kWrite));
    CHECK(has(t.report, tmp / "rw.txt", kRead | kWrite));
}

TEST_CASE("paths come from the right fd when descriptors are closed and dup2'd wildly")
{
    TempDir tmp;
    write_text(tmp / "a.txt", "a");
    write_text(tmp / "b.txt", "b");
    auto t = trace(tmp, {kFixtures + "/fx_fdchaos", tmp / "a.txt", tmp / "b.txt"});
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    CHECK(has(t.report, tmp / "a.txt", kRead));
    CHECK(has(t.report, tmp / "b.txt", kRead));
    for (const auto& p : t.report.paths) {
        const bool inside = p.path.rfind(tmp.path() + "/", 0) == 0;
        const bool expected = p.path == tmp / "a.txt" || p.path == tmp / "b.txt";
        CHECK_MESSAGE((!inside || expected), p.path);
    }
}

TEST_CASE("io_uring use is detected and marks the trace incomplete")
{
    TempDir tmp;
    auto t = trace(tmp, {kFixtures + "/fx_io_uring"});
    INFO(t.run.err);
    if (t.run.err.find("io_uring") == std::string::npos && t.run.exit_status == 0 &&
        t.report.complete) {
        // io_uring may be disabled by sysctl (kernel.io_uring_disabled);
        // then the setup fails and there is nothing to detect.
        MESSAGE("io_uring_setup unavailable here");
        return;
    }
    CHECK(t.run.exit_status == 0);
    CHECK_FALSE(t.report.complete);
    CHECK(t.run.err.find("io_uring") != std::string::npos);
    auto strict = trace(tmp, {kFixtures + "/fx_io_uring"}, {"--fail-on-io-uring"});
    CHECK(strict.run.exit_status != 0);
}

TEST_CASE("the exit status is the workload's, 128+N on signal N")
{
    TempDir tmp;
    CHECK(trace(tmp, {"/bin/sh", "-c", "exit 7"}).run.exit_status == 7);
    auto killed = trace(tmp, {"/bin/sh", "-c", "kill -9 $$"});
    CHECK(killed.run.exit_status == 128 + 9);
    CHECK(killed.report.exit_status == 128 + 9);
}

TEST_CASE("a command that does not exist exits 127 with a clear message")
{
    TempDir tmp;
    auto t = trace(tmp, {"no-such-command-anywhere"});
    CHECK(t.run.exit_status == 127);
    CHECK(t.run.err.find("command not found: no-such-command-anywhere") != std::string::npos);
    CHECK_FALSE(fs::exists(tmp / "report.json"));
}

TEST_CASE("SIGTERM to trace-root stops the workload and marks the report incomplete")
{
    TempDir tmp;
    const std::string report_file = tmp / "report.json";
    const pid_t pid = fork();
    if (pid == 0) {
        const int null_fd = open("/dev/null", O_WRONLY);
        dup2(null_fd, 2);
        execl(kTraceRoot.c_str(), kTraceRoot.c_str(), "--report", report_file.c_str(), "--",
              "/bin/sleep", "30", nullptr);
        _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 128 + SIGTERM);
    auto report = read_report(report_file);
    REQUIRE(report);
    CHECK_FALSE(report->complete);
    CHECK(report->exit_status == 128 + SIGTERM);
}

TEST_CASE("lookups of names that differ only after a long common prefix are all recorded")
{
    // Regression: the in-kernel dedup key once kept only part of the name,
    // so a first lookup of a similar name was suppressed as a repeat.
    TempDir tmp;
    const std::string dir = tmp / std::string(60, 'p');
    fs::create_directories(dir);
    std::string script;
    std::vector<std::string> names;
    for (const char* suffix : {"__init__.py", "__init__.so", "__init__.abi3.so", "x.py", "y.py"}) {
        names.push_back(dir + "/" + suffix);
        script += "test -e '" + names.back() + "'; ";
    }
    write_text(names[0], "");
    auto t = trace(tmp, {"/bin/sh", "-c", script + "true"});
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    CHECK(has(t.report, names[0], kStat));
    for (size_t i = 1; i < names.size(); ++i)
        CHECK_MESSAGE(has(t.report, names[i], kMissing), names[i]);
}

TEST_CASE("a disk full while writing the report is a clear error and leaves no half-written file")
{
    TempDir tmp;
    const std::string small = tmp / "small";
    fs::create_directories(small);
    REQUIRE(run({"/bin/mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", small}).exit_status == 0);
    // A report of a few hundred paths is far larger than 8 KiB.
    const std::string report_file = small + "/report.json";
    auto r = run({kTraceRoot, "--report", report_file, "--", "/bin/ls", "-R", "/usr/share/zoneinfo"});
    std::vector<std::string> left;
    for (const auto& e : fs::directory_iterator(small))
        left.push_back(e.path().filename().string());
    run({"/bin/umount", small});
    CHECK(r.exit_status != 0);
    CHECK(r.err.find("report.json") != std::string::npos);
    CHECK(r.err.find("No space left on device") != std::string::npos);
    CHECK(left.empty());
}

TEST_CASE("without the privilege to load BPF the error says what is missing and how to grant it")
{
    TempDir tmp;
    chmod(tmp.path().c_str(), 0777);
    auto r = run({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                  "--inh-caps=-all", "--bounding-set=-all", kTraceRoot, "--report",
                  tmp / "report.json", "--", "/bin/true"});
    CHECK(r.exit_status != 0);
    CHECK(r.err.find("trace-root: error: cannot load the BPF programs") != std::string::npos);
    CHECK(r.err.find("CAP_BPF") != std::string::npos);
    CHECK(r.err.find("security.insecure") != std::string::npos);
    CHECK_FALSE(fs::exists(tmp / "report.json"));
}

TEST_CASE("the trace is the same with the embedded small BTF (and bpf_rdonly_cast) and with "
          "the kernel's full BTF")
{
    // On the machine that built trace-root the embedded BTF matches the
    // kernel; TRACE_ROOT_FULL_BTF=1 forces libbpf to read the full one.
    for (const bool full : {false, true}) {
        CAPTURE(full);
        TempDir tmp;
        write_text(tmp / "stat_me", "x");
        const std::string report_file = tmp / "report.json";
        auto r = run({"/usr/bin/env", std::string("TRACE_ROOT_FULL_BTF=") + (full ? "1" : "0"),
                      kTraceRoot, "-v", "--report", report_file, "--", "/bin/sh", "-c",
                      "test -e '" + (tmp / "stat_me") + "' && ! test -e '" + (tmp / "no/such") +
                          "'"});
        INFO(r.err);
        REQUIRE(r.exit_status == 0);
        CHECK(r.err.find(full ? "CO-RE relocations use the full kernel BTF"
                              : "CO-RE relocations use the small BTF embedded at build time") !=
              std::string::npos);
        // The kfunc ids come with the small BTF; without it kernel objects
        // are read through trusted loads and probe reads. Both must trace
        // the same.
        CHECK(r.err.find(full ? "kernel objects are read through trusted BTF loads"
                              : "kernel objects are read through bpf_rdonly_cast") !=
              std::string::npos);
        auto report = read_report(report_file);
        REQUIRE(report);
        CHECK(has(*report, tmp / "stat_me", kStat));
        CHECK(has(*report, tmp / "no/such", kMissing));
        CHECK(report->loss.total() == 0);
    }
}

TEST_CASE("repeats are suppressed in the kernel, and a first access never is")
{
    // 300 stats of one name by one shell builtin reach userspace as one
    // event; each of 300 distinct names still arrives.
    TempDir tmp;
    write_text(tmp / "same", "x");
    std::string script = "i=0; while [ $i -lt 300 ]; do test -e '" + (tmp / "same") +
                         "'; test -e '" + tmp.path() + "/new'$i; i=$((i+1)); done";
    auto t = trace(tmp, {"/bin/sh", "-c", script});
    INFO(t.run.err);
    REQUIRE(t.run.exit_status == 0);
    CHECK(has(t.report, tmp / "same", kStat));
    for (int i = 0; i < 300; ++i)
        CHECK_MESSAGE(has(t.report, tmp / ("new" + std::to_string(i)), kMissing), i);
    const PathEntry* same = find(t.report, tmp / "same");
    REQUIRE(same);
    CHECK(same->count < 5);
}
