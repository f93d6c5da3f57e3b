// `trace-root audit` on images built here with libarchive: a docker-save
// archive with two layers (a whiteout, an opaque directory) audited with
// --list, and hostile or broken archives that must fail clearly without
// writing anything outside the temporary directories.
#include <dirent.h>

#include <filesystem>
#include <set>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "../image/image_test_util.hpp"
#include "../support/run.hpp"
#include "trace_root/report.hpp"

using namespace image_test;
using trace_root::testing::run;
namespace fs = std::filesystem;

namespace {

const std::string kBin = TRACE_ROOT_BIN;

std::string docker_save(const std::vector<std::string>& layers)
{
    std::vector<TarMember> outer;
    std::string list, ids;
    for (size_t i = 0; i < layers.size(); ++i) {
        const std::string name = "l" + std::to_string(i) + "/layer.tar";
        outer.push_back({"l" + std::to_string(i), 'd', "", 0755});
        outer.push_back({name, 'f', layers[i]});
        list += std::string(i ? "," : "") + "\"" + name + "\"";
        ids += std::string(i ? "," : "") + "\"sha256:" + sha256_hex(layers[i]) + "\"";
    }
    outer.push_back({"config.json", 'f',
                     R"({"architecture":"amd64","os":"linux","config":{"Cmd":["/usr/bin/app"]},)"
                     R"("rootfs":{"type":"layers","diff_ids":[)" + ids + "]}}"});
    outer.push_back({"manifest.json", 'f',
                     R"([{"Config":"config.json","RepoTags":["a:1"],"Layers":[)" + list + "]}]"});
    return make_tar(outer);
}

std::set<std::string> audit_temp_dirs()
{
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator("/var/tmp"))
        if (e.path().filename().string().rfind("trace-root-audit-", 0) == 0)
            out.insert(e.path().string());
    return out;
}

const nlohmann::json* find_named(const nlohmann::json& array, const std::string& name)
{
    for (const auto& e : array)
        if (e["name"] == name)
            return &e;
    return nullptr;
}

// The image must be refused: a clear error naming `needle`, no JSON written,
// no unpack directory left, nothing outside the temporary directory.
void check_refused(const std::string& image_bytes, const std::string& needle)
{
    TempDir t;
    const std::string image = t / "image.tar";
    const std::string outside = t / "outside";
    fs::create_directories(outside);
    write_file(image, image_bytes);
    write_file(t / "used.list", "/bin/sh\n");
    const auto before = audit_temp_dirs();
    auto r = run({kBin, "audit", "--image", image, "--list", t / "used.list", "--json",
                  t / "out.json", "--html", t / "out.html"});
    CHECK(r.exit_status != 0);
    CHECK_MESSAGE(r.err.find("trace-root: error:") != std::string::npos, r.err);
    CHECK_MESSAGE(r.err.find(needle) != std::string::npos, r.err);
    CHECK(r.out.empty());
    CHECK(!fs::exists(t / "out.json"));
    CHECK(!fs::exists(t / "out.html"));
    CHECK(fs::is_empty(outside));
    CHECK(audit_temp_dirs() == before);
}

}  // namespace

TEST_CASE("a docker save archive with whiteouts is audited against a list")
{
    TempDir t;
    const std::string status =
        "Package: big\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n\n"
        "Package: app\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.0\n";
    const std::string big_list = "/.\n/usr\n/usr/lib\n/usr/lib/libbig.so\n";
    const std::string app_list = "/usr/bin/app\n/etc/removed.conf\n";
    const std::string base = make_tar({
        {"bin", 'd', "", 0755}, {"bin/sh", 'f', std::string(1000, 'S'), 0755},
        {"usr", 'd', "", 0755}, {"usr/bin", 'd', "", 0755},
        {"usr/bin/app", 'f', std::string(2000, 'A'), 0755},
        {"usr/lib", 'd', "", 0755}, {"usr/lib/libbig.so", 'f', std::string(50000, 'B'), 0644},
        {"usr/share", 'd', "", 0755}, {"usr/share/old", 'd', "", 0755},
        {"usr/share/old/gone.dat", 'f', std::string(7000, 'G'), 0644},
        {"etc", 'd', "", 0755}, {"etc/removed.conf", 'f', std::string(3000, 'R'), 0644},
        {"etc/keep.conf", 'f', std::string(400, 'K'), 0644},
        {"var", 'd', "", 0755}, {"var/lib", 'd', "", 0755}, {"var/lib/dpkg", 'd', "", 0755},
        {"var/lib/dpkg/info", 'd', "", 0755}, {"var/lib/dpkg/status", 'f', status, 0644},
        {"var/lib/dpkg/info/big.list", 'f', big_list, 0644},
        {"var/lib/dpkg/info/app.list", 'f', app_list, 0644},
    });
    const std::string top = make_tar({
        {"etc/.wh.removed.conf", 'f', "", 0644},
        {"usr/share/old/.wh..wh..opq", 'f', "", 0644},
        {"usr/share/old/new.txt", 'f', std::string(10, 'N'), 0644},
    });
    write_file(t / "image.tar", docker_save({base, top}));
    write_file(t / "used.list", "# what the workload used\n/usr/bin/app\n/etc/keep.conf\n");

    const auto before = audit_temp_dirs();
    auto r = run({kBin, "audit", "--image", t / "image.tar", "--list", t / "used.list",
                  "--json", t / "audit.json", "--html", t / "audit.html"});
    REQUIRE_MESSAGE(r.exit_status == 0, r.err);
    CHECK(audit_temp_dirs() == before);  // the unpacked image is removed again
    CHECK(r.out.find("unused bytes by package") != std::string::npos);

    auto j = nlohmann::json::parse(read_all(t / "audit.json"));
    const uint64_t db = status.size() + big_list.size() + app_list.size();
    // The whiteout and the opaque directory removed 3000 and 7000 bytes.
    CHECK(j["total_bytes"] == 1000 + 2000 + 50000 + 400 + 10 + db);
    CHECK(j["used_bytes"] == 2400);
    CHECK(j["slim_bytes"] == 2400);
    CHECK(j["used_files"] == 2);
    CHECK(j["total_files"] == 8);
    CHECK(j["unused_share"].get<double>() > 0.9);
    const auto* big = find_named(j["by_package"], "big");
    REQUIRE(big);
    CHECK((*big)["unused_bytes"] == 50000);
    CHECK((*big)["version"] == "1.0");
    const auto* app = find_named(j["by_package"], "app");
    REQUIRE(app);
    CHECK((*app)["used_bytes"] == 2000);
    CHECK((*app)["unused_bytes"] == 0);
    CHECK(j["by_package"][0]["name"] == "big");  // the largest unused first
    const auto* usr = find_named(j["by_directory"], "/usr");
    REQUIRE(usr);
    CHECK((*usr)["unused_bytes"] == 50010);
    bool sh = false;
    for (const auto& s : j["surface"])
        if (s["path"] == "/bin/sh") {
            sh = true;
            CHECK(s["kind"] == "shell");
            CHECK(s["used"] == false);
        }
    CHECK(sh);
    const std::string html = read_all(t / "audit.html");
    CHECK(html.find("<title>big: 48.8 KiB unused, 0 B used</title>") != std::string::npos);
}

