// Internal: pack a root directory into one compressed layer blob.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "trace_root/error.hpp"
#include "trace_root/image.hpp"

namespace trace_root::image_detail {

struct LayerBlob {
    std::string digest;   // of the compressed bytes written to the blob file
    std::string diff_id;  // of the uncompressed tar
    uint64_t size = 0;
    uint64_t entries = 0;
    std::vector<std::string> warnings;
};

// Write the layer for `root` to `blob_file` (created, truncated). Timestamps
// later than `clamp` (when set) are lowered to it.
Result<LayerBlob> write_layer(const std::string& root, const std::string& blob_file,
                              Compression compression, std::optional<int64_t> clamp);

}  // namespace trace_root::image_detail
