// ELF parsing with libelf: the program headers and the dynamic section as the
// kernel and ld.so see them. Input is hostile: every offset, size and string
// is checked against the bytes we have.
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>

#include "elf_internal.hpp"
#include "elf_root.hpp"
#include "trace_root/elf.hpp"

namespace trace_root {

namespace {

void init_libelf()
{
    static std::once_flag once;
    std::call_once(once, [] { elf_version(EV_CURRENT); });
}

struct ElfCloser {
    void operator()(Elf* e) const { elf_end(e); }
};

std::string elf_err(const std::string& origin, const char* what)
{
    const char* msg = elf_errmsg(-1);
    return origin + ": malformed ELF: " + what + (msg != nullptr ? std::string(" (") + msg + ")" : "");
}

struct Segment {
    uint64_t vaddr, offset, filesz;
};

// File offset of virtual address `vaddr`, through the PT_LOAD segments (the
// loader reads DT_STRTAB in memory; in the file it is where that segment
// maps it from).
bool vaddr_to_offset(const std::vector<Segment>& loads, uint64_t vaddr, uint64_t* off,
                     uint64_t* avail)
{
    for (const Segment& s : loads) {
        if (vaddr < s.vaddr)
            continue;
        const uint64_t delta = vaddr - s.vaddr;
        if (delta >= s.filesz)
            continue;
        if (__builtin_add_overflow(s.offset, delta, off))
            return false;
        *avail = s.filesz - delta;
        return true;
    }
    return false;
}

}  // namespace

namespace elf_detail {

// `image` must be writable memory of `size` bytes that libelf may use as it
// likes (a private copy or a MAP_PRIVATE mapping).
Result<ElfInfo> parse_elf_image(char* image, size_t size, const std::string& origin)
{
    ElfInfo info;
    if (size < 4 || std::memcmp(image, ELFMAG, SELFMAG) != 0)
        return info;   // not ELF: no error
    info.is_elf = true;
    if (size < EI_NIDENT)
        return fail(origin + ": malformed ELF: truncated ELF identification");
    init_libelf();
    std::unique_ptr<Elf, ElfCloser> elf(elf_memory(image, size));
    if (!elf)
        return fail(elf_err(origin, "cannot read"));
    if (elf_kind(elf.get()) != ELF_K_ELF)
        return fail(origin + ": malformed ELF: not an ELF object");
    GElf_Ehdr eh;
    if (gelf_getehdr(elf.get(), &eh) == nullptr)
        return fail(elf_err(origin, "bad ELF header"));
    info.elf_class = eh.e_ident[EI_CLASS];
    info.data = eh.e_ident[EI_DATA];
    info.osabi = eh.e_ident[EI_OSABI];
    info.machine = eh.e_machine;
    info.type = eh.e_type;

    size_t phnum = 0;
    if (elf_getphdrnum(elf.get(), &phnum) != 0)
        return fail(elf_err(origin, "bad program header count"));
    bool have_interp = false, have_dynamic = false;
    GElf_Phdr interp{}, dynamic{};
    std::vector<Segment> loads;
    for (size_t i = 0; i < phnum; ++i) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf.get(), static_cast<int>(i), &ph) == nullptr)
            return fail(elf_err(origin, "bad program header"));
        if (ph.p_type == PT_INTERP && !have_interp) {
            interp = ph;   // the kernel uses the first one
            have_interp = true;
        } else if (ph.p_type == PT_DYNAMIC && !have_dynamic) {
            dynamic = ph;
            have_dynamic = true;
        } else if (ph.p_type == PT_LOAD) {
            loads.push_back({ph.p_vaddr, ph.p_offset, ph.p_filesz});
        }
    }

    if (have_interp) {
        uint64_t end;
        if (__builtin_add_overflow(interp.p_offset, interp.p_filesz, &end) || end > size ||
            interp.p_filesz == 0)
            return fail(origin + ": malformed ELF: PT_INTERP outside the file");
        const char* p = image + interp.p_offset;
        const void* nul = std::memchr(p, '\0', interp.p_filesz);
        if (nul == nullptr)
            return fail(origin + ": malformed ELF: PT_INTERP is not NUL-terminated");
        info.interp.assign(p, static_cast<const char*>(nul) - p);
        if (info.interp.empty())
            return fail(origin + ": malformed ELF: empty PT_INTERP");
    }

    if (!have_dynamic || dynamic.p_filesz == 0)
        return info;

    uint64_t dyn_end;
    if (__builtin_add_overflow(dynamic.p_offset, dynamic.p_filesz, &dyn_end) || dyn_end > size)
        return fail(origin + ": malformed ELF: PT_DYNAMIC outside the file");
    Elf_Data* data = elf_getdata_rawchunk(elf.get(), static_cast<int64_t>(dynamic.p_offset),
                                          dynamic.p_filesz, ELF_T_DYN);
    if (data == nullptr)
        return fail(elf_err(origin, "PT_DYNAMIC outside the file"));
    const size_t entsize = gelf_fsize(elf.get(), ELF_T_DYN, 1, EV_CURRENT);
    if (entsize == 0)
        return fail(elf_err(origin, "bad dynamic entry size"));
    const size_t count = dynamic.p_filesz / entsize;

    std::vector<uint64_t> needed;
    bool have_soname = false, have_rpath = false, have_runpath = false, have_strtab = false,
         have_strsz = false;
    uint64_t soname = 0, rpath = 0, runpath = 0, strtab = 0, strsz = 0;
    for (size_t i = 0; i < count; ++i) {
        GElf_Dyn dyn;
        if (gelf_getdyn(data, static_cast<int>(i), &dyn) == nullptr)
            break;
        const int64_t tag = dyn.d_tag;
        if (tag == DT_NULL)
            break;
        // ld.so keeps the last entry of a tag (get-dynamic-info.h); all DT_NEEDED.
        switch (tag) {
        case DT_NEEDED:
            if (needed.size() >= 65536)
                return fail(origin + ": malformed ELF: too many DT_NEEDED entries");
            needed.push_back(dyn.d_un.d_val);
            break;
        case DT_SONAME:
            soname = dyn.d_un.d_val;
            have_soname = true;
            break;
        case DT_RPATH:
            rpath = dyn.d_un.d_val;
            have_rpath = true;
            break;
        case DT_RUNPATH:
            runpath = dyn.d_un.d_val;
            have_runpath = true;
            break;
        case DT_STRTAB:
            strtab = dyn.d_un.d_ptr;
            have_strtab = true;
            break;
        case DT_STRSZ:
            strsz = dyn.d_un.d_val;
            have_strsz = true;
            break;
        case DT_FLAGS_1:
            info.flags_1 = dyn.d_un.d_val;
            break;
        default:
            break;
        }
    }
    if (needed.empty() && !have_soname && !have_rpath && !have_runpath)
        return info;
    if (!have_strtab)
        return fail(origin + ": malformed ELF: dynamic section has no DT_STRTAB");
    uint64_t str_off = 0, str_avail = 0;
    if (!vaddr_to_offset(loads, strtab, &str_off, &str_avail) || str_off >= size)
        return fail(origin + ": malformed ELF: DT_STRTAB is not in the file");
    uint64_t limit = std::min<uint64_t>(str_avail, size - str_off);
    if (have_strsz)
        limit = std::min(limit, strsz);

    auto string_at = [&](uint64_t off, const char* what) -> Result<std::string> {
        if (off >= limit)
            return fail(origin + ": malformed ELF: " + what + " string offset " +
                        std::to_string(off) + " outside DT_STRTAB");
        const char* p = image + str_off + off;
        const void* nul = std::memchr(p, '\0', limit - off);
        if (nul == nullptr)
            return fail(origin + ": malformed ELF: " + what + " string is not NUL-terminated");
        return std::string(p, static_cast<const char*>(nul) - p);
    };
    auto split = [](const std::string& s) {
        std::vector<std::string> parts;
        size_t start = 0;
        for (;;) {
            const size_t colon = s.find(':', start);
            parts.push_back(s.substr(start, colon - start));
            if (colon == std::string::npos)
                break;
            start = colon + 1;
        }
        return parts;
    };

    for (uint64_t off : needed) {
        auto s = string_at(off, "DT_NEEDED");
        if (!s)
            return tl::unexpected(s.error());
        info.needed.push_back(std::move(*s));
    }
    if (have_soname) {
        auto s = string_at(soname, "DT_SONAME");
        if (!s)
            return tl::unexpected(s.error());
        info.soname = std::move(*s);
    }
    if (have_rpath) {
        auto s = string_at(rpath, "DT_RPATH");
        if (!s)
            return tl::unexpected(s.error());
        info.rpath = split(*s);
    }
    if (have_runpath) {
        auto s = string_at(runpath, "DT_RUNPATH");
        if (!s)
            return tl::unexpected(s.error());
        info.runpath = split(*s);
    }
    return info;
}

