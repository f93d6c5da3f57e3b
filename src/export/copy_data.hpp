// Copying one regular file's bytes as fast as the file systems allow.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace trace_root {

// Copies `size` bytes of `src` into the empty file `dst`. Tries a reflink
// (FICLONE) first, then copies data extents only (SEEK_DATA/SEEK_HOLE) with
// copy_file_range(), falling back to read()/write() where copy_file_range is
// not supported between the two file systems. Holes stay holes. Returns 0 or
// an errno value (ENOSPC, EIO, ...).
int copy_file_data(int src, int dst, uint64_t size);

}  // namespace trace_root
