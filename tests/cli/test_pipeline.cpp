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
