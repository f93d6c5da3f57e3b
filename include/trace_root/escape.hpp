// Path escaping shared by the JSON report and the allow-list.
//
// Linux paths are arbitrary bytes except NUL. Reports and lists must stay
// valid UTF-8 text with one path per line, so every path is written in an
// escaped form that round-trips exactly:
//   - a backslash is written as "\\"
//   - newline, carriage return and tab as "\n", "\r", "\t"
//   - any other byte below 0x20, the byte 0x7f, and every byte that is not
//     part of a well-formed UTF-8 sequence as "\xHH" (two lower-case hex digits)
//   - everything else (printable ASCII and valid UTF-8) is kept as it is.
// unescape_path() is the exact inverse and rejects malformed escapes.
#pragma once

#include <string>
#include <string_view>

#include "trace_root/error.hpp"

namespace trace_root {

std::string escape_path(std::string_view raw);
Result<std::string> unescape_path(std::string_view escaped);

// True when the bytes form valid UTF-8 (no overlongs, no surrogates).
bool is_valid_utf8(std::string_view bytes);

}  // namespace trace_root
