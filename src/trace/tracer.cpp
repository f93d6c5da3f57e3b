// The tracer's userspace side: load and attach the BPF programs, start the
// workload so that its first instruction is already traced, drain the ring
// buffer while the tree runs, wait for the last descendant, and turn the
// result into a Report. Loader steps follow libbpf's order: open,
// configure, load, attach.
#include "trace_root/trace.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstring>
#include <iostream>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "collector.hpp"
#include "kernel_btf.hpp"
#include "pin_cache.hpp"
#include "syscall_table.hpp"
#include "trace.skel.h"
#include "trace_root/escape.hpp"
#include "trace_root/unique_fd.hpp"

namespace trace_root {

namespace {

Verbosity g_verbosity = Verbosity::Normal;

// How often the ring buffer is drained while nothing wakes the loop.
constexpr int kDrainIntervalMs = 10;

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args)
{
    if (g_verbosity != Verbosity::Verbose && level != LIBBPF_WARN)
        return 0;
    if (g_verbosity != Verbosity::Verbose)
        return 0;
    return vfprintf(stderr, fmt, args);
}

struct SkelDeleter {
    void operator()(trace_bpf* s) const { trace_bpf__destroy(s); }
};
struct RingDeleter {
    void operator()(ring_buffer* r) const { ring_buffer__free(r); }
};

// Whether this process holds CAP_BPF (with CAP_PERFMON) or CAP_SYS_ADMIN in
// its effective set, the capabilities that let it load tracing programs.
bool may_load_bpf()
{
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capget, &header, data) != 0)
        return geteuid() == 0;
    auto has = [&](int cap) { return (data[cap / 32].effective >> (cap % 32)) & 1u; };
    constexpr int kCapSysAdmin = 21, kCapPerfmon = 38, kCapBpf = 39;
    return has(kCapSysAdmin) || (has(kCapBpf) && has(kCapPerfmon));
}

Error permission_error(int err)
{
    return Error{
        std::string("cannot load the BPF programs: ") + std::strerror(err),
        "trace-root needs root, or CAP_BPF together with CAP_PERFMON (and CAP_SYS_RESOURCE on "
        "kernels before 5.11). In a docker build use `RUN --security=insecure trace-root ...` "
        "with a builder that allows the security.insecure entitlement (docker buildx create "
        "--buildkitd-flags '--allow-insecure-entitlement security.insecure', then docker buildx "
        "build --allow security.insecure), or a privileged builder.",
        1};
}

// Finds the program like execvp() would, so that a missing command is
// reported before anything runs and the workload's first exec is the real
// one.
Result<std::string> find_program(const std::string& name)
{
    if (name.empty())
        return fail("the command is an empty string", {}, 127);
    if (name.find('/') != std::string::npos)
        return name;
    const char* env = getenv("PATH");
    std::string path = env ? env : "/usr/local/bin:/usr/bin:/bin";
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find(':', start);
        if (end == std::string::npos)
            end = path.size();
        std::string dir = path.substr(start, end - start);
        if (dir.empty())
            dir = ".";
        std::string candidate = dir + "/" + name;
        struct stat st;
        if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
            access(candidate.c_str(), X_OK) == 0)
            return candidate;
        start = end + 1;
    }
    return fail("command not found: " + escape_path(name),
                "check the spelling, or give the program's path", 127);
}

// The default launcher: fork, wait for the go byte, execv.
class ForkLauncher : public Launcher {
public:
    Result<int> start(const std::vector<std::string>& command, int go_fd, int exec_error_fd,
                      int& direct_child) override
    {
        auto program = find_program(command[0]);
        if (!program)
            return tl::unexpected(program.error());
        std::vector<char*> argv;
        for (const auto& a : command)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        const std::string path = *program;

        const pid_t pid = fork();
        if (pid < 0)
            return fail(std::string("cannot fork: ") + std::strerror(errno));
        if (pid == 0) {
            char go;
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (read(go_fd, &go, 1) != 1)
                _exit(127);
            close(go_fd);
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, nullptr);
            execv(path.c_str(), argv.data());
            const int err = errno;
            (void)!write(exec_error_fd, &err, sizeof err);
            _exit(err == ENOENT ? 127 : 126);
        }
        direct_child = pid;
        return pid;
    }

    // The workload inherits trace-root's own.
    std::string cwd() const override
    {
        std::string out;
        if (char* cwd = getcwd(nullptr, 0)) {
            out = cwd;
            free(cwd);
        }
        return out;
    }
};

int wait_status_to_exit(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}

// Where the ring buffer's records go: to the collector, or nowhere while a
// run that reuses pinned maps drops what an earlier run left unread.
struct Sink {
    Collector* collector;
    bool discard = false;
};

int handle_record(void* ctx, void* data, size_t size)
{
    auto* sink = static_cast<Sink*>(ctx);
    if (!sink->discard)
        sink->collector->on_record(data, size);
    return 0;
}

