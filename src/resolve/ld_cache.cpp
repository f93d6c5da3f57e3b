// ld.so.cache and ld.so.conf, as glibc's ld.so (elf/dl-cache.c) and ldconfig
// (elf/ldconfig.c, elf/cache.c) read them. Input is hostile: every offset and
// count is checked against the bytes we have.
#include <cstring>
#include <set>

#include "elf_root.hpp"
#include "trace_root/elf.hpp"

namespace trace_root {

namespace {

constexpr std::string_view kOldMagic = "ld.so-1.7.0";            // 11 bytes
constexpr std::string_view kNewMagic = "glibc-ld.so.cache1.1";   // 20 bytes
constexpr size_t kOldHeader = 16;   // magic[11], pad, uint32 nlibs
constexpr size_t kOldEntry = 12;    // int32 flags, uint32 key, uint32 value
constexpr size_t kNewHeader = 48;   // magic+version[20], nlibs, len_strings, flags, pad[3],
                                    // extension_offset, unused[3]
constexpr size_t kNewEntry = 24;    // flags, key, value, osversion, uint64 hwcap

struct Reader {
    std::string_view bytes;
    bool big_endian = false;

    bool u32(size_t off, uint32_t* out) const
    {
        if (off > bytes.size() || bytes.size() - off < 4)
            return false;
        const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + off);
        *out = big_endian ? (uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 |
                             uint32_t(p[3]))
                          : (uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 |
                             uint32_t(p[0]));
        return true;
    }
    bool u64(size_t off, uint64_t* out) const
    {
        uint32_t a, b;
        if (!u32(off, &a) || !u32(off + 4, &b))
            return false;
        *out = big_endian ? (uint64_t(a) << 32 | b) : (uint64_t(b) << 32 | a);
        return true;
    }
    // NUL-terminated string at base+off, inside bytes.
    bool str(size_t base, uint32_t off, std::string* out) const
    {
        size_t at;
        if (__builtin_add_overflow(base, size_t(off), &at) || at >= bytes.size())
            return false;
        const void* nul = std::memchr(bytes.data() + at, '\0', bytes.size() - at);
        if (nul == nullptr)
            return false;
        out->assign(bytes.data() + at, static_cast<const char*>(nul) - (bytes.data() + at));
        return true;
    }
};

Result<std::vector<LdCacheEntry>> parse_new(std::string_view bytes, size_t start,
                                            const std::string& origin)
{
    const std::string_view rest = bytes.substr(start);
    if (rest.size() < kNewHeader)
        return fail(origin + ": truncated ld.so.cache header");
    Reader r{rest};
    const unsigned char endian = static_cast<unsigned char>(rest[28]);
    // 0: unset (native, only ever little-endian here), 1: invalid, 2: little, 3: big.
    if (endian == 1 || endian > 3)
        return fail(origin + ": ld.so.cache header has an invalid byte-order flag");
    r.big_endian = endian == 3;
    uint32_t nlibs = 0;
    r.u32(20, &nlibs);
    size_t table;
    if (__builtin_mul_overflow(size_t(nlibs), kNewEntry, &table) ||
        __builtin_add_overflow(table, kNewHeader, &table) || table > rest.size())
        return fail(origin + ": ld.so.cache claims " + std::to_string(nlibs) +
                    " entries, more than the file holds");
    std::vector<LdCacheEntry> out;
    out.reserve(nlibs);
    for (uint32_t i = 0; i < nlibs; ++i) {
        const size_t e = kNewHeader + size_t(i) * kNewEntry;
        uint32_t flags = 0, key = 0, value = 0;
        uint64_t hwcap = 0;
        if (!r.u32(e, &flags) || !r.u32(e + 4, &key) || !r.u32(e + 8, &value) ||
            !r.u64(e + 16, &hwcap))
            return fail(origin + ": ld.so.cache entry " + std::to_string(i) +
                        " lies outside the file");
        LdCacheEntry entry;
        entry.flags = static_cast<int32_t>(flags);
        entry.hwcap = hwcap;
        // String offsets are relative to the start of the new-format header.
        if (!r.str(0, key, &entry.key) || !r.str(0, value, &entry.value))
            return fail(origin + ": ld.so.cache entry " + std::to_string(i) +
                        " has a string outside the file");
        out.push_back(std::move(entry));
    }
    return out;
}

}  // namespace

