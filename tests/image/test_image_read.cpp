// Tests of unpack_image(): layers, whiteouts and opaque directories in a
// docker-save-style archive built here with libarchive, OCI layouts, and
// hostile archives that must fail clearly without writing outside the
// destination.
#include <doctest/doctest.h>

#include "image_test_util.hpp"
#include "trace_root/image.hpp"
#include "trace_root/image_read.hpp"

using namespace trace_root;
using namespace image_test;

namespace {

std::string docker_config(size_t layers)
{
    std::string ids;
    for (size_t i = 0; i < layers; ++i)
        ids += std::string(i ? "," : "") + "\"sha256:" + std::string(64, 'a') + "\"";
    return R"({"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/app"],"Env":["A=1"]},)"
           R"("rootfs":{"type":"layers","diff_ids":[)" +
           ids + "]}}";
}

// A `docker save` layout: manifest.json, a config, one tar per layer.
std::string docker_archive(const std::vector<std::string>& layers,
                           TarCompression c = TarCompression::None)
{
    std::vector<TarMember> outer;
    std::string list;
    for (size_t i = 0; i < layers.size(); ++i) {
        const std::string name = "layer" + std::to_string(i) + "/layer.tar";
        outer.push_back({"layer" + std::to_string(i), 'd', "", 0755});
        outer.push_back({name, 'f', layers[i]});
        list += std::string(i ? "," : "") + "\"" + name + "\"";
    }
    outer.push_back({"config.json", 'f', docker_config(layers.size())});
    outer.push_back({"manifest.json", 'f',
                     R"([{"Config":"config.json","RepoTags":["t:1"],"Layers":[)" + list + "]}]"});
    return make_tar(outer, c);
}

// Everything a test may have written lives in t; "outside" must stay empty.
struct Sandbox {
    TempDir t;
    std::string outside = t / "outside";
    std::string dest = t / "dest";
    std::string image = t / "image.tar";
    Sandbox() { fs::create_directories(outside); }
};

Result<UnpackResult> unpack_layers(Sandbox& s, const std::vector<std::string>& layers)
{
    write_file(s.image, docker_archive(layers));
    return unpack_image(s.image, s.dest);
}

void check_failed_cleanly(Sandbox& s, const Result<UnpackResult>& r, const std::string& needle)
{
    REQUIRE(!r);
    INFO(r.error().message);
    CHECK(r.error().message.find(needle) != std::string::npos);
    CHECK(dir_is_empty(s.outside));
    CHECK((!fs::exists(s.dest) || dir_is_empty(s.dest)));
    // Nothing else appeared next to the image either.
    for (const auto& e : fs::directory_iterator(s.t.path()))
        CHECK((e.path() == s.outside || e.path() == s.dest || e.path() == s.image));
}

}  // namespace

