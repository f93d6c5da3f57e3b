// Allow-list: escaping round trip, glob and exclude semantics, includes.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "trace_root/allowlist.hpp"
#include "trace_root/fs_util.hpp"

using namespace trace_root;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    std::string dir;
    TempDir()
    {
        char tmpl[] = "/tmp/test_allowlist.XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir = tmpl;
    }
    ~TempDir() { fs::remove_all(dir); }
    void file(const std::string& rel, const std::string& data = "x") const
    {
        fs::create_directories(fs::path(dir + rel).parent_path());
        std::ofstream(dir + rel, std::ios::binary) << data;
    }
};

Pattern pat(const std::string& text)
{
    auto p = parse_pattern(text);
    REQUIRE(p);
    return *p;
}

FileEntry exported(const std::string& path)
{
    FileEntry e;
    e.path = path;
    e.type = FileType::Regular;
    e.exported = true;
    e.reasons = {"read by pid 1 (x)"};
    return e;
}

}  // namespace

TEST_CASE("every_byte_a_path_may_hold_round_trips_through_a_list")
{
    const std::vector<std::string> raw = {
        "/tmp/new\nline", "/tmp/back\\slash", "/tmp/bad\xff\xfe", "/tmp/hash #not a comment",
        "/tmp/star*literal", "/tmp/trailing space ", "/tmp/tab\there", "/tmp/caf\xc3\xa9",
        "/tmp/\x01\x7f"};
    FileSet set;
    for (const auto& p : raw)
        set.entries.push_back(exported(p));
    std::sort(set.entries.begin(), set.entries.end(),
              [](const auto& a, const auto& b) { return a.path < b.path; });
    for (auto style : {ListStyle::Plain, ListStyle::Annotated}) {
        const std::string text = format_allowlist(set, style);
        auto rules = parse_allowlist(text, "rt.list");
        REQUIRE(rules);
        std::vector<std::string> back;
        for (const auto& r : *rules) {
            CHECK(r.kind == ListRule::Kind::Add);
            CHECK_FALSE(r.pattern.has_wildcard());
            back.push_back(r.pattern.literal_path());
        }
        std::vector<std::string> want = raw;
        std::sort(want.begin(), want.end());
        CHECK(back == want);
    }
    // One line per path: no raw newline inside an entry.
    const std::string plain = format_allowlist(set, ListStyle::Plain);
    CHECK(std::count(plain.begin(), plain.end(), '\n') == 2 + long(raw.size()));
}

TEST_CASE("star_matches_within_a_component_and_doublestar_any_depth")
{
    CHECK(pattern_matches(pat("/a/*"), "/a/b"));
    CHECK_FALSE(pattern_matches(pat("/a/*"), "/a/b/c"));
    CHECK_FALSE(pattern_matches(pat("/a/*"), "/a"));
    CHECK(pattern_matches(pat("/a/**"), "/a/b/c"));
    CHECK(pattern_matches(pat("/a/**"), "/a/b"));
    CHECK_FALSE(pattern_matches(pat("/a/**"), "/a"));
    CHECK(pattern_matches(pat("/a/**/c"), "/a/c"));
    CHECK(pattern_matches(pat("/a/**/c"), "/a/x/y/c"));
    CHECK_FALSE(pattern_matches(pat("/a/**/c"), "/a/x/y/d"));
    CHECK(pattern_matches(pat("/usr/lib/*/libnss_*.so*"), "/usr/lib/x86_64/libnss_dns.so.2"));
    CHECK_FALSE(pattern_matches(pat("/usr/lib/*/libnss_*.so*"), "/usr/lib/x/libz.so.1"));
    CHECK(pattern_matches(pat("/x/a*b*c"), "/x/abbc"));
    CHECK_FALSE(pattern_matches(pat("/x/a*b*c"), "/x/acb"));
    CHECK(pattern_matches(pat("/x/lit\\x2aeral"), "/x/lit*eral"));
    CHECK_FALSE(pattern_matches(pat("/x/lit\\x2aeral"), "/x/litXeral"));
}

TEST_CASE("excludes_remove_what_earlier_lines_added_and_later_lines_win")
{
    TempDir root;
    root.file("/d/a.txt");
    root.file("/d/sub/keep");
    root.file("/d/sub/drop");
    root.file("/d/sub/deeper/x");
    TempDir lists;
    lists.file("/app.list", "# base\n"
                            "/d/**\n"
                            "!/d/sub/**\n"
                            "/d/sub/keep   # wanted again\n"
                            "/literal/not/there\n"
                            "  \n");
    auto paths = expand_allowlist_file(lists.dir + "/app.list", root.dir);
    REQUIRE(paths);
    CHECK(*paths == std::vector<std::string>{"/d/a.txt", "/d/sub", "/d/sub/keep",
                                             "/literal/not/there"});
}

