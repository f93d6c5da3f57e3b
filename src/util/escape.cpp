#include "trace_root/escape.hpp"

#include <cstdint>

namespace trace_root {

namespace {

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 if the
// bytes there are not one (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
size_t utf8_sequence_length(std::string_view s, size_t i)
{
    auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
    const uint8_t b0 = byte(i);
    if (b0 < 0x80)
        return 1;
    size_t len = 0;
    uint8_t lo = 0x80, hi = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        len = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        len = 3;
        if (b0 == 0xe0)
            lo = 0xa0;
        if (b0 == 0xed)
            hi = 0x9f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        len = 4;
        if (b0 == 0xf0)
            lo = 0x90;
        if (b0 == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (s.size() - i < len)
        return 0;
    for (size_t k = 1; k < len; ++k) {
        const uint8_t b = byte(i + k);
        const uint8_t min = (k == 1) ? lo : 0x80;
        const uint8_t max = (k == 1) ? hi : 0xbf;
        if (b < min || b > max)
            return 0;
    }
    return len;
}

int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

}  // namespace

bool is_valid_utf8(std::string_view bytes)
{
    for (size_t i = 0; i < bytes.size();) {
        const size_t n = utf8_sequence_length(bytes, i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

std::string escape_path(std::string_view raw)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(raw.size());
    for (size_t i = 0; i < raw.size();) {
        const auto b = static_cast<uint8_t>(raw[i]);
        if (b == '\\') {
            out += "\\\\";
        } else if (b == '\n') {
            out += "\\n";
        } else if (b == '\r') {
            out += "\\r";
        } else if (b == '\t') {
            out += "\\t";
        } else if (b < 0x20 || b == 0x7f) {
            out += "\\x";
            out += digits[b >> 4];
            out += digits[b & 0xf];
        } else if (b < 0x80) {
            out += static_cast<char>(b);
        } else if (const size_t n = utf8_sequence_length(raw, i); n > 0) {
            out.append(raw.substr(i, n));
            i += n;
            continue;
        } else {
            out += "\\x";
            out += digits[b >> 4];
            out += digits[b & 0xf];
        }
        ++i;
    }
    return out;
}

Result<std::string> unescape_path(std::string_view escaped)
{
    std::string out;
    out.reserve(escaped.size());
    for (size_t i = 0; i < escaped.size(); ++i) {
        const char c = escaped[i];
        if (c != '\\') {
            out += c;
            continue;
        }
        if (i + 1 >= escaped.size())
            return fail("malformed escape: a trailing backslash in \"" + std::string(escaped) + "\"");
        const char e = escaped[++i];
        switch (e) {
        case '\\': out += '\\'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'x': {
            const int hi = i + 1 < escaped.size() ? hex_value(escaped[i + 1]) : -1;
            const int lo = i + 2 < escaped.size() ? hex_value(escaped[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return fail("malformed escape: \\x needs two hex digits in \"" +
                            escape_path(escaped) + "\"");
            if (hi == 0 && lo == 0)
                return fail("malformed escape: \\x00 (a path cannot hold a NUL byte)");
            out += static_cast<char>(hi << 4 | lo);
            i += 2;
            break;
        }
        default:
            return fail(std::string("malformed escape: unknown \\") + e + " in \"" +
                        escape_path(escaped) + "\"",
                        "write a literal backslash as \\\\");
        }
    }
    return out;
}

}  // namespace trace_root