Result<ElfInfo> read_elf_fd(int fd, size_t size, const std::string& origin)
{
    if (size == 0)
        return ElfInfo{};
    // A private, writable (copy-on-write) mapping: libelf may convert in place;
    // pages are read only as they are touched.
    void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        return fail(errno_message("cannot map", origin, errno));
    auto result = parse_elf_image(static_cast<char*>(map), size, origin);
    ::munmap(map, size);
    return result;
}

}  // namespace elf_detail

Result<ElfInfo> parse_elf(std::string_view bytes, const std::string& origin_for_errors)
{
    if (bytes.size() < 4 || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0)
        return ElfInfo{};
    // libelf wants writable memory: give it a private copy.
    std::unique_ptr<char[]> copy(new char[bytes.size()]);
    std::memcpy(copy.get(), bytes.data(), bytes.size());
    return elf_detail::parse_elf_image(copy.get(), bytes.size(), origin_for_errors);
}

Result<ElfInfo> read_elf(const std::string& root, const std::string& path)
{
    if (path.empty() || path[0] != '/')
        return fail("read_elf: path \"" + path + "\" is not absolute");
    auto dir = elf_detail::RootDir::open(root);
    if (!dir)
        return tl::unexpected(dir.error());
    struct stat st;
    const int fd = dir->open_regular(path, &st);
    if (fd == elf_detail::RootDir::kNotRegular)
        return ElfInfo{};
    if (fd < 0)
        return fail(errno_message("cannot open", path, -fd) +
                    (root == "/" ? std::string() : " (in root " + root + ")"));
    elf_detail::UniqueFd guard(fd);
    return elf_detail::read_elf_fd(fd, static_cast<size_t>(st.st_size), path);
}

}  // namespace trace_root
