// Deciding whether the small BTF cut at build time can stand in for the
// running kernel's full BTF. libbpf needs kernel BTF only to resolve the
// CO-RE relocations of trace.bpf.c; the small BTF holds exactly the types
// those name. Using it on a different kernel would give wrong field
// offsets, so it is used only when the kernel is provably the one it was
// cut from.
#include "kernel_btf.hpp"

#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "trace_root/bpf_events.h"

namespace trace_root {

namespace {

bool read_small_file(const std::string& path, std::vector<unsigned char>& out, size_t limit)
{
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    out.clear();
    unsigned char buf[4096];
    for (;;) {
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return n == 0;
        }
        if (out.size() + static_cast<size_t>(n) > limit) {
            close(fd);
            return false;
        }
        out.insert(out.end(), buf, buf + n);
    }
}

}  // namespace

// The notes are a sequence of ELF notes (32-bit namesz, descsz, type, then
// the name and the descriptor, each padded to 4 bytes), walked with bounds
// checks. A GNU build-ID note has namesz 4, type NT_GNU_BUILD_ID (3) and
// name "GNU\0".
bool notes_have_build_id(const unsigned char* notes, size_t size)
{
    size_t off = 0;
    auto word = [&](size_t at) {
        uint32_t v;
        std::memcpy(&v, notes + at, 4);
        return v;
    };
    auto align4 = [](uint64_t v) { return (v + 3) & ~uint64_t{3}; };
    while (size >= 12 && off <= size - 12) {
        const uint64_t namesz = word(off), descsz = word(off + 4), type = word(off + 8);
        const uint64_t name_at = off + 12;
        const uint64_t desc_at = name_at + align4(namesz);
        const uint64_t next = desc_at + align4(descsz);
        if (next > size)
            return false;
        if (type == 3 && namesz == 4 && descsz > 0 && std::memcmp(notes + name_at, "GNU", 4) == 0)
            return true;
        off = static_cast<size_t>(next);
    }
    return false;
}

bool embedded_btf_matches(const EmbeddedBtf& embedded, const std::string& notes_path,
                          const std::string& vmlinux_path, std::string& why)
{
    if (embedded.btf_size == 0) {
        why = "no small BTF was embedded at build time";
        return false;
    }
    std::vector<unsigned char> notes;
    if (!read_small_file(notes_path, notes, 1 << 16)) {
        why = "cannot read " + notes_path;
        return false;
    }
    if (!notes_have_build_id(notes.data(), notes.size())) {
        why = notes_path + " holds no build ID";
        return false;
    }
    if (notes.size() != embedded.notes_size ||
        std::memcmp(notes.data(), embedded.notes, notes.size()) != 0) {
        why = "the kernel is not the one trace-root was built on";
        return false;
    }
    struct stat st;
    if (stat(vmlinux_path.c_str(), &st) != 0 ||
        static_cast<uint64_t>(st.st_size) != embedded.vmlinux_size) {
        why = "the kernel's BTF differs from the one trace-root was built with";
        return false;
    }
    return true;
}

int open_embedded_btf(std::string& why)
{
    if (!embedded_btf_matches(kEmbeddedBtf, "/sys/kernel/notes", "/sys/kernel/btf/vmlinux", why))
        return -1;
    const int fd = memfd_create("trace-root-btf", MFD_CLOEXEC);
    if (fd < 0) {
        why = std::string("memfd_create: ") + std::strerror(errno);
        return -1;
    }
    size_t done = 0;
    while (done < kEmbeddedBtf.btf_size) {
        const ssize_t n = write(fd, kEmbeddedBtf.btf + done, kEmbeddedBtf.btf_size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            why = std::string("cannot write the small BTF: ") + std::strerror(errno);
            close(fd);
            return -1;
        }
        done += static_cast<size_t>(n);
    }
    return fd;
}

// A helper call is BPF_JMP|BPF_CALL with src_reg 0 and the helper's number
// in imm; a kfunc call has src_reg BPF_PSEUDO_KFUNC_CALL, the function's
// BTF id in imm, and in off the index of the BTF object (0: the kernel's).
size_t rewrite_cast_calls(bpf_insn* insns, size_t count, uint32_t kfunc_id)
{
    size_t rewritten = 0;
    for (size_t i = 0; i < count; ++i) {
        bpf_insn& insn = insns[i];
        if (insn.code != (BPF_JMP | BPF_CALL) || insn.src_reg != 0 || insn.dst_reg != 0 ||
            insn.off != 0 || insn.imm != TR_CAST_CALL)
            continue;
        if (kfunc_id != 0) {
            insn.src_reg = BPF_PSEUDO_KFUNC_CALL;
            insn.imm = static_cast<int32_t>(kfunc_id);
        } else {
            insn.code = BPF_ALU64 | BPF_MOV | BPF_X;
            insn.dst_reg = BPF_REG_0;
            insn.src_reg = BPF_REG_1;
            insn.imm = 0;
        }
        ++rewritten;
    }
    return rewritten;
}

}  // namespace trace_root
