// libFuzzer target for the ELF reader and the ld.so.cache / ld.so.conf
// parsers: any bytes must give a result or a clean error, never a crash, and
// every string read out of the input is NUL-free (bounded by the input).
// The first byte picks the parser: 0 parse_elf, 1 parse_ld_so_cache,
// 2 parse_ld_so_conf_text. A seed corpus is made as the comment at the end says.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "elf_root.hpp"
#include "trace_root/elf.hpp"

using namespace trace_root;

namespace {

void check(const std::string& s)
{
    if (s.find('\0') != std::string::npos)
        abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size == 0)
        return 0;
    const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 3) {
    case 0: {
        auto r = parse_elf(bytes, "fuzz");
        if (r && r->is_elf) {
            check(r->interp);
            check(r->soname);
            for (const auto* list : {&r->needed, &r->rpath, &r->runpath})
                for (const std::string& s : *list)
                    check(s);
        } else if (r && bytes.size() >= 4 && bytes.substr(0, 4) == "\x7f" "ELF") {
            abort();   // the ELF magic is never "not ELF"
        }
        break;
    }
    case 1: {
        auto r = parse_ld_so_cache(bytes, "fuzz");
        if (r)
            for (const LdCacheEntry& e : *r) {
                check(e.key);
                check(e.value);
            }
        break;
    }
    default:
        for (const auto& line : elf_detail::parse_ld_so_conf_text(bytes))
            if (line.text.empty() && !line.include)
                abort();
        break;
    }
    return 0;
}

// Making a seed corpus:
//   mkdir corpus && for f in build/tests/resolve/elf_fixtures/tree/*/*; do
//     [ -f "$f" ] && { printf '\0'; cat "$f"; } > corpus/elf-$(basename "$f"); done
//   { printf '\1'; cat /etc/ld.so.cache; } > corpus/cache
//   build-fuzz/fuzz/fuzz_elf -max_total_time=300 corpus
