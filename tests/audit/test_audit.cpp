// Unit tests of the audit stage: the dpkg parsers, the walk against a used
// set on a real merged-/usr root built here, the treemap layout and outputs.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "../image/image_test_util.hpp"
#include "trace_root/audit.hpp"

using namespace trace_root;
using image_test::TempDir;
using image_test::write_file;
namespace fs = std::filesystem;

namespace {

const PackageUsage* package(const AuditResult& r, const std::string& name)
{
    for (const auto& p : r.by_package)
        if (p.name == name)
            return &p;
    return nullptr;
}

const SurfaceItem* surface(const AuditResult& r, const std::string& path)
{
    for (const auto& s : r.surface)
        if (s.path == path)
            return &s;
    return nullptr;
}

// A small merged-/usr image root: /bin and /lib are symlinks into /usr, as in
// Debian since bookworm, and dpkg's lists name the old paths.
struct MergedUsrRoot {
    TempDir t;
    std::string root = t / "root";
    MergedUsrRoot()
    {
        for (const char* d : {"usr/bin", "usr/lib/x86_64-linux-gnu", "var/lib/dpkg/info",
                              "var/spool/drop", "var/lib/rpm", "tmp", "etc"})
            fs::create_directories(root + "/" + d);
        fs::create_directory_symlink("usr/bin", root + "/bin");
        fs::create_directory_symlink("usr/lib", root + "/lib");
        write_file(root + "/usr/bin/dash", std::string(100, 'd'), 0755);
        fs::create_symlink("dash", root + "/usr/bin/sh");
        write_file(root + "/usr/bin/python3.11", std::string(200, 'p'), 0755);
        REQUIRE(link((root + "/usr/bin/python3.11").c_str(),
                     (root + "/usr/bin/python3-hardlink").c_str()) == 0);
        write_file(root + "/usr/lib/x86_64-linux-gnu/libc.so.6", std::string(300, 'c'), 0755);
        write_file(root + "/usr/bin/su", std::string(50, 's'), 0755);
        REQUIRE(chmod((root + "/usr/bin/su").c_str(), 04755) == 0);
        write_file(root + "/etc/dpkg-helper", std::string(10, 'x'), 0755);
        REQUIRE(chmod((root + "/tmp").c_str(), 01777) == 0);
        REQUIRE(chmod((root + "/var/spool/drop").c_str(), 0777) == 0);
        write_file(root + "/var/lib/dpkg/status",
                   "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\n"
                   "Multi-Arch: same\nVersion: 2.36-9\nDescription: GNU C Library\n"
                   " continuation line\n\n"
                   "Package: dash\nStatus: install ok installed\nArchitecture: amd64\n"
                   "Version: 0.5.12-2\n\n"
                   "Package: python3.11-minimal\nStatus: install ok installed\n"
                   "Architecture: amd64\nVersion: 3.11.2-6\n\n"
                   "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n");
        write_file(root + "/var/lib/dpkg/info/libc6:amd64.list",
                   "/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libc.so.6\n");
        write_file(root + "/var/lib/dpkg/info/dash.list", "/.\n/bin\n/bin/sh\n/usr/bin/dash\n");
        write_file(root + "/var/lib/dpkg/info/python3.11-minimal.list",
                   "/usr/bin/python3.11\n");
    }
};

}  // namespace

TEST_CASE("dpkg status: stanzas, continuation lines and the installed state")
{
    auto r = parse_dpkg_status("Package: a\nVersion: 1.0\nStatus: install ok installed\n"
                               "Description: x\n y\n\t z\n\n\n"
                               "Package: b\r\nStatus: deinstall ok config-files\n",
                               "status");
    REQUIRE(r);
    REQUIRE(r->size() == 2);
    CHECK((*r)[0].name == "a");
    CHECK((*r)[0].version == "1.0");
    CHECK((*r)[0].installed());
    CHECK((*r)[1].name == "b");
    CHECK(!(*r)[1].installed());
}

TEST_CASE("dpkg status: malformed input is an error naming the file and line")
{
    auto no_colon = parse_dpkg_status("Package: a\nnot a field\n", "/img/status");
    REQUIRE(!no_colon);
    CHECK(no_colon.error().message.find("/img/status:2") != std::string::npos);
    auto no_package = parse_dpkg_status("Version: 1\n", "s");
    REQUIRE(!no_package);
    CHECK(no_package.error().message.find("without a Package") != std::string::npos);
    CHECK(!parse_dpkg_status(" leading continuation\n", "s"));
    CHECK(!parse_dpkg_status(std::string("Package: a\0b\n", 13), "s"));
}

