#include "trace_root/error.hpp"

#include <cstring>

#include "trace_root/escape.hpp"

namespace trace_root {

std::string errno_message(const std::string& what, const std::string& path, int err)
{
    return what + " " + escape_path(path) + ": " + std::strerror(err);
}

}  // namespace trace_root