Result<LossCounters> read_counters(int fd, uint64_t& dedup_hits)
{
    const int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0)
        return fail("cannot count the possible CPUs to read the loss counters");
    std::vector<uint64_t> values(static_cast<size_t>(ncpu));
    uint64_t sums[TR_C_MAX] = {};
    for (uint32_t i = 0; i < TR_C_MAX; ++i) {
        if (bpf_map_lookup_elem(fd, &i, values.data()) != 0)
            return fail(std::string("cannot read the loss counters: ") + std::strerror(errno));
        for (uint64_t v : values)
            sums[i] += v;
    }
    LossCounters c;
    c.ringbuf_full = sums[TR_C_RINGBUF_FULL];
    c.process_map_full = sums[TR_C_PROC_MAP_FULL];
    c.path_truncated = sums[TR_C_PATH_TRUNCATED];
    c.name_unreadable = sums[TR_C_NAME_UNREADABLE];
    c.dedup_insert_failed = sums[TR_C_DEDUP_FAILED];
    c.emit_failed = sums[TR_C_EMIT_FAILED];
    dedup_hits = sums[TR_C_DEDUP_HITS];
    return c;
}

// The BTF id of the kfunc bpf_rdonly_cast for rewrite_cast_calls() while
// the programs load, 0 when it is not used. The callbacks below are
// registered once per process, so they read it from here.
uint32_t g_cast_kfunc_id = 0;

// libbpf calls this for each program just before handing it to the
// kernel, with the program's final instructions (relocated, its functions
// appended): the place to rewrite the tr_cast() calls (trace.bpf.c).
int prepare_program(bpf_program* prog, bpf_prog_load_opts*, long)
{
    const size_t n = bpf_program__insn_cnt(prog);
    std::vector<bpf_insn> insns(bpf_program__insns(prog), bpf_program__insns(prog) + n);
    if (rewrite_cast_calls(insns.data(), insns.size(), g_cast_kfunc_id) == 0)
        return 0;
    return bpf_program__set_insns(prog, insns.data(), insns.size());
}

// The raw tracepoint NAME of a SEC("raw_tp/NAME") program; nullptr for a
// plain SEC("raw_tp") one, which is reached by tail call and attached to
// nothing.
const char* tracepoint_of(const bpf_program* prog)
{
    const char* slash = std::strchr(bpf_program__section_name(prog), '/');
    return slash ? slash + 1 : nullptr;
}

// Attaches a program to its raw tracepoint, as libbpf's own handler for
// the section does.
int attach_program(const bpf_program* prog, long, bpf_link** link)
{
    const char* tracepoint = tracepoint_of(prog);
    if (!tracepoint) {
        *link = nullptr;
        return 0;
    }
    *link = bpf_program__attach_raw_tracepoint(prog, tracepoint);
    return *link ? 0 : -errno;
}

// Our handler for the programs' section, "raw_tp": libbpf's own, plus the
// rewrite before load. Registered once, before the first open.
Result<void> register_section_handler()
{
    static const int handler = [] {
        LIBBPF_OPTS(libbpf_prog_handler_opts, opts, .prog_prepare_load_fn = prepare_program,
                    .prog_attach_fn = attach_program);
        return libbpf_register_prog_handler("raw_tp+", BPF_PROG_TYPE_RAW_TRACEPOINT,
                                            static_cast<bpf_attach_type>(0), &opts);
    }();
    if (handler < 0)
        return fail(std::string("cannot register the BPF section handler: ") +
                    std::strerror(-handler));
    return {};
}

// The programs, as two BPF objects opened from the same ELF, so that the
// kernel verifies them on two CPUs at once. Verification is most of the
// start-up, and the halves are about even: `side` holds on_emit, which
// builds and sends the events, and on_exec; `main` holds on_sys_exit and
// the fork and exit programs. The objects share every map (created here,
// before either is loaded); each has its own read-only data, set alike.
// With the full kernel BTF each object would parse it (about 20 ms
// apiece), so then `main` holds every program and there is no `side`.
//
// A run either loads the programs itself (main, side) or reuses those an
// earlier run left pinned (pinned, links); see pin_cache.hpp. The members
// are destroyed bottom up: the attachments go before the cache's lock.
struct Programs {
    std::optional<PinCache> cache;  // taken for the whole run, when it is used
    std::unique_ptr<trace_bpf, SkelDeleter> main, side;
    std::optional<PinCache::Set> pinned;
    std::vector<UniqueFd> links;  // the pinned programs' attachments
    int traced_fd = -1, counters_fd = -1;
    std::unique_ptr<ring_buffer, RingDeleter> ring;  // the consumer's side of `events`
};

bool in_side_object(const bpf_program* prog)
{
    const char* name = bpf_program__name(prog);
    return std::strcmp(name, "on_emit") == 0 || std::strcmp(name, "on_exec") == 0;
}

// Fills the programs' read-only data: the syscall decoding table and the
// BTF ids for CAST().
Result<void> configure(trace_bpf* skel, bool use_cast)
{
    for (const auto& entry : traced_syscalls()) {
        if (entry.nr >= TR_NR_SYSCALLS)
            return fail(std::string("syscall ") + entry.name + " is beyond the decoding table");
        skel->rodata->syscall_table[entry.nr] = entry.decode;
    }
    skel->rodata->btf_ids = use_cast ? kEmbeddedBtf.types : tr_btf_ids{};
    return {};
}

Error map_error(const char* name, int e)
{
    if (e == EPERM || e == EACCES)
        return permission_error(e);
    return Error{std::string("cannot create the BPF map ") + name + ": " + std::strerror(e), {},
                 1};
}

Error load_error(int err)
{
    const int e = -err;
    // EACCES is also what the verifier answers when it rejects a program:
    // only without the capabilities is it about permission.
    if (e == EPERM || (e == EACCES && !may_load_bpf()))
        return permission_error(e);
    return Error{std::string("the kernel's verifier refused the BPF programs: ") +
                     std::strerror(e),
                 "trace-root needs Linux 5.17 or later (raw tracepoints, ring buffers, "
                 "bpf_loop); run with -v to see libbpf's log",
                 1};
}