TEST_CASE("dpkg list: absolute paths, the root entry left out, relative paths refused")
{
    auto r = parse_dpkg_list("/.\n/bin\n/bin/sh\n\n", "dash.list");
    REQUIRE(r);
    CHECK(*r == std::vector<std::string>{"/bin", "/bin/sh"});
    auto rel = parse_dpkg_list("/bin\nbin/sh\n", "dash.list");
    REQUIRE(!rel);
    CHECK(rel.error().message.find("dash.list:2") != std::string::npos);
    CHECK(!parse_dpkg_list("/" + std::string(5000, 'a') + "\n", "x.list"));
}

TEST_CASE("audit of a merged-usr root: used set through symlinks, packages, hardlinks once")
{
    MergedUsrRoot m;
    auto used = used_paths_from_list({"/bin/sh", "/lib/x86_64-linux-gnu/libc.so.6"}, m.root);
    REQUIRE(used);
    for (const char* p : {"/bin", "/lib", "/usr/bin/sh", "/usr/bin/dash",
                          "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib"})
        CHECK_MESSAGE(std::count(used->begin(), used->end(), p) == 1, p);

    auto r = audit_root(m.root, *used);
    REQUIRE(r);
    // Used: dash (100) and libc (300), and the symlinks sh, /bin, /lib.
    CHECK(r->totals.used_bytes == 400);
    CHECK(r->totals.used_files == 5);
    // Unused: python3.11 with its hardlink counted once (200), su (50),
    // dpkg-helper (10) and the dpkg database files.
    const uint64_t db = fs::file_size(m.root + "/var/lib/dpkg/status") +
                        fs::file_size(m.root + "/var/lib/dpkg/info/libc6:amd64.list") +
                        fs::file_size(m.root + "/var/lib/dpkg/info/dash.list") +
                        fs::file_size(m.root + "/var/lib/dpkg/info/python3.11-minimal.list");
    CHECK(r->totals.unused_bytes == 200 + 50 + 10 + db);
    CHECK(r->totals.unused_files == 7);

    // A .list's /lib/x86_64-linux-gnu/libc.so.6 is the file under /usr/lib.
    const auto* libc = package(*r, "libc6");
    REQUIRE(libc);
    CHECK(libc->version == "2.36-9");
    CHECK(libc->usage.used_bytes == 300);
    const auto* dash = package(*r, "dash");
    REQUIRE(dash);
    CHECK(dash->usage.used_bytes == 100);
    // /usr/bin/dash, the /bin/sh symlink, and /bin: the .list names it, and in
    // this image it is the symlink to usr/bin.
    CHECK(dash->usage.used_files == 3);
    const auto* py = package(*r, "python3.11-minimal");
    REQUIRE(py);
    CHECK(py->usage.unused_bytes == 200);
    CHECK(package(*r, "gone") == nullptr);  // config-files only: no files, no list needed
    REQUIRE(package(*r, "(no package)"));
    CHECK(package(*r, "(no package)")->usage.unused_bytes == 50 + 10 + db);

    auto usr = std::find_if(r->by_directory.begin(), r->by_directory.end(),
                            [](const DirectoryUsage& d) { return d.name == "/usr"; });
    REQUIRE(usr != r->by_directory.end());
    CHECK(usr->usage.used_bytes == 400);
    CHECK(usr->usage.unused_bytes == 250);

    CHECK(std::any_of(r->warnings.begin(), r->warnings.end(), [](const std::string& w) {
        return w.find("rpm database") != std::string::npos;
    }));
}

