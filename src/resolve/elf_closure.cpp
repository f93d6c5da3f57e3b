// The dependency closure: PT_INTERP and DT_NEEDED followed as the kernel and
// glibc's ld.so (elf/dl-load.c, _dl_map_object) would, for an image root.
// The search order is described in include/trace_root/elf.hpp.
#include <elf.h>
#include <sys/stat.h>

#include <deque>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "elf_internal.hpp"
#include "elf_root.hpp"
#include "trace_root/elf.hpp"

#ifndef EM_LOONGARCH
#define EM_LOONGARCH 258
#endif

namespace trace_root {

namespace {

using elf_detail::dir_name;
using elf_detail::join_path;
using elf_detail::RootDir;

// What one path inside the root turned out to be.
struct Probe {
    enum Kind { kMissing, kNotRegular, kNotElf, kMalformed, kElf } kind = kMissing;
    int err = 0;            // kMissing: errno
    std::string message;    // kMalformed
    size_t obj = 0;         // kElf: index into Closure::objects_
    uint64_t size = 0;      // file size
};

// Per (class, machine, byte order): what ld.so of that kind would use.
struct Arch {
    std::string lib;                    // $LIB
    std::string platform;               // $PLATFORM, empty: unknown
    std::vector<std::string> defaults;  // default directories, in order
    int32_t cache_id = -1;              // _DL_CACHE_DEFAULT_ID; -1: accept any ELF entry
};

// One object in one process's load set.
struct Loaded {
    size_t obj;
    std::string name;                // the path it was found by (l_name)
    std::string origin;              // $ORIGIN
    int loader;                      // index of the object that loaded it, -1: none
    std::vector<std::string> names;  // DT_NEEDED names it satisfied (l_libname)
};

struct Search {
    std::vector<std::string> searched;   // groups, for the "not found" message
    std::vector<std::string> skipped;    // candidates of another class/machine
    std::vector<std::string> notes;      // elements dropped, etc.
    bool stopped = false;                // ld.so would fail the load here
    std::string stop_reason;
    bool found = false;
    std::string path, how;
    size_t obj = 0;
};

std::string join(const std::vector<std::string>& parts, const char* sep)
{
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (i)
            out += sep;
        out += parts[i];
    }
    return out;
}

std::string class_name(int c)
{
    return c == ELFCLASS32 ? "ELFCLASS32" : c == ELFCLASS64 ? "ELFCLASS64"
                                                             : "ELF class " + std::to_string(c);
}

bool ident_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

// Length of the DST `ref` at `in` (just after the '$'), 0 if not that DST.
size_t dst_len(std::string_view in, std::string_view ref)
{
    if (!in.empty() && in[0] == '{') {
        if (in.size() >= ref.size() + 2 && in.substr(1, ref.size()) == ref &&
            in[ref.size() + 1] == '}')
            return ref.size() + 2;
        return 0;
    }
    if (in.substr(0, ref.size()) != ref)
        return 0;
    if (in.size() > ref.size() && ident_char(in[ref.size()]))
        return 0;
    return ref.size();
}

// Expands $ORIGIN, $LIB, $PLATFORM (and the ${X} forms). False when a token
// has no value (ld.so then drops the element).
bool expand_dst(std::string_view in, const std::string& origin, const Arch& arch,
                std::string* out, std::string* why)
{
    out->clear();
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '$') {
            *out += in[i];
            continue;
        }
        const std::string_view rest = in.substr(i + 1);
        size_t n;
        if ((n = dst_len(rest, "ORIGIN")) != 0) {
            *out += origin;
        } else if ((n = dst_len(rest, "PLATFORM")) != 0) {
            if (arch.platform.empty()) {
                *why = "$PLATFORM unknown for this machine";
                return false;
            }
            *out += arch.platform;
        } else if ((n = dst_len(rest, "LIB")) != 0) {
            *out += arch.lib;
        } else {
            *out += '$';   // not a DST: kept as it is, as ld.so does
            continue;
        }
        i += n;
    }
    return true;
}

class Closure {
public:
    explicit Closure(RootDir root) : root_(std::move(root)) {}