// Makes each map of `skel` but its data sections, and hands it to libbpf,
// which then uses it instead of making its own; `events`, the ring buffer,
// is made already.
Result<void> create_maps(trace_bpf* skel, int events)
{
    bpf_map* map;
    bpf_object__for_each_map(map, skel->obj) {
        if (bpf_map__is_internal(map))
            continue;
        UniqueFd made;
        if (map != skel->maps.events) {
            LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = bpf_map__map_flags(map));
            made.reset(bpf_map_create(bpf_map__type(map), bpf_map__name(map),
                                      bpf_map__key_size(map), bpf_map__value_size(map),
                                      bpf_map__max_entries(map), &opts));
            if (made.get() < 0)
                return tl::unexpected(map_error(bpf_map__name(map), errno));
        }
        if (bpf_map__reuse_fd(map, map == skel->maps.events ? events : made.get()) != 0)
            return fail(std::string("cannot use the BPF map ") + bpf_map__name(map) + ": " +
                        std::strerror(errno));
    }
    return {};
}

// Hands the maps of `from` (see create_maps) to `to`.
Result<void> adopt_maps(trace_bpf* to, trace_bpf* from)
{
    bpf_map* map;
    bpf_object__for_each_map(map, to->obj) {
        if (bpf_map__is_internal(map))
            continue;
        const bpf_map* twin = bpf_object__find_map_by_name(from->obj, bpf_map__name(map));
        if (!twin || bpf_map__reuse_fd(map, bpf_map__fd(twin)) != 0)
            return fail(std::string("cannot share the BPF map ") + bpf_map__name(map) + ": " +
                        std::strerror(errno));
    }
    return {};
}

constexpr size_t kMaxLogs = 8;
char g_stats_log[kMaxLogs][16384];  // -v: the verifier's statistics per program

// Asks for the verifier's statistics of each program `skel` loads, into
// g_stats_log from slot `first` on; returns the programs, in slot order.
std::vector<bpf_program*> want_stats(trace_bpf* skel, size_t first, bool verbose)
{
    std::vector<bpf_program*> loaded;
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel->obj) {
        if (!bpf_program__autoload(prog) || first + loaded.size() >= kMaxLogs)
            continue;
        if (verbose) {
            bpf_program__set_log_level(prog, 4);
            bpf_program__set_log_buf(prog, g_stats_log[first + loaded.size()],
                                     sizeof g_stats_log[0]);
        }
        loaded.push_back(prog);
    }
    return loaded;
}

// The second thread of start-up (see Programs). It first makes the ring
// buffer map, the slowest map to make (the kernel zeroes and maps each of
// its pages, about a millisecond for 4 MiB here), while the main thread
// opens its object. With a side object, it then opens and configures that,
// waits until the main thread has made the maps they share (go()), and
// loads it. The destructor lets it finish and joins it, however start-up
// ends.
class SideThread {
public:
    struct Plan {
        uint32_t ring_bytes;
        const bpf_object_open_opts* open_opts;  // nullptr: no side object
        bool use_cast;
        bool verbose;
    };

    explicit SideThread(const Plan& plan) : plan_(plan), thread_([this] { run(); }) {}
    SideThread(const SideThread&) = delete;
    SideThread& operator=(const SideThread&) = delete;
    ~SideThread()
    {
        go(nullptr);
        join();
        ring_fd();  // closes a map nobody took
    }

    // The ring buffer map's fd (kept open here until the end), or -errno.
    int ring_fd()
    {
        if (ring_result_.valid())
            ring_.reset(ring_result_.get());
        return ring_.get();
    }

    // Lets the side object load with the maps of `main`; nullptr: do not.
    void go(trace_bpf* main)
    {
        if (!went_) {
            went_ = true;
            go_.set_value(main);
        }
    }

    // Waits for the thread. Returns the side object, loaded, or why not;
    // `loaded` gets the programs it loads (their statistics from slot
    // kSideLogs on), even when loading failed.
    Result<std::unique_ptr<trace_bpf, SkelDeleter>> finish(std::vector<bpf_program*>& loaded)
    {
        go(nullptr);
        join();
        loaded = loaded_;
        if (error_)
            return tl::unexpected(*error_);
        return std::move(side_);
    }

    static constexpr size_t kSideLogs = 4;

private:
    void join()
    {
        if (thread_.joinable())
            thread_.join();
    }

    void run()
    {
        const int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "events", 0, 0, plan_.ring_bytes,
                                      nullptr);
        ring_promise_.set_value(fd < 0 ? -errno : fd);
        if (!plan_.open_opts)
            return;
        side_.reset(trace_bpf__open_opts(plan_.open_opts));
        if (!side_) {
            error_ = Error{std::string("cannot open the BPF object: ") + std::strerror(errno),
                           {}, 1};
            return;
        }
        if (auto r = configure(side_.get(), plan_.use_cast); !r) {
            error_ = r.error();
            return;
        }
        bpf_program* prog;
        bpf_object__for_each_program(prog, side_->obj) {
            bpf_program__set_autoload(prog, in_side_object(prog));
        }
        loaded_ = want_stats(side_.get(), kSideLogs, plan_.verbose);
        trace_bpf* main = go_result_.get();
        if (!main) {
            error_ = Error{"start-up was cut short", {}, 1};
            return;
        }
        if (auto r = adopt_maps(side_.get(), main); !r) {
            error_ = r.error();
            return;
        }
        if (const int err = trace_bpf__load(side_.get()); err != 0)
            error_ = load_error(err);
    }

    Plan plan_;
    std::promise<int> ring_promise_;
    std::future<int> ring_result_ = ring_promise_.get_future();
    UniqueFd ring_;
    std::promise<trace_bpf*> go_;
    std::future<trace_bpf*> go_result_ = go_.get_future();
    bool went_ = false;
    std::unique_ptr<trace_bpf, SkelDeleter> side_;
    std::vector<bpf_program*> loaded_;
    std::optional<Error> error_;
    std::thread thread_;  // last: it starts once everything above exists
};