TEST_CASE("audit surface: shells, interpreters, setuid, world-writable dirs, by their aliases")
{
    MergedUsrRoot m;
    auto used = used_paths_from_list({"/bin/sh"}, m.root);
    REQUIRE(used);
    auto r = audit_root(m.root, *used);
    REQUIRE(r);
    const auto* sh = surface(*r, "/usr/bin/sh");
    REQUIRE(sh);
    CHECK(sh->kind == SurfaceKind::Shell);
    CHECK(sh->used);
    CHECK(sh->aliases == std::vector<std::string>{"/bin/sh"});
    REQUIRE(surface(*r, "/usr/bin/dash"));
    CHECK(surface(*r, "/usr/bin/dash")->used);
    REQUIRE(surface(*r, "/usr/bin/python3.11"));
    CHECK(surface(*r, "/usr/bin/python3.11")->kind == SurfaceKind::Interpreter);
    CHECK(!surface(*r, "/usr/bin/python3.11")->used);
    CHECK(surface(*r, "/usr/bin/python3-hardlink") == nullptr);  // not a python version
    REQUIRE(surface(*r, "/usr/bin/su"));
    CHECK(surface(*r, "/usr/bin/su")->kind == SurfaceKind::Setuid);
    REQUIRE(surface(*r, "/tmp"));
    CHECK(surface(*r, "/tmp")->kind == SurfaceKind::WorldWritableDir);
    REQUIRE(surface(*r, "/var/spool/drop"));
    CHECK(surface(*r, "/var/spool/drop")->kind == SurfaceKind::WorldWritableDirNoSticky);
    CHECK(surface(*r, "/etc/dpkg-helper") == nullptr);  // not in a bin directory
    // Unused items come first.
    CHECK(!r->surface.front().used);
    CHECK(r->surface.back().used);
}

TEST_CASE("squarify fills the area exactly with rectangles proportional to the weights")
{
    const std::vector<double> w = {50, 20, 10, 10, 5, 3, 1, 1};
    const Rect area{0, 0, 960, 420};
    auto rects = squarify(w, area);
    REQUIRE(rects.size() == w.size());
    double sum = 0;
    for (size_t i = 0; i < w.size(); ++i) {
        const Rect& r = rects[i];
        CHECK(r.w * r.h == doctest::Approx(w[i] / 100.0 * 960 * 420).epsilon(1e-9));
        CHECK(r.x >= -1e-9);
        CHECK(r.y >= -1e-9);
        CHECK(r.x + r.w <= 960 + 1e-6);
        CHECK(r.y + r.h <= 420 + 1e-6);
        sum += r.w * r.h;
        for (size_t j = 0; j < i; ++j) {  // no two rectangles overlap
            const Rect& o = rects[j];
            const double ox = std::min(r.x + r.w, o.x + o.w) - std::max(r.x, o.x);
            const double oy = std::min(r.y + r.h, o.y + o.h) - std::max(r.y, o.y);
            CHECK((ox <= 1e-6 || oy <= 1e-6));
        }
    }
    CHECK(sum == doctest::Approx(960.0 * 420.0));
    // Squarified: the largest item is not a sliver.
    CHECK(std::max(rects[0].w, rects[0].h) / std::min(rects[0].w, rects[0].h) < 3.0);
}

TEST_CASE("audit JSON carries the plain figure names and the HTML is self-contained")
{
    MergedUsrRoot m;
    auto used = used_paths_from_list({"/bin/sh"}, m.root);
    REQUIRE(used);
    auto r = audit_root(m.root, *used);
    REQUIRE(r);
    auto j = nlohmann::json::parse(audit_to_json(*r, m.root));
    CHECK(j["schema_version"] == kAuditSchemaVersion);
    for (const char* k : {"total_bytes", "used_bytes", "unused_bytes", "total_files",
                          "used_files", "unused_files", "unused_share", "slim_bytes"})
        CHECK_MESSAGE(j.contains(k), k);
    CHECK(j["used_bytes"] == 100);
    CHECK(j["slim_bytes"] == j["used_bytes"]);
    CHECK(j["total_bytes"].get<uint64_t>() ==
          j["used_bytes"].get<uint64_t>() + j["unused_bytes"].get<uint64_t>());
    bool found = false;
    for (const auto& p : j["by_package"])
        if (p["name"] == "python3.11-minimal") {
            found = true;
            CHECK(p["unused_bytes"] == 200);
            CHECK(p["used_bytes"] == 0);
        }
    CHECK(found);
    CHECK(j["surface"][0].contains("path"));
    CHECK(j["surface"][0].contains("kind"));
    CHECK(j["surface"][0].contains("used"));

    const std::string html = audit_to_html(*r, m.root);
    CHECK(html.find("<title>python3.11-minimal: 200 B unused") != std::string::npos);
    CHECK(html.find("/bin/sh") != std::string::npos);
    CHECK(html.find("src=") == std::string::npos);
    CHECK(html.find("href=") == std::string::npos);
    CHECK(html.find("@import") == std::string::npos);
}
