// End to end: a Debian minbase + python3 root made by debootstrap (cached in
// /var/tmp by make_debootstrap_root.sh), audited under a small Python workload
// run inside it, traced; then the HTML page rendered in headless Chromium and
// checked for what it shows and for making no network request. Needs root,
// BPF, the Debian mirror once, and Debian's chromium package.
#include <filesystem>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "../image/image_test_util.hpp"
#include "../support/run.hpp"

using namespace image_test;
using trace_root::testing::run;
namespace fs = std::filesystem;

namespace {

const std::string kBin = TRACE_ROOT_BIN;
const std::string kScript = MAKE_DEBOOTSTRAP_ROOT;
const std::string kStatic = FX_AUDIT_STATIC;

std::vector<std::string> chromium(const std::string& profile, const std::string& netlog)
{
    return {"/usr/bin/timeout", "180", "/usr/bin/chromium", "--headless", "--no-sandbox",
            "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--user-data-dir=" + profile,
            "--log-net-log=" + netlog};
}

// URL requests in a Chromium net log that a page started. Chromium's own
// background requests carry the initiator "not an origin"; a request from a
// file:// page carries "null" (its opaque origin).
std::vector<std::string> page_requests(const std::string& netlog)
{
    std::vector<std::string> out;
    auto j = nlohmann::json::parse(read_all(netlog), nullptr, false);
    REQUIRE_MESSAGE(!j.is_discarded(), "cannot parse the net log " << netlog);
    for (const auto& e : j["events"]) {
        if (!e.contains("params") || !e["params"].is_object())
            continue;
        const auto& p = e["params"];
        if (p.contains("url") && p.contains("initiator") && p["initiator"] != "not an origin")
            out.push_back(p["url"].get<std::string>());
    }
    return out;
}

}  // namespace

TEST_CASE("a debootstrap root under a Python workload: mostly unused, python3 used, "
          "and the HTML page shows it in Chromium without network requests")
{
    // Step 1: the root (built once; a failure to reach the mirror fails here).
    auto made = run({"/bin/sh", kScript});
    REQUIRE_MESSAGE(made.exit_status == 0, "make_debootstrap_root.sh failed:\n" << made.err);
    std::string root = made.out;
    while (!root.empty() && root.back() == '\n')
        root.pop_back();
    REQUIRE(fs::is_directory(root + "/usr/bin"));

    // Step 2: the audit, the workload traced inside the root.
    TempDir t;
    auto r = run({kBin, "audit", "--image", root, "--json", t / "audit.json", "--html",
                  t / "audit.html", "--", "python3", "-c", "import json; print(json.dumps([1]))"});
    REQUIRE_MESSAGE(r.exit_status == 0, r.err);
    // The workload ran; its output went to stderr, stdout holds the table only.
    CHECK(r.err.find("[1]\n") != std::string::npos);
    CHECK(r.out.find("[1]\n") == std::string::npos);
    CHECK(r.out.find("attack surface:") != std::string::npos);

    auto j = nlohmann::json::parse(read_all(t / "audit.json"));
    CHECK(j["unused_share"].get<double>() > 0.6);
    CHECK(j["used_bytes"].get<uint64_t>() > 1000000);  // python3.11 and libc at least
    bool python_used = false;
    for (const auto& p : j["by_package"])
        if (p["name"] == "python3.11-minimal")
            python_used = p["used_bytes"].get<uint64_t>() > 0;
    CHECK(python_used);
    bool shell = false, package_manager = false, bin_sh = false;
    for (const auto& s : j["surface"]) {
        shell |= s["kind"] == "shell" && s["used"] == false;
        package_manager |= s["kind"] == "package_manager" && s["used"] == false;
        for (const auto& a : s["aliases"])
            bin_sh |= a == "/bin/sh";
        bin_sh |= s["path"] == "/bin/sh";
    }
    CHECK(shell);
    CHECK(package_manager);
    CHECK(bin_sh);

    // Step 3: the page as Chromium renders it.
    fs::create_directories(t / "profile");
    auto argv = chromium(t / "profile", t / "netlog.json");
    argv.push_back("--dump-dom");
    argv.push_back("file://" + (t / "audit.html"));
    auto dom = run(argv);
    REQUIRE_MESSAGE(dom.exit_status == 0, "chromium failed:\n" << dom.err);
    const size_t pkgs = dom.out.find("id=\"treemap-packages\"");
    REQUIRE(pkgs != std::string::npos);
    const std::string treemap = dom.out.substr(pkgs, dom.out.find("</svg>", pkgs) - pkgs);
    int named = 0;
    for (const auto& p : j["by_package"]) {
        if (named == 3)
            break;
        if (p["name"] == "(no package)")
            continue;
        const std::string title = "<title>" + p["name"].get<std::string>() + ": ";
        CHECK_MESSAGE(treemap.find(title) != std::string::npos, title);
        CHECK(treemap.find("<rect class=\"unused\"") != std::string::npos);
        ++named;
    }
    CHECK(named == 3);
    const size_t surface = dom.out.find("id=\"surface\"");
    REQUIRE(surface != std::string::npos);
    CHECK(dom.out.find("<code>/bin/sh</code>", surface) != std::string::npos);
    CHECK_MESSAGE(page_requests(t / "netlog.json").empty(),
                  "the page made requests: " << page_requests(t / "netlog.json")[0]);

    // The check above sees requests: a page that makes one is caught.
    write_file(t / "control.html", "<html><body><img src=\"http://127.0.0.1:9/x.png\">"
                                   "</body></html>");
    fs::create_directories(t / "profile2");
    auto control = chromium(t / "profile2", t / "netlog2.json");
    control.push_back("--dump-dom");
    control.push_back("file://" + (t / "control.html"));
    REQUIRE(run(control).exit_status == 0);
    CHECK(!page_requests(t / "netlog2.json").empty());

    // A screenshot, for people to look at (the test only checks it exists).
    auto shot = chromium(t / "profile", t / "netlog3.json");
    shot.push_back("--window-size=1100,1400");
    shot.push_back("--screenshot=" + (t / "audit.png"));
    shot.push_back("file://" + (t / "audit.html"));
    REQUIRE(run(shot).exit_status == 0);
    CHECK(fs::file_size(t / "audit.png") > 10000);
}