// The key of the programs this run would load (see pin_cache.hpp): the
// build's digest of the BPF object and what goes into its read-only data,
// and what this run chose (the BTF, casts, the ring buffer's size), so
// pins made by another build or for another ring buffer size are never
// taken for these. bpffs allows no dots in names.
std::string pin_key(bool small_btf, bool use_cast, uint32_t ring_bytes)
{
    return std::string(kBpfObjectDigest, 40) + "-" + (small_btf ? "small" : "full") + "-" +
           (use_cast ? "cast" : "read") + "-" + std::to_string(ring_bytes >> 12);
}

// The raw tracepoints the programs attach to, each pinned as "tp_NAME".
constexpr const char* kTracepoints[] = {"sys_exit", "sched_process_fork", "sched_process_exit",
                                        "sched_process_exec"};
// The maps a run uses from userspace, or that must outlive the programs'
// loader (the sender's slot in `emitters`), each pinned as "map_NAME".
constexpr const char* kPinnedMaps[] = {"traced", "counters", "events",
                                       "run_config", "compat_seen", "emitters"};

// Whether map `fd` has this type and shape (0: any).
bool map_is(int fd, bpf_map_type type, uint32_t value_size, uint32_t max_entries,
            bpf_map_info* out = nullptr)
{
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) != 0 || info.type != type ||
        (value_size && info.value_size != value_size) ||
        (max_entries && info.max_entries != max_entries))
        return false;
    if (out)
        *out = info;
    return true;
}

// Writes this run's settings: its seed, and an epoch other than that of
// the run before, whose dedup tags then count as free (see `dedup` in
// trace.bpf.c). A fresh map holds epoch 0.
Result<void> set_seed(int config_fd, const uint64_t (&seed)[2])
{
    tr_config config{};
    const uint32_t zero = 0;
    if (bpf_map_lookup_elem(config_fd, &zero, &config) != 0)
        return fail(std::string("cannot read the BPF programs' settings: ") + std::strerror(errno));
    config.epoch = config.epoch % 255 + 1;
    config.hash_seed[0] = seed[0];
    config.hash_seed[1] = seed[1];
    if (bpf_map_update_elem(config_fd, &zero, &config, BPF_ANY) != 0)
        return fail(std::string("cannot configure the BPF programs: ") + std::strerror(errno));
    return {};
}

Error attach_error(int e)
{
    if (e == EPERM || e == EACCES)
        return permission_error(e);
    return Error{std::string("cannot attach the BPF programs: ") + std::strerror(e),
                 "trace-root needs raw tracepoints and BPF ring buffers (kernel 5.8 or later)",
                 1};
}

