// ELF reading, ld.so.cache and ld.so.conf parsing: real files of this machine,
// hand-made bytes, and hostile (truncated, mutated) input.
#include <doctest/doctest.h>
#include <elf.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "elf_root.hpp"
#include "trace_root/elf.hpp"

using namespace trace_root;

namespace {

std::string slurp(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

const std::string kFx = ELF_FX_DIR;

}  // namespace

TEST_CASE("parse_elf reads a fixture library and program")
{
    auto lib = parse_elf(slurp(kFx + "/origin/lib/libfxa.so.1"), "libfxa");
    REQUIRE(lib);
    CHECK(lib->is_elf);
    CHECK(lib->elf_class == ELFCLASS64);
    CHECK(lib->machine == EM_X86_64);
    CHECK(lib->type == ET_DYN);
    CHECK(lib->soname == "libfxa.so.1");
    CHECK(lib->interp.empty());
    CHECK(lib->runpath.empty());

    auto prog = parse_elf(slurp(kFx + "/origin/bin/prog"), "prog");
    REQUIRE(prog);
    CHECK(prog->is_elf);
    CHECK(prog->interp == "/lib64/ld-linux-x86-64.so.2");
    CHECK(prog->needed == std::vector<std::string>{"libfxa.so.1", "libc.so.6"});
    CHECK(prog->runpath == std::vector<std::string>{"$ORIGIN/../lib"});
    CHECK(prog->rpath.empty());
    CHECK((prog->flags_1 & DF_1_PIE) != 0);
}

TEST_CASE("parse_elf splits DT_RPATH and DT_RUNPATH on ':' and reads DT_FLAGS_1")
{
    auto both = read_elf("/", kFx + "/rp/prog_both");
    REQUIRE(both);
    CHECK(both->rpath == std::vector<std::string>{kFx + "/rp/a", kFx + "/rp/b"});
    CHECK(both->runpath == std::vector<std::string>{kFx + "/rp/b"});
    auto nodef = read_elf("/", kFx + "/nodef/libfxnodef.so.1");
    REQUIRE(nodef);
    CHECK((nodef->flags_1 & DF_1_NODEFLIB) != 0);
    auto abs = read_elf("/", kFx + "/abs/prog_abs");
    REQUIRE(abs);
    REQUIRE(!abs->needed.empty());
    CHECK(abs->needed[0] == kFx + "/abs/libfxabs.so");
}

TEST_CASE("parse_elf of 32-bit objects")
{
    if (!ELF_FX_HAVE_M32) {
        FAIL("the 32-bit fixtures were not built: install gcc-multilib");
        return;
    }
    auto lib = read_elf("/", kFx + "/cls/d32/libfxw.so.1");
    REQUIRE(lib);
    CHECK(lib->elf_class == ELFCLASS32);
    CHECK(lib->machine == EM_386);
    CHECK(lib->soname == "libfxw.so.1");
    auto prog = read_elf("/", kFx + "/cls/prog32");
    REQUIRE(prog);
    CHECK(prog->interp == "/lib/ld-linux.so.2");
    CHECK(prog->runpath == std::vector<std::string>{kFx + "/cls/d64", kFx + "/cls/d32"});
}

TEST_CASE("non-ELF input is is_elf=false without an error")
{
    for (const char* bytes : {"", "\x7f", "\x7f" "EL", "#!/bin/sh\necho hi\n", "!<arch>\n"}) {
        auto r = parse_elf(bytes, "x");
        REQUIRE(r);
        CHECK_FALSE(r->is_elf);
    }
    auto dir = read_elf("/", "/usr");
    REQUIRE(dir);
    CHECK_FALSE(dir->is_elf);
    auto text = read_elf("/", kFx + "/stop/a/libfxs.so.1");
    REQUIRE(text);
    CHECK_FALSE(text->is_elf);
    CHECK_FALSE(read_elf("/", "/nonexistent/file"));
    CHECK_FALSE(read_elf("/", "relative/path"));
}

TEST_CASE("the ELF magic with garbage after it is an error naming the origin")
{
    auto r = parse_elf(std::string("\x7f" "ELF") + std::string(60, '\xff'), "/some/file");
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("/some/file") != std::string::npos);
}

