// Internal to the ELF part of the resolve stage: parsing entry points that
// the closure uses on files it has already opened inside the root.
#pragma once

#include <cstddef>
#include <string>

#include "trace_root/elf.hpp"

namespace trace_root::elf_detail {

// Parses `size` bytes at `image`, which libelf may write to (a private copy
// or a MAP_PRIVATE mapping).
Result<ElfInfo> parse_elf_image(char* image, size_t size, const std::string& origin);

// Maps the regular file open on `fd` (of `size` bytes) privately and parses it.
Result<ElfInfo> read_elf_fd(int fd, size_t size, const std::string& origin);

}  // namespace trace_root::elf_detail
