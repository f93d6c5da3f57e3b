// Unit tests of the collector: event decoding, path joining, access kinds.
#include <doctest/doctest.h>

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "collector.hpp"
#include "trace_root/bpf_events.h"

using namespace trace_root;

namespace {

std::vector<char> make_event(uint32_t type, uint32_t kind, int32_t err, const std::string& s0,
                             const std::string& s1, uint32_t pid = 10)
{
    tr_event ev{};
    ev.type = type;
    ev.kind = kind;
    ev.err = err;
    ev.tgid = pid;
    ev.tid = pid;
    ev.len[0] = static_cast<uint16_t>(s0.size());
    ev.len[1] = static_cast<uint16_t>(s1.size());
    std::memcpy(ev.comm, "fx", 3);
    std::vector<char> buf(sizeof ev + s0.size() + s1.size());
    std::memcpy(buf.data(), &ev, sizeof ev);
    std::memcpy(buf.data() + sizeof ev, s0.data(), s0.size());
    std::memcpy(buf.data() + sizeof ev + s0.size(), s1.data(), s1.size());
    return buf;
}

}  // namespace

TEST_CASE("join_lookup drops repeated slashes and dot components but keeps dot-dot")
{
    CHECK(join_lookup("/usr/lib", "libz.so") == "/usr/lib/libz.so");
    CHECK(join_lookup("/usr/lib", "/etc/passwd") == "/etc/passwd");
    CHECK(join_lookup("/usr//lib/", "./x//y/") == "/usr/lib/x/y");
    CHECK(join_lookup("/a/b", "../c") == "/a/b/../c");
    CHECK(join_lookup("/", ".") == "/");
    CHECK(join_lookup("/srv", "") == "/srv");
}

TEST_CASE("a lookup that failed with ENOENT is recorded as missing, relative to its base")
{
    Collector c({});
    auto ev = make_event(TR_EV_LOOKUP, TR_K_STAT, -2, "/srv/app", "conf/missing.ini");
    c.on_record(ev.data(), ev.size());
    Report r;
    c.finish(r);
    REQUIRE(r.paths.size() == 1);
    CHECK(r.paths[0].path == "/srv/app/conf/missing.ini");
    CHECK(r.paths[0].access == kMissing);
    CHECK(r.paths[0].first.pid == 10);
}

TEST_CASE("a successful open's name takes the open's access mode when the event carries it")
{
    struct Case {
        uint8_t name_flags;
        uint32_t f_flags, f_mode;
        uint32_t access;
    } cases[] = {
        {TR_F_OPEN_MODE, O_WRONLY | O_CREAT, 0, kWrite},
        {TR_F_OPEN_MODE, O_RDWR, 0, kRead | kWrite},
        {TR_F_OPEN_MODE, O_RDONLY, 0, kRead},
        {TR_F_OPEN_MODE, O_RDONLY, 0x4000 /* FMODE_PATH */, kStat},
        {0, O_WRONLY, 0, kRead},  // the file could not be read: a read, as before
    };
    for (const Case& k : cases) {
        CAPTURE(k.f_flags);
        Collector c({});
        auto ev = make_event(TR_EV_LOOKUP, TR_K_OPEN_NAME, 0, "/srv", "app.log");
        tr_event* hdr = reinterpret_cast<tr_event*>(ev.data());
        hdr->flags[1] = k.name_flags;
        hdr->aux = k.f_flags;
        hdr->aux2 = k.f_mode;
        c.on_record(ev.data(), ev.size());
        Report r;
        c.finish(r);
        REQUIRE(r.paths.size() == 1);
        CHECK(r.paths[0].access == k.access);
    }
}

TEST_CASE("records whose string lengths overrun the record are rejected, not read")
{
    Collector c({});
    auto ev = make_event(TR_EV_FILE, TR_K_OPEN, 0, "/etc/passwd", "");
    tr_event* hdr = reinterpret_cast<tr_event*>(ev.data());
    hdr->len[0] = 5000;
    c.on_record(ev.data(), ev.size());
    c.on_record(ev.data(), 4);
    CHECK(c.malformed() == 2);
    Report r;
    c.finish(r);
    CHECK(r.paths.empty());
}

TEST_CASE("a truncated path is never recorded as if it were whole")
{
    Collector c({});
    auto ev = make_event(TR_EV_FILE, TR_K_OPEN, 0, "/partial", "");
    reinterpret_cast<tr_event*>(ev.data())->flags[0] = TR_F_TRUNCATED;
    c.on_record(ev.data(), ev.size());
    Report r;
    c.finish(r);
    CHECK(r.paths.empty());
}