TEST_CASE("truncated ELF bytes give an error or is_elf=false, never a crash")
{
    const std::string lib = slurp(kFx + "/rp/mid/libfxmid.so.1");
    REQUIRE(lib.size() > 1000);
    int errors = 0;
    for (size_t n = 0; n < lib.size(); ++n) {
        auto r = parse_elf(std::string_view(lib).substr(0, n), "cut");
        if (!r)
            ++errors;
    }
    CHECK(errors > 0);
    // The dynamic section is near the end: the whole file parses.
    auto whole = parse_elf(lib, "whole");
    REQUIRE(whole);
    CHECK(whole->needed == std::vector<std::string>{"libfxleaf.so.1", "libc.so.6"});

    const std::string bash = slurp("/bin/bash");
    REQUIRE(bash.size() > 100000);
    for (size_t n = 0; n < bash.size(); n += 7919)
        (void)parse_elf(std::string_view(bash).substr(0, n), "bash-cut");
}

TEST_CASE("mutated ELF bytes give an error or a result, never a crash")
{
    const std::string orig = slurp(kFx + "/dst/bin/prog_dst");
    REQUIRE(orig.size() > 1000);
    std::mt19937 rng(12345);
    int ok = 0, bad = 0;
    for (int i = 0; i < 4000; ++i) {
        std::string b = orig;
        const int flips = 1 + static_cast<int>(rng() % 8);
        for (int f = 0; f < flips; ++f) {
            // Mostly the headers, where the offsets and counts are.
            const size_t limit = (rng() % 4 == 0) ? b.size() : std::min<size_t>(b.size(), 512);
            const size_t at = rng() % limit;
            b[at] = static_cast<char>(rng() % 3 == 0 ? 0xff : rng());
        }
        auto r = parse_elf(b, "mutant");
        if (r)
            ++ok;
        else
            ++bad;
    }
    CHECK(ok > 0);
    CHECK(bad > 0);
}