TEST_CASE("without a COMMAND the image's Entrypoint and Cmd run inside it, with its Env")
{
    TempDir t;
    const std::string app = read_all(kStatic);
    REQUIRE(app.size() > 10000);
    const std::string layer = make_tar({
        {"app", 'f', app, 0755},
        {"etc", 'd', "", 0755},
        {"etc/app.conf", 'f', std::string(500, 'c'), 0644},
        {"etc/unused.conf", 'f', std::string(800, 'u'), 0644},
        {"bin", 'd', "", 0755},
        {"bin/sh", 'f', std::string(300, 's'), 0755},
    });
    const std::string config =
        R"({"architecture":"amd64","os":"linux","config":{"Entrypoint":["/app"],)"
        R"("Cmd":["/etc/app.conf"],"Env":["APP_MODE=audit"]},)"
        R"("rootfs":{"type":"layers","diff_ids":["sha256:)" + sha256_hex(layer) + "\"]}}";
    write_file(t / "image.tar",
               make_tar({{"l0", 'd', "", 0755},
                         {"l0/layer.tar", 'f', layer},
                         {"config.json", 'f', config},
                         {"manifest.json", 'f',
                          R"([{"Config":"config.json","RepoTags":["s:1"],)"
                          R"("Layers":["l0/layer.tar"]}])"}}));
    auto r = run({kBin, "audit", "--image", t / "image.tar", "--json", t / "audit.json"});
    REQUIRE_MESSAGE(r.exit_status == 0, r.err);
    CHECK(r.err.find("exited with status") == std::string::npos);  // APP_MODE reached it
    CHECK(r.err.find("read 64 bytes") != std::string::npos);
    auto j = nlohmann::json::parse(read_all(t / "audit.json"));
    CHECK(j["used_bytes"] == app.size() + 500);
    CHECK(j["unused_bytes"] == 800 + 300);
    CHECK(j["used_files"] == 2);
    CHECK(j["unused_files"] == 2);
}