Result<std::vector<LdCacheEntry>> parse_ld_so_cache(std::string_view bytes,
                                                    const std::string& origin)
{
    if (bytes.substr(0, kNewMagic.size()) == kNewMagic)
        return parse_new(bytes, 0, origin);
    if (bytes.substr(0, kOldMagic.size()) != kOldMagic)
        return fail(origin + ": not an ld.so.cache (no glibc-ld.so.cache1.1 or ld.so-1.7.0 magic)");
    if (bytes.size() < kOldHeader)
        return fail(origin + ": truncated ld.so.cache header");
    Reader r{bytes};
    uint32_t nlibs = 0;
    r.u32(12, &nlibs);
    size_t table;
    if (__builtin_mul_overflow(size_t(nlibs), kOldEntry, &table) ||
        __builtin_add_overflow(table, kOldHeader, &table) || table > bytes.size())
        return fail(origin + ": ld.so.cache claims " + std::to_string(nlibs) +
                    " entries, more than the file holds");
    // A new-format table follows the old one, 8-byte aligned, in the caches
    // glibc 2.x wrote in "compat" mode; ld.so then uses only the new one.
    const size_t aligned = (table + 7) & ~size_t(7);
    if (aligned <= bytes.size() && bytes.substr(aligned, kNewMagic.size()) == kNewMagic)
        return parse_new(bytes, aligned, origin);
    std::vector<LdCacheEntry> out;
    out.reserve(nlibs);
    for (uint32_t i = 0; i < nlibs; ++i) {
        const size_t e = kOldHeader + size_t(i) * kOldEntry;
        uint32_t flags = 0, key = 0, value = 0;
        if (!r.u32(e, &flags) || !r.u32(e + 4, &key) || !r.u32(e + 8, &value))
            return fail(origin + ": ld.so.cache entry " + std::to_string(i) +
                        " lies outside the file");
        LdCacheEntry entry;
        entry.flags = static_cast<int32_t>(flags);
        // Old format: offsets relative to the string table after the entries.
        if (!r.str(table, key, &entry.key) || !r.str(table, value, &entry.value))
            return fail(origin + ": ld.so.cache entry " + std::to_string(i) +
                        " has a string outside the file");
        out.push_back(std::move(entry));
    }
    return out;
}

namespace elf_detail {

namespace {

bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (is_blank(s.front()) || s.front() == '\r' || s.front() == '\n'))
        s.remove_prefix(1);
    while (!s.empty() && (is_blank(s.back()) || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

bool keyword(std::string_view line, std::string_view word)
{
    return line.size() > word.size() && line.substr(0, word.size()) == word &&
           is_blank(line[word.size()]);
}

struct ConfState {
    std::set<std::string> seen_dirs;
    std::set<std::string> read_files;   // each file once: an include loop ends
    std::vector<LdConfDir> out;
};

void read_conf_file(const RootDir& root, const std::string& file, int depth, ConfState* st,
                    std::vector<std::string>* notes)
{
    if (depth > 16) {
        notes->push_back(file + ": includes nested deeper than 16, not read");
        return;
    }
    const std::string canon = root.canonical(file);
    if (!st->read_files.insert(canon.empty() ? file : canon).second) {
        notes->push_back(file + ": included again, not read twice");
        return;
    }
    auto text = root.read_small_file(file, 1 << 20);
    if (!text) {
        if (depth > 0)
            notes->push_back(text.error().message);
        return;
    }
    for (const LdConfLine& line : parse_ld_so_conf_text(*text)) {
        if (!line.include) {
            if (line.text.empty() || line.text[0] != '/') {
                notes->push_back(file + ": relative directory \"" + line.text + "\" ignored");
                continue;
            }
            if (st->seen_dirs.insert(line.text).second)
                st->out.push_back({line.text, file});
            continue;
        }
        std::string pattern = line.text;
        if (pattern[0] != '/')
            pattern = join_path(dir_name(file), pattern);
        for (const std::string& inc : root.glob(pattern))
            read_conf_file(root, inc, depth + 1, st, notes);
    }
}

}  // namespace

std::vector<LdConfLine> parse_ld_so_conf_text(std::string_view text)
{
    std::vector<LdConfLine> out;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos)
            end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        const size_t hash = line.find('#');
        if (hash != std::string_view::npos)
            line = line.substr(0, hash);
        line = trim(line);
        if (line.empty())
            continue;
        if (keyword(line, "include")) {
            std::string_view rest = trim(line.substr(7));
            // Several patterns may follow, separated by blanks.
            while (!rest.empty()) {
                size_t n = 0;
                while (n < rest.size() && !is_blank(rest[n]))
                    ++n;
                out.push_back({true, std::string(rest.substr(0, n))});
                rest = trim(rest.substr(n));
            }
            continue;
        }
        if (keyword(line, "hwcap"))
            continue;   // obsolete, ignored by ldconfig since 2.37 and by us
        std::string dir(line);
        while (dir.size() > 1 && dir.back() == '/')
            dir.pop_back();
        out.push_back({false, std::move(dir)});
    }
    return out;
}

std::vector<LdConfDir> read_ld_so_conf(const RootDir& root, std::vector<std::string>* notes)
{
    ConfState st;
    read_conf_file(root, "/etc/ld.so.conf", 0, &st, notes);
    return std::move(st.out);
}

}  // namespace elf_detail

}  // namespace trace_root