TEST_CASE("include_is_relative_to_the_including_file_and_a_loop_is_an_error")
{
    TempDir root;
    root.file("/etc/ssl/certs/ca.pem");
    TempDir lists;
    lists.file("/main.list", "include parts/certs.list\n/etc/passwd\n");
    lists.file("/parts/certs.list", "/etc/ssl/certs/*.pem\n");
    auto paths = expand_allowlist_file(lists.dir + "/main.list", root.dir);
    REQUIRE(paths);
    CHECK(*paths == std::vector<std::string>{"/etc/passwd", "/etc/ssl/certs/ca.pem"});

    lists.file("/a.list", "/x\ninclude b.list\n");
    lists.file("/b.list", "include a.list\n");
    auto loop = expand_allowlist_file(lists.dir + "/a.list", root.dir);
    REQUIRE_FALSE(loop);
    CHECK(loop.error().message.find("include loop") != std::string::npos);
    CHECK(loop.error().message.find("b.list:1") != std::string::npos);
}

TEST_CASE("a_relative_or_malformed_line_is_an_error_naming_file_and_line")
{
    auto rel = parse_allowlist("/ok\n\nusr/lib/x\n", "my.list");
    REQUIRE_FALSE(rel);
    CHECK(rel.error().message.find("my.list:3") != std::string::npos);
    CHECK(rel.error().message.find("not an absolute path") != std::string::npos);

    auto esc = parse_allowlist("/bad\\q\n", "my.list");
    REQUIRE_FALSE(esc);
    CHECK(esc.error().message.find("my.list:1") != std::string::npos);

    CHECK_FALSE(parse_allowlist("/a/../b\n", "l"));
    CHECK_FALSE(parse_allowlist("/a//b\n", "l"));
    CHECK_FALSE(parse_allowlist("/a/\\x2fb\n", "l"));
    CHECK_FALSE(parse_allowlist("include\n", "l"));
    CHECK_FALSE(parse_allowlist(std::string("/a\0b\n", 5), "l"));
}

TEST_CASE("glob_expansion_follows_symlinked_directories_but_doublestar_does_not_descend_them")
{
    TempDir root;
    root.file("/usr/lib/gconv/UTF-16.so");
    root.file("/usr/lib/gconv/sub/X.so");
    fs::create_directory_symlink("usr/lib", root.dir + "/lib");
    fs::create_directory_symlink("..", root.dir + "/usr/lib/gconv/up");
    auto rd = RootDir::open(root.dir);
    REQUIRE(rd);
    auto a = expand_glob(*rd, "/lib/gconv/*.so");
    REQUIRE(a);
    CHECK(*a == std::vector<std::string>{"/lib/gconv/UTF-16.so"});
    auto b = expand_glob(*rd, "/usr/lib/gconv/**");
    REQUIRE(b);
    CHECK(*b == std::vector<std::string>{"/usr/lib/gconv/UTF-16.so", "/usr/lib/gconv/sub",
                                         "/usr/lib/gconv/sub/X.so", "/usr/lib/gconv/up"});
}

TEST_CASE("an_annotated_list_says_why_and_lists_what_is_not_exported")
{
    FileSet set;
    set.entries.push_back(exported("/etc/passwd"));
    FileEntry proc;
    proc.path = "/proc/self/status";
    proc.origin = Origin::Runtime;
    proc.reasons = {"read; provided by the container runtime"};
    set.entries.push_back(proc);
    set.problems = {"something\nbad"};
    const std::string text = format_allowlist(set, ListStyle::Annotated);
    CHECK(text.find("/etc/passwd  # file, traced; read by pid 1 (x)\n") != std::string::npos);
    CHECK(text.find("#   /proc/self/status  (missing, runtime;") != std::string::npos);
    CHECK(text.find("# problem: something\\nbad\n") != std::string::npos);
    auto rules = parse_allowlist(text, "a.list");
    REQUIRE(rules);
    REQUIRE(rules->size() == 1);
    CHECK(rules->at(0).pattern.literal_path() == "/etc/passwd");
    TempDir d;
    REQUIRE(write_allowlist(set, ListStyle::Plain, d.dir + "/out.list"));
    auto back = read_file(d.dir + "/out.list");
    REQUIRE(back);
    CHECK(*back == format_allowlist(set, ListStyle::Plain));
}

TEST_CASE("diff_lists_added_and_removed_paths_in_path_order")
{
    const std::vector<std::string> old_paths = {"/a", "/b", "/d\n"};
    const std::vector<std::string> new_paths = {"/a", "/c", "/e*"};
    const PathDiff d = diff_paths(old_paths, new_paths);
    CHECK(d.added == std::vector<std::string>{"/c", "/e*"});
    CHECK(d.removed == std::vector<std::string>{"/b", "/d\n"});
    CHECK(format_diff(d) == "- /b\n+ /c\n- /d\\n\n+ /e\\x2a\n");
    CHECK(diff_paths(old_paths, old_paths).empty());
    CHECK(format_diff(diff_paths(old_paths, old_paths)).empty());
}
