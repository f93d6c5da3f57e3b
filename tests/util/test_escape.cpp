#include <doctest/doctest.h>

#include "trace_root/escape.hpp"

using namespace trace_root;

TEST_CASE("escape keeps printable ASCII and valid UTF-8 as they are")
{
    CHECK(escape_path("/usr/lib/libz.so.1") == "/usr/lib/libz.so.1");
    CHECK(escape_path("/tmp/caf\xc3\xa9") == "/tmp/caf\xc3\xa9");
}

TEST_CASE("escape writes backslash, control bytes and invalid UTF-8 as escapes")
{
    CHECK(escape_path("a\\b") == "a\\\\b");
    CHECK(escape_path("a\nb") == "a\\nb");
    CHECK(escape_path("\x01\x7f") == "\\x01\\x7f");
    CHECK(escape_path("bad\xff") == "bad\\xff");
    // An overlong encoding and a lone surrogate are not valid UTF-8.
    CHECK(escape_path("\xc0\xaf") == "\\xc0\\xaf");
    CHECK(escape_path("\xed\xa0\x80") == "\\xed\\xa0\\x80");
    // A truncated multi-byte sequence at the end.
    CHECK(escape_path("x\xe2\x82") == "x\\xe2\\x82");
}

TEST_CASE("escape round-trips every byte value")
{
    std::string all;
    for (int b = 1; b < 256; ++b)
        all += static_cast<char>(b);
    const std::string escaped = escape_path(all);
    CHECK(is_valid_utf8(escaped));
    CHECK(escaped.find('\n') == std::string::npos);
    auto back = unescape_path(escaped);
    REQUIRE(back);
    CHECK(*back == all);
}

TEST_CASE("unescape rejects malformed escapes")
{
    CHECK_FALSE(unescape_path("a\\"));
    CHECK_FALSE(unescape_path("a\\q"));
    CHECK_FALSE(unescape_path("a\\x4"));
    CHECK_FALSE(unescape_path("a\\xzz"));
    CHECK_FALSE(unescape_path("a\\x00"));
}
