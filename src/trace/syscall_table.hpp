// The table that tells the kernel side how to decode each file syscall.
#pragma once

#include <cstdint>
#include <vector>

#include "trace_root/bpf_events.h"

namespace trace_root {

struct SyscallEntry {
    uint32_t nr;
    const char* name;
    tr_syscall decode;
};

// Every x86-64 syscall trace-root decodes, with its argument layout.
const std::vector<SyscallEntry>& traced_syscalls();

}  // namespace trace_root
