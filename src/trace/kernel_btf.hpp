// The small CO-RE BTF embedded at build time (bpf/embed_btf.cmake), and the
// check that it fits the running kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "trace_root/bpf_events.h"

struct bpf_insn;

namespace trace_root {

struct EmbeddedBtf {
    const unsigned char* btf;
    size_t btf_size;      // 0: nothing embedded
    const unsigned char* notes;  // /sys/kernel/notes of the build machine
    size_t notes_size;
    uint64_t vmlinux_size;       // size of its /sys/kernel/btf/vmlinux
    // Ids in that kernel's full BTF, all 0 when it lacked one: the kfunc
    // bpf_rdonly_cast and the structs the programs cast pointers to. Valid
    // exactly when the small BTF matches the running kernel.
    uint32_t rdonly_cast_id;
    tr_btf_ids types;
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

// SHA-256 (64 hex digits) over trace.bpf.o, the small BTF, its ids and the
// source of the syscall decoding table, taken at build time by
// bpf/embed_btf.cmake: what decides the programs the kernel is given.
extern const char kBpfObjectDigest[];

// Rewrites each call of the placeholder helper TR_CAST_CALL in `insns`
// (see tr_cast in bpf/trace.bpf.c): into a call of the kfunc with BTF id
// `kfunc_id`, or, when `kfunc_id` is 0, into `r0 = r1`, which leaves a
// scalar that the verifier refuses to dereference (that code must be dead
// then). Returns how many calls were rewritten. Any instructions are safe.
size_t rewrite_cast_calls(bpf_insn* insns, size_t count, uint32_t kfunc_id);

}  // namespace trace_root