TEST_CASE("read_elf of a file truncated on disk")
{
    const std::string dir = std::filesystem::temp_directory_path() /
                            ("trace-root-elf-trunc-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const std::string lib = slurp(kFx + "/origin/lib/libfxa.so.1");
    for (size_t n : {size_t(0), size_t(3), size_t(4), size_t(20), size_t(64), size_t(200),
                     lib.size() / 2, lib.size() - 1}) {
        std::ofstream(dir + "/cut", std::ios::binary | std::ios::trunc) << lib.substr(0, n);
        auto r = read_elf("/", dir + "/cut");
        if (r)
            CHECK((n < 4 ? !r->is_elf : true));
    }
    std::filesystem::remove_all(dir);
}

// --- ld.so.cache ------------------------------------------------------------

namespace {

void put32(std::string* b, size_t at, uint32_t v, bool be)
{
    for (int i = 0; i < 4; ++i)
        (*b)[at + i] = static_cast<char>(be ? v >> (24 - 8 * i) : v >> (8 * i));
}

// A new-format cache with the given (flags, key, value, hwcap) entries.
std::string make_cache(const std::vector<std::tuple<uint32_t, std::string, std::string, uint64_t>>& e,
                       bool big_endian)
{
    const size_t header = 48, entry = 24;
    std::string b(header + entry * e.size(), '\0');
    std::memcpy(b.data(), "glibc-ld.so.cache1.1", 20);
    put32(&b, 20, static_cast<uint32_t>(e.size()), big_endian);
    b[28] = big_endian ? 3 : 2;
    std::string strings;
    for (size_t i = 0; i < e.size(); ++i) {
        const auto& [flags, key, value, hwcap] = e[i];
        const size_t at = header + i * entry;
        put32(&b, at, flags, big_endian);
        put32(&b, at + 4, static_cast<uint32_t>(b.size() + strings.size()), big_endian);
        strings += key + '\0';
        put32(&b, at + 8, static_cast<uint32_t>(b.size() + strings.size()), big_endian);
        strings += value + '\0';
        put32(&b, at + 16, big_endian ? uint32_t(hwcap >> 32) : uint32_t(hwcap), big_endian);
        put32(&b, at + 20, big_endian ? uint32_t(hwcap) : uint32_t(hwcap >> 32), big_endian);
    }
    put32(&b, 24, static_cast<uint32_t>(strings.size()), big_endian);
    return b + strings;
}

}  // namespace

TEST_CASE("parse_ld_so_cache reads this machine's /etc/ld.so.cache")
{
    const std::string bytes = slurp("/etc/ld.so.cache");
    REQUIRE(!bytes.empty());
    auto entries = parse_ld_so_cache(bytes, "/etc/ld.so.cache");
    REQUIRE(entries);
    bool libc = false;
    for (const LdCacheEntry& e : *entries)
        if (e.key == "libc.so.6" && e.flags == 0x0303 && e.hwcap == 0) {
            libc = true;
            CHECK(e.value.size() > 10);
            CHECK(e.value.compare(e.value.size() - 10, 10, "/libc.so.6") == 0);
        }
    CHECK(libc);
}

TEST_CASE("parse_ld_so_cache: both byte orders, hwcap, old and compat formats")
{
    const std::vector<std::tuple<uint32_t, std::string, std::string, uint64_t>> e{
        {0x0303, "libz.so.1", "/usr/lib/libz.so.1", 0},
        {0x0003, "libz.so.1", "/usr/lib32/libz.so.1", uint64_t(1) << 62}};
    for (bool be : {false, true}) {
        auto r = parse_ld_so_cache(make_cache(e, be), "c");
        REQUIRE(r);
        REQUIRE(r->size() == 2);
        CHECK((*r)[0].flags == 0x0303);
        CHECK((*r)[0].key == "libz.so.1");
        CHECK((*r)[0].value == "/usr/lib/libz.so.1");
        CHECK((*r)[1].value == "/usr/lib32/libz.so.1");
        CHECK((*r)[1].hwcap == uint64_t(1) << 62);
    }
    // Old format alone: strings relative to the end of the entry table.
    std::string old(16 + 12, '\0');
    std::memcpy(old.data(), "ld.so-1.7.0", 11);
    put32(&old, 12, 1, false);
    put32(&old, 16, 0x0303, false);
    put32(&old, 20, 0, false);
    put32(&old, 24, 8, false);
    old += std::string("libm.so\0/lib/libm.so\0", 21);
    auto r = parse_ld_so_cache(old, "old");
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    CHECK((*r)[0].key == "libm.so");
    CHECK((*r)[0].value == "/lib/libm.so");
    // Compat: an old table followed, 8-aligned, by a new one that ld.so uses.
    std::string compat(16 + 12, '\0');
    std::memcpy(compat.data(), "ld.so-1.7.0", 11);
    put32(&compat, 12, 1, false);
    compat += std::string(32 - compat.size(), '\0');
    compat += make_cache(e, false);
    // In the compat layout the new strings are relative to the new header.
    r = parse_ld_so_cache(compat, "compat");
    REQUIRE(r);
    CHECK(r->size() == 2);
}

TEST_CASE("parse_ld_so_cache rejects hostile input without crashing")
{
    CHECK_FALSE(parse_ld_so_cache("", "c"));
    CHECK_FALSE(parse_ld_so_cache("not a cache at all, no", "c"));
    std::string huge = make_cache({{0x0303, "a", "/a", 0}}, false);
    put32(&huge, 20, 0xffffffffu, false);
    CHECK_FALSE(parse_ld_so_cache(huge, "c"));
    std::string bad_str = make_cache({{0x0303, "a", "/a", 0}}, false);
    put32(&bad_str, 48 + 4, 0x7ffffff0u, false);
    CHECK_FALSE(parse_ld_so_cache(bad_str, "c"));
    std::string no_nul = make_cache({{0x0303, "a", "/a", 0}}, false);
    no_nul.pop_back();
    CHECK_FALSE(parse_ld_so_cache(no_nul, "c"));

    const std::string real = slurp("/etc/ld.so.cache");
    for (size_t n = 0; n < real.size(); n += (n < 200 ? 1 : 97))
        (void)parse_ld_so_cache(std::string_view(real).substr(0, n), "cut");
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
        std::string b = real.substr(0, std::min<size_t>(real.size(), 4096));
        for (int f = 0; f < 4; ++f)
            b[rng() % b.size()] = static_cast<char>(rng());
        (void)parse_ld_so_cache(b, "mutant");
    }
}

// --- ld.so.conf ----------------------------------------------------------------