    Result<void> add_top(const std::string& path);
    std::vector<ElfDependency> take_edges() { return std::move(edges_); }

private:
    const Probe& probe(const std::string& path);
    const ElfInfo& info(size_t obj) const { return objects_[obj]; }
    const Arch& arch(const ElfInfo& req);
    void load_cache();

    // glibc's open_verify(): can `p` be loaded for an object like `req`?
    // 0 = yes; 1 = skip it and search on; 2 = the load fails here.
    int verify(const Probe& p, const std::string& path, const ElfInfo& req, bool for_interp,
               std::string* why) const;
    // Tries one candidate path; true when the search is over (found or stopped).
    bool try_candidate(const std::string& path, const std::string& how, const ElfInfo& req,
                       Search* s);
    bool try_dirs(const std::vector<std::pair<std::string, std::string>>& dirs,
                  const std::string& name, const ElfInfo& req, Search* s);
    // The expanded, usable directories of a DT_RPATH / DT_RUNPATH list.
    std::vector<std::pair<std::string, std::string>> path_list(
        const std::vector<std::string>& elems, const char* tag, const std::string& suffix,
        const std::string& origin, const Arch& a, Search* s);

    void resolve_needed(std::vector<Loaded>* loaded, size_t qi, const std::string& name);
    void add_edge(ElfDependency e);

    RootDir root_;
    std::map<std::string, Probe> probes_;
    std::map<std::pair<dev_t, ino_t>, Probe> by_inode_;
    std::deque<ElfInfo> objects_;   // a deque: references stay valid as it grows
    std::map<std::tuple<int, int, int>, Arch> arch_;

    bool cache_loaded_ = false;
    bool cache_present_ = false;
    std::string cache_note_;
    std::multimap<std::string, LdCacheEntry> cache_;   // key -> entries in file order
    std::vector<elf_detail::LdConfDir> conf_;
    std::vector<std::string> conf_notes_;

    std::set<std::tuple<std::string, std::string, std::string, std::string>> seen_edges_;
    std::vector<ElfDependency> edges_;
};

const Probe& Closure::probe(const std::string& path)
{
    auto it = probes_.find(path);
    if (it != probes_.end())
        return it->second;
    Probe p;
    struct stat st;
    const int fd = root_.open_regular(path, &st);
    if (fd == RootDir::kNotRegular) {
        p.kind = Probe::kNotRegular;
    } else if (fd < 0) {
        p.kind = Probe::kMissing;
        p.err = -fd;
    } else {
        elf_detail::UniqueFd guard(fd);
        p.size = static_cast<uint64_t>(st.st_size);
        const auto key = std::make_pair(st.st_dev, st.st_ino);
        auto known = by_inode_.find(key);
        if (known != by_inode_.end()) {
            p = known->second;   // the same file by another path: one object
            p.size = static_cast<uint64_t>(st.st_size);
        } else {
            auto parsed = elf_detail::read_elf_fd(fd, static_cast<size_t>(st.st_size), path);
            if (!parsed) {
                p.kind = Probe::kMalformed;
                p.message = parsed.error().message;
            } else if (!parsed->is_elf) {
                p.kind = Probe::kNotElf;
            } else {
                p.kind = Probe::kElf;
                p.obj = objects_.size();
                objects_.push_back(std::move(*parsed));
            }
            by_inode_.emplace(key, p);
        }
    }
    return probes_.emplace(path, std::move(p)).first->second;
}

