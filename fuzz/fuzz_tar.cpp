// Fuzz target: tar members as the image reader sees them.
//
// The first byte picks what the rest of the input is:
//   0: a member path for normalize_member_path()
//   1: "member\0target" for check_symlink_target()
//   2: a tar archive (any compression libarchive reads), whose member names
//      and link targets go through the same checks
//   3: a layer tar, wrapped into a docker-save archive and really unpacked
//      into a fresh temporary directory; afterwards a sentinel directory
//      beside the destination must still be empty (nothing escaped).
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "trace_root/image_read.hpp"

using namespace trace_root;

namespace {

void check_archive(const uint8_t* data, size_t size)
{
    archive* a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_memory(a, data, size) == ARCHIVE_OK) {
        archive_entry* e = nullptr;
        for (int i = 0; i < 1000 && archive_read_next_header(a, &e) >= ARCHIVE_WARN; ++i) {
            const char* p = archive_entry_pathname(e);
            if (p == nullptr)
                continue;
            auto n = normalize_member_path(p);
            if (n && archive_entry_symlink(e) != nullptr)
                (void)check_symlink_target(*n, archive_entry_symlink(e));
            if (archive_entry_hardlink(e) != nullptr)
                (void)normalize_member_path(archive_entry_hardlink(e));
            char buf[4096];
            while (archive_read_data(a, buf, sizeof buf) > 0) {
            }
        }
    }
    archive_read_free(a);
}

la_ssize_t append(archive*, void* client, const void* buf, size_t n)
{
    static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
}

void add_member(archive* a, const std::string& name, const std::string& data)
{
    archive_entry* e = archive_entry_new();
    archive_entry_copy_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    archive_write_header(a, e);
    archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
}

void unpack_layer(const uint8_t* data, size_t size)
{
    char tmpl[] = "/tmp/fuzz-tar-XXXXXX";
    if (mkdtemp(tmpl) == nullptr)
        return;
    const std::string dir = tmpl;
    std::filesystem::create_directory(dir + "/sentinel");
    std::string outer;
    archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_open(a, &outer, nullptr, append, nullptr);
    add_member(a, "manifest.json", R"([{"Config":"c.json","Layers":["l.tar"]}])");
    add_member(a, "c.json",
               R"({"rootfs":{"type":"layers","diff_ids":["sha256:)" + std::string(64, '0') +
                   R"("]}})");
    add_member(a, "l.tar", std::string(reinterpret_cast<const char*>(data), size));
    archive_write_close(a);
    archive_write_free(a);
    std::ofstream(dir + "/image.tar", std::ios::binary) << outer;
    (void)unpack_image(dir + "/image.tar", dir + "/dest");
    if (!std::filesystem::is_empty(dir + "/sentinel"))
        abort();  // something was written outside the destination
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        const auto name = e.path().filename();
        if (name != "sentinel" && name != "dest" && name != "image.tar")
            abort();
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size == 0)
        return 0;
    const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 4) {
    case 0:
        (void)normalize_member_path(rest);
        break;
    case 1: {
        const auto nul = rest.find('\0');
        if (nul != std::string::npos)
            (void)check_symlink_target(rest.substr(0, nul), rest.substr(nul + 1));
        break;
    }
    case 2:
        check_archive(data + 1, size - 1);
        break;
    default:
        unpack_layer(data + 1, size - 1);
    }
    return 0;
}