TEST_CASE("docker save archive: layers apply in order with whiteouts and opaque directories")
{
    Sandbox s;
    const std::string lower = make_tar({
        {"etc", 'd', "", 0755},
        {"etc/keep", 'f', "keep"},
        {"etc/gone", 'f', "gone"},
        {"opaque", 'd', "", 0755},
        {"opaque/old", 'f', "old"},
        {"opaque/sub", 'd', "", 0755},
        {"opaque/sub/older", 'f', "older"},
        {"bin", 'd', "", 0755},
        {"bin/app", 'f', "v1", 0755},
        {"bin/app-link", 'h', "bin/app"},
        {"lib", 'l', "usr/lib"},
        {"usr/lib/libx.so", 'f', "elf"},
    });
    // The opaque marker comes after the new member on purpose: order within
    // a layer must not matter.
    const std::string upper = make_tar(
        {
            {"etc/.wh.gone", 'f', ""},
            {"opaque/new", 'f', "new"},
            {"opaque/.wh..wh..opq", 'f', ""},
            {"bin/app", 'f', "v2", 0755},
            {"lib/libx.so.1", 'f', "through relative symlink"},
            {"etc/.wh.never-existed", 'f', ""},
        },
        TarCompression::Gzip);
    auto r = unpack_layers(s, {lower, upper});
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->kind == ImageKind::DockerArchive);
    CHECK(r->layers == 2);
    CHECK(r->root == s.dest);
    REQUIRE(r->config);
    CHECK(r->config->cmd == std::vector<std::string>{"/bin/app"});
    CHECK(read_all(s.dest + "/etc/keep") == "keep");
    CHECK(!fs::exists(s.dest + "/etc/gone"));
    CHECK(!fs::exists(s.dest + "/etc/.wh.gone"));
    CHECK(read_all(s.dest + "/opaque/new") == "new");
    CHECK(!fs::exists(s.dest + "/opaque/old"));
    CHECK(!fs::exists(s.dest + "/opaque/sub"));
    CHECK(!fs::exists(s.dest + "/opaque/.wh..wh..opq"));
    CHECK(read_all(s.dest + "/bin/app") == "v2");
    // The hardlink kept the lower layer's inode; the upper layer replaced the name.
    CHECK(read_all(s.dest + "/bin/app-link") == "v1");
    CHECK(read_all(s.dest + "/usr/lib/libx.so.1") == "through relative symlink");
    CHECK(dir_is_empty(s.outside));
}

TEST_CASE("an OCI layout directory unpacks like its archive")
{
    Sandbox s;
    fs::create_directories(s.t / "root/bin");
    write_file(s.t / "root/bin/x", "x", 0755);
    ImageOptions o;
    o.root = s.t / "root";
    o.output = s.image;
    REQUIRE(write_image(o));
    fs::create_directories(s.t / "layout");
    REQUIRE(run("tar xf " + s.image + " -C " + s.t / "layout") == 0);
    auto r = unpack_image(s.t / "layout", s.dest);
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->kind == ImageKind::OciLayout);
    CHECK(read_all(s.dest + "/bin/x") == "x");
}

TEST_CASE("a root directory is used as it is")
{
    Sandbox s;
    fs::create_directories(s.t / "root/etc");
    auto r = unpack_image(s.t / "root", s.dest);
    REQUIRE(r);
    CHECK(r->kind == ImageKind::RootDirectory);
    CHECK(r->root == s.t / "root");
    CHECK(!r->config);
}

TEST_CASE("layers and image archives are read plain, gzip-, zstd- or xz-compressed")
{
    const std::string lower = make_tar({{"etc", 'd', "", 0755}, {"etc/a", 'f', "plain"}});
    const std::string middle = make_tar({{"etc/b", 'f', "gzip"}}, TarCompression::Gzip);
    const std::string upper = make_tar({{"etc/c", 'f', "zstd"}}, TarCompression::Zstd);
    for (TarCompression outer : {TarCompression::None, TarCompression::Gzip,
                                 TarCompression::Zstd, TarCompression::Xz}) {
        Sandbox s;
        write_file(s.image, docker_archive({lower, middle, upper}, outer));
        auto r = unpack_image(s.image, s.dest);
        REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
        CHECK(r->layers == 3);
        CHECK(read_all(s.dest + "/etc/a") == "plain");
        CHECK(read_all(s.dest + "/etc/b") == "gzip");
        CHECK(read_all(s.dest + "/etc/c") == "zstd");
    }
}

// Only the magic bytes matter here: trace-root has no decompressor for these,
// so the rest is never read.
TEST_CASE("an archive or a layer in a compression trace-root does not read is refused by name")
{
    const std::string junk(4096, 'j');
    const std::string lz4 = std::string("\x04\x22\x4D\x18") + junk;
    const std::string lzip = "LZIP" + junk;
    {
        Sandbox s;
        write_file(s.image, lz4);
        auto r = unpack_image(s.image, s.dest);
        check_failed_cleanly(s, r, s.image + ": it is lz4-compressed");
        CHECK(r.error().hint.find("lz4 -d") != std::string::npos);
    }
    {
        Sandbox s;
        auto r = unpack_layers(s, {make_tar({{"a", 'f', "1"}}), lzip});
        check_failed_cleanly(s, r, "layer1/layer.tar: the layer is lzip-compressed");
    }
}

