// The small CO-RE BTF embedded at build time (bpf/embed_btf.cmake), and the
// check that it fits the running kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace trace_root {

struct EmbeddedBtf {
    const unsigned char* btf;
    size_t btf_size;      // 0: nothing embedded
    const unsigned char* notes;  // /sys/kernel/notes of the build machine
    size_t notes_size;
    uint64_t vmlinux_size;       // size of its /sys/kernel/btf/vmlinux
};

extern const EmbeddedBtf kEmbeddedBtf;

// Whether the kernel notes (the bytes of /sys/kernel/notes) hold a GNU
// build-ID note. Bounds-checked: any bytes are safe.
bool notes_have_build_id(const unsigned char* notes, size_t size);

// Whether `embedded` was made from the kernel whose notes and BTF are at
// `notes_path` and `vmlinux_path`: the notes (which carry the kernel's
// build ID) must be byte for byte the same and hold a GNU build-ID note,
// and the BTF must have the same size. `why` says what differed.
bool embedded_btf_matches(const EmbeddedBtf& embedded, const std::string& notes_path,
                          const std::string& vmlinux_path, std::string& why);

// A file descriptor (memfd) holding the embedded BTF when it matches the
// running kernel, for libbpf's btf_custom_path as /proc/self/fd/N; -1 when
// the full kernel BTF must be used, with the reason in `why`.
int open_embedded_btf(std::string& why);

}  // namespace trace_root
