// The verify sandbox, driven the way the tracer drives a Launcher: a small
// root holding only /bin/sh (dash) and what it loads, built with export.
// Needs root (namespaces, overlayfs).
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "trace_root/export.hpp"
#include "trace_root/sandbox.hpp"

namespace fs = std::filesystem;
using namespace trace_root;

namespace {

struct TempDir {
    fs::path path;
    TempDir()
    {
        char tmpl[] = "/var/tmp/trace-root-verify-test.XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir()
    {
        if (!std::getenv("TRACE_ROOT_KEEP_TMP")) {
            std::error_code ec;
            fs::remove_all(path, ec);
        }
    }
};

std::string slurp(const fs::path& p)
{
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The PT_INTERP of an ELF64 file: the loader the kernel opens for it.
std::string interpreter_of(const std::string& file)
{
    const std::string data = slurp(file);
    REQUIRE(data.size() >= sizeof(Elf64_Ehdr));
    Elf64_Ehdr eh;
    std::memcpy(&eh, data.data(), sizeof eh);
    REQUIRE(eh.e_ident[EI_CLASS] == ELFCLASS64);
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        const size_t off = eh.e_phoff + size_t(i) * eh.e_phentsize;
        REQUIRE(off + sizeof(Elf64_Phdr) <= data.size());
        Elf64_Phdr ph;
        std::memcpy(&ph, data.data() + off, sizeof ph);
        if (ph.p_type == PT_INTERP) {
            REQUIRE(ph.p_offset + ph.p_filesz <= data.size());
            return std::string(data.c_str() + ph.p_offset);
        }
    }
    return {};
}

// /bin/sh, its loader, and every file dash has mapped (read from its own
// /proc/PID/maps), exported from the host into `root`.
std::set<std::string> build_shell_root(const fs::path& root)
{
    std::set<std::string> paths = {"/bin/sh", "/etc/ld.so.cache"};
    if (const std::string interp = interpreter_of("/bin/sh"); !interp.empty())
        paths.insert(interp);
    FILE* maps = popen("/bin/sh -c 'while read -r a b c d e f; do echo \"$f\"; done "
                       "< /proc/$$/maps'",
                       "r");
    REQUIRE(maps);
    char line[4096];
    while (fgets(line, sizeof line, maps)) {
        std::string p(line);
        while (!p.empty() && p.back() == '\n')
            p.pop_back();
        if (p.starts_with('/'))
            paths.insert(p);
    }
    pclose(maps);
    ExportOptions o;
    o.to_dir = root;
    auto r = export_paths(o, std::vector<std::string>(paths.begin(), paths.end()));
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    return paths;
}

struct Run {
    int exit_status = -1;
    int exec_errno = 0;
    int outer_pid = 0;
    std::string output;
};

// Drives a Launcher like the tracer does: start, then the go byte, then
// wait for the direct child. The workload's stdout goes to a file.
Run launch(SandboxLauncher& launcher, const std::vector<std::string>& command,
           const fs::path& out_file, bool kill_workload = false)
{
    int go[2], err[2];
    REQUIRE(pipe2(go, O_CLOEXEC) == 0);
    REQUIRE(pipe2(err, O_CLOEXEC) == 0);
    const int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(out >= 0);
    std::cout.flush();  // nothing of ours may land in the workload's output file
    std::fflush(stdout);
    const int saved = dup(1);
    dup2(out, 1);
    int direct = -1;
    auto pid = launcher.start(command, go[0], err[1], direct);
    dup2(saved, 1);
    close(saved);
    close(out);
    close(go[0]);
    close(err[1]);
    REQUIRE_MESSAGE(pid, (pid ? "" : pid.error().message));
    Run run;
    run.outer_pid = *pid;
    if (kill_workload)
        REQUIRE(kill(*pid, SIGKILL) == 0);
    else
        REQUIRE(write(go[1], "g", 1) == 1);
    close(go[1]);
    if (read(err[0], &run.exec_errno, sizeof run.exec_errno) != sizeof run.exec_errno)
        run.exec_errno = 0;
    close(err[0]);
    int status = 0;
    REQUIRE(waitpid(direct, &status, 0) == direct);
    REQUIRE(WIFEXITED(status));
    run.exit_status = WEXITSTATUS(status);
    run.output = slurp(out_file);
    return run;
}

std::set<std::string> tree_of(const fs::path& root)
{
    std::set<std::string> names;
    for (const auto& e : fs::recursive_directory_iterator(root))
        names.insert(e.path().lexically_relative(root).string());
    return names;
}

}  // namespace

TEST_CASE("sandbox_runs_command_as_pid_1_with_tmpfs_tmp_and_leaves_root_unchanged")
{
    TempDir t;
    const fs::path root = t.path / "root";
    build_shell_root(root);
    const auto before = tree_of(root);

    SandboxLauncher launcher({root.string(), NetworkPolicy::Host});
    const std::string script =
        "echo pid=$$; for f in /*; do echo \"entry=$f\"; done; "
        "while read -r dev mnt type rest; do echo \"mount=$mnt:$type\"; done < /proc/mounts; "
        "echo data > /written && echo wrote-root; echo data > /tmp/t && echo wrote-tmp; "
        "[ -c /dev/null ] && echo devnull; read -r h < /etc/hostname && echo \"host=$h\"; "
        "exit 7";
    const Run run = launch(launcher, {"/bin/sh", "-c", script}, t.path / "out");
    CHECK(run.exec_errno == 0);
    CHECK(run.exit_status == 7);
    CHECK(run.outer_pid != 1);
    CHECK(run.output.starts_with("pid=1\n"));
    CHECK(run.output.find("mount=/tmp:tmpfs\n") != std::string::npos);
    CHECK(run.output.find("mount=/proc:proc\n") != std::string::npos);
    CHECK(run.output.find("mount=/:overlay\n") != std::string::npos);
    CHECK(run.output.find("entry=/usr\n") != std::string::npos);
    CHECK(run.output.find("wrote-root\n") != std::string::npos);
    CHECK(run.output.find("wrote-tmp\n") != std::string::npos);
    CHECK(run.output.find("devnull\n") != std::string::npos);
    // The host's /etc/hostname, bind-mounted as docker run does.
    std::string host = slurp("/etc/hostname");
    host = host.substr(0, host.find('\n'));
    if (!host.empty())
        CHECK(run.output.find("host=" + host + "\n") != std::string::npos);
    // No host directory is visible: only what the root holds, plus the mounts.
    CHECK(run.output.find("entry=/home\n") == std::string::npos);

    CHECK(tree_of(root) == before);  // no /written, no /proc, /dev or /tmp created in DIR
}

TEST_CASE("sandbox_exit_status_is_128_plus_signal_when_the_workload_is_killed")
{
    TempDir t;
    const fs::path root = t.path / "root";
    build_shell_root(root);
    SandboxLauncher launcher({root.string(), NetworkPolicy::Host});
    // Killed (from outside its pid namespace) while it waits for the go byte.
    const Run run = launch(launcher, {"/bin/sh", "-c", "exit 0"}, t.path / "out", true);
    CHECK(run.exit_status == 128 + SIGKILL);
}

TEST_CASE("sandbox_reports_exec_failure_through_the_error_pipe")
{
    TempDir t;
    const fs::path root = t.path / "root";
    build_shell_root(root);
    SandboxLauncher launcher({root.string(), NetworkPolicy::Host});
    // Exists on the host, not in the slim root.
    const Run run = launch(launcher, {"/usr/bin/env", "true"}, t.path / "out");
    CHECK(run.exec_errno == ENOENT);
    CHECK(run.exit_status == 127);
}

TEST_CASE("slim_root_missing_a_needed_library_makes_the_command_fail")
{
    TempDir t;
    const fs::path root = t.path / "root";
    const auto paths = build_shell_root(root);
    int removed = 0;
    for (const auto& p : paths)
        if (p.find("/libc.so.6") != std::string::npos)
            removed += fs::remove(root / p.substr(1)) ? 1 : 0;
    REQUIRE(removed == 1);

    SandboxLauncher launcher({root.string(), NetworkPolicy::Host});
    const Run run = launch(launcher, {"/bin/sh", "-c", "echo should-not-run"}, t.path / "out");
    CHECK(run.exit_status != 0);
    CHECK(run.output.find("should-not-run") == std::string::npos);
}

TEST_CASE("sandbox_with_isolated_network_has_only_loopback")
{
    TempDir t;
    const fs::path root = t.path / "root";
    build_shell_root(root);
    SandboxLauncher launcher({root.string(), NetworkPolicy::Isolated});
    const Run run = launch(launcher,
                           {"/bin/sh", "-c",
                            "while read -r l; do echo \"$l\"; done < /proc/net/dev"},
                           t.path / "out");
    CHECK(run.exit_status == 0);
    CHECK(run.output.find("lo:") != std::string::npos);
    CHECK(run.output.find("eth0") == std::string::npos);
}

TEST_CASE("sandbox_refuses_a_root_whose_proc_is_a_symlink")
{
    TempDir t;
    const fs::path root = t.path / "root";
    build_shell_root(root);
    fs::create_directory_symlink("/etc", root / "proc");
    SandboxLauncher launcher({root.string(), NetworkPolicy::Host});
    int go[2], err[2];
    REQUIRE(pipe2(go, O_CLOEXEC) == 0);
    REQUIRE(pipe2(err, O_CLOEXEC) == 0);
    int direct = -1;
    auto pid = launcher.start({"/bin/sh", "-c", "true"}, go[0], err[1], direct);
    REQUIRE_FALSE(pid);
    CHECK(pid.error().message.find("/proc is not a directory") != std::string::npos);
    for (int fd : {go[0], go[1], err[0], err[1]})
        close(fd);
}

TEST_CASE("verify_names_the_file_removed_from_the_slim_root")
{
    TempDir t;
    const fs::path root = t.path / "root";
    const auto paths = build_shell_root(root);
    std::string libc;
    for (const auto& p : paths)
        if (p.find("/libc.so.6") != std::string::npos)
            libc = p;
    REQUIRE(!libc.empty());
    REQUIRE(fs::remove(root / libc.substr(1)));

    VerifyOptions o;
    o.root = root.string();
    o.command = {"/bin/sh", "-c", "echo hello"};
    o.verbosity = Verbosity::Quiet;
    auto r = verify_root(o);
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->exit_status == 127);
    // The loader asks for libc.so.6 under its search directories: at least
    // one of those lookups names a path that exists on the host.
    bool named = false;
    for (const auto& m : r->missing)
        named = named || m.ends_with("/libc.so.6");
    CHECK_MESSAGE(named, "missing list does not name libc.so.6");
    for (const auto& m : r->missing)
        CHECK_MESSAGE(!m.starts_with("/proc"), m);

