// Tests of write_image() and `trace-root image`: real roots with real
// hardlinks, symlinks, owners, xattrs and file capabilities, checked with
// skopeo and umoci, and with our own reader.
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <cstring>

#include "image_test_util.hpp"
#include "trace_root/image.hpp"
#include "trace_root/image_read.hpp"

using namespace trace_root;
using namespace image_test;

namespace {

// A small root with every kind of thing a slim root holds.
void make_root(const std::string& root)
{
    fs::create_directories(root + "/usr/bin");
    fs::create_directories(root + "/etc/ssl");
    fs::create_directories(root + "/var/empty");
    fs::copy_file("/bin/true", root + "/usr/bin/true");
    chmod((root + "/usr/bin/true").c_str(), 0755);
    write_file(root + "/etc/hostname", "slim\n");
    write_file(root + "/etc/ssl/key", "secret", 0600);
    chown((root + "/etc/ssl/key").c_str(), 1234, 5678);
    write_file(root + "/usr/bin/suid", "#!x", 04755);
    link((root + "/etc/hostname").c_str(), (root + "/etc/hostname.again").c_str());
    symlink("usr/bin", (root + "/bin").c_str());
    symlink("/etc/hostname", (root + "/etc/abs-link").c_str());
    setxattr((root + "/etc/hostname").c_str(), "user.note", "kept", 4, 0);
    REQUIRE(run("setcap cap_net_bind_service+ep " + root + "/usr/bin/true") == 0);
    chmod((root + "/var/empty").c_str(), 01777);
}

ImageOptions options(const TempDir& t)
{
    ImageOptions o;
    o.root = t / "root";
    o.output = t / "image.tar";
    o.cmd = std::vector<std::string>{"/usr/bin/true"};
    o.env = {"PATH=/usr/bin"};
    o.tag = "slim:1";
    return o;
}

}  // namespace

TEST_CASE("image archive is accepted by skopeo and umoci and unpacks to the same root")
{
    TempDir t;
    make_root(t / "root");
    auto r = write_image(options(t));
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    int st = 0;
    const std::string inspect = capture("skopeo inspect oci-archive:" + t / "image.tar", &st);
    REQUIRE_MESSAGE(st == 0, inspect);
    CHECK(inspect.find(r->layer_digest) != std::string::npos);
    CHECK(inspect.find("\"Architecture\": \"" + host_platform().architecture) != std::string::npos);

    const std::string copy = capture("skopeo copy -q oci-archive:" + t / "image.tar" + " oci:" +
                                         t / "layout" + ":slim",
                                     &st);
    REQUIRE_MESSAGE(st == 0, copy);
    const std::string unpack =
        capture("umoci unpack --image " + t / "layout" + ":slim " + t / "bundle", &st);
    REQUIRE_MESSAGE(st == 0, unpack);
    const auto want = describe_tree(t / "root");
    const auto got = describe_tree(t / "bundle/rootfs");
    CHECK_MESSAGE(tree_diff(want, got).empty(), tree_diff(want, got));
    // Spell out the ones that matter most, so a failure says what broke.
    CHECK(capture("getcap " + t / "bundle/rootfs/usr/bin/true").find("cap_net_bind_service") !=
          std::string::npos);
    struct stat key {};
    REQUIRE(lstat((t / "bundle/rootfs/etc/ssl/key").c_str(), &key) == 0);
    CHECK(key.st_uid == 1234);
    CHECK(key.st_gid == 5678);
    CHECK((key.st_mode & 07777) == 0600);
}

TEST_CASE("two builds of the same root are byte-identical, gzip and zstd")
{
    TempDir t;
    make_root(t / "root");
    for (Compression c : {Compression::Gzip, Compression::Zstd}) {
        ImageOptions o = options(t);
        o.compression = c;
        o.output = t / "a.tar";
        REQUIRE(write_image(o));
        o.output = t / "b.tar";
        REQUIRE(write_image(o));
        const std::string a = read_all(t / "a.tar"), b = read_all(t / "b.tar");
        CHECK(!a.empty());
        CHECK(a == b);
    }
}

