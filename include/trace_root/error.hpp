// One error type for the whole project. Library code returns Result<T>; only
// main() prints, once, as "trace-root: error: MESSAGE" followed by an optional
// hint line that says how to fix it.
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace trace_root {

struct Error {
    std::string message;  // names the path (if any) and the cause
    std::string hint;     // optional: how to fix it
    int exit_code = 1;    // process exit status main() should use
};

template <typename T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(std::string message, std::string hint = {}, int exit_code = 1)
{
    return tl::unexpected<Error>(Error{std::move(message), std::move(hint), exit_code});
}

// "PATH: strerror(errno)" style message for a failed system call on a path.
std::string errno_message(const std::string& what, const std::string& path, int err);

}  // namespace trace_root
