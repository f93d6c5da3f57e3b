// SHA-256 over a stream of bytes (OpenSSL EVP), for blob digests and diff_ids.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace trace_root::image_detail {

class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void update(const void* data, size_t size);
    // "sha256:" followed by 64 lower-case hex digits. Call once.
    std::string digest();

private:
    EVP_MD_CTX* ctx_;
};

std::string sha256_digest(std::string_view data);

}  // namespace trace_root::image_detail