TEST_CASE("audit needs a workload: a root directory without COMMAND or --list is an error")
{
    TempDir t;
    fs::create_directories(t / "root/etc");
    auto r = run({kBin, "audit", "--image", t / "root"});
    CHECK(r.exit_status == 2);
    CHECK(r.err.find("no workload") != std::string::npos);
}

TEST_CASE("a truncated image archive is refused and nothing is left behind")
{
    const std::string whole =
        docker_save({make_tar({{"bin", 'd', "", 0755},
                               {"bin/sh", 'f', std::string(40000, 'S'), 0755}})});
    check_refused(whole.substr(0, whole.size() / 2), "image.tar");
}

TEST_CASE("a layer member with .. is refused, naming the member")
{
    check_refused(docker_save({make_tar({{"../escape.txt", 'f', "x", 0644}})}), "escape.txt");
}

TEST_CASE("an absolute symlink that escapes the root cannot be written through")
{
    TempDir probe;  // the host directory the hostile layer aims at
    const std::string target = probe / "host";
    fs::create_directories(target);
    check_refused(docker_save({make_tar({{"evil", 'l', target, 0777}}),
                               make_tar({{"evil/pwned", 'f', "owned", 0644}})}),
                  "evil");
    CHECK(fs::is_empty(target));
}

TEST_CASE("a symlink whose target climbs above the image root is refused")
{
    check_refused(docker_save({make_tar({{"etc", 'd', "", 0755},
                                         {"etc/up", 'l', "/../../../../etc/shadow", 0777}})}),
                  "etc/up");
}

TEST_CASE("an existing trace report is resolved against the image: symlink chains count as used")
{
    TempDir t;
    const std::string layer = make_tar({
        {"usr", 'd', "", 0755}, {"usr/bin", 'd', "", 0755},
        {"usr/bin/tool", 'f', std::string(900, 'T'), 0755},
        {"bin", 'l', "usr/bin", 0777},
        {"etc", 'd', "", 0755}, {"etc/tool.conf", 'f', std::string(90, 'c'), 0644},
        {"etc/other.conf", 'f', std::string(9, 'o'), 0644},
    });
    write_file(t / "image.tar", docker_save({layer}));
    trace_root::Report report;
    report.command = {"/bin/tool"};
    report.cwd = "/";
    trace_root::PathEntry tool;
    tool.path = "/bin/tool";  // through the /bin symlink, as the workload named it
    tool.access = trace_root::kExec;
    trace_root::PathEntry conf;
    conf.path = "/etc/tool.conf";
    conf.access = trace_root::kRead;
    report.paths = {tool, conf};
    REQUIRE(trace_root::write_report(report, t / "trace.json"));

    auto r = run({kBin, "audit", "--image", t / "image.tar", "--report", t / "trace.json",
                  "--json", t / "audit.json"});
    REQUIRE_MESSAGE(r.exit_status == 0, r.err);
    auto j = nlohmann::json::parse(read_all(t / "audit.json"));
    CHECK(j["used_bytes"] == 990);
    CHECK(j["unused_bytes"] == 9);
    CHECK(j["used_files"] == 3);  // the tool, its conf and the /bin symlink
    CHECK(j["unused_files"] == 1);
    CHECK(j["has_dpkg"] == false);
}

TEST_CASE("a COMMAND and --list together are refused")
{
    TempDir t;
    fs::create_directories(t / "root");
    write_file(t / "used.list", "/x\n");
    auto r = run({kBin, "audit", "--image", t / "root", "--list", t / "used.list", "--", "true"});
    CHECK(r.exit_status == 2);
    CHECK(r.err.find("not both") != std::string::npos);
}