// Makes the programs an earlier run pinned ready for this one: checks that
// they are whole, drops what that run left in their maps (the traced set,
// the counters, unread records: a run killed with SIGKILL leaves them),
// and attaches them. false, with the reason, when the pins cannot be used
// (then `p` is untouched); an error when resetting or attaching fails.
Result<bool> reuse_pinned(Programs& p, PinCache::Set set, uint32_t ring_bytes,
                          const uint64_t (&seed)[2], Sink& sink, std::string& why_not)
{
    const int traced = set.map("traced"), counters = set.map("counters"),
              events = set.map("events"), config = set.map("run_config"),
              compat = set.map("compat_seen"), emitters = set.map("emitters");
    bpf_map_info traced_info{};
    uint32_t slot = 0, sender = 0;
    if (!map_is(traced, BPF_MAP_TYPE_ARRAY, sizeof(uint64_t), 0, &traced_info) ||
        !map_is(counters, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint64_t), TR_C_MAX) ||
        !map_is(events, BPF_MAP_TYPE_RINGBUF, 0, ring_bytes) ||
        !map_is(config, BPF_MAP_TYPE_ARRAY, sizeof(tr_config), 1) ||
        !map_is(compat, BPF_MAP_TYPE_HASH, 0, 0) ||
        !map_is(emitters, BPF_MAP_TYPE_PROG_ARRAY, sizeof(uint32_t), 1) ||
        bpf_map_lookup_elem(emitters, &slot, &sender) != 0) {
        why_not = "the pinned maps are not the ones this build makes";
        return false;
    }
    if (set.programs.size() != std::size(kTracepoints)) {
        why_not = "the pinned programs are incomplete";
        return false;
    }
    for (const char* tp : kTracepoints) {
        auto it = std::find_if(set.programs.begin(), set.programs.end(),
                               [&](const auto& e) { return e.first == tp; });
        bpf_prog_info info{};
        uint32_t len = sizeof info;
        if (it == set.programs.end() || bpf_obj_get_info_by_fd(it->second.get(), &info, &len) != 0 ||
            info.type != BPF_PROG_TYPE_RAW_TRACEPOINT) {
            why_not = std::string("the pinned program for ") + tp + " is missing";
            return false;
        }
    }

    // Nothing runs the programs now (attachments die with their run), so
    // the maps hold still while they are reset.
    const size_t traced_bytes = size_t{traced_info.max_entries} * traced_info.value_size;
    void* bits = mmap(nullptr, traced_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, traced, 0);
    if (bits == MAP_FAILED)
        return fail(std::string("cannot map the pinned traced set: ") + std::strerror(errno));
    std::memset(bits, 0, traced_bytes);
    munmap(bits, traced_bytes);
    const int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0)
        return fail("cannot count the possible CPUs to reset the loss counters");
    const std::vector<uint64_t> zeros(static_cast<size_t>(ncpu));
    for (uint32_t i = 0; i < TR_C_MAX; ++i)
        if (bpf_map_update_elem(counters, &i, zeros.data(), BPF_ANY) != 0)
            return fail(std::string("cannot reset the loss counters: ") + std::strerror(errno));
    uint32_t pid = 0;
    while (bpf_map_get_next_key(compat, nullptr, &pid) == 0)
        if (bpf_map_delete_elem(compat, &pid) != 0)
            return fail(std::string("cannot reset the pinned maps: ") + std::strerror(errno));
    if (auto r = set_seed(config, seed); !r)
        return tl::unexpected(r.error());
    sink.discard = true;
    p.ring.reset(ring_buffer__new(events, handle_record, &sink, nullptr));
    if (!p.ring)
        return fail(std::string("cannot open the ring buffer: ") + std::strerror(errno));
    if (ring_buffer__consume(p.ring.get()) < 0)
        return fail(std::string("cannot drain the ring buffer: ") + std::strerror(errno));
    sink.discard = false;

    for (const auto& [tp, fd] : set.programs) {
        UniqueFd link(bpf_raw_tracepoint_open(tp.c_str(), fd.get()));
        if (!link.valid())
            return tl::unexpected(attach_error(errno));
        p.links.push_back(std::move(link));
    }
    p.traced_fd = traced;
    p.counters_fd = counters;
    p.pinned = std::move(set);
    return true;
}

// Pins what this run loaded for the next runs (see pin_cache.hpp).
Result<void> publish_programs(const Programs& p, const std::string& key)
{
    std::vector<std::pair<std::string, int>> maps, programs;
    for (const char* name : kPinnedMaps) {
        const bpf_map* map = bpf_object__find_map_by_name(p.main->obj, name);
        if (!map)
            return fail(std::string("the BPF object has no map ") + name);
        maps.emplace_back(name, bpf_map__fd(map));
    }
    for (trace_bpf* skel : {p.main.get(), p.side.get()}) {
        bpf_program* prog;
        if (!skel)
            continue;
        bpf_object__for_each_program(prog, skel->obj) {
            const char* tracepoint = tracepoint_of(prog);
            if (bpf_program__autoload(prog) && tracepoint)
                programs.emplace_back(tracepoint, bpf_program__fd(prog));
        }
    }
    if (programs.size() != std::size(kTracepoints))
        return fail("the BPF object's programs do not match the tracepoints to pin");
    return p.cache->publish(key, maps, programs);
}