TEST_CASE("a build in another process is byte-identical too")
{
    TempDir t;
    make_root(t / "root");
    ImageOptions o = options(t);
    o.output = t / "a.tar";
    REQUIRE(write_image(o));
    const pid_t pid = fork();
    if (pid == 0) {
        o.output = t / "b.tar";
        _exit(write_image(o) ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    REQUIRE(WEXITSTATUS(st) == 0);
    CHECK(read_all(t / "a.tar") == read_all(t / "b.tar"));
}

TEST_CASE("SOURCE_DATE_EPOCH clamps later timestamps and sets the creation time")
{
    TempDir t;
    fs::create_directories(t / "root/d");
    write_file(t / "root/new", "new");
    write_file(t / "root/old", "old");
    struct timeval old_tv[2] = {{500, 0}, {500, 0}};
    utimes((t / "root/old").c_str(), old_tv);
    ImageOptions o = options(t);
    setenv("SOURCE_DATE_EPOCH", "1000", 1);
    auto r = write_image(o);
    unsetenv("SOURCE_DATE_EPOCH");
    REQUIRE(r);
    auto u = unpack_image(o.output, t / "out");
    REQUIRE_MESSAGE(u, (u ? "" : u.error().message));
    struct stat st {};
    REQUIRE(lstat((t / "out/new").c_str(), &st) == 0);
    CHECK(st.st_mtime == 1000);
    REQUIRE(lstat((t / "out/old").c_str(), &st) == 0);
    CHECK(st.st_mtime == 500);
    const std::string tarlist = capture("tar tvf " + o.output + " --full-time index.json");
    CHECK(tarlist.find("1970-01-01 00:16:40") != std::string::npos);
    CHECK(capture("skopeo inspect oci-archive:" + o.output).find("1970-01-01T00:16:40Z") !=
          std::string::npos);

    setenv("SOURCE_DATE_EPOCH", "yesterday", 1);
    auto bad = write_image(o);
    unsetenv("SOURCE_DATE_EPOCH");
    REQUIRE(!bad);
    CHECK(bad.error().message.find("SOURCE_DATE_EPOCH") != std::string::npos);
}

TEST_CASE("the reader unpacks the writer's archive to the same root")
{
    TempDir t;
    make_root(t / "root");
    ImageOptions o = options(t);
    o.entrypoint = std::vector<std::string>{"/usr/bin/true", "x"};
    REQUIRE(write_image(o));
    auto u = unpack_image(o.output, t / "out");
    REQUIRE_MESSAGE(u, (u ? "" : u.error().message));
    CHECK(u->kind == ImageKind::OciLayout);
    CHECK(u->warnings.empty());
    REQUIRE(u->config);
    CHECK(u->config->entrypoint == std::vector<std::string>{"/usr/bin/true", "x"});
    CHECK(u->config->cmd == std::vector<std::string>{"/usr/bin/true"});
    CHECK(u->config->env == std::vector<std::string>{"PATH=/usr/bin"});
    const std::string diff = tree_diff(describe_tree(t / "root"), describe_tree(t / "out"));
    CHECK_MESSAGE(diff.empty(), diff);
}

TEST_CASE("shell-form entrypoint and cmd are refused with an explanation")
{
    auto r = parse_exec_form("/usr/bin/server --port 80", "--cmd");
    REQUIRE(!r);
    CHECK(r.error().hint.find("/bin/sh") != std::string::npos);
    auto s = parse_exec_form("\"/usr/bin/server --port 80\"", "--entrypoint");
    REQUIRE(!s);
    CHECK(s.error().message.find("shell form") != std::string::npos);
    CHECK(!parse_exec_form("[\"a\", 1]", "--cmd"));
    CHECK(!parse_exec_form("{\"a\": 1}", "--cmd"));
    auto ok = parse_exec_form("[\"/app\", \"-v\"]", "--cmd");
    REQUIRE(ok);
    CHECK(*ok == std::vector<std::string>{"/app", "-v"});
}

TEST_CASE("a missing root and bad options are refused and nothing is written")
{
    TempDir t;
    ImageOptions o;
    o.root = t / "nope";
    o.output = t / "image.tar";
    auto r = write_image(o);
    REQUIRE(!r);
    CHECK(r.error().message.find(t / "nope") != std::string::npos);
    CHECK(dir_is_empty(t.path()));

    fs::create_directories(t / "root");
    o.root = t / "root";
    o.user = "nobody";
    CHECK(!write_image(o));
    o.user = "65534:65534";
    o.workdir = "relative";
    CHECK(!write_image(o));
    o.workdir.clear();
    o.env = {"NOEQUALS"};
    CHECK(!write_image(o));
    o.env.clear();
    o.tag = "Bad/Name:x";
    CHECK(!write_image(o));
    o.tag = "ok:bad tag";
    CHECK(!write_image(o));
    o.tag.clear();
    o.output = t / "root/inside.tar";
    auto inside = write_image(o);
    REQUIRE(!inside);
    CHECK(inside.error().message.find("inside the image root") != std::string::npos);
    CHECK(fs::is_empty(t / "root"));
    o.output = t / "no-such-dir/image.tar";
    auto nodir = write_image(o);
    REQUIRE(!nodir);
    CHECK(nodir.error().message.find("no-such-dir") != std::string::npos);
    CHECK(!fs::exists(t / "image.tar"));
    CHECK(std::distance(fs::directory_iterator(t.path()), fs::directory_iterator()) == 1);
}

TEST_CASE("a file named like a whiteout marker is refused, not silently lost")
{
    TempDir t;
    fs::create_directories(t / "root");
    write_file(t / "root/.wh.data", "x");
    ImageOptions o = options(t);
    auto r = write_image(o);
    REQUIRE(!r);
    CHECK(r.error().message.find(".wh.data") != std::string::npos);
    CHECK(!fs::exists(o.output));
}

TEST_CASE("image tags are completed and checked")
{
    CHECK(*normalize_image_tag("app") == "app:latest");
    CHECK(*normalize_image_tag("localhost:5000/team/app") == "localhost:5000/team/app:latest");
    CHECK(*normalize_image_tag("registry.example.com/app:1.2") == "registry.example.com/app:1.2");
    CHECK(!normalize_image_tag("App:1"));
    CHECK(!normalize_image_tag("app:"));
    CHECK(!normalize_image_tag("app:-x"));
    CHECK(!normalize_image_tag("a//b:1"));
}

TEST_CASE("trace-root image writes the archive and prints the digest; bad flags fail clearly")
{
    TempDir t;
    make_root(t / "root");
    const std::string bin = TRACE_ROOT_BIN;
    int st = 0;
    const std::string out = capture("(" + bin + " image --root " + t / "root" + " --output " +
                                        t / "cli.tar" + " --cmd '[\"/usr/bin/true\"]' " +
                                        "--label org.example=1 --tag cli:2 --compression zstd " +
                                        "2>/dev/null)",
                                    &st);
    CHECK(st == 0);
    CHECK(out.rfind("sha256:", 0) == 0);  // stdout holds only the digest
    CHECK(out.size() == 7 + 64 + 1);
    CHECK(fs::exists(t / "cli.tar"));

    const std::string shell = capture(bin + " image --root " + t / "root" + " --output " +
                                          t / "x.tar" + " --cmd '/usr/bin/true --x'",
                                      &st);
    CHECK(st == 2);
    CHECK(shell.find("shell form") != std::string::npos);
    CHECK(shell.find("/bin/sh") != std::string::npos);

    const std::string missing =
        capture(bin + " image --root " + t / "missing" + " --output " + t / "x.tar", &st);
    CHECK(st == 2);
    CHECK(missing.find(t / "missing") != std::string::npos);
    CHECK(!fs::exists(t / "x.tar"));

    capture(bin + " image --root " + t / "root" + " --output " + t / "x.tar" +
                " --compression lzma",
            &st);
    CHECK(st != 0);
    CHECK(!fs::exists(t / "x.tar"));
}

TEST_CASE("a socket in the root is left out with a warning, not silently")
{
    TempDir t;
    fs::create_directories(t / "root/run");
    write_file(t / "root/run/keep", "k");
    const int s = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = t / "root/run/app.sock";
    REQUIRE(path.size() < sizeof addr.sun_path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    REQUIRE(bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    close(s);
    auto r = write_image(options(t));
    REQUIRE(r);
    REQUIRE(r->warnings.size() == 1);
    CHECK(r->warnings[0].find("app.sock") != std::string::npos);
    auto u = unpack_image(t / "image.tar", t / "out");
    REQUIRE(u);
    CHECK(read_all(t / "out/run/keep") == "k");
    CHECK(!fs::exists(t / "out/run/app.sock"));
}
