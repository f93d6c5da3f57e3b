// The one-command pipeline, end to end through the real kernel:
// trace-root --list --export --verify --image -- CMD.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "../support/run.hpp"
#include "trace_root/report.hpp"

using namespace trace_root;
using namespace trace_root::testing;
namespace fs = std::filesystem;

namespace {

const std::string kTraceRoot = TRACE_ROOT_BIN;

std::string slurp(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

TEST_CASE("trace, list, export, verify and image in one command")
{
    TempDir tmp;
    const std::string root = tmp / "image-root";
    const std::string image = tmp / "app.tar";
    const std::string list = tmp / "app.list";
    auto r = run({kTraceRoot, "--report", tmp / "report.json", "--list", list, "--export", root,
                  "--verify", "--image", image, "--", "/bin/sh", "-c",
                  "cat /etc/os-release >/dev/null && ls /usr/share/zoneinfo/Europe >/dev/null"});
    INFO(r.err);
    REQUIRE(r.exit_status == 0);
    // The set is in the root, with the symlinks on the way: /bin -> usr/bin on merged /usr.
    CHECK(fs::is_regular_file(root + "/usr/bin/cat"));
    CHECK(fs::is_symlink(root + "/bin"));
    CHECK(fs::read_symlink(root + "/bin") == fs::read_symlink("/bin"));
    CHECK(fs::exists(root + "/etc/os-release"));
    CHECK(r.err.find("verify: the command exited with status 0") != std::string::npos);
    // The list names what was exported.
    const std::string text = slurp(list);
    CHECK(text.find("/usr/bin/cat\n") != std::string::npos);
    // The image is a valid OCI archive whose Cmd is the traced command.
    REQUIRE(fs::exists(image));
    auto inspect = run({"/usr/bin/skopeo", "inspect", "--config", "oci-archive:" + image});
    INFO(inspect.err);
    CHECK(inspect.exit_status == 0);
    CHECK(inspect.out.find("\"/bin/sh\"") != std::string::npos);
}

TEST_CASE("--verify and --image without --export are usage errors")
{
    auto r = run({kTraceRoot, "--verify", "--", "/bin/true"});
    CHECK(r.exit_status == 2);
    CHECK(r.err.find("need --export DIR") != std::string::npos);
}

TEST_CASE("an unreadable source file stops the export with an error naming it")
{
    // Root reads anything; without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
    // a mode-000 file owned by someone else is unreadable even to uid 0.
    TempDir tmp;
    const std::string secret = tmp / "secret.conf";
    write_text(secret, "x", 0000);
    REQUIRE(chown(secret.c_str(), 65534, 65534) == 0);
    write_text(tmp / "list", secret + "\n");
    auto r = run({"/usr/bin/setpriv", "--inh-caps=-dac_override,-dac_read_search",
                  "--bounding-set=-dac_override,-dac_read_search", kTraceRoot, "export", "--list",
                  tmp / "list", "--to", tmp / "out"});
    INFO(r.err);
    CHECK(r.exit_status != 0);
    CHECK(r.err.find("secret.conf") != std::string::npos);
    CHECK(r.err.find("Permission denied") != std::string::npos);
    CHECK_FALSE(fs::exists(tmp / ("out" + secret)));
}

TEST_CASE("two traces of the same deterministic workload give identical allow-lists")
{
    TempDir tmp;
    const std::vector<std::string> cmd = {"/bin/sh", "-c",
                                          "ls /usr/share/zoneinfo >/dev/null; cat /etc/passwd "
                                          ">/dev/null; test -e /no/such/file; true"};
    for (const char* name : {"a.list", "b.list"}) {
        std::vector<std::string> argv = {kTraceRoot, "-q", "--list", tmp / name, "--"};
        argv.insert(argv.end(), cmd.begin(), cmd.end());
        auto r = run(argv);
        INFO(r.err);
        REQUIRE(r.exit_status == 0);
    }
    const std::string a = slurp(tmp / "a.list"), b = slurp(tmp / "b.list");
    CHECK(!a.empty());
    CHECK(a.find("/etc/passwd\n") != std::string::npos);
    CHECK(a == b);
    auto diff = run({kTraceRoot, "diff", "--check", tmp / "a.list", tmp / "b.list"});
    CHECK(diff.exit_status == 0);
}

TEST_CASE("--only-under leaves the harness out and --exclude-exe drops a program's processes")
{
    TempDir tmp;
    write_text(tmp / "harness.txt", "h");
    write_text(tmp / "app.txt", "a");
    write_text(tmp / "noise.txt", "n");
    // The harness (sh) reads harness.txt, then runs the app (cat) on app.txt, then head on
    // noise.txt.
    const std::string script = "read x < " + (tmp / "harness.txt") + "; /usr/bin/cat " +
                               (tmp / "app.txt") + " >/dev/null; /usr/bin/head " +
                               (tmp / "noise.txt") + " >/dev/null";
    auto only = run({kTraceRoot, "-q", "--report", tmp / "only.json", "--only-under",
                     fs::canonical("/usr/bin/cat").string(), "--", "/bin/sh", "-c", script});
    INFO(only.err);
    REQUIRE(only.exit_status == 0);
    auto r1 = read_report(tmp / "only.json");
    REQUIRE(r1);
    auto has_path = [](const Report& r, const std::string& p) {
        for (const auto& e : r.paths)
            if (e.path == p)
                return true;
        return false;
    };
    CHECK(has_path(*r1, tmp / "app.txt"));
    CHECK_FALSE(has_path(*r1, tmp / "harness.txt"));
    CHECK_FALSE(has_path(*r1, tmp / "noise.txt"));

    auto excl = run({kTraceRoot, "-q", "--report", tmp / "excl.json", "--exclude-exe",
                     fs::canonical("/usr/bin/head").string(), "--", "/bin/sh", "-c", script});
    REQUIRE(excl.exit_status == 0);
    auto r2 = read_report(tmp / "excl.json");
    REQUIRE(r2);
    CHECK(has_path(*r2, tmp / "harness.txt"));
    CHECK(has_path(*r2, tmp / "app.txt"));
    CHECK_FALSE(has_path(*r2, tmp / "noise.txt"));
}
