// Export: real source trees built in a temp dir, exported with --from, and
// the result inspected with stat/xattr calls. Needs root (chown, trusted.*
// xattrs, setcap, mounting small file systems).
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "trace_root/export.hpp"

namespace fs = std::filesystem;
using namespace trace_root;

namespace {

// A temp dir owned by one test; kept when TRACE_ROOT_KEEP_TMP is set.
struct TempDir {
    fs::path path;
    TempDir()
    {
        char tmpl[] = "/var/tmp/trace-root-export-test.XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir()
    {
        if (!std::getenv("TRACE_ROOT_KEEP_TMP")) {
            umount2((path / "dst").c_str(), MNT_DETACH);
            std::error_code ec;
            fs::remove_all(path, ec);
        }
    }
    fs::path src() const { return path / "src"; }
    fs::path dst() const { return path / "dst"; }
};

void write_file(const fs::path& p, const std::string& data)
{
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << data;
}

std::string slurp(const fs::path& p)
{
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct stat lstat_of(const fs::path& p)
{
    struct stat st {};
    REQUIRE_MESSAGE(lstat(p.c_str(), &st) == 0, p.string());
    return st;
}

void set_times(const fs::path& p, long sec, long nsec)
{
    const struct timespec t[2] = {{sec, nsec}, {sec + 1, nsec + 1}};
    REQUIRE(utimensat(AT_FDCWD, p.c_str(), t, AT_SYMLINK_NOFOLLOW) == 0);
}

std::string get_xattr(const fs::path& p, const char* name)
{
    char buf[4096];
    const ssize_t n = lgetxattr(p.c_str(), name, buf, sizeof buf);
    return n < 0 ? std::string("<none>") : std::string(buf, static_cast<size_t>(n));
}

Result<ExportStats> run_export(const TempDir& t, std::vector<std::string> paths,
                               MergePolicy merge = MergePolicy::RequireEmpty,
                               MetadataLossPolicy loss = MetadataLossPolicy::Fail)
{
    ExportOptions o;
    o.from_root = t.src();
    o.to_dir = t.dst();
    o.merge = merge;
    o.metadata_loss = loss;
    return export_paths(o, paths);
}

void run(const std::string& cmd) { REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, cmd); }

// Mounts made by a test vanish with the test process.
void private_mounts()
{
    static bool done = false;
    if (done)
        return;
    REQUIRE(unshare(CLONE_NEWNS) == 0);
    REQUIRE(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0);
    done = true;
}

}  // namespace

TEST_CASE("exports_file_with_setuid_mode_numeric_owner_and_nanosecond_times")
{
    TempDir t;
    const fs::path tool = t.src() / "usr/bin/tool";
    write_file(tool, "#!/bin/sh\necho hi\n");
    REQUIRE(chown(tool.c_str(), 1234, 5678) == 0);
    REQUIRE(chmod(tool.c_str(), 06755) == 0);  // chmod after chown: chown clears setuid
    set_times(tool, 1000000000, 123456789);
    const fs::path usr = t.src() / "usr";
    REQUIRE(chown(usr.c_str(), 42, 43) == 0);
    REQUIRE(chmod(usr.c_str(), 0751) == 0);
    set_times(usr, 1100000000, 987654321);  // must survive files written inside it later

    auto r = run_export(t, {"/usr/bin/tool"});
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->files == 1);
    CHECK(r->dirs == 2);

    const struct stat d = lstat_of(t.dst() / "usr/bin/tool");
    CHECK(slurp(t.dst() / "usr/bin/tool") == "#!/bin/sh\necho hi\n");
    CHECK((d.st_mode & 07777) == 06755);
    CHECK(d.st_uid == 1234);
    CHECK(d.st_gid == 5678);
    CHECK(d.st_mtim.tv_sec == 1000000001);
    CHECK(d.st_mtim.tv_nsec == 123456790);
    CHECK(d.st_atim.tv_nsec == 123456789);

    const struct stat u = lstat_of(t.dst() / "usr");
    CHECK((u.st_mode & 07777) == 0751);
    CHECK(u.st_uid == 42);
    CHECK(u.st_gid == 43);
    CHECK(u.st_mtim.tv_sec == 1100000001);
    CHECK(u.st_mtim.tv_nsec == 987654322);
}

TEST_CASE("file_capabilities_survive_export")
{
    TempDir t;
    fs::create_directories(t.src() / "bin");
    fs::copy_file("/bin/true", t.src() / "bin/true");
    run("setcap cap_net_bind_service+ep " + (t.src() / "bin/true").string());
    const std::string cap = get_xattr(t.src() / "bin/true", "security.capability");
    REQUIRE(cap != "<none>");

    auto r = run_export(t, {"/bin/true"});
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(get_xattr(t.dst() / "bin/true", "security.capability") == cap);
    run("getcap " + (t.dst() / "bin/true").string() + " | grep -q cap_net_bind_service");
}