const Arch& Closure::arch(const ElfInfo& req)
{
    const auto key = std::make_tuple(req.elf_class, req.machine, req.data);
    auto it = arch_.find(key);
    if (it != arch_.end())
        return it->second;
    const bool is64 = req.elf_class == ELFCLASS64;
    std::string triplet, platform;
    int32_t id = -1;
    switch (req.machine) {
    case EM_X86_64:
        triplet = is64 ? "x86_64-linux-gnu" : "x86_64-linux-gnux32";
        platform = "x86_64";
        id = is64 ? 0x0303 : 0x0803;   // FLAG_ELF_LIBC6 | FLAG_X8664_LIB64 / _LIBX32
        break;
    case EM_386:
        triplet = "i386-linux-gnu";
        platform = "i686";
        id = 0x0003;
        break;
    case EM_AARCH64:
        triplet = "aarch64-linux-gnu";
        platform = "aarch64";
        id = 0x0a03;
        break;
    case EM_ARM:
        triplet = "arm-linux-gnueabihf";
        platform = "v7l";
        id = 0x0903;
        break;
    case EM_PPC64:
        triplet = req.data == ELFDATA2LSB ? "powerpc64le-linux-gnu" : "powerpc64-linux-gnu";
        id = 0x0503;
        break;
    case EM_S390:
        if (is64) {
            triplet = "s390x-linux-gnu";
            id = 0x0403;
        }
        break;
    case EM_RISCV:
        if (is64) {
            triplet = "riscv64-linux-gnu";
            id = 0x1003;
        }
        break;
    case EM_LOONGARCH:
        if (is64) {
            triplet = "loongarch64-linux-gnu";
            id = 0x1203;
        }
        break;
    default:
        break;
    }
    Arch a;
    a.platform = platform;
    a.cache_id = id;
    if (!triplet.empty() &&
        (root_.is_dir("/lib/" + triplet) || root_.is_dir("/usr/lib/" + triplet))) {
        // Debian multiarch.
        a.lib = "lib/" + triplet;
        a.defaults = {"/lib/" + triplet, "/usr/lib/" + triplet};
        if (req.machine == EM_386)
            a.defaults.insert(a.defaults.end(), {"/lib32", "/usr/lib32"});
        a.defaults.insert(a.defaults.end(), {"/lib", "/usr/lib"});
    } else if (req.machine == EM_386 && (root_.is_dir("/lib32") || root_.is_dir("/usr/lib32"))) {
        // Debian's biarch libc6-i386 on amd64.
        a.lib = "lib32";
        a.defaults = {"/lib32", "/usr/lib32", "/lib", "/usr/lib"};
    } else if (req.machine == EM_X86_64 && !is64) {
        a.lib = "libx32";
        a.defaults = {"/libx32", "/usr/libx32"};
    } else if (is64) {
        a.lib = "lib64";
        a.defaults = {"/lib64", "/usr/lib64"};
    } else {
        a.lib = "lib";
        a.defaults = {"/lib", "/usr/lib"};
    }
    return arch_.emplace(key, std::move(a)).first->second;
}

void Closure::load_cache()
{
    if (cache_loaded_)
        return;
    cache_loaded_ = true;
    auto bytes = root_.read_small_file("/etc/ld.so.cache", size_t(256) << 20);
    if (bytes) {
        auto entries = parse_ld_so_cache(*bytes, "/etc/ld.so.cache");
        if (entries) {
            cache_present_ = true;
            for (LdCacheEntry& e : *entries)
                cache_.emplace(e.key, std::move(e));   // equal keys keep file order
            return;
        }
        cache_note_ = entries.error().message + ", ignored";
    }
    conf_ = elf_detail::read_ld_so_conf(root_, &conf_notes_);
}

