// The check that decides whether the small BTF embedded at build time may
// stand in for the running kernel's BTF. A wrong "yes" would give the BPF
// programs wrong field offsets, so every way of differing must say no.
#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "../support/run.hpp"
#include "kernel_btf.hpp"
#include "trace_root/bpf_events.h"

#include <linux/bpf.h>

using namespace trace_root;
using namespace trace_root::testing;

namespace {

// One ELF note: namesz, descsz, type, name and descriptor padded to 4.
void add_note(std::vector<unsigned char>& out, const std::string& name, uint32_t type,
              const std::vector<unsigned char>& desc)
{
    auto word = [&](uint32_t v) {
        unsigned char b[4];
        std::memcpy(b, &v, 4);
        out.insert(out.end(), b, b + 4);
    };
    word(static_cast<uint32_t>(name.size() + 1));
    word(static_cast<uint32_t>(desc.size()));
    word(type);
    out.insert(out.end(), name.begin(), name.end());
    out.push_back(0);
    while (out.size() % 4)
        out.push_back(0);
    out.insert(out.end(), desc.begin(), desc.end());
    while (out.size() % 4)
        out.push_back(0);
}

std::vector<unsigned char> kernel_notes(unsigned char id_byte)
{
    std::vector<unsigned char> n;
    add_note(n, "Xen", 18, {0, 0, 0, 1});
    add_note(n, "GNU", 3, std::vector<unsigned char>(20, id_byte));
    add_note(n, "Linux", 0x100, {'6', '.', '1'});
    return n;
}

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes)
{
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

TEST_CASE("a build ID is found among other notes, and not in malformed ones")
{
    auto n = kernel_notes(0xab);
    CHECK(notes_have_build_id(n.data(), n.size()));

    std::vector<unsigned char> no_id;
    add_note(no_id, "Linux", 3, {1, 2, 3, 4});  // type 3 but not GNU
    add_note(no_id, "GNU", 1, {1, 2, 3, 4});    // GNU but not a build ID
    CHECK_FALSE(notes_have_build_id(no_id.data(), no_id.size()));

    // A descriptor size pointing past the end, and every truncation.
    auto bad = kernel_notes(1);
    bad[4] = 0xff;
    bad[5] = 0xff;
    CHECK_FALSE(notes_have_build_id(bad.data(), bad.size()));
    for (size_t len = 0; len < n.size(); ++len) {
        std::vector<unsigned char> cut(n.begin(), n.begin() + static_cast<long>(len));
        notes_have_build_id(cut.data(), cut.size());  // must not read past the end (ASan)
    }
}

TEST_CASE("the embedded BTF is used only on the kernel it was cut from")
{
    TempDir tmp;
    const std::string notes = tmp / "notes", btf = tmp / "vmlinux";
    const auto built_on = kernel_notes(0x11);
    const std::vector<unsigned char> small_btf = {0x9f, 0xeb, 1, 0};
    write_bytes(btf, std::vector<unsigned char>(1000, 0));
    EmbeddedBtf e{small_btf.data(), small_btf.size(), built_on.data(), built_on.size(), 1000};
    std::string why;

    write_bytes(notes, built_on);
    CHECK(embedded_btf_matches(e, notes, btf, why));

    SUBCASE("another kernel's build ID")
    {
        write_bytes(notes, kernel_notes(0x22));
        CHECK_FALSE(embedded_btf_matches(e, notes, btf, why));
        CHECK(why.find("not the one trace-root was built on") != std::string::npos);
    }
    SUBCASE("same notes but a BTF of another size")
    {
        write_bytes(btf, std::vector<unsigned char>(1001, 0));
        CHECK_FALSE(embedded_btf_matches(e, notes, btf, why));
    }
    SUBCASE("notes without a build ID prove nothing")
    {
        std::vector<unsigned char> plain;
        add_note(plain, "Linux", 0x100, {'6'});
        EmbeddedBtf p{small_btf.data(), small_btf.size(), plain.data(), plain.size(), 1000, 0, {}};
        write_bytes(notes, plain);
        CHECK_FALSE(embedded_btf_matches(p, notes, btf, why));
    }
    SUBCASE("nothing embedded, or no notes to read")
    {
        EmbeddedBtf none{nullptr, 0, nullptr, 0, 0, 0, {}};
        CHECK_FALSE(embedded_btf_matches(none, notes, btf, why));
        CHECK_FALSE(embedded_btf_matches(e, tmp / "missing", btf, why));
        CHECK(why.find("missing") != std::string::npos);
    }
}

TEST_CASE("the placeholder calls become kfunc calls, and only they")
{
    const bpf_insn cast{BPF_JMP | BPF_CALL, 0, 0, 0, TR_CAST_CALL};
    const bpf_insn helper{BPF_JMP | BPF_CALL, 0, 0, 0, 14};  // bpf_get_current_pid_tgid
    const bpf_insn subprog{BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, TR_CAST_CALL};
    // The second half of a 64-bit load carries a constant in imm.
    const bpf_insn ld_lo{BPF_LD | BPF_DW | BPF_IMM, 1, 0, 0, 0};
    const bpf_insn ld_hi{0, 0, 0, 0, TR_CAST_CALL};
    const bpf_insn exit_insn{BPF_JMP | BPF_EXIT, 0, 0, 0, 0};
    auto program = [&] { return std::vector<bpf_insn>{cast, helper, subprog, ld_lo, ld_hi, cast,
                                                       exit_insn}; };
    auto same = [](const bpf_insn& a, const bpf_insn& b) {
        return std::memcmp(&a, &b, sizeof a) == 0;
    };

    SUBCASE("with the kfunc's id")
    {
        auto p = program();
        CHECK(rewrite_cast_calls(p.data(), p.size(), 65330) == 2);
        for (size_t i : {0u, 5u}) {
            CHECK(p[i].code == (BPF_JMP | BPF_CALL));
            CHECK(int{p[i].src_reg} == BPF_PSEUDO_KFUNC_CALL);
            CHECK(p[i].imm == 65330);
            CHECK(p[i].off == 0);
        }
        const auto orig = program();
        for (size_t i : {1u, 2u, 3u, 4u, 6u})
            CHECK(same(p[i], orig[i]));
    }
    SUBCASE("without it, a move the verifier cannot dereference")
    {
        auto p = program();
        CHECK(rewrite_cast_calls(p.data(), p.size(), 0) == 2);
        CHECK(p[0].code == (BPF_ALU64 | BPF_MOV | BPF_X));
        CHECK(int{p[0].dst_reg} == BPF_REG_0);
        CHECK(int{p[0].src_reg} == BPF_REG_1);
        CHECK(same(p[0], p[5]));
        CHECK(same(p[4], ld_hi));
    }
    SUBCASE("nothing to do")
    {
        std::vector<bpf_insn> p{helper, exit_insn};
        CHECK(rewrite_cast_calls(p.data(), p.size(), 65330) == 0);
        CHECK(rewrite_cast_calls(nullptr, 0, 65330) == 0);
    }
}