TEST_CASE("hardlinks_are_exported_as_hardlinks")
{
    TempDir t;
    write_file(t.src() / "usr/bin/a", "same inode");
    fs::create_directories(t.src() / "sbin");
    REQUIRE(link((t.src() / "usr/bin/a").c_str(), (t.src() / "sbin/b").c_str()) == 0);

    auto r = run_export(t, {"/usr/bin/a", "/sbin/b"});
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->files == 1);
    CHECK(r->hardlinks == 1);
    const struct stat a = lstat_of(t.dst() / "usr/bin/a");
    const struct stat b = lstat_of(t.dst() / "sbin/b");
    CHECK(a.st_ino == b.st_ino);
    CHECK(a.st_nlink == 2);
}

TEST_CASE("user_and_trusted_xattrs_and_posix_acls_survive_export")
{
    TempDir t;
    const fs::path f = t.src() / "etc/secret";
    write_file(f, "x");
    REQUIRE(setxattr(f.c_str(), "user.origin", "tested", 6, 0) == 0);
    REQUIRE(setxattr(f.c_str(), "trusted.marker", "\x01\x02", 2, 0) == 0);
    run("setfacl -m u:1234:rx " + f.string());
    run("setfacl -d -m g:99:rwx " + (t.src() / "etc").string());
    const std::string acl = get_xattr(f, "system.posix_acl_access");
    const std::string dacl = get_xattr(t.src() / "etc", "system.posix_acl_default");
    REQUIRE(acl != "<none>");
    REQUIRE(dacl != "<none>");

    auto r = run_export(t, {"/etc/secret"});
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    const fs::path g = t.dst() / "etc/secret";
    CHECK(get_xattr(g, "user.origin") == "tested");
    CHECK(get_xattr(g, "trusted.marker") == "\x01\x02");
    CHECK(get_xattr(g, "system.posix_acl_access") == acl);
    CHECK(get_xattr(t.dst() / "etc", "system.posix_acl_default") == dacl);
    CHECK((lstat_of(g).st_mode & 0777) == (lstat_of(f).st_mode & 0777));
}

TEST_CASE("symlinked_parent_is_recreated_as_symlink_and_its_target_exported")
{
    TempDir t;
    write_file(t.src() / "usr/lib/libx.so.1", "elf");
    fs::create_directory_symlink("usr/lib", t.src() / "lib");
    fs::create_symlink("libx.so.1", t.src() / "usr/lib/libx.so");
    // An absolute target means "inside the source root", not the host.
    fs::create_directories(t.src() / "etc/alternatives");
    fs::create_symlink("/usr/lib/libx.so", t.src() / "etc/alternatives/x");

    auto r = run_export(t, {"/lib/libx.so", "/etc/alternatives/x"});
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(fs::is_symlink(t.dst() / "lib"));
    CHECK(fs::read_symlink(t.dst() / "lib") == "usr/lib");
    CHECK(fs::is_directory(fs::symlink_status(t.dst() / "usr/lib")));
    CHECK(fs::read_symlink(t.dst() / "usr/lib/libx.so") == "libx.so.1");
    CHECK(fs::is_regular_file(fs::symlink_status(t.dst() / "usr/lib/libx.so.1")));
    CHECK(fs::read_symlink(t.dst() / "etc/alternatives/x") == "/usr/lib/libx.so");
    CHECK(r->symlinks == 3);
    CHECK(r->files == 1);
}

TEST_CASE("dangling_symlink_is_exported_verbatim_and_counted")
{
    TempDir t;
    fs::create_directories(t.src() / "etc");
    fs::create_symlink("../proc/self/mounts", t.src() / "etc/mtab");
    fs::create_symlink("/nowhere/at/all", t.src() / "etc/broken");

    auto r = run_export(t, {"/etc/mtab", "/etc/broken"});
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(fs::read_symlink(t.dst() / "etc/mtab") == "../proc/self/mounts");
    CHECK(fs::read_symlink(t.dst() / "etc/broken") == "/nowhere/at/all");
    CHECK(r->dangling_symlinks == 1);
    CHECK(r->skipped_runtime == std::vector<std::string>{"/proc"});
}

TEST_CASE("symlink_loop_is_exported_verbatim_and_counted_as_dangling")
{
    TempDir t;
    fs::create_directories(t.src() / "etc");
    fs::create_symlink("b", t.src() / "etc/a");
    fs::create_symlink("a", t.src() / "etc/b");

    auto r = run_export(t, {"/etc/a"});
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(fs::read_symlink(t.dst() / "etc/a") == "b");
    CHECK(fs::read_symlink(t.dst() / "etc/b") == "a");
    CHECK(r->symlinks == 2);
    CHECK(r->dangling_symlinks == 1);
}