int Closure::verify(const Probe& p, const std::string& path, const ElfInfo& req, bool for_interp,
                    std::string* why) const
{
    switch (p.kind) {
    case Probe::kMissing:
        return 1;
    case Probe::kNotRegular:
        *why = path + ": not a regular file";
        return 1;
    case Probe::kNotElf:
        // ld.so reads an ELF header's worth first (open_verify).
        *why = path + (p.size < (req.elf_class == ELFCLASS64 ? sizeof(Elf64_Ehdr)
                                                             : sizeof(Elf32_Ehdr))
                           ? ": file too short"
                           : ": invalid ELF header");
        return 2;
    case Probe::kMalformed:
        *why = p.message;
        return 2;
    case Probe::kElf:
        break;
    }
    const ElfInfo& c = info(p.obj);
    if (c.elf_class != req.elf_class) {
        *why = path + ": " + class_name(c.elf_class) + ", needs " + class_name(req.elf_class);
        return for_interp ? 2 : 1;
    }
    if (c.data != req.data) {
        *why = path + ": ELF file data encoding differs";
        return 2;
    }
    if (c.osabi != ELFOSABI_SYSV && c.osabi != ELFOSABI_GNU) {
        *why = path + ": ELF file OS ABI invalid";
        return 2;
    }
    if (c.machine != req.machine) {
        *why = path + ": e_machine " + std::to_string(c.machine) + ", needs " +
               std::to_string(req.machine);
        return for_interp ? 2 : 1;
    }
    if (for_interp) {
        if (c.type != ET_DYN && c.type != ET_EXEC) {
            *why = path + ": not an executable or shared object";
            return 2;
        }
        return 0;
    }
    if (c.type == ET_EXEC) {
        *why = path + ": cannot dynamically load executable";
        return 2;
    }
    if (c.type != ET_DYN) {
        *why = path + ": only ET_DYN and ET_EXEC can be loaded";
        return 2;
    }
    if (c.flags_1 & DF_1_PIE) {
        *why = path + ": cannot dynamically load position-independent executable";
        return 2;
    }
    return 0;
}

bool Closure::try_candidate(const std::string& path, const std::string& how, const ElfInfo& req,
                            Search* s)
{
    const Probe& p = probe(path);
    std::string why;
    switch (verify(p, path, req, false, &why)) {
    case 0:
        s->found = true;
        s->path = path;
        s->how = how;
        s->obj = p.obj;
        return true;
    case 1:
        if (!why.empty())
            s->skipped.push_back(why);
        return false;
    default:
        s->stopped = true;
        s->stop_reason = why + " (found by " + how + "; ld.so stops here)";
        return true;
    }
}

bool Closure::try_dirs(const std::vector<std::pair<std::string, std::string>>& dirs,
                       const std::string& name, const ElfInfo& req, Search* s)
{
    for (const auto& [dir, how] : dirs)
        if (try_candidate(join_path(dir, name), how, req, s))
            return true;
    return false;
}

std::vector<std::pair<std::string, std::string>> Closure::path_list(
    const std::vector<std::string>& elems, const char* tag, const std::string& suffix,
    const std::string& origin, const Arch& a, Search* s)
{
    std::vector<std::pair<std::string, std::string>> dirs;
    std::set<std::string> seen;
    for (const std::string& elem : elems) {
        std::string dir, why;
        if (!expand_dst(elem, origin, a, &dir, &why)) {
            s->notes.push_back(std::string(tag) + " element \"" + elem + "\"" + suffix +
                               " dropped: " + why);
            continue;
        }
        if (dir.empty() || dir[0] != '/') {
            s->notes.push_back(std::string(tag) + " element \"" + elem + "\"" + suffix +
                               " ignored: relative to the working directory");
            continue;
        }
        while (dir.size() > 1 && dir.back() == '/')
            dir.pop_back();
        if (!seen.insert(dir).second)
            continue;
        dirs.emplace_back(dir, std::string(tag) + " " + elem + suffix);
    }
    if (!elems.empty())
        s->searched.push_back(std::string(tag) + " " + join(elems, ":") + suffix);
    return dirs;
}

void Closure::add_edge(ElfDependency e)
{
    if (seen_edges_.emplace(e.object, e.needed, e.resolved, e.how).second)
        edges_.push_back(std::move(e));
}

