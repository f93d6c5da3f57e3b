// Reading images back into a directory, for audit.
//
// unpack_image() accepts a root file system directory (used as it is), an OCI
// image layout (directory or tar archive: index.json -> manifest -> layers),
// or a `docker save` archive (manifest.json -> Layers), and applies the layers
// in order into an empty destination directory, honouring whiteouts
// (".wh.NAME") and opaque directories (".wh..wh..opq").
//
// Every member is hostile input. A member path that is absolute or holds "..",
// a symlink whose target climbs above the image root, a hardlink to anything
// but an earlier member, and a member whose parent path goes through a symlink
// that leaves the root (absolute, or climbing "..") are errors that name the
// member. All writes are made relative to the destination with openat2()
// RESOLVE_BENEATH, so nothing is written outside it. A truncated archive or a
// blob whose digest or size does not match its descriptor is an error. On
// error the destination is emptied again.
//
// Symlinks are stored as they are: an absolute target such as
// "/usr/share/zoneinfo/UTC" means a path inside the image. Code that reads the
// unpacked root must therefore never follow a symlink with the host's root:
// use open_in_image() (RESOLVE_IN_ROOT) or lstat.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trace_root/error.hpp"

namespace trace_root {

enum class ImageKind { RootDirectory, OciLayout, DockerArchive };

// A content descriptor (OCI image spec), validated.
struct Descriptor {
    std::string media_type;
    std::string digest;  // "sha256:" + 64 lower-case hex digits
    int64_t size = 0;
    std::string platform_architecture, platform_os, platform_variant;  // empty when absent
};

struct OciIndex {
    std::vector<Descriptor> manifests;
};

struct OciManifest {
    Descriptor config;
    std::vector<Descriptor> layers;
};

struct DockerManifestEntry {
    std::string config;  // member path of the config JSON
    std::vector<std::string> repo_tags;
    std::vector<std::string> layers;  // member paths of the layer tars, in order
};

// What audit needs from an image config to run the workload.
struct ImageConfig {
    std::string architecture, os;
    std::vector<std::string> diff_ids;
    std::optional<std::vector<std::string>> entrypoint, cmd;
    std::vector<std::string> env;
    std::string working_dir, user;
};

// Parsers of outside JSON: every field's type and form is checked.
Result<OciIndex> parse_oci_index(std::string_view json);
Result<OciManifest> parse_oci_manifest(std::string_view json);
Result<std::vector<DockerManifestEntry>> parse_docker_manifest(std::string_view json);
Result<ImageConfig> parse_image_config(std::string_view json);
Result<void> check_digest(std::string_view digest);

// A tar member path made relative and canonical: "./a//b/" -> "a/b", "." or
// "./" -> "" (the root itself). Absolute paths, ".." components, empty
// names, components over 255 bytes and paths over 4096 bytes are errors.
Result<std::string> normalize_member_path(std::string_view raw);

// A symlink member at `member` (normalized) pointing to `target`: an error
// when resolving `target` textually from the member's directory (or from the
// image root when absolute) climbs above the image root.
Result<void> check_symlink_target(std::string_view member, std::string_view target);

struct UnpackResult {
    ImageKind kind = ImageKind::RootDirectory;
    std::string root;                   // the image itself for a directory, else dest
    std::optional<ImageConfig> config;  // absent for a plain root directory
    size_t layers = 0;
    uint64_t members = 0;               // tar members applied, whiteouts included
    std::vector<std::string> warnings;  // members that could not be applied in full
};

// Unpack `image` into `dest` (created if missing; must be empty if present).
// A plain root directory is not copied: result.root is `image` then.
Result<UnpackResult> unpack_image(const std::string& image, const std::string& dest);

// Open `path` (relative to the image root) inside the unpacked image,
// resolving symlinks as the container would (openat2 RESOLVE_IN_ROOT).
// Returns an owned file descriptor.
Result<int> open_in_image(int root_fd, const std::string& path, int flags);

}  // namespace trace_root