TEST_CASE("a truncated image archive is a clear error and leaves nothing behind")
{
    Sandbox s;
    std::string big(200000, 'z');
    for (size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>('a' + (i * 7919) % 26);
    const std::string archive =
        docker_archive({make_tar({{"a", 'f', big}, {"b", 'f', big}})});
    // Cut inside the layer's data: headers are read, the data runs out.
    write_file(s.image, archive.substr(0, 2048 + 100000));
    auto r = unpack_image(s.image, s.dest);
    check_failed_cleanly(s, r, "truncated");
}

TEST_CASE("a truncated layer inside a whole archive is a clear error")
{
    Sandbox s;
    const std::string layer = make_tar({{"a", 'f', std::string(50000, 'q')}});
    auto r = unpack_layers(s, {layer.substr(0, 20000)});
    check_failed_cleanly(s, r, "truncated");
}

TEST_CASE("a member with .. is refused, naming the member")
{
    Sandbox s;
    auto r = unpack_layers(s, {make_tar({{"ok", 'f', "1"}, {"x/../../outside/pwned", 'f', "!"}})});
    check_failed_cleanly(s, r, "x/../../outside/pwned");
}

TEST_CASE("an absolute member path is refused")
{
    Sandbox s;
    auto r = unpack_layers(s, {make_tar({{s.outside + "/pwned", 'f', "!"}})});
    check_failed_cleanly(s, r, "absolute");
}

TEST_CASE("writing through an absolute symlink that escapes the root is refused")
{
    Sandbox s;
    auto r = unpack_layers(s, {make_tar({{"evil", 'l', s.outside}, {"evil/pwned", 'f', "!"}})});
    check_failed_cleanly(s, r, "evil/pwned");
    CHECK(r.error().message.find("symlink") != std::string::npos);
}

TEST_CASE("an absolute symlink in a lower layer cannot be written through by an upper layer")
{
    Sandbox s;
    auto r = unpack_layers(s, {make_tar({{"etc", 'l', "/etc"}}),
                               make_tar({{"etc/passwd", 'f', "root::0:0::/:/bin/sh\n"}})});
    check_failed_cleanly(s, r, "etc/passwd");
}

TEST_CASE("a symlink whose target climbs above the root is refused")
{
    Sandbox s;
    auto r = unpack_layers(s, {make_tar({{"a", 'd', "", 0755}, {"a/up", 'l', "../../outside"}})});
    check_failed_cleanly(s, r, "climbs above the image root");
}

TEST_CASE("a hardlink to a path outside the image is refused")
{
    Sandbox s;
    write_file(s.outside + "/target", "host file");
    auto r = unpack_layers(s, {make_tar({{"h", 'h', "../outside/target"}})});
    REQUIRE(!r);
    CHECK(r.error().message.find("hardlink") != std::string::npos);
    CHECK(dir_is_empty(s.dest));
    fs::remove(s.outside + "/target");
    auto r2 = unpack_layers(s, {make_tar({{"h", 'h', s.outside + "/target"}})});
    check_failed_cleanly(s, r2, "hardlink");
}

TEST_CASE("an absolute symlink that stays inside is kept as it is")
{
    Sandbox s;
    auto r = unpack_layers(s, {make_tar({{"etc", 'd', "", 0755},
                                         {"etc/localtime", 'l', "/usr/share/zoneinfo/UTC"}})});
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(fs::read_symlink(s.dest + "/etc/localtime") == "/usr/share/zoneinfo/UTC");
    // Reading it inside the image resolves in the image, not on the host.
    const int root = open(s.dest.c_str(), O_RDONLY | O_DIRECTORY);
    write_file(s.dest + "/hostname", "inside");
    symlink("/hostname", (s.dest + "/etc/hn").c_str());
    auto fd = open_in_image(root, "etc/hn", O_RDONLY);
    REQUIRE(fd);
    char buf[16] = {};
    CHECK(read(*fd, buf, sizeof buf) == 6);
    CHECK(std::string(buf) == "inside");
    close(*fd);
    close(root);
}

TEST_CASE("an OCI blob that does not match its digest is refused")
{
    Sandbox s;
    fs::create_directories(s.t / "root");
    write_file(s.t / "root/f", "original");
    ImageOptions o;
    o.root = s.t / "root";
    o.output = s.t / "good.tar";
    auto w = write_image(o);
    REQUIRE(w);
    fs::create_directories(s.t / "layout");
    REQUIRE(run("tar xf " + o.output + " -C " + s.t / "layout") == 0);
    const std::string blob = s.t / "layout/blobs/sha256/" + w->layer_digest.substr(7);
    std::string bytes = read_all(blob);
    // Replace the layer with another valid layer of another content.
    write_file(blob, make_tar({{"f", 'f', "tampered"}}, TarCompression::Gzip));
    auto r = unpack_image(s.t / "layout", s.dest);
    REQUIRE(!r);
    CHECK(r.error().message.find("descriptor") != std::string::npos);
    CHECK(dir_is_empty(s.dest));
}

TEST_CASE("unpacking into a non-empty directory is refused")
{
    Sandbox s;
    fs::create_directories(s.dest);
    write_file(s.dest + "/mine", "x");
    auto r = unpack_layers(s, {make_tar({{"a", 'f', "1"}})});
    REQUIRE(!r);
    CHECK(r.error().message.find("not empty") != std::string::npos);
    CHECK(read_all(s.dest + "/mine") == "x");
}

TEST_CASE("an archive that is not an image is a clear error")
{
    Sandbox s;
    write_file(s.image, make_tar({{"random", 'f', "1"}}));
    auto r = unpack_image(s.image, s.dest);
    REQUIRE(!r);
    CHECK(r.error().message.find("manifest.json") != std::string::npos);
    write_file(s.image, "not a tar at all, just some text that is long enough to look at");
    CHECK(!unpack_image(s.image, s.dest));
}

TEST_CASE("archives written by skopeo (docker-archive and OCI layout) unpack to the same root")
{
    Sandbox s;
    const std::string root = s.t / "root";
    fs::create_directories(root + "/usr/lib");
    write_file(root + "/usr/lib/libz.so.1", std::string(3000, 'z'), 0755);
    symlink("usr/lib", (root + "/lib").c_str());
    chown((root + "/usr/lib/libz.so.1").c_str(), 7, 8);
    ImageOptions o;
    o.root = root;
    o.output = s.image;
    REQUIRE(write_image(o));
    int st = 0;
    const std::string docker = s.t / "docker.tar";
    const std::string out1 = capture("skopeo copy -q oci-archive:" + s.image +
                                         " docker-archive:" + docker + ":skopeo/test:1",
                                     &st);
    REQUIRE_MESSAGE(st == 0, out1);
    auto r = unpack_image(docker, s.dest);
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->kind == ImageKind::DockerArchive);
    std::string diff = tree_diff(describe_tree(root), describe_tree(s.dest));
    CHECK_MESSAGE(diff.empty(), diff);

    const std::string layout = s.t / "layout";
    const std::string out2 =
        capture("skopeo copy -q oci-archive:" + s.image + " oci:" + layout + ":x", &st);
    REQUIRE_MESSAGE(st == 0, out2);
    const std::string dest2 = s.t / "dest2";
    auto r2 = unpack_image(layout, dest2);
    REQUIRE_MESSAGE(r2, (r2 ? "" : r2.error().message));
    CHECK(r2->kind == ImageKind::OciLayout);
    diff = tree_diff(describe_tree(root), describe_tree(dest2));
    CHECK_MESSAGE(diff.empty(), diff);
}
