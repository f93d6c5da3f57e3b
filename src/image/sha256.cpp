#include "sha256.hpp"

#include <cstdio>
#include <cstdlib>

namespace trace_root::image_detail {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new())
{
    // Allocation failure or a missing SHA-256 in OpenSSL leaves nothing sane to do.
    if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1)
        std::abort();
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::update(const void* data, size_t size)
{
    if (size > 0)
        EVP_DigestUpdate(ctx_, data, size);
}

std::string Sha256::digest()
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    std::string out = "sha256:";
    char hex[3];
    for (unsigned i = 0; i < len; ++i) {
        std::snprintf(hex, sizeof hex, "%02x", md[i]);
        out += hex;
    }
    return out;
}

std::string sha256_digest(std::string_view data)
{
    Sha256 h;
    h.update(data.data(), data.size());
    return h.digest();
}

}  // namespace trace_root::image_detail
