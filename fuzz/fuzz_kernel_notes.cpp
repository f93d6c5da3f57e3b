// Fuzzes the walk over /sys/kernel/notes that looks for the kernel's build
// ID: whatever the bytes, it must never read past them.
#include <cstdint>
#include <vector>

#include "kernel_btf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    // A heap copy of exactly `size` bytes, so ASan sees any overrun.
    std::vector<unsigned char> notes(data, data + size);
    trace_root::notes_have_build_id(notes.data(), notes.size());
    return 0;
}