// Loads and attaches everything, or reuses what an earlier run pinned;
// returns the programs ready to trace, and the ring buffer's consumer,
// which hands each record to `sink`.
Result<Programs> load_tracer(const TraceOptions& options, Sink& sink)
{
    struct stat st;
    if (stat("/sys/kernel/btf/vmlinux", &st) != 0)
        return fail("this kernel has no BTF (/sys/kernel/btf/vmlinux is missing)",
                    "trace-root needs a kernel built with CONFIG_DEBUG_INFO_BTF=y "
                    "(every major distribution's kernel since 2020 has it)");
    const bool verbose = options.verbosity == Verbosity::Verbose;

    // Step 1: open.
    const auto t_open = std::chrono::steady_clock::now();
    // CO-RE relocations against the small BTF embedded at build time when
    // this is the kernel it was cut from; libbpf parses the full kernel BTF
    // otherwise. TRACE_ROOT_FULL_BTF=1 forces the full BTF.
    std::string why_full = "TRACE_ROOT_FULL_BTF is set";
    const char* force_full = getenv("TRACE_ROOT_FULL_BTF");
    UniqueFd btf_fd(force_full && *force_full && std::strcmp(force_full, "0") != 0
                        ? -1
                        : open_embedded_btf(why_full));
    const std::string btf_path =
        btf_fd.get() >= 0 ? "/proc/self/fd/" + std::to_string(btf_fd.get()) : std::string();
    if (verbose)
        std::cerr << "trace-root: CO-RE relocations use "
                  << (btf_fd.get() >= 0 ? "the small BTF embedded at build time"
                                        : "the full kernel BTF (" + why_full + ")")
                  << "\n";
    // The kernel BTF ids behind tr_cast() are known from build time
    // exactly when the small BTF is used.
    const tr_btf_ids& ids = kEmbeddedBtf.types;
    const bool use_cast = btf_fd.get() >= 0 && kEmbeddedBtf.rdonly_cast_id != 0 &&
                          ids.task_struct != 0 && ids.file != 0 && ids.dentry != 0 &&
                          ids.vfsmount != 0 && ids.mount != 0 && ids.pt_regs != 0;
    const bool split = btf_fd.get() >= 0;
    if (verbose)
        std::cerr << "trace-root: kernel objects are read "
                  << (use_cast ? "through bpf_rdonly_cast"
                               : "through trusted BTF loads and probe reads (slower)")
                  << "; the programs are verified "
                  << (split ? "on two CPUs at once" : "one after the other") << "\n";
    // The ring buffer's size must be a power of two pages.
    uint32_t ring_bytes = 1u << 20;
    while (ring_bytes < (uint64_t{options.ringbuf_mb} << 20) && ring_bytes < (1u << 30))
        ring_bytes <<= 1;
    uint64_t seed[2];
    if (getrandom(seed, sizeof seed, 0) != sizeof seed)
        return fail(std::string("cannot seed the dedup hash: ") + std::strerror(errno));
    const auto ms = [](auto a, auto b) {
        return std::to_string(std::chrono::duration<double, std::milli>(b - a).count());
    };

    // Programs an earlier run left pinned are reused; else they are loaded
    // and pinned for the next run, if the cache is free.
    Programs p;
    std::string key, why_not = "--no-pin";
    if (options.pin && may_load_bpf()) {
        std::string warning;
        p.cache = PinCache::take(why_not, warning);
        if (!warning.empty() && options.verbosity != Verbosity::Quiet)
            std::cerr << "trace-root: warning: " << warning << "\n";
        if (p.cache) {
            key = pin_key(btf_fd.get() >= 0, use_cast, ring_bytes);
            if (auto set = p.cache->open(key, why_not)) {
                auto reused = reuse_pinned(p, std::move(*set), ring_bytes, seed, sink, why_not);
                if (!reused)
                    return tl::unexpected(reused.error());
                if (*reused) {
                    if (verbose)
                        std::cerr << "trace-root: start-up: reused the programs pinned at "
                                  << PinCache::kDir << "/" << key << " in "
                                  << ms(t_open, std::chrono::steady_clock::now()) << " ms\n";
                    return p;
                }
            }
        }
    } else if (options.pin) {
        why_not = "no privilege to keep BPF programs";
    }
    if (verbose)
        std::cerr << "trace-root: loading the programs (none reused: " << why_not << ")\n";

    if (auto r = register_section_handler(); !r)
        return tl::unexpected(r.error());
    g_cast_kfunc_id = use_cast ? kEmbeddedBtf.rdonly_cast_id : 0;
    LIBBPF_OPTS(bpf_object_open_opts, open_opts,
                .btf_custom_path = btf_path.empty() ? nullptr : btf_path.c_str());
    SideThread::Plan plan{};
    plan.ring_bytes = ring_bytes;
    plan.open_opts = split ? &open_opts : nullptr;
    plan.use_cast = use_cast;
    plan.verbose = verbose;
    SideThread side(plan);

    p.main.reset(trace_bpf__open_opts(&open_opts));
    if (!p.main)
        return fail(std::string("cannot open the BPF object: ") + std::strerror(errno));

    // Step 2: configure, and make the maps both objects share.
    if (auto r = configure(p.main.get(), use_cast); !r)
        return tl::unexpected(r.error());
    if (split) {
        bpf_program* prog;
        bpf_object__for_each_program(prog, p.main->obj) {
            bpf_program__set_autoload(prog, !in_side_object(prog));
        }
    }
    const int events_fd = side.ring_fd();
    if (events_fd < 0)
        return tl::unexpected(map_error("events", -events_fd));
    if (auto r = create_maps(p.main.get(), events_fd); !r)
        return tl::unexpected(r.error());
    if (auto r = set_seed(bpf_map__fd(p.main->maps.run_config), seed); !r)
        return tl::unexpected(r.error());
    const std::vector<bpf_program*> main_loaded = want_stats(p.main.get(), 0, verbose);

    // Step 3: load (the verifier runs here), the side object on its thread.
    const auto t_load = std::chrono::steady_clock::now();
    side.go(p.main.get());
    const int main_err = trace_bpf__load(p.main.get());
    // The consumer maps the ring buffer's pages (most of a millisecond for
    // 4 MiB) while the side object's programs still load.
    if (main_err == 0)
        p.ring.reset(ring_buffer__new(bpf_map__fd(p.main->maps.events), handle_record, &sink,
                                      nullptr));
    const int ring_err = p.ring ? 0 : errno;
    std::vector<bpf_program*> side_loaded;
    auto side_object = side.finish(side_loaded);
    // Each program with its statistics slot (see want_stats).
    std::vector<std::pair<bpf_program*, const char*>> logs;
    for (size_t i = 0; i < main_loaded.size(); ++i)
        logs.emplace_back(main_loaded[i], g_stats_log[i]);
    for (size_t i = 0; i < side_loaded.size(); ++i)
        logs.emplace_back(side_loaded[i], g_stats_log[SideThread::kSideLogs + i]);
    if (main_err != 0 || !side_object) {
        if (verbose)
            for (const auto& [prog, log] : logs)
                if (log[0])
                    std::cerr << "trace-root: verifier log of " << bpf_program__name(prog)
                              << ":\n"
                              << log << "\n";
        return tl::unexpected(main_err != 0 ? load_error(main_err) : side_object.error());
    }
    p.side = std::move(*side_object);
    if (!p.ring)
        return fail(std::string("cannot open the ring buffer: ") + std::strerror(ring_err));

    if (verbose)
        for (const auto& [prog, log] : logs)
            std::cerr << "trace-root: verifier: " << bpf_program__name(prog) << ": " << log;

    // on_emit, which sends every event, into the slot the other programs
    // tail-call (see emit() in trace.bpf.c), before anything runs.
    {
        const uint32_t slot = 0;
        const int emit_fd = bpf_program__fd(split ? p.side->progs.on_emit : p.main->progs.on_emit);
        if (bpf_map_update_elem(bpf_map__fd(p.main->maps.emitters), &slot, &emit_fd, BPF_ANY) != 0)
            return fail(std::string("cannot install the BPF sender program: ") +
                        std::strerror(errno));
    }

    const auto t_loaded = std::chrono::steady_clock::now();
    // Step 4: attach.
    for (trace_bpf* skel : {p.main.get(), p.side.get()}) {
        if (!skel)
            continue;
        if (int err = trace_bpf__attach(skel); err != 0)
            return tl::unexpected(attach_error(-err));
    }
    p.traced_fd = bpf_map__fd(p.main->maps.traced);
    p.counters_fd = bpf_map__fd(p.main->maps.counters);
    if (verbose) {
        const auto t_done = std::chrono::steady_clock::now();
        std::cerr << "trace-root: start-up: open " << ms(t_open, t_load) << " ms, load "
                  << ms(t_load, t_loaded) << " ms, attach " << ms(t_loaded, t_done) << " ms\n";
    }
    // Kept for the next runs. Failing to is no reason to fail this one.
    if (p.cache) {
        auto published = publish_programs(p, key);
        if (verbose)
            std::cerr << "trace-root: "
                      << (published ? "pinned the programs at " + std::string(PinCache::kDir) +
                                          "/" + key + " for the next runs"
                                    : "the programs are not kept for the next runs: " +
                                          published.error().message)
                      << "\n";
    }
    return p;
}

}  // namespace

