// The ELF dependency closure on real fixtures (tests/resolve/elf_fixtures),
// on this machine's /bin/bash, and inside a fake root. Where the real loader
// can say, its answer (`ld.so --list`, run with an empty environment) is the
// reference our resolution must equal.
#include <doctest/doctest.h>
#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <tuple>

#include "elf_root.hpp"
#include "trace_root/elf.hpp"

using namespace trace_root;
namespace fs = std::filesystem;

namespace {

const std::string kFx = ELF_FX_DIR;
const std::string kLoader64 = "/lib64/ld-linux-x86-64.so.2";
const std::string kLoader32 = "/lib/ld-linux.so.2";

std::vector<ElfDependency> closure(const std::string& root, const std::vector<std::string>& objs)
{
    auto r = elf_closure(root, objs);
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    return *r;
}

std::vector<ElfDependency> closure(const std::string& obj)
{
    return closure("/", {obj});
}

// The edge from `object` for `needed`; fails the test if there is none.
ElfDependency edge(const std::vector<ElfDependency>& v, const std::string& object,
                   const std::string& needed)
{
    for (const ElfDependency& e : v)
        if (e.object == object && e.needed == needed)
            return e;
    std::string all;
    for (const ElfDependency& e : v)
        all += "\n  " + e.object + " | " + e.needed + " | " + e.resolved + " | " + e.how;
    FAIL_CHECK("no edge " << object << " -> " << needed << " in:" << all);
    return {};
}

bool starts_with(const std::string& s, const std::string& p)
{
    return s.compare(0, p.size(), p) == 0;
}

bool contains(const std::string& s, const std::string& p)
{
    return s.find(p) != std::string::npos;
}

// What the real loader loads for `prog`: DT_NEEDED name -> path ("" when
// "not found"), from `LD_TRACE_LOADED_OBJECTS=1 LOADER PROG` (what ldd runs)
// in an empty environment. A load that fails outright leaves its message in
// *fatal.
std::optional<std::map<std::string, std::string>> loader_list(const std::string& loader,
                                                              const std::string& prog,
                                                              std::string* fatal = nullptr)
{
    if (access(loader.c_str(), X_OK) != 0)
        return std::nullopt;
    const std::string cmd = "env -i LD_TRACE_LOADED_OBJECTS=1 " + loader + " '" + prog + "' 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr)
        return std::nullopt;
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        out.append(buf, n);
    pclose(p);
    auto info = read_elf("/", prog);
    const std::string interp = info ? info->interp : "";
    std::map<std::string, std::string> m;
    static const std::regex found(R"(^\s+(\S+) => (\S+) \(0x[0-9a-f]+\)$)");
    static const std::regex by_path(R"(^\s+(/\S+) \(0x[0-9a-f]+\)$)");
    static const std::regex missing(R"(^\s+(\S+) => not found$)");
    static const std::regex error(R"(error while loading shared libraries: (.*)$)");
    size_t pos = 0;
    while (pos < out.size()) {
        size_t end = out.find('\n', pos);
        if (end == std::string::npos)
            end = out.size();
        const std::string line = out.substr(pos, end - pos);
        pos = end + 1;
        std::smatch sm;
        if (std::regex_match(line, sm, found))
            m.emplace(sm[1], sm[2]);
        else if (std::regex_match(line, sm, missing))
            m.emplace(sm[1], "");
        else if (std::regex_match(line, sm, by_path) && sm[1] != loader && sm[1] != interp)
            m.emplace(sm[1], sm[1]);
        else if (fatal != nullptr && std::regex_search(line, sm, error))
            *fatal = sm[1];
    }
    return m;
}

// Our answer in the same shape: the edge by which each object was first
// loaded, and each unresolved name.
std::map<std::string, std::string> our_list(const std::vector<ElfDependency>& edges)
{
    std::map<std::string, std::string> m;
    for (const ElfDependency& e : edges)
        if (e.needed != "PT_INTERP" && !starts_with(e.how, "already loaded"))
            m.emplace(e.needed, e.resolved);
    return m;
}

void check_like_loader(const std::string& loader, const std::string& prog)
{
    CAPTURE(prog);
    auto want = loader_list(loader, prog);
    REQUIRE_MESSAGE(want, "cannot run " << loader);
    auto show = [](const std::map<std::string, std::string>& m) {
        std::string out;
        for (const auto& [k, v] : m)
            out += "\n  " + k + " => " + (v.empty() ? "not found" : v);
        return out;
    };
    CHECK(show(our_list(closure(prog))) == show(*want));
}

struct TempDir {
    std::string dir;
    TempDir()
    {
        char tmpl[] = "/tmp/trace-root-elf-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(dir); }
};

}  // namespace

TEST_CASE("DT_RUNPATH $ORIGIN/../lib is found there")
{
    const std::string prog = kFx + "/origin/bin/prog";
    const auto v = closure(prog);
    const auto e = edge(v, prog, "libfxa.so.1");
    CHECK(e.resolved == kFx + "/origin/bin/../lib/libfxa.so.1");
    CHECK(e.how == "DT_RUNPATH $ORIGIN/../lib");
    check_like_loader(kLoader64, prog);
}

TEST_CASE("an executable's $ORIGIN is its real directory, not the symlink's")
{
    const std::string alias = kFx + "/alias_prog";
    REQUIRE(fs::is_symlink(alias));
    const auto v = closure(alias);
    const auto e = edge(v, alias, "libfxa.so.1");
    CHECK(e.resolved == kFx + "/origin/bin/../lib/libfxa.so.1");
}

TEST_CASE("DT_RPATH versus DT_RUNPATH")
{
    const std::string rp = kFx + "/rp";
    SUBCASE("DT_RPATH alone is searched")
    {
        const auto e = edge(closure(rp + "/prog_rpath"), rp + "/prog_rpath", "libfxp.so.1");
        CHECK(e.resolved == rp + "/a/libfxp.so.1");
        CHECK(e.how == "DT_RPATH " + rp + "/a");
    }
    SUBCASE("DT_RUNPATH alone is searched")
    {
        const auto e = edge(closure(rp + "/prog_runpath"), rp + "/prog_runpath", "libfxp.so.1");
        CHECK(e.resolved == rp + "/b/libfxp.so.1");
        CHECK(e.how == "DT_RUNPATH " + rp + "/b");
    }
    SUBCASE("with both, DT_RPATH is ignored")
    {
        const auto e = edge(closure(rp + "/prog_both"), rp + "/prog_both", "libfxp.so.1");
        CHECK(e.resolved == rp + "/b/libfxp.so.1");
        CHECK(e.how == "DT_RUNPATH " + rp + "/b");
    }
    SUBCASE("DT_RPATH is inherited by what the program loads")
    {
        const auto v = closure(rp + "/prog_inherit");
        CHECK(edge(v, rp + "/prog_inherit", "libfxmid.so.1").resolved == rp + "/mid/libfxmid.so.1");
        const auto e = edge(v, rp + "/mid/libfxmid.so.1", "libfxleaf.so.1");
        CHECK(e.resolved == rp + "/leaf/libfxleaf.so.1");
        CHECK(e.how == "DT_RPATH " + rp + "/leaf of " + rp + "/prog_inherit");
    }
    SUBCASE("DT_RUNPATH is not inherited: reported unresolved")
    {
        const auto v = closure(rp + "/prog_noinherit");
        CHECK(edge(v, rp + "/prog_noinherit", "libfxmid.so.1").resolved ==
              rp + "/mid/libfxmid.so.1");
        const auto e = edge(v, rp + "/mid/libfxmid.so.1", "libfxleaf.so.1");
        CHECK(e.resolved.empty());
        CHECK(starts_with(e.how, "not found (searched ld.so.cache; default "));
    }
    SUBCASE("an object with DT_RUNPATH does not use its loaders' DT_RPATH")
    {
        const auto v = closure(rp + "/prog_blocked");
        const auto e = edge(v, rp + "/mid2/libfxmid2.so.1", "libfxleaf.so.1");
        CHECK(e.resolved.empty());
        CHECK(contains(e.how, "DT_RUNPATH " + rp + "/nonexistent"));
    }
    SUBCASE("ld.so agrees")
    for (const char* p : {"prog_rpath", "prog_runpath", "prog_both", "prog_inherit",
                          "prog_noinherit", "prog_blocked"})
        check_like_loader(kLoader64, rp + "/" + p);
}

TEST_CASE("a 32-bit library in an earlier directory is skipped for a 64-bit program")
{
    const std::string cls = kFx + "/cls";
    if (!ELF_FX_HAVE_M32) {
        FAIL("the 32-bit fixtures were not built: install gcc-multilib");
        return;
    }
    const auto v = closure(cls + "/prog64");
    const auto e = edge(v, cls + "/prog64", "libfxw.so.1");
    CHECK(e.resolved == cls + "/d64/libfxw.so.1");
    CHECK(starts_with(e.how, "DT_RUNPATH " + cls + "/d64; skipped " + cls +
                                 "/d32/libfxw.so.1: ELFCLASS32, needs ELFCLASS64"));
    check_like_loader(kLoader64, cls + "/prog64");

    // And the other way round: a 32-bit program skips the 64-bit one.
    const auto v32 = closure(cls + "/prog32");
    const auto e32 = edge(v32, cls + "/prog32", "libfxw.so.1");
    CHECK(e32.resolved == cls + "/d32/libfxw.so.1");
    CHECK(contains(e32.how, "skipped " + cls + "/d64/libfxw.so.1: ELFCLASS64"));
    CHECK(edge(v32, cls + "/prog32", "PT_INTERP").resolved == kLoader32);
    // libc.so.6 for a 32-bit program is the 32-bit one, never the 64-bit one.
    const auto libc = edge(v32, cls + "/prog32", "libc.so.6");
    REQUIRE(!libc.resolved.empty());
    auto info = read_elf("/", libc.resolved);
    REQUIRE(info);
    CHECK(info->elf_class == ELFCLASS32);
    check_like_loader(kLoader32, cls + "/prog32");
}

TEST_CASE("an unresolvable DT_NEEDED is reported, not hidden")
{
    const std::string prog = kFx + "/miss/prog_missing";
    const auto v = closure(prog);
    const auto e = edge(v, prog, "libfxgone.so.1");
    CHECK(e.resolved.empty());
    CHECK(starts_with(e.how, "not found (searched ld.so.cache; default /lib/"));
    // The rest is still followed.
    CHECK(!edge(v, prog, "libc.so.6").resolved.empty());
    check_like_loader(kLoader64, prog);
}

TEST_CASE("a DT_NEEDED containing '/' is a path")
{
    const std::string prog = kFx + "/abs/prog_abs";
    const auto v = closure(prog);
    const auto e = edge(v, prog, kFx + "/abs/libfxabs.so");
    CHECK(e.resolved == kFx + "/abs/libfxabs.so");
    CHECK(e.how == "path");
    check_like_loader(kLoader64, prog);
}

TEST_CASE("$LIB, ${ORIGIN} and ${PLATFORM} expand as this machine's ld.so does")
{
    const std::string prog = kFx + "/dst/bin/prog_dst";
    const auto v = closure(prog);
    const auto l = edge(v, prog, "libfxl.so.1");
    CHECK(l.resolved == kFx + "/dst/bin/../" + ELF_FX_LIB + "/libfxl.so.1");
    CHECK(l.how == "DT_RUNPATH $ORIGIN/../$LIB");
    const auto q = edge(v, prog, "libfxq.so.1");
    CHECK(q.resolved == kFx + "/dst/bin/../plat/" + ELF_FX_PLATFORM + "/libfxq.so.1");
    CHECK(q.how == "DT_RUNPATH ${ORIGIN}/../plat/${PLATFORM}");
    check_like_loader(kLoader64, prog);
}

TEST_CASE("a dependency cycle terminates and each object is loaded once")
{
    const std::string cyc = kFx + "/cyc";
    const auto v = closure(cyc + "/prog_cycle");
    CHECK(edge(v, cyc + "/prog_cycle", "libfxc1.so.1").resolved == cyc + "/libfxc1.so.1");
    const auto c2 = edge(v, cyc + "/libfxc1.so.1", "libfxc2.so.1");
    CHECK(c2.resolved == cyc + "/libfxc2.so.1");
    CHECK(c2.how == "DT_RUNPATH $ORIGIN");
    const auto back = edge(v, cyc + "/libfxc2.so.1", "libfxc1.so.1");
    CHECK(back.resolved == cyc + "/libfxc1.so.1");
    CHECK(back.how == "already loaded");
    check_like_loader(kLoader64, cyc + "/prog_cycle");
    // As top-level objects of their own, in one call: still terminates.
    const auto both = closure("/", {cyc + "/libfxc1.so.1", cyc + "/libfxc2.so.1"});
    CHECK(edge(both, cyc + "/libfxc2.so.1", "libfxc1.so.1").resolved == cyc + "/libfxc1.so.1");
}

TEST_CASE("a candidate that is not ELF stops the search, as ld.so stops")
{
    struct Case {
        std::string name, dir, why;
    };
    for (const Case& c : {Case{"prog_stop", "a", "invalid ELF header"},
                          Case{"prog_short", "short", "file too short"}}) {
        const std::string &name = c.name, &dir = c.dir, &why = c.why;
        CAPTURE(name);
        const std::string prog = kFx + "/stop/" + name;
        const std::string bad = kFx + "/stop/" + dir + "/libfxs.so.1";
        const auto e = edge(closure(prog), prog, "libfxs.so.1");
        CHECK(e.resolved.empty());
        CHECK(starts_with(e.how, bad + ": " + why + " (found by DT_RUNPATH "));
        // ld.so fails the whole load on it, with the same message.
        std::string fatal;
        REQUIRE(loader_list(kLoader64, prog, &fatal));
        CHECK(fatal == bad + ": " + why);
    }
}

TEST_CASE("DF_1_NODEFLIB: no default directories and no cache entries in them")
{
    const std::string lib = kFx + "/nodef/libfxnodef.so.1";
    const auto e = edge(closure(lib), lib, "libc.so.6");
    CHECK(e.resolved.empty());
    CHECK(contains(e.how, "DF_1_NODEFLIB"));
    check_like_loader(kLoader64, lib);
}

TEST_CASE("closure of /bin/bash reaches libc and the PT_INTERP")
{
    const auto v = closure("/bin/bash");
    const auto interp = edge(v, "/bin/bash", "PT_INTERP");
    CHECK(interp.resolved == kLoader64);
    CHECK(interp.how == "PT_INTERP");
    const auto libc = edge(v, "/bin/bash", "libc.so.6");
    CHECK(libc.how == "ld.so.cache");
    CHECK(starts_with(libc.resolved, "/lib/x86_64-linux-gnu/"));
    for (const ElfDependency& e : v)
        CHECK_MESSAGE(!e.resolved.empty(), e.object << " -> " << e.needed << ": " << e.how);
    check_like_loader(kLoader64, "/bin/bash");
}

TEST_CASE("elf_closure: non-ELF inputs are skipped, a missing or broken one is an edge")
{
    CHECK(closure("/", {"/etc/hostname", "/usr", kFx + "/stop/a/libfxs.so.1"}).empty());
    // A missing or unparsable input is reported and the others still closed.
    TempDir t;
    std::ofstream(t.dir + "/broken", std::ios::binary) << std::string("\x7f" "ELF\x02\x01\x01", 7);
    const auto v = closure("/", {"/no/such/program", t.dir + "/broken", "/bin/bash"});
    const auto missing = edge(v, "/no/such/program", "");
    CHECK(missing.resolved.empty());
    CHECK(contains(missing.how, "cannot open"));
    const auto broken = edge(v, t.dir + "/broken", "");
    CHECK(broken.resolved.empty());
    CHECK(contains(broken.how, "malformed ELF"));
    CHECK(!edge(v, "/bin/bash", "libc.so.6").resolved.empty());
    // Caller mistakes are errors.
    CHECK_FALSE(elf_closure("/", {"relative"}));
    CHECK_FALSE(elf_closure("/no/such/root", {"/bin/bash"}));
}

TEST_CASE("identical edges from several top-level objects are returned once")
{
    const auto v = closure("/", {"/bin/bash", "/bin/bash", kFx + "/origin/bin/prog"});
    std::set<std::tuple<std::string, std::string, std::string, std::string>> seen;
    for (const ElfDependency& e : v)
        CHECK(seen.emplace(e.object, e.needed, e.resolved, e.how).second);
    CHECK(edge(v, kFx + "/origin/bin/prog", "libc.so.6").how == "ld.so.cache");
}

// --- a fake root ---------------------------------------------------------------

namespace {

struct TempRoot {
    std::string dir;
    TempRoot()
    {
        char tmpl[] = "/tmp/trace-root-elf-root-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir = tmpl;
    }
    ~TempRoot() { fs::remove_all(dir); }
    std::string at(const std::string& p) const { return dir + p; }
    void mkdir(const std::string& p) const { fs::create_directories(at(p)); }
    void copy(const std::string& from, const std::string& to) const
    {
        fs::create_directories(fs::path(at(to)).parent_path());
        fs::copy_file(from, at(to), fs::copy_options::overwrite_existing);
    }
    void link(const std::string& target, const std::string& p) const
    {
        fs::create_directories(fs::path(at(p)).parent_path());
        fs::create_symlink(target, at(p));
    }
    void write(const std::string& p, const std::string& text) const
    {
        fs::create_directories(fs::path(at(p)).parent_path());
        std::ofstream(at(p)) << text;
    }
};

// A root laid out like merged-/usr Debian, with absolute symlinks that would
// point at the wrong files (or at nothing) if followed on the host.
void make_root(const TempRoot& r)
{
    const std::string host_lib = "/lib/x86_64-linux-gnu";
    r.copy(kFx + "/plain/prog_plain", "/usr/bin/prog");
    r.link("usr/bin", "/bin");
    r.copy(fs::canonical(host_lib + "/libc.so.6"), "/usr/lib/x86_64-linux-gnu/libc.so.6");
    r.copy(fs::canonical(kLoader64), "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    r.link("/usr/lib", "/lib");   // absolute, inside the root
    r.link("usr/lib64", "/lib64");
    r.link("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/usr/lib64/ld-linux-x86-64.so.2");
    // A decoy: the root's "libz.so.1" is really our fixture library.
    r.copy(kFx + "/origin/lib/libfxa.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1");
    // libfxa lives in /fxlib, which the host does not have, reached through an
    // absolute symlink named in an included ld.so.conf file.
    r.copy(kFx + "/origin/lib/libfxa.so.1", "/fxlib/libfxa.so.1");
    r.link("/fxlib", "/opt/fx");
    r.write("/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\ninclude more/*.conf\n");
    r.write("/etc/ld.so.conf.d/fx.conf", "# fixture\n/opt/fx/\n");
    r.write("/etc/ld.so.conf.d/.hidden.conf", "/hidden\n");
    r.write("/etc/ld.so.conf.d/README", "/not-a-conf\n");
    r.write("/etc/more/m.conf", "/opt/more\n/opt/fx\n");
    // A symlink climbing out with "..": stays inside the root.
    r.link("../../../../../../../../lib/x86_64-linux-gnu/libz.so.1", "/usr/share/climb");
}

}  // namespace

TEST_CASE("inside a fake root: symlinks resolve within the root")
{
    TempRoot r;
    make_root(r);
    // /lib -> /usr/lib is absolute: resolved in the root, the decoy is read.
    auto z = read_elf(r.dir, "/lib/x86_64-linux-gnu/libz.so.1");
    REQUIRE(z);
    CHECK(z->soname == "libfxa.so.1");
    auto climb = read_elf(r.dir, "/usr/share/climb");
    REQUIRE(climb);
    CHECK(climb->soname == "libfxa.so.1");
    auto dotdot = read_elf(r.dir, "/../../../../lib/x86_64-linux-gnu/libz.so.1");
    REQUIRE(dotdot);
    CHECK(dotdot->soname == "libfxa.so.1");
    CHECK_FALSE(read_elf(r.dir, "/fxlib/../../../etc/ld.so.cache/x"));

    auto root = elf_detail::RootDir::open(r.dir);
    REQUIRE(root);
    CHECK(root->canonical("/lib64/ld-linux-x86-64.so.2") ==
          "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    CHECK(root->canonical("/opt/fx/libfxa.so.1") == "/fxlib/libfxa.so.1");
}

TEST_CASE("inside a fake root: ld.so.conf with include globs, in order")
{
    TempRoot r;
    make_root(r);
    auto root = elf_detail::RootDir::open(r.dir);
    REQUIRE(root);
    std::vector<std::string> notes;
    const auto dirs = elf_detail::read_ld_so_conf(*root, &notes);
    REQUIRE(dirs.size() == 2);
    CHECK(dirs[0].dir == "/opt/fx");
    CHECK(dirs[0].conf_file == "/etc/ld.so.conf.d/fx.conf");
    CHECK(dirs[1].dir == "/opt/more");
    CHECK(dirs[1].conf_file == "/etc/more/m.conf");

    // An include loop (a file including its own directory) ends; each
    // include is read where it stands, so m.conf comes in through loop.conf.
    r.write("/etc/more/loop.conf", "include /etc/more/*.conf\n/opt/loop\n");
    notes.clear();
    const auto again = elf_detail::read_ld_so_conf(*root, &notes);
    REQUIRE(again.size() == 3);
    CHECK(again[1].dir == "/opt/more");
    CHECK(again[2].dir == "/opt/loop");
    CHECK(again[2].conf_file == "/etc/more/loop.conf");
    CHECK(!notes.empty());
}

TEST_CASE("inside a fake root: the closure uses the root's ld.so.conf, then its cache")
{
    TempRoot r;
    make_root(r);
    SUBCASE("no ld.so.cache: ld.so.conf directories, then the default ones")
    {
        const auto v = closure(r.dir, {"/bin/prog"});
        const auto interp = edge(v, "/bin/prog", "PT_INTERP");
        CHECK(interp.resolved == "/lib64/ld-linux-x86-64.so.2");
        const auto a = edge(v, "/bin/prog", "libfxa.so.1");
        CHECK(a.resolved == "/opt/fx/libfxa.so.1");
        CHECK(a.how == "ld.so.conf /opt/fx");
        const auto libc = edge(v, "/bin/prog", "libc.so.6");
        CHECK(libc.resolved == "/lib/x86_64-linux-gnu/libc.so.6");
        CHECK(libc.how == "default /lib/x86_64-linux-gnu");
        const auto ld = edge(v, "/lib/x86_64-linux-gnu/libc.so.6", "ld-linux-x86-64.so.2");
        CHECK(ld.resolved == "/lib64/ld-linux-x86-64.so.2");
        CHECK(ld.how == "already loaded (DT_SONAME)");
    }
    SUBCASE("with the ld.so.cache ldconfig writes for the root")
    {
        r.mkdir("/var/cache/ldconfig");
        const std::string cmd = "ldconfig -r '" + r.dir + "' 2>/dev/null";
        if (access("/sbin/ldconfig", X_OK) != 0 || std::system(cmd.c_str()) != 0 ||
            !fs::exists(r.at("/etc/ld.so.cache"))) {
            MESSAGE("ldconfig -r is not available here: cache part not checked");
            return;
        }
        const auto v = closure(r.dir, {"/bin/prog"});
        const auto a = edge(v, "/bin/prog", "libfxa.so.1");
        CHECK(a.resolved == "/opt/fx/libfxa.so.1");
        CHECK(a.how == "ld.so.cache");
        CHECK(edge(v, "/bin/prog", "libc.so.6").how == "ld.so.cache");
    }
    SUBCASE("a broken cache is ignored with a note, ld.so.conf used")
    {
        r.write("/etc/ld.so.cache", "glibc-ld.so.cache1.1 but cut short");
        const auto a = edge(closure(r.dir, {"/bin/prog"}), "/bin/prog", "libfxa.so.1");
        CHECK(a.resolved == "/opt/fx/libfxa.so.1");
        CHECK(contains(a.how, "ignored"));
    }
}

TEST_CASE("relative and empty DT_RUNPATH elements are ignored, a non-DST '$' kept")
{
    const std::string lib = kFx + "/misc/libfxodd.so.1";
    auto info = read_elf("/", lib);
    REQUIRE(info);
    CHECK(info->runpath == std::vector<std::string>{"relative/dir", "", kFx + "/misc/$NOTADST"});
    const auto e = edge(closure(lib), lib, "libfxleaf.so.1");
    CHECK(e.resolved.empty());
    CHECK(contains(e.how, "DT_RUNPATH relative/dir::" + kFx + "/misc/$NOTADST;"));
    CHECK(contains(e.how, "DT_RUNPATH element \"relative/dir\" ignored: relative"));
    CHECK(contains(e.how, "DT_RUNPATH element \"\" ignored: relative"));
}