TEST_CASE("ld.so.conf text: comments, include lists, hwcap, trailing slashes")
{
    using elf_detail::parse_ld_so_conf_text;
    const auto lines = parse_ld_so_conf_text(
        "# comment\n"
        "include /etc/ld.so.conf.d/*.conf  other/*.conf\n"
        "   /usr/local/lib/   # trailing comment\r\n"
        "hwcap 1 nosegneg\n"
        "\n"
        "includefoo\n"
        "/opt/x");
    REQUIRE(lines.size() == 5);
    CHECK(lines[0].include);
    CHECK(lines[0].text == "/etc/ld.so.conf.d/*.conf");
    CHECK(lines[1].include);
    CHECK(lines[1].text == "other/*.conf");
    CHECK_FALSE(lines[2].include);
    CHECK(lines[2].text == "/usr/local/lib");
    CHECK(lines[3].text == "includefoo");
    CHECK(lines[4].text == "/opt/x");
}

TEST_CASE("ld.so.cache entries: arch flags, hwcap entries, a wrong class, a stale path")
{
    namespace fs = std::filesystem;
    char tmpl[] = "/tmp/trace-root-elf-cache-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    const std::string root = tmpl;
    auto put = [&](const std::string& from, const std::string& to) {
        fs::create_directories(fs::path(root + to).parent_path());
        fs::copy_file(from, root + to);
    };
    // No /lib/x86_64-linux-gnu here: the FHS defaults /lib64, /usr/lib64.
    put(kFx + "/rp/mid/libfxmid.so.1", "/lib64/mid.so");
    put(kFx + "/rp/leaf/libfxleaf.so.1", "/hw/libfxleaf.so.1");
    put(kFx + "/rp/leaf/libfxleaf.so.1", "/good/libfxleaf.so.1");
    put(kFx + "/rp/leaf/libfxleaf.so.1", "/usr/lib64/libfxleaf.so.1");
    put(kFx + "/cls/prog64", "/usr/bin/prog64");
    put(kFx + "/cls/d64/libfxw.so.1", "/usr/lib64/libfxw.so.1");
    const bool m32 = ELF_FX_HAVE_M32;
    if (m32) {
        put(kFx + "/cls/d32/libfxw.so.1", "/x32/libfxleaf.so.1");
        put(kFx + "/cls/d32/libfxw.so.1", "/x32/libfxw.so.1");
    }
    const std::string cache = make_cache(
        {{0x0003, "libfxleaf.so.1", "/x32/libfxleaf.so.1", 0},                   // i386 flags
         {0x0303, "libfxleaf.so.1", "/hw/libfxleaf.so.1", (uint64_t(1) << 62) | 1},  // hwcap
         {0x0303, "libfxleaf.so.1", "/good/libfxleaf.so.1", 0},
         {0x0303, "libfxleaf.so.1", "/usr/lib64/libfxleaf.so.1", 0},  // not the first: unused
         {0x0303, "libc.so.6", "/gone/libc.so.6", 0},                 // stale
         {0x0303, "libfxw.so.1", "/x32/libfxw.so.1", 0}},             // wrong class
        false);
    fs::create_directories(root + "/etc");
    std::ofstream(root + "/etc/ld.so.cache", std::ios::binary) << cache;

    auto v = elf_closure(root, {"/lib64/mid.so", "/usr/bin/prog64"});
    REQUIRE(v);
    auto find = [&](const std::string& obj, const std::string& needed) {
        for (const ElfDependency& e : *v)
            if (e.object == obj && e.needed == needed)
                return e;
        FAIL_CHECK("no edge " << obj << " -> " << needed);
        return ElfDependency{};
    };
    const auto leaf = find("/lib64/mid.so", "libfxleaf.so.1");
    CHECK(leaf.resolved == "/good/libfxleaf.so.1");
    CHECK(leaf.how == "ld.so.cache");
    const auto libc = find("/lib64/mid.so", "libc.so.6");
    CHECK(libc.resolved.empty());
    CHECK(libc.how == "not found (searched ld.so.cache; default /lib64:/usr/lib64); "
                      "ld.so.cache names /gone/libc.so.6, which is missing");
    if (m32) {
        const auto w = find("/usr/bin/prog64", "libfxw.so.1");
        CHECK(w.resolved == "/usr/lib64/libfxw.so.1");
        CHECK(w.how ==
              "default /usr/lib64; skipped /x32/libfxw.so.1: ELFCLASS32, needs ELFCLASS64");
    } else {
        FAIL("the 32-bit fixtures were not built: install gcc-multilib");
    }
    // The program's PT_INTERP is not in this root: reported.
    const auto interp = find("/usr/bin/prog64", "PT_INTERP");
    CHECK(interp.resolved.empty());
    CHECK(interp.how.find("No such file or directory") != std::string::npos);
    fs::remove_all(root);
}