TEST_CASE("destination_symlink_pointing_outside_is_not_followed")
{
    TempDir t;
    write_file(t.src() / "usr/bin/tool", "payload");
    const fs::path outside = t.path / "outside";
    fs::create_directories(outside / "bin");
    fs::create_directories(t.dst());
    fs::create_directory_symlink(outside, t.dst() / "usr");

    auto r = run_export(t, {"/usr/bin/tool"}, MergePolicy::Merge);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("symlink") != std::string::npos);
    CHECK(fs::is_empty(outside / "bin"));

    // The literal case of the issue: DIR/usr -> / must not reach the host's /usr.
    fs::remove(t.dst() / "usr");
    fs::create_directory_symlink("/", t.dst() / "usr");
    write_file(t.src() / "usr/trace-root-must-not-exist", "x");
    auto r2 = run_export(t, {"/usr/trace-root-must-not-exist"}, MergePolicy::Merge);
    REQUIRE_FALSE(r2);
    CHECK_FALSE(fs::exists("/trace-root-must-not-exist"));
}

TEST_CASE("relative_list_line_is_an_error_and_nothing_is_written")
{
    TempDir t;
    write_file(t.src() / "usr/bin/tool", "x");
    auto r = run_export(t, {"/usr/bin/tool", "usr/bin/tool"});
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("relative path usr/bin/tool") != std::string::npos);
    CHECK_FALSE(fs::exists(t.dst()));

    auto dots = run_export(t, {"/usr/../etc/passwd"});
    REQUIRE_FALSE(dots);
    CHECK(dots.error().message.find("'..'") != std::string::npos);
}

TEST_CASE("missing_listed_paths_are_all_reported_before_writing")
{
    TempDir t;
    write_file(t.src() / "usr/bin/tool", "x");
    auto r = run_export(t, {"/usr/bin/tool", "/usr/bin/gone", "/etc/also-gone"});
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("2 listed path(s)") != std::string::npos);
    CHECK(r.error().message.find("/usr/bin/gone") != std::string::npos);
    CHECK(r.error().message.find("/etc/also-gone") != std::string::npos);
    CHECK_FALSE(fs::exists(t.dst()));
}

TEST_CASE("non_empty_destination_needs_merge")
{
    TempDir t;
    write_file(t.src() / "etc/a", "new");
    write_file(t.dst() / "etc/a", "old");
    write_file(t.dst() / "keep", "mine");

    auto r = run_export(t, {"/etc/a"});
    REQUIRE_FALSE(r);
    CHECK(r.error().hint.find("--merge") != std::string::npos);
    CHECK(slurp(t.dst() / "etc/a") == "old");

    auto m = run_export(t, {"/etc/a"}, MergePolicy::Merge);
    REQUIRE_MESSAGE(m, (m ? "" : m.error().message));
    CHECK(slurp(t.dst() / "etc/a") == "new");
    CHECK(slurp(t.dst() / "keep") == "mine");
}

TEST_CASE("runtime_provided_paths_are_skipped_and_counted")
{
    TempDir t;
    write_file(t.src() / "run/app.pid", "1");
    write_file(t.src() / "etc/hosts", "127.0.0.1 localhost\n");
    fs::create_directories(t.src() / "proc/self");
    fs::create_directories(t.src() / "dev");

    auto r = run_export(t, {"/proc/self/status", "/dev/null", "/run/app.pid", "/run",
                            "/etc/hosts", "/sys"});
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->skipped_runtime ==
          std::vector<std::string>{"/dev", "/proc", "/run/app.pid", "/sys"});
    CHECK(fs::is_directory(t.dst() / "run"));
    CHECK(fs::is_empty(t.dst() / "run"));
    CHECK_FALSE(fs::exists(t.dst() / "proc"));
    CHECK_FALSE(fs::exists(t.dst() / "dev"));
    CHECK(fs::exists(t.dst() / "etc/hosts"));
}

TEST_CASE("sparse_file_stays_sparse_and_identical")
{
    TempDir t;
    const fs::path f = t.src() / "var/lib/sparse.img";
    fs::create_directories(f.parent_path());
    const int fd = open(f.c_str(), O_WRONLY | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, 64 << 20) == 0);
    REQUIRE(pwrite(fd, "middle", 6, 32 << 20) == 6);
    REQUIRE(pwrite(fd, "end", 3, (64 << 20) - 3) == 3);
    close(fd);

    auto r = run_export(t, {"/var/lib/sparse.img"});
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    const struct stat d = lstat_of(t.dst() / "var/lib/sparse.img");
    CHECK(d.st_size == 64 << 20);
    CHECK(d.st_blocks * 512 < (1 << 20));  // not 64 MiB of zeros
    CHECK(slurp(t.dst() / "var/lib/sparse.img") == slurp(f));
}

