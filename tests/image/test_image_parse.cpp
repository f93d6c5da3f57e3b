// Tests of the pure checks of the image reader: member paths, symlink
// targets, and the JSON parsers.
#include <doctest/doctest.h>

#include "trace_root/image_read.hpp"

using namespace trace_root;

TEST_CASE("member paths are made relative and canonical")
{
    CHECK(*normalize_member_path("./a//b/") == "a/b");
    CHECK(*normalize_member_path("a/./b") == "a/b");
    CHECK(*normalize_member_path("./") == "");
    CHECK(*normalize_member_path("...") == "...");
    CHECK(*normalize_member_path("a/..b") == "a/..b");
}

TEST_CASE("member paths that could leave the root are refused")
{
    CHECK(!normalize_member_path(""));
    CHECK(!normalize_member_path("/etc/passwd"));
    CHECK(!normalize_member_path(".."));
    CHECK(!normalize_member_path("a/../../b"));
    CHECK(!normalize_member_path("a/.."));
    CHECK(!normalize_member_path(std::string("a\0b", 3)));
    CHECK(!normalize_member_path(std::string(300, 'x')));
    CHECK(!normalize_member_path(std::string(5000, '/').insert(0, "a")));
}

TEST_CASE("symlink targets that climb above the root are refused")
{
    CHECK(check_symlink_target("a/b/link", "../c"));
    CHECK(check_symlink_target("a/b/link", "../../c"));
    CHECK(!check_symlink_target("a/b/link", "../../../c"));
    CHECK(check_symlink_target("link", "/usr/share/zoneinfo/UTC"));
    CHECK(!check_symlink_target("link", "/../etc"));
    CHECK(!check_symlink_target("link", ".."));
    CHECK(check_symlink_target("a/link", "x/../../b"));
    CHECK(!check_symlink_target("a/link", "x/../../../b"));
    CHECK(!check_symlink_target("link", ""));
}

TEST_CASE("OCI index and manifest fields are validated")
{
    const std::string d = "sha256:" + std::string(64, 'b');
    auto idx = parse_oci_index(R"({"schemaVersion":2,"manifests":[{"mediaType":"application/)"
                               R"(vnd.oci.image.manifest.v1+json","digest":")" +
                               d + R"(","size":12,"platform":{"architecture":"arm64",)"
                                   R"("os":"linux"}}]})");
    REQUIRE_MESSAGE(idx, (idx ? "" : idx.error().message));
    REQUIRE(idx->manifests.size() == 1);
    CHECK(idx->manifests[0].platform_architecture == "arm64");
    CHECK(!parse_oci_index(R"({"schemaVersion":1,"manifests":[]})"));
    CHECK(!parse_oci_index(R"({"schemaVersion":2,"manifests":{}})"));
    CHECK(!parse_oci_index(R"({"schemaVersion":2,"manifests":[{"mediaType":"x",)"
                           R"("digest":"sha256:abc","size":1}]})"));
    CHECK(!parse_oci_index(R"({"schemaVersion":2,"manifests":[{"mediaType":"x","digest":")" + d +
                           R"(","size":-1}]})"));
    CHECK(!parse_oci_index("[1,2"));
    auto m = parse_oci_manifest(R"({"schemaVersion":2,"config":{"mediaType":"c","digest":")" + d +
                                R"(","size":3},"layers":[{"mediaType":"l","digest":")" + d +
                                R"(","size":4}]})");
    REQUIRE(m);
    CHECK(m->layers.size() == 1);
    CHECK(m->layers[0].size == 4);
    CHECK(!parse_oci_manifest(R"({"schemaVersion":2,"config":{"mediaType":"c","digest":")" + d +
                              R"(","size":"3"},"layers":[]})"));
    CHECK(!parse_oci_manifest(R"({"schemaVersion":2,"layers":[]})"));
    CHECK(!check_digest("sha256:" + std::string(64, 'B')));
    CHECK(!check_digest("sha512:" + std::string(128, 'b')));
}

TEST_CASE("docker manifest.json layer paths and config fields are validated")
{
    auto ok = parse_docker_manifest(
        R"([{"Config":"c.json","RepoTags":null,"Layers":["./l/x.tar"]}])");
    REQUIRE(ok);
    CHECK(ok->at(0).layers.at(0) == "l/x.tar");
    CHECK(!parse_docker_manifest(R"([{"Config":"c.json","Layers":["../x.tar"]}])"));
    CHECK(!parse_docker_manifest(R"([{"Config":"/c.json","Layers":[]}])"));
    CHECK(!parse_docker_manifest(R"([{"Config":"c.json","Layers":[1]}])"));
    CHECK(!parse_docker_manifest(R"({"Config":"c.json"})"));
    auto cfg = parse_image_config(R"({"architecture":"amd64","os":"linux","config":)"
                                  R"({"Entrypoint":["/a"],"Cmd":null,"User":"1:2"},)"
                                  R"("rootfs":{"type":"layers","diff_ids":[]}})");
    REQUIRE(cfg);
    CHECK(cfg->entrypoint == std::vector<std::string>{"/a"});
    CHECK(!cfg->cmd);
    CHECK(cfg->user == "1:2");
    CHECK(!parse_image_config(R"({"rootfs":{"type":"layers","diff_ids":["x"]}})"));
    CHECK(!parse_image_config(R"({"rootfs":{"type":"other","diff_ids":[]}})"));
    CHECK(!parse_image_config(R"({"config":{"Cmd":"sh"},"rootfs":{"type":"layers",)"
                              R"("diff_ids":[]}})"));
}