void Closure::resolve_needed(std::vector<Loaded>* loaded, size_t qi, const std::string& name)
{
    const Loaded& L = (*loaded)[qi];
    const ElfInfo& req = info(L.obj);
    ElfDependency e{L.name, name, {}, {}};
    if (name.empty()) {
        e.how = "empty DT_NEEDED name";
        add_edge(std::move(e));
        return;
    }
    // 1. Already loaded in this process, by a name or its DT_SONAME.
    for (Loaded& x : *loaded) {
        bool by_name = x.name == name;
        for (const std::string& n : x.names)
            by_name = by_name || n == name;
        if (by_name || info(x.obj).soname == name) {
            e.resolved = x.name;
            e.how = by_name ? "already loaded" : "already loaded (DT_SONAME)";
            add_edge(std::move(e));
            return;
        }
    }

    const Arch& a = arch(req);
    Search s;
    if (name.find('/') != std::string::npos) {
        // 2. A path.
        std::string path, why;
        if (!expand_dst(name, L.origin, a, &path, &why)) {
            s.stopped = true;
            s.stop_reason = "cannot expand \"" + name + "\": " + why;
        } else if (path[0] != '/') {
            s.stopped = true;
            s.stop_reason = "relative path \"" + path + "\" depends on the working directory";
        } else if (!try_candidate(path, "path", req, &s)) {
            s.searched.push_back("path " + path);
        }
    } else {
        // 3. DT_RPATH of the object and its loaders, unless the object has DT_RUNPATH.
        if (req.runpath.empty()) {
            for (int l = static_cast<int>(qi); l >= 0 && !s.found && !s.stopped;
                 l = (*loaded)[l].loader) {
                const Loaded& x = (*loaded)[l];
                const ElfInfo& xi = info(x.obj);
                if (xi.rpath.empty() || !xi.runpath.empty())
                    continue;   // DT_RUNPATH makes ld.so ignore an object's own DT_RPATH
                const std::string suffix = l == static_cast<int>(qi) ? "" : " of " + x.name;
                try_dirs(path_list(xi.rpath, "DT_RPATH", suffix, x.origin, a, &s), name, req, &s);
            }
        }
        // 4. LD_LIBRARY_PATH: not used for an image.
        // 5. DT_RUNPATH of the object only.
        if (!s.found && !s.stopped && !req.runpath.empty())
            try_dirs(path_list(req.runpath, "DT_RUNPATH", "", L.origin, a, &s), name, req, &s);
        // 6. ld.so.cache (or what ldconfig would build from ld.so.conf).
        const bool nodeflib = (req.flags_1 & DF_1_NODEFLIB) != 0;
        auto in_defaults = [&](const std::string& p) {
            for (const std::string& d : a.defaults)
                if (p.compare(0, d.size() + 1, d + "/") == 0 || p == d)
                    return true;
            return false;
        };
        if (!s.found && !s.stopped) {
            load_cache();
            if (!cache_note_.empty())
                s.notes.push_back(cache_note_);
            if (cache_present_) {
                s.searched.push_back("ld.so.cache");
                auto [lo, hi] = cache_.equal_range(name);
                for (auto it = lo; it != hi; ++it) {
                    const LdCacheEntry& c = it->second;
                    const bool arch_ok = a.cache_id >= 0
                                             ? (c.flags == 1 || c.flags == a.cache_id)
                                             : ((c.flags & 0xff) == 1 || (c.flags & 0xff) == 3);
                    if (!arch_ok || c.hwcap != 0)
                        continue;
                    // ld.so takes the first matching entry, and only that one.
                    if (nodeflib && in_defaults(c.value))
                        s.notes.push_back("ld.so.cache entry " + c.value +
                                          " not used: DF_1_NODEFLIB");
                    else if (!c.value.empty() && c.value[0] == '/' &&
                             !try_candidate(c.value, "ld.so.cache", req, &s) &&
                             probe(c.value).kind == Probe::kMissing)
                        s.notes.push_back("ld.so.cache names " + c.value + ", which is missing");
                    break;
                }
            } else {
                std::vector<std::pair<std::string, std::string>> dirs;
                std::vector<std::string> shown;
                for (const auto& d : conf_) {
                    if (nodeflib && in_defaults(d.dir))
                        continue;
                    dirs.emplace_back(d.dir, "ld.so.conf " + d.dir);
                    shown.push_back(d.dir);
                }
                s.searched.push_back(shown.empty() ? "no /etc/ld.so.cache, no ld.so.conf directory"
                                                   : "no /etc/ld.so.cache, ld.so.conf " +
                                                         join(shown, ":"));
                for (const std::string& n : conf_notes_)
                    s.notes.push_back(n);
                try_dirs(dirs, name, req, &s);
            }
        }
        // 7. The default directories.
        if (!s.found && !s.stopped) {
            if (nodeflib) {
                s.notes.push_back("default directories not searched: DF_1_NODEFLIB");
            } else {
                std::vector<std::pair<std::string, std::string>> dirs;
                for (const std::string& d : a.defaults)
                    dirs.emplace_back(d, "default " + d);
                s.searched.push_back("default " + join(a.defaults, ":"));
                try_dirs(dirs, name, req, &s);
            }
        }
    }

    std::string extra;
    for (const std::string& k : s.skipped)
        extra += "; skipped " + k;
    for (const std::string& n : s.notes)
        extra += "; " + n;
    if (s.found) {
        e.resolved = s.path;
        e.how = s.how + extra;
        // The same file under another name is the object already loaded.
        bool known = false;
        for (Loaded& x : *loaded)
            if (x.obj == s.obj) {
                x.names.push_back(name);
                known = true;
                break;
            }
        if (!known)
            loaded->push_back({s.obj, s.path, dir_name(s.path), static_cast<int>(qi), {name}});
    } else if (s.stopped) {
        e.how = s.stop_reason + extra;
    } else {
        e.how = "not found (searched " + join(s.searched, "; ") + ")" + extra;
    }
    add_edge(std::move(e));
}

