// Writing a slim root as a reproducible, single-layer OCI image.
//
// write_image() packs a root directory into one layer tar (pax format, numeric
// owners, modes, mtimes, hardlinks, extended attributes including file
// capabilities), compresses it (gzip or zstd), and writes an OCI image layout
// archive: oci-layout, index.json and blobs/sha256/..., plus a docker-style
// manifest.json so `docker load` reads the same file. The same root and
// options give a byte-identical archive.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trace_root/error.hpp"

namespace trace_root {

enum class Compression { Gzip, Zstd };

struct ImageOptions {
    std::string root;    // directory that becomes "/" of the image
    std::string output;  // the archive to write (written to a temporary name, then renamed)
    // Exec form only (see parse_exec_form). Unset: not recorded in the config.
    std::optional<std::vector<std::string>> entrypoint;
    std::optional<std::vector<std::string>> cmd;
    std::vector<std::string> env;              // "KEY=VALUE", in the order given
    std::string workdir;                       // absolute path, or empty
    std::string user;                          // "UID" or "UID:GID" (numeric), or empty
    std::map<std::string, std::string> labels;
    std::string tag;  // "NAME[:TAG]" (TAG defaults to "latest"), or empty for no name
    Compression compression = Compression::Gzip;
    // Clamp every timestamp to this (seconds since the epoch) and use it as the
    // creation time. Unset: taken from the SOURCE_DATE_EPOCH environment
    // variable when that is set; otherwise timestamps are kept and the
    // creation time is the epoch (1970-01-01T00:00:00Z), so output stays
    // reproducible.
    std::optional<int64_t> source_date_epoch;
};

struct ImageResult {
    std::string manifest_digest;  // "sha256:..." of the OCI manifest
    std::string config_digest;
    std::string layer_digest;     // of the compressed layer blob
    std::string diff_id;          // of the uncompressed layer tar
    uint64_t layer_bytes = 0;     // compressed layer size
    uint64_t entries = 0;         // members in the layer
    std::vector<std::string> warnings;  // things left out of the layer (sockets), for stderr
};

Result<ImageResult> write_image(const ImageOptions& options);

// Parse an --entrypoint/--cmd value: a JSON array of strings. A plain string
// (shell form) is refused: it needs /bin/sh, which a slim image lacks.
Result<std::vector<std::string>> parse_exec_form(std::string_view json, std::string_view flag);

// Check and complete a "NAME[:TAG]" image name; returns "NAME:TAG".
Result<std::string> normalize_image_tag(std::string_view tag);

// The OCI/Go names for this machine ("amd64", "arm64", ...), and the variant
// ("v8" for arm64, "v7" for 32-bit arm, empty otherwise).
struct Platform {
    std::string architecture;
    std::string os;
    std::string variant;
};
Platform host_platform();

}  // namespace trace_root