TEST_CASE("empty_and_read_only_directories_fifos_and_odd_names_are_exported")
{
    TempDir t;
    fs::create_directories(t.src() / "var/empty");
    REQUIRE(chmod((t.src() / "var/empty").c_str(), 0555) == 0);
    REQUIRE(mkfifo((t.src() / "var/fifo").c_str(), 0600) == 0);
    REQUIRE(chmod((t.src() / "var/fifo").c_str(), 0620) == 0);  // past the umask
    const std::string odd = "/var/we\nird\xff name";
    write_file(t.src() / odd.substr(1), "odd");

    auto r = run_export(t, {"/var/empty", "/var/fifo", odd});
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(fs::is_directory(t.dst() / "var/empty"));
    CHECK((lstat_of(t.dst() / "var/empty").st_mode & 07777) == 0555);
    CHECK(S_ISFIFO(lstat_of(t.dst() / "var/fifo").st_mode));
    CHECK((lstat_of(t.dst() / "var/fifo").st_mode & 07777) == 0620);
    CHECK(slurp(t.dst() / odd.substr(1)) == "odd");
    CHECK(r->specials == 1);
}

TEST_CASE("metadata_the_destination_cannot_hold_is_reported_not_dropped")
{
    // tmpfs has supported user.* xattrs since Linux 6.6, so a tmpfs no
    // longer lacks them; ramfs has no xattr support at all and stands in
    // for "a destination without the needed xattr support".
    private_mounts();
    TempDir t;
    write_file(t.src() / "etc/conf", "x");
    const fs::path f = t.src() / "etc/conf";
    REQUIRE(setxattr(f.c_str(), "user.origin", "tested", 6, 0) == 0);
    fs::create_directories(t.dst());
    REQUIRE(mount("ramfs", t.dst().c_str(), "ramfs", 0, nullptr) == 0);

    auto strict = run_export(t, {"/etc/conf"});
    REQUIRE_FALSE(strict);
    CHECK(strict.error().message.find("could not be preserved") != std::string::npos);
    CHECK(strict.error().hint.find("--allow-metadata-loss") != std::string::npos);

    auto lenient = run_export(t, {"/etc/conf"}, MergePolicy::Merge, MetadataLossPolicy::Accept);
    REQUIRE_MESSAGE(lenient, (lenient ? "" : lenient.error().message));
    REQUIRE(lenient->not_preserved.size() == 1);
    CHECK(lenient->not_preserved[0].path == "/etc/conf");
    CHECK(lenient->not_preserved[0].what == "xattr user.origin");
    CHECK(lenient->not_preserved[0].error == EOPNOTSUPP);
    CHECK(slurp(t.dst() / "etc/conf") == "x");
}

TEST_CASE("full_destination_gives_clear_error_and_no_file_under_final_name")
{
    private_mounts();
    TempDir t;
    std::string big(3 << 20, '\0');
    for (size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>('a' + i % 26);
    write_file(t.src() / "usr/share/big.dat", big);
    write_file(t.src() / "usr/share/small", "s");
    fs::create_directories(t.dst());
    REQUIRE(mount("tmpfs", t.dst().c_str(), "tmpfs", 0, "size=1m") == 0);

    auto r = run_export(t, {"/usr/share/big.dat", "/usr/share/small"});
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("big.dat") != std::string::npos);
    CHECK(r.error().message.find("No space left on device") != std::string::npos);
    CHECK_FALSE(fs::exists(t.dst() / "usr/share/big.dat"));
    for (const auto& e : fs::directory_iterator(t.dst() / "usr/share"))
        CHECK_MESSAGE(e.path().filename().string().find(".trace-root-tmp") == std::string::npos,
                      e.path().string());
}

TEST_CASE("list_paths_are_normalised_and_checked")
{
    CHECK(*normalize_export_path("//usr/./bin//ls/") == "/usr/bin/ls");
    CHECK(*normalize_export_path("/") == "/");
    CHECK_FALSE(normalize_export_path(""));
    CHECK_FALSE(normalize_export_path("bin/ls"));
    CHECK_FALSE(normalize_export_path("/a/../b"));
    CHECK_FALSE(normalize_export_path(std::string("/a\0b", 4)));
    CHECK(*normalize_export_path("/a/..b/...") == "/a/..b/...");
    CHECK(is_runtime_path("/proc"));
    CHECK(is_runtime_path("/dev/null"));
    CHECK(is_runtime_path("/run/lock"));
    CHECK_FALSE(is_runtime_path("/run"));
    CHECK_FALSE(is_runtime_path("/process"));
    CHECK_FALSE(is_runtime_path("/devices/x"));
}
