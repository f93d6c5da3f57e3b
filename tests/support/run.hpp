// Helpers for integration tests: run a program, capture its exit status and
// stderr; own a temporary directory that is kept when a test fails.
#pragma once

#include <string>
#include <vector>

namespace trace_root::testing {

struct RunResult {
    int exit_status = -1;  // 128+N when killed by signal N
    std::string out;       // stdout
    std::string err;       // stderr
};

// Runs argv (argv[0] is a path) and waits for it.
RunResult run(const std::vector<std::string>& argv);

// A fresh directory under /tmp, removed at destruction unless the current
// doctest test case has failed (then its path is printed to stderr).
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

void write_text(const std::string& path, const std::string& text, int mode = 0644);

}  // namespace trace_root::testing
