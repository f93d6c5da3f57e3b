// Fuzz target: the image JSON parsers (OCI index and manifest, docker
// manifest.json, image config). The first byte picks the parser.
#include <cstdint>
#include <string>

#include "trace_root/image.hpp"
#include "trace_root/image_read.hpp"

using namespace trace_root;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size == 0)
        return 0;
    const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 6) {
    case 0:
        (void)parse_oci_index(text);
        break;
    case 1:
        (void)parse_oci_manifest(text);
        break;
    case 2:
        if (auto m = parse_docker_manifest(text); m)
            for (const auto& e : *m)
                for (const auto& l : e.layers)
                    if (!normalize_member_path(l))
                        __builtin_trap();  // a layer path that passed must stay valid
        break;
    case 3:
        (void)parse_image_config(text);
        break;
    case 4:
        (void)parse_exec_form(text, "--cmd");
        break;
    default:
        (void)normalize_image_tag(text);
    }
    return 0;
}