TEST_CASE("--only-under keeps only the subtree from the first exec of the program")
{
    CollectorOptions o;
    o.only_under = "/usr/bin/app";
    Collector c(o);
    auto before = make_event(TR_EV_FILE, TR_K_OPEN, 0, "/harness/setup.sh", "", 10);
    auto exec = make_event(TR_EV_EXEC, TR_K_EXEC_FILE, 0, "/usr/bin/app", "", 11);
    auto after = make_event(TR_EV_FILE, TR_K_OPEN, 0, "/etc/app.conf", "", 11);
    tr_event fork_ev{};
    fork_ev.type = TR_EV_FORK;
    fork_ev.tgid = 11;
    fork_ev.aux = 12;
    std::vector<char> fork_buf(sizeof fork_ev);
    std::memcpy(fork_buf.data(), &fork_ev, sizeof fork_ev);
    auto child = make_event(TR_EV_FILE, TR_K_OPEN, 0, "/usr/lib/helper", "", 12);
    auto other = make_event(TR_EV_FILE, TR_K_OPEN, 0, "/harness/report", "", 10);
    for (auto* e : {&before, &exec, &after, &fork_buf, &child, &other})
        c.on_record(e->data(), e->size());
    Report r;
    c.finish(r);
    std::vector<std::string> paths;
    for (const auto& p : r.paths)
        paths.push_back(p.path);
    CHECK(paths == std::vector<std::string>{"/etc/app.conf", "/usr/bin/app", "/usr/lib/helper"});
}

TEST_CASE("a file record whose path is not absolute is counted as malformed, not recorded")
{
    // Found by fuzz_events: the collector must not trust the kernel side's
    // records to be well formed.
    Collector c({});
    auto ev = make_event(TR_EV_FILE, TR_K_OPEN, 0, "relative/path", "");
    c.on_record(ev.data(), ev.size());
    CHECK(c.malformed() == 1);
    Report r;
    c.finish(r);
    CHECK(r.paths.empty());
}

TEST_CASE("a relative chdir's name is anchored to the cwd before it, inherited across fork")
{
    auto prev_cwd_name = [](const std::string& name, uint32_t pid) {
        auto ev = make_event(TR_EV_LOOKUP, TR_K_CHDIR, 0, "", name, pid);
        reinterpret_cast<tr_event*>(ev.data())->flags[0] = TR_F_PREV_CWD;
        return ev;
    };
    Collector c({});
    c.add_root_process(10, "sh", "/work");
    // In the root process: cd lib (a symlink to real/lib), as the kernel
    // sends it: the new cwd, then the name.
    auto cwd1 = make_event(TR_EV_FILE, TR_K_CHDIR, 0, "/work/real/lib", "", 10);
    auto name1 = prev_cwd_name("lib", 10);
    // A child forked there: cd ../share (through another symlink).
    auto fork = make_event(TR_EV_FORK, 0, 0, "", "", 10);
    reinterpret_cast<tr_event*>(fork.data())->aux = 11;
    auto cwd2 = make_event(TR_EV_FILE, TR_K_CHDIR, 0, "/work/real/share", "", 11);
    auto name2 = prev_cwd_name("../share", 11);
    // A process whose starting directory nobody knows: nothing recorded.
    auto cwd3 = make_event(TR_EV_FILE, TR_K_CHDIR, 0, "/x/y", "", 12);
    auto name3 = prev_cwd_name("y", 12);
    for (const auto* ev : {&cwd1, &name1, &fork, &cwd2, &name2, &cwd3, &name3})
        c.on_record(ev->data(), ev->size());
    Report r;
    c.finish(r);
    auto has = [&](const std::string& p) {
        return std::any_of(r.paths.begin(), r.paths.end(),
                           [&](const PathEntry& e) { return e.path == p && e.access == kChdir; });
    };
    CHECK(has("/work/lib"));
    CHECK(has("/work/real/lib/../share"));
    CHECK(has("/x/y"));  // the new cwd itself
    CHECK(r.paths.size() == 5);
    CHECK(std::any_of(r.warnings.begin(), r.warnings.end(), [](const std::string& w) {
        return w.find("relative chdir to \"y\" could not be anchored") != std::string::npos;
    }));
}