    // The complete root runs the same command, and nothing is missing.
    const fs::path full = t.path / "full";
    build_shell_root(full);
    o.root = full.string();
    auto ok = verify_root(o);
    REQUIRE_MESSAGE(ok, (ok ? "" : ok.error().message));
    CHECK(ok->exit_status == 0);
    for (const auto& m : ok->missing)
        MESSAGE("missing: ", m);
    CHECK(ok->missing.empty());
}

TEST_CASE("signals_sent_to_the_direct_child_reach_the_workload")
{
    TempDir t;
    const fs::path root = t.path / "root";
    build_shell_root(root);
    SandboxLauncher launcher({root.string(), NetworkPolicy::Host});
    int go[2], err[2], out[2];
    REQUIRE(pipe2(go, O_CLOEXEC) == 0);
    REQUIRE(pipe2(err, O_CLOEXEC) == 0);
    REQUIRE(pipe(out) == 0);
    const int saved = dup(1);
    dup2(out[1], 1);
    int direct = -1;
    // pid 1 only gets the signals it handles: the trap is what a service's
    // own handler would be.
    auto pid = launcher.start(
        {"/bin/sh", "-c", "trap 'exit 42' TERM; echo ready; while :; do :; done"}, go[0],
        err[1], direct);
    dup2(saved, 1);
    close(saved);
    close(out[1]);
    close(go[0]);
    close(err[1]);
    REQUIRE_MESSAGE(pid, (pid ? "" : pid.error().message));
    REQUIRE(write(go[1], "g", 1) == 1);
    char buf[6] = {0};
    REQUIRE(read(out[0], buf, 6) == 6);  // the trap is set
    CHECK(std::string(buf, 6) == "ready\n");
    REQUIRE(kill(direct, SIGTERM) == 0);
    int status = 0;
    REQUIRE(waitpid(direct, &status, 0) == direct);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 42);
    for (int fd : {go[1], err[0], out[0]})
        close(fd);
}

TEST_CASE("root_whose_tmp_holds_files_keeps_them_and_stays_unchanged")
{
    // A workload that lives under /tmp (a build tree there) is exported
    // with it; a tmpfs on /tmp would hide it from the sandbox.
    TempDir t;
    const fs::path root = t.path / "root";
    build_shell_root(root);
    fs::create_directories(root / "tmp/app");
    std::ofstream(root / "tmp/app/data") << "payload\n";
    const auto before = tree_of(root);

    SandboxLauncher launcher({root.string(), NetworkPolicy::Host});
    const Run run = launch(launcher,
                           {"/bin/sh", "-c",
                            "read -r l < /tmp/app/data; echo \"data=$l\"; echo x > /tmp/new"},
                           t.path / "out");
    CHECK(run.exit_status == 0);
    CHECK(run.output == "data=payload\n");
    CHECK(tree_of(root) == before);
}