Result<void> Closure::add_top(const std::string& path)
{
    if (path.empty() || path[0] != '/')
        return fail("elf_closure: path \"" + path + "\" is not absolute");
    const std::string in_root = root_.name() == "/" ? "" : " (in root " + root_.name() + ")";
    const Probe p = probe(path);
    switch (p.kind) {
    case Probe::kMissing:
        // Reported as an edge, not an error: the rest of the closure goes on.
        add_edge({path, {}, {}, errno_message("cannot open", path, p.err) + in_root});
        return {};
    case Probe::kNotRegular:
    case Probe::kNotElf:
        return {};   // not ELF: nothing to follow
    case Probe::kMalformed:
        add_edge({path, {}, {}, p.message});
        return {};
    case Probe::kElf:
        break;
    }
    const ElfInfo& top = info(p.obj);
    // The executable's $ORIGIN comes from /proc/self/exe: symlinks resolved.
    std::string origin = dir_name(path);
    if (!top.interp.empty()) {
        const std::string canon = root_.canonical(path);
        if (!canon.empty())
            origin = dir_name(canon);
    }
    std::vector<Loaded> loaded{{p.obj, path, origin, -1, {}}};

    if (!top.interp.empty()) {
        ElfDependency e{path, "PT_INTERP", {}, {}};
        const std::string& interp = top.interp;
        if (interp[0] != '/') {
            e.how = "relative PT_INTERP \"" + interp + "\" depends on the working directory";
        } else {
            const Probe ip = probe(interp);
            std::string why;
            const int v = verify(ip, interp, top, true, &why);
            if (v == 0) {
                e.resolved = interp;
                e.how = "PT_INTERP";
                if (ip.obj != p.obj)
                    loaded.push_back({ip.obj, interp, dir_name(interp), -1, {}});
            } else if (ip.kind == Probe::kMissing) {
                e.how = "PT_INTERP " + errno_message("cannot open", interp, ip.err);
            } else {
                e.how = "PT_INTERP " + why + " (the kernel refuses to run it)";
            }
        }
        add_edge(std::move(e));
    }

    // Breadth first, as _dl_map_object_deps loads.
    for (size_t qi = 0; qi < loaded.size(); ++qi) {
        const std::vector<std::string> needed = info(loaded[qi].obj).needed;
        for (const std::string& name : needed)
            resolve_needed(&loaded, qi, name);
    }
    return {};
}

}  // namespace

Result<std::vector<ElfDependency>> elf_closure(const std::string& root,
                                               const std::vector<std::string>& objects)
{
    auto dir = RootDir::open(root);
    if (!dir)
        return tl::unexpected(dir.error());
    Closure c(std::move(*dir));
    for (const std::string& obj : objects) {
        auto r = c.add_top(obj);
        if (!r)
            return tl::unexpected(r.error());
    }
    return c.take_edges();
}

}  // namespace trace_root
