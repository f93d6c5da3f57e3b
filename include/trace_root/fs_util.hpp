// Small file-system helpers shared by the stages.
#pragma once

#include <string>

#include "trace_root/error.hpp"

namespace trace_root {

// Write `data` to `file` atomically: a temporary file in the same directory,
// then rename (no fsync, see fs_util.cpp). On any failure the temporary is
// removed and `file` is left as it was.
Result<void> write_file_atomic(const std::string& file, const std::string& data);

Result<std::string> read_file(const std::string& file, size_t max_bytes = size_t(1) << 30);

}  // namespace trace_root
