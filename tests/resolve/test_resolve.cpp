// Resolve: canonicalisation through the file system and report classification,
// on real files and symlinks in a temp root (and on this machine's merged /usr).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "trace_root/allowlist.hpp"
#include "trace_root/resolve.hpp"

using namespace trace_root;
namespace fs = std::filesystem;

namespace {

struct TempRoot {
    std::string dir;
    TempRoot()
    {
        char tmpl[] = "/tmp/test_resolve.XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir = tmpl;
    }
    ~TempRoot() { fs::remove_all(dir); }
    void file(const std::string& rel, const std::string& data = "x", mode_t mode = 0644) const
    {
        fs::create_directories(fs::path(dir + rel).parent_path());
        std::ofstream(dir + rel, std::ios::binary) << data;
        REQUIRE(chmod((dir + rel).c_str(), mode) == 0);
    }
    void mkdir(const std::string& rel) const { fs::create_directories(dir + rel); }
    void link(const std::string& rel, const std::string& target) const
    {
        fs::create_directories(fs::path(dir + rel).parent_path());
        REQUIRE(symlink(target.c_str(), (dir + rel).c_str()) == 0);
    }
};

PathEntry traced(const std::string& path, uint32_t access, uint32_t flags = 0)
{
    PathEntry e;
    e.path = path;
    e.access = access;
    e.flags = flags;
    e.first = {12, "app", "/usr/bin/app"};
    e.count = 1;
    return e;
}

FileSet resolve(const TempRoot& root, std::vector<PathEntry> paths, ResolveOptions opt = {})
{
    Report r;
    std::sort(paths.begin(), paths.end(),
              [](const auto& a, const auto& b) { return a.path < b.path; });
    r.paths = std::move(paths);
    opt.root = root.dir;
    auto set = resolve_report(r, opt);
    REQUIRE(set);
    return *set;
}

const FileEntry& entry(const FileSet& set, const std::string& path)
{
    const FileEntry* e = find_entry(set, path);
    INFO("path: " << path);
    REQUIRE(e != nullptr);
    return *e;
}

bool contains(const std::vector<std::string>& v, const std::string& s)
{
    return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("canonicalises_libc_through_the_merged_usr_symlink_of_this_machine")
{
    struct stat st {};
    if (lstat("/lib", &st) != 0 || !S_ISLNK(st.st_mode) ||
        access("/lib/x86_64-linux-gnu/libc.so.6", F_OK) != 0) {
        MESSAGE("this machine has no merged /usr with x86_64 libc; skipped");
        return;
    }
    auto root = RootDir::open("/");
    REQUIRE(root);
    auto c = root->canonicalize("/lib/x86_64-linux-gnu/libc.so.6", FollowFinal::Follow);
    REQUIRE(c);
    CHECK(c->path == "/usr/lib/x86_64-linux-gnu/libc.so.6");
    CHECK(c->type == FileType::Regular);
    REQUIRE(!c->symlinks.empty());
    CHECK(c->symlinks[0].link == "/lib");
    CHECK(c->symlinks[0].target == "usr/lib");
    CHECK(contains(c->parents, "/usr"));
    CHECK(contains(c->parents, "/usr/lib"));
    CHECK(contains(c->parents, "/usr/lib/x86_64-linux-gnu"));
}

TEST_CASE("follows_a_versioned_soname_chain_and_records_every_link")
{
    TempRoot t;
    t.file("/usr/lib/libfoo.so.1.2.3", "\x7f" "ELFnot-really");
    t.link("/usr/lib/libfoo.so.1", "libfoo.so.1.2.3");
    t.link("/usr/lib/libfoo.so", "libfoo.so.1");
    t.link("/lib", "usr/lib");
    auto root = RootDir::open(t.dir);
    REQUIRE(root);
    auto c = root->canonicalize("/lib/libfoo.so", FollowFinal::Follow);
    REQUIRE(c);
    CHECK(c->path == "/usr/lib/libfoo.so.1.2.3");
    REQUIRE(c->symlinks.size() == 3);
    CHECK(c->symlinks[0].link == "/lib");
    CHECK(c->symlinks[1].link == "/usr/lib/libfoo.so");
    CHECK(c->symlinks[1].target == "libfoo.so.1");
    CHECK(c->symlinks[2].link == "/usr/lib/libfoo.so.1");
    CHECK(c->symlinks[2].target == "libfoo.so.1.2.3");

    auto nofollow = root->canonicalize("/lib/libfoo.so", FollowFinal::NoFollow);
    REQUIRE(nofollow);
    CHECK(nofollow->path == "/usr/lib/libfoo.so");
    CHECK(nofollow->type == FileType::Symlink);
    CHECK(nofollow->final_target == "libfoo.so.1");
}

TEST_CASE("dotdot_after_a_symlink_to_a_directory_resolves_as_the_kernel_does")
{
    TempRoot t;
    t.file("/a/b/x", "kernel");
    t.file("/x", "text");
    t.mkdir("/a/b/c");
    t.link("/link", "a/b/c");
    auto root = RootDir::open(t.dir);
    REQUIRE(root);
    auto c = root->canonicalize("/link/../x", FollowFinal::Follow);
    REQUIRE(c);
    CHECK(c->path == "/a/b/x");  // as text it would be /x
    CHECK(c->type == FileType::Regular);
    REQUIRE(c->symlinks.size() == 1);
    CHECK(c->symlinks[0].link == "/link");
    CHECK(contains(c->parents, "/a/b/c"));

    // A symlink to a directory named with a trailing slash is followed.
    auto d = root->canonicalize("/link/", FollowFinal::NoFollow);
    REQUIRE(d);
    CHECK(d->path == "/a/b/c");
    CHECK(d->type == FileType::Directory);
}

TEST_CASE("absolute_and_escaping_relative_targets_stay_inside_the_root")
{
    TempRoot t;
    t.file("/etc/conf", "inside");
    t.link("/abs", "/etc/conf");
    t.link("/deep/rel", "../../../../etc/conf");
    auto root = RootDir::open(t.dir);
    REQUIRE(root);
    auto a = root->canonicalize("/abs", FollowFinal::Follow);
    REQUIRE(a);
    CHECK(a->path == "/etc/conf");
    CHECK(a->type == FileType::Regular);
    auto r = root->canonicalize("/deep/rel", FollowFinal::Follow);
    REQUIRE(r);
    CHECK(r->path == "/etc/conf");
    CHECK(r->type == FileType::Regular);
    auto up = root->canonicalize("/../../etc/conf", FollowFinal::Follow);
    REQUIRE(up);
    CHECK(up->path == "/etc/conf");
}

TEST_CASE("a_symlink_loop_is_an_error_not_a_hang")
{
    TempRoot t;
    t.link("/a", "b");
    t.link("/b", "a");
    t.link("/self", "self/x");
    auto root = RootDir::open(t.dir);
    REQUIRE(root);
    auto c = root->canonicalize("/a", FollowFinal::Follow);
    REQUIRE_FALSE(c);
    CHECK(c.error().message.find("too many levels of symbolic links") != std::string::npos);
    CHECK_FALSE(root->canonicalize("/self", FollowFinal::Follow));

    // In a report, the loop is a problem, not a failure of the whole run.
    auto set = resolve(t, {traced("/a", kRead)});
    REQUIRE(set.problems.size() == 1);
    CHECK(set.problems[0].find("/a") != std::string::npos);
}

TEST_CASE("a_missing_path_keeps_the_directories_its_lookup_walked")
{
    TempRoot t;
    t.mkdir("/etc/app");
    auto set = resolve(t, {traced("/etc/app/missing.conf", kMissing),
                           traced("/etc/app/nodir/x", kMissing)});
    CHECK(set.problems.empty());
    CHECK(entry(set, "/etc").exported);
    CHECK(entry(set, "/etc/app").exported);
    CHECK_FALSE(entry(set, "/etc/app/missing.conf").exported);
    CHECK(entry(set, "/etc/app/missing.conf").type == FileType::Missing);
    CHECK_FALSE(contains(exportable_paths(set), "/etc/app/nodir/x"));
}

TEST_CASE("created_files_are_not_exported_but_their_directories_are")
{
    TempRoot t;
    t.file("/data/app/out.txt", "made by the workload");
    t.mkdir("/data/app/newdir");
    t.link("/var/run", "../run");
    t.mkdir("/run");
    auto set = resolve(t, {traced("/data/app/out.txt", kWrite | kCreated),
                           traced("/data/app/newdir", kCreated),
                           traced("/data/app/gone.tmp", kCreated | kRemoved),
                           traced("/var/run/app.pid", kWrite | kCreated)});
    CHECK(set.problems.empty());
    const auto& out = entry(set, "/data/app/out.txt");
    CHECK(out.origin == Origin::Created);
    CHECK_FALSE(out.exported);
    CHECK_FALSE(entry(set, "/data/app/newdir").exported);
    CHECK_FALSE(entry(set, "/data/app/gone.tmp").exported);
    CHECK(entry(set, "/data/app").exported);
    CHECK(entry(set, "/data").exported);
    // /var/run -> ../run: the link is in the image, what is below /run is not.
    CHECK(entry(set, "/var/run").exported);
    CHECK(entry(set, "/var/run").symlink_target == "../run");
    CHECK_FALSE(entry(set, "/run/app.pid").exported);
    CHECK(entry(set, "/run").exported);
}

TEST_CASE("runtime_provided_paths_are_never_exported")
{
    TempRoot t;
    t.mkdir("/etc");
    auto set = resolve(t, {traced("/proc/self/status", kRead), traced("/dev/null", kWrite),
                           traced("/sys/kernel/mm", kListdir), traced("/run/x.sock", kRead),
                           traced("pipe:[123]", kRead, kPathPseudo),
                           traced("/etc/mtab", kRead, kPathPseudo)});
    CHECK(set.problems.empty());
    CHECK(exportable_paths(set).empty());
    CHECK(entry(set, "/proc/self/status").origin == Origin::Runtime);
    CHECK(entry(set, "pipe:[123]").origin == Origin::Runtime);
    CHECK(entry(set, "/etc/mtab").origin == Origin::Runtime);
}

TEST_CASE("a_truncated_path_is_a_problem_and_never_exported")
{
    TempRoot t;
    t.file("/very/long", "x");
    auto set = resolve(t, {traced("/very/long", kRead, kPathTruncated)});
    REQUIRE(set.problems.size() == 1);
    CHECK(set.problems[0].find("/very/long") != std::string::npos);
    CHECK_FALSE(entry(set, "/very/long").exported);
}

TEST_CASE("a_used_file_that_no_longer_exists_is_a_problem")
{
    TempRoot t;
    t.mkdir("/etc");
    auto set = resolve(t, {traced("/etc/vanished", kRead)});
    REQUIRE(set.problems.size() == 1);
    CHECK(set.problems[0].find("/etc/vanished") != std::string::npos);
}

TEST_CASE("a_listed_directory_is_exported_without_its_entries")
{
    TempRoot t;
    t.file("/share/dir/one", "1");
    t.file("/share/dir/two", "2");
    auto set = resolve(t, {traced("/share/dir", kListdir)});
    const auto& d = entry(set, "/share/dir");
    CHECK(d.type == FileType::Directory);
    CHECK(d.exported);
    CHECK(find_entry(set, "/share/dir/one") == nullptr);
    CHECK(exportable_paths(set) == std::vector<std::string>{"/share", "/share/dir"});
}

TEST_CASE("an_executed_script_brings_its_interpreter_and_its_symlink_chain")
{
    TempRoot t;
    t.file("/usr/bin/sh2", "not an elf", 0755);
    t.link("/bin", "usr/bin");
    t.file("/opt/tool", "#! /bin/sh2 -e\necho hi\n", 0755);
    auto set = resolve(t, {traced("/opt/tool", kExec | kRead)});
    CHECK(set.problems.empty());
    const auto& sh = entry(set, "/usr/bin/sh2");
    CHECK(sh.exported);
    CHECK(sh.origin == Origin::Dependency);
    CHECK(entry(set, "/bin").exported);
    CHECK(entry(set, "/bin").origin == Origin::SymlinkChain);
}

TEST_CASE("an_executed_elf_brings_its_interpreter_and_libraries")
{
    if (access("/usr/bin/true", X_OK) != 0) {
        MESSAGE("no /usr/bin/true; skipped");
        return;
    }
    Report r;
    r.paths = {traced("/usr/bin/true", kExec)};
    auto set = resolve_report(r, {});
    REQUIRE(set);
    for (const auto& p : set->problems)
        MESSAGE(p);
    CHECK(set->problems.empty());
    const auto paths = exportable_paths(*set);
    const bool has_libc = std::any_of(paths.begin(), paths.end(), [](const std::string& p) {
        return p.find("/libc.so.6") != std::string::npos;
    });
    const bool has_ldso = std::any_of(paths.begin(), paths.end(), [](const std::string& p) {
        return p.find("/ld-linux") != std::string::npos && p.find("lib64") == std::string::npos;
    });
    CHECK(has_libc);
    CHECK(has_ldso);
    // The PT_INTERP names /lib64/...: that symlink is part of the set.
    if (access("/lib64/ld-linux-x86-64.so.2", F_OK) == 0)
        CHECK(contains(paths, "/lib64"));
}

TEST_CASE("include_globs_and_packs_add_files_and_report_what_matches_nothing")
{
    TempRoot t;
    t.file("/usr/share/zoneinfo/Europe/Paris", "TZif");
    t.file("/usr/share/zoneinfo/UTC", "TZif");
    t.file("/etc/extra.conf", "x");
    ResolveOptions opt;
    opt.includes = {"/etc/*.conf", "/nothing/*"};
    opt.include_packs = {"tzdata", "gconv"};
    auto set = resolve(t, {}, opt);
    CHECK(entry(set, "/usr/share/zoneinfo/Europe/Paris").exported);
    CHECK(entry(set, "/usr/share/zoneinfo/Europe").exported);
    CHECK(entry(set, "/etc/extra.conf").origin == Origin::Included);
    REQUIRE(set.problems.size() == 2);
    CHECK(set.problems[0].find("/nothing/*") != std::string::npos);
    CHECK(set.problems[1].find("gconv") != std::string::npos);

    opt.include_packs = {"no-such-pack"};
    Report r;
    opt.root = t.dir;
    CHECK_FALSE(resolve_report(r, opt));
}

TEST_CASE("merge_unions_sets_and_a_created_file_stays_unexported")
{
    TempRoot t;
    t.file("/a/one", "1");
    t.file("/a/two", "2");
    auto s1 = resolve(t, {traced("/a/one", kRead)});
    auto s2 = resolve(t, {traced("/a/two", kRead), traced("/a/one", kWrite | kCreated)});
    auto m = merge_filesets({s1, s2});
    CHECK(entry(m, "/a/two").exported);
    CHECK_FALSE(entry(m, "/a/one").exported);
    CHECK((entry(m, "/a/one").access & (kRead | kWrite)) == (kRead | kWrite));
    auto m2 = merge_filesets({s1, resolve(t, {traced("/a/two", kRead)})});
    CHECK(exportable_paths(m2) == std::vector<std::string>{"/a", "/a/one", "/a/two"});
}

TEST_CASE("explain_reasons_name_the_process_and_the_symlink_chain")
{
    TempRoot t;
    t.file("/usr/lib/libz.so.1.2.13", "z");
    t.link("/usr/lib/libz.so.1", "libz.so.1.2.13");
    t.link("/lib", "usr/lib");
    auto set = resolve(t, {traced("/lib/libz.so.1", kRead | kMmap)});
    const auto& z = entry(set, "/usr/lib/libz.so.1.2.13");
    REQUIRE(!z.reasons.empty());
    CHECK(z.reasons[0].find("pid 12 (app") != std::string::npos);
    CHECK(z.reasons[0].find("read") != std::string::npos);
    const auto& link = entry(set, "/usr/lib/libz.so.1");
    CHECK(link.type == FileType::Symlink);
    CHECK(link.symlink_target == "libz.so.1.2.13");
    REQUIRE(!link.reasons.empty());
    CHECK(link.reasons[0].find("on the way to /lib/libz.so.1") != std::string::npos);
}

TEST_CASE("the_same_report_gives_the_same_list_twice_without_pids_in_the_plain_form")
{
    TempRoot t;
    t.file("/usr/lib/libz.so.1.2.13", "z");
    t.link("/usr/lib/libz.so.1", "libz.so.1.2.13");
    t.file("/etc/b", "b");
    t.file("/etc/a", "a");
    const std::vector<PathEntry> paths = {traced("/usr/lib/libz.so.1", kMmap),
                                          traced("/etc/b", kRead), traced("/etc/a", kStat)};
    const std::string one = format_allowlist(resolve(t, paths), ListStyle::Plain);
    const std::string two = format_allowlist(resolve(t, paths), ListStyle::Plain);
    CHECK(one == two);
    CHECK(one.find("pid") == std::string::npos);
    CHECK(one.find("/etc/a\n/etc/b\n") != std::string::npos);
    CHECK(format_allowlist(resolve(t, paths), ListStyle::Annotated) ==
          format_allowlist(resolve(t, paths), ListStyle::Annotated));
}

TEST_CASE("explain_follows_a_path_given_through_a_symlink_to_its_entry")
{
    TempRoot t;
    t.file("/usr/lib/libz.so.1.2.13", "z");
    t.link("/lib", "usr/lib");
    auto set = resolve(t, {traced("/usr/lib/libz.so.1.2.13", kMmap)});
    auto root = RootDir::open(t.dir);
    REQUIRE(root);
    auto text = explain_path(set, *root, "/lib/libz.so.1.2.13");
    REQUIRE(text);
    CHECK(text->find("/lib/libz.so.1.2.13 resolves to /usr/lib/libz.so.1.2.13\n") == 0);
    CHECK(text->find("through symlink /lib -> usr/lib") != std::string::npos);
    CHECK(text->find("  exported: yes\n") != std::string::npos);
    CHECK(text->find("  access: mmap\n") != std::string::npos);
    CHECK(text->find("mmap by pid 12 (app, /usr/bin/app)") != std::string::npos);
    auto direct = explain_path(set, *root, "/usr/lib");
    REQUIRE(direct);
    CHECK(direct->find("  origin: parent\n") != std::string::npos);
    auto absent = explain_path(set, *root, "/etc/shadow");
    REQUIRE_FALSE(absent);
    CHECK(absent.error().message.find("/etc/shadow is not in the file set") != std::string::npos);
}

TEST_CASE("a_symlink_into_proc_is_kept_but_proc_itself_is_never_walked")
{
    TempRoot t;
    t.link("/etc/mtab", "../proc/self/mounts");
    t.file("/proc/fake/entry", "the runtime's");
    auto root = RootDir::open(t.dir);
    REQUIRE(root);
    auto c = root->canonicalize("/etc/mtab", FollowFinal::Follow);
    REQUIRE(c);
    CHECK(c->path == "/proc/self/mounts");
    CHECK(c->type == FileType::Other);
    auto set = resolve(t, {traced("/etc/mtab", kRead)});
    CHECK(set.problems.empty());
    CHECK(entry(set, "/etc/mtab").exported);
    CHECK(entry(set, "/etc/mtab").symlink_target == "../proc/self/mounts");
    CHECK(entry(set, "/proc/self/mounts").origin == Origin::Runtime);
    CHECK_FALSE(entry(set, "/proc/self/mounts").exported);
    auto all = expand_glob(*root, "/**");
    REQUIRE(all);
    CHECK(*all == std::vector<std::string>{"/etc", "/etc/mtab", "/proc"});
}

namespace {

int run(const std::string& cmd)
{
    INFO("command: " << cmd);
    return std::system(cmd.c_str());
}

}  // namespace

TEST_CASE("a_versioned_soname_found_by_runpath_joins_the_set_and_a_missing_one_is_a_problem")
{
    TempRoot t;
    t.file("/src/foo.c", "int foo(void) { return 42; }\n");
    t.file("/src/app.c", "int foo(void);\nint main(void) { return foo() == 42 ? 0 : 1; }\n");
    t.mkdir("/usr/lib");
    t.mkdir("/usr/bin");
    const std::string d = t.dir;
    REQUIRE(run("cc -shared -fPIC -Wl,-soname,libfoo.so.1 -o " + d +
                "/usr/lib/libfoo.so.1.2.3 " + d + "/src/foo.c") == 0);
    t.link("/usr/lib/libfoo.so.1", "libfoo.so.1.2.3");
    t.link("/usr/lib/libfoo.so", "libfoo.so.1");
    REQUIRE(run("cc -o " + d + "/usr/bin/app " + d + "/src/app.c -L" + d +
                "/usr/lib -lfoo -Wl,--enable-new-dtags,-rpath,'$ORIGIN/../lib'") == 0);

    auto set = resolve(t, {traced("/usr/bin/app", kExec)});
    const auto& lib = entry(set, "/usr/lib/libfoo.so.1.2.3");
    CHECK(lib.exported);
    CHECK(lib.origin == Origin::Dependency);
    REQUIRE(!lib.reasons.empty());
    CHECK(lib.reasons[0].find("DT_NEEDED libfoo.so.1 of /usr/bin/app") != std::string::npos);
    CHECK(entry(set, "/usr/lib/libfoo.so.1").type == FileType::Symlink);
    CHECK(entry(set, "/usr/lib/libfoo.so.1").exported);
    // The temp root has no libc and no ld.so: reported, not hidden.
    const bool libc_reported =
        std::any_of(set.problems.begin(), set.problems.end(), [](const std::string& p) {
            return p.find("needs libc.so.6") != std::string::npos;
        });
    CHECK(libc_reported);

    fs::remove(d + "/usr/lib/libfoo.so.1.2.3");
    auto broken = resolve(t, {traced("/usr/bin/app", kExec)});
    const bool foo_reported =
        std::any_of(broken.problems.begin(), broken.problems.end(), [](const std::string& p) {
            return p.find("/usr/bin/app needs libfoo.so.1") != std::string::npos;
        });
    CHECK(foo_reported);
}