Result<TraceResult> run_trace(const TraceOptions& options)
{
    g_verbosity = options.verbosity;
    libbpf_set_print(libbpf_print);
    if (options.command.empty())
        return fail("no command to trace");

    // SIGINT, SIGTERM and SIGCHLD arrive through a signalfd, so the loop
    // below can forward them and reap children without races. They are
    // blocked before anything else: a SIGTERM while the programs load is
    // forwarded to the workload as soon as it exists, and the report is
    // still written.
    sigset_t mask, old_mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, &old_mask);
    struct RestoreMask {
        sigset_t m;
        ~RestoreMask()
        {
            sigprocmask(SIG_SETMASK, &m, nullptr);
            prctl(PR_SET_CHILD_SUBREAPER, 0);
        }
    } restore{old_mask};
    UniqueFd sig_fd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (sig_fd.get() < 0)
        return fail(std::string("cannot create a signalfd: ") + std::strerror(errno));

    // The workload's process is made first, while trace-root is small (a
    // fork copies the page tables, the ring buffer's mapping among them
    // later); it waits for the go byte until every program is attached.
    // Until then, any failure kills it.
    int go_pipe[2], err_pipe[2];
    if (pipe2(go_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0)
        return fail(std::string("cannot create a pipe: ") + std::strerror(errno));
    UniqueFd go_read(go_pipe[0]), go_write(go_pipe[1]), err_read(err_pipe[0]),
        err_write(err_pipe[1]);

    ForkLauncher fork_launcher;
    Launcher* launcher = options.launcher ? options.launcher : &fork_launcher;
    int direct_child = -1;
    auto started = launcher->start(options.command, go_read.get(), err_write.get(), direct_child);
    if (!started)
        return tl::unexpected(started.error());
    go_read.reset();
    err_write.reset();
    const uint32_t workload_pid = static_cast<uint32_t>(*started);
    struct KillUnlessStarted {
        int pid;
        ~KillUnlessStarted()
        {
            if (pid > 0) {
                kill(pid, SIGKILL);
                waitpid(pid, nullptr, 0);
            }
        }
    } not_started{direct_child};

    Collector collector(CollectorOptions{options.only_under, options.exclude_exe, options.root});
    Sink sink{&collector};
    auto programs = load_tracer(options, sink);
    if (!programs)
        return tl::unexpected(programs.error());
    ring_buffer* ring = programs->ring.get();

    // Orphans (double-forked daemons) are reparented to us, so waiting for
    // every child to be gone means the last descendant has exited.
    prctl(PR_SET_CHILD_SUBREAPER, 1);

    // The workload joins the traced set (a bit per tgid, see trace.bpf.c)
    // before it may exec. Nothing else is traced yet, so nothing else
    // writes the word concurrently.
    const int traced_fd = programs->traced_fd;
    const uint32_t word = workload_pid / 64;
    uint64_t bits = 0;
    if (bpf_map_lookup_elem(traced_fd, &word, &bits) == 0)
        bits |= uint64_t{1} << (workload_pid % 64);
    if (bits == 0 || bpf_map_update_elem(traced_fd, &word, &bits, BPF_ANY))
        return fail(std::string("cannot add the workload to the traced set: ") +
                    std::strerror(errno));
    collector.add_root_process(workload_pid, "trace-root", launcher->cwd());
    const auto t0 = std::chrono::steady_clock::now();
    if (write(go_write.get(), "g", 1) != 1)
        return fail(std::string("cannot start the workload: ") + std::strerror(errno));
    go_write.reset();
    not_started.pid = -1;

    int exec_errno = 0;
    if (read(err_read.get(), &exec_errno, sizeof exec_errno) == sizeof exec_errno) {
        waitpid(direct_child, nullptr, 0);
        const int code = exec_errno == ENOENT ? 127 : 126;
        return fail("cannot execute " + escape_path(options.command[0]) + ": " +
                        std::strerror(exec_errno),
                    {}, code);
    }
    err_read.reset();

    Report report;
    report.command = options.command;
    if (char* cwd = getcwd(nullptr, 0)) {
        report.cwd = cwd;
        free(cwd);
    }
    bool interrupted = false;
    bool child_done = false;
    int child_status = 0;

    // Drain events while anything of the tree lives; stop when every child
    // (including adopted orphans) has been reaped.
    pollfd fds[2] = {{ring_buffer__epoll_fd(ring), POLLIN, 0}, {sig_fd.get(), POLLIN, 0}};
    for (;;) {
        // The kernel side wakes this loop only when the ring buffer is a
        // quarter full (a wakeup per event cost an interrupt each), so it
        // drains on this timer too; a child's exit wakes it at once.
        int n = poll(fds, 2, kDrainIntervalMs);
        if (n < 0 && errno != EINTR)
            return fail(std::string("poll failed: ") + std::strerror(errno));
        ring_buffer__consume(ring);

        signalfd_siginfo si;
        while (read(sig_fd.get(), &si, sizeof si) == sizeof si) {
            if (si.ssi_signo == SIGCHLD)
                continue;
            // A signal typed at the terminal already reached the whole
            // foreground process group; only forward what was sent to us.
            interrupted = true;
            if (si.ssi_code != SI_KERNEL && !child_done)
                kill(direct_child, static_cast<int>(si.ssi_signo));
        }

        bool any_left = true;
        for (;;) {
            int status = 0;
            const pid_t pid = waitpid(-1, &status, WNOHANG);
            if (pid == 0)
                break;
            if (pid < 0) {
                any_left = errno != ECHILD;
                break;
            }
            if (pid == direct_child) {
                child_done = true;
                child_status = status;
            }
        }
        if (!any_left)
            break;
    }
    const auto t1 = std::chrono::steady_clock::now();
    ring_buffer__consume(ring);

    uint64_t dedup_hits = 0;
    auto loss = read_counters(programs->counters_fd, dedup_hits);
    if (!loss)
        return tl::unexpected(loss.error());
    // Nothing more comes from the kernel side. Detaching, unmapping the
    // ring buffer and letting go of the cache (about a millisecond) happen
    // on a second thread while the paths are sorted; it is joined whatever
    // way this function returns.
    std::jthread teardown([held = std::make_unique<Programs>(std::move(*programs))]() mutable {
        held.reset();
    });

    report.exit_status = child_done ? wait_status_to_exit(child_status) : 1;
    report.duration_seconds = std::chrono::duration<double>(t1 - t0).count();
    report.loss = *loss;
    collector.finish(report);
    if (options.verbosity == Verbosity::Verbose)
        std::cerr << "trace-root: after the workload: "
                  << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                               t1)
                         .count()
                  << " ms to drain the ring buffer and sort the paths\n";

    TraceResult result;
    if (report.loss.total() > 0) {
        report.complete = false;
        std::string what = std::to_string(report.loss.total()) + " events were lost (ring buffer full: " +
                           std::to_string(report.loss.ringbuf_full) +
                           ", process table full: " + std::to_string(report.loss.process_map_full) +
                           ", paths too long or deep: " + std::to_string(report.loss.path_truncated) +
                           ", unreadable names: " + std::to_string(report.loss.name_unreadable) +
                           ", not handed to the sender: " + std::to_string(report.loss.emit_failed) +
                           ")";
        report.incomplete_reasons.push_back(what);
        result.problems.push_back(what);
    }
    if (collector.malformed() > 0) {
        report.complete = false;
        std::string what = std::to_string(collector.malformed()) + " malformed events";
        report.incomplete_reasons.push_back(what);
        result.problems.push_back(what);
    }
    if (collector.saw_compat()) {
        report.complete = false;
        report.incomplete_reasons.push_back("32-bit system calls were not traced");
        result.problems.push_back("32-bit (ia32) system calls were made; they are not traced");
    }
    if (collector.saw_io_uring()) {
        report.complete = false;
        report.incomplete_reasons.push_back("io_uring was used");
        if (options.io_uring == IoUringPolicy::Fail)
            result.problems.push_back("the workload used io_uring, whose opens are not traced");
    }
    if (interrupted) {
        report.complete = false;
        report.incomplete_reasons.push_back("trace-root was interrupted by a signal");
    }
    if (options.incomplete == IncompletePolicy::Accept)
        result.problems.clear();
    (void)dedup_hits;
    result.report = std::move(report);
    return result;
}

void print_trace_summary(const Report& report, const std::string& report_path)
{
    std::cerr << "trace-root: " << report.paths.size() << " paths, " << report.processes
              << " processes, " << report.events << " events, " << report.loss.total()
              << " lost; exit status " << report.exit_status << "\n";
    for (const auto& w : report.warnings)
        std::cerr << "trace-root: warning: " << w << "\n";
    if (!report.complete)
        std::cerr << "trace-root: warning: the trace is incomplete\n";
    if (!report_path.empty())
        std::cerr << "trace-root: report written to " << escape_path(report_path) << "\n";
}

}  // namespace trace_root
