// write_image(): a root directory -> an OCI image layout archive.
//
// Pipeline: check the options, pack the layer into a temporary blob file next
// to the output, build the config, the OCI manifest and index and the docker
// manifest.json as canonical JSON (nlohmann's objects are sorted maps, and
// dump() without indent is stable), then write the outer tar with sorted
// members, mtime fixed to the creation time, owner 0:0 and fixed modes, to a
// temporary name that is renamed over the output only when complete.
#include "trace_root/image.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "layer_write.hpp"
#include "sha256.hpp"
#include "trace_root/unique_fd.hpp"

namespace trace_root {

using nlohmann::json;

namespace {

constexpr const char* kShellFormHint =
    "write it as a JSON array of strings, e.g. '[\"/app/server\", \"--port\", \"8080\"]'; "
    "the shell form needs /bin/sh inside the image, which a slim image does not have";

// Removes a file when the scope ends, unless released.
class TempFile {
public:
    explicit TempFile(std::string path) : path_(std::move(path)) {}
    ~TempFile()
    {
        if (!path_.empty())
            unlink(path_.c_str());
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    const std::string& path() const { return path_; }
    void release() { path_.clear(); }

private:
    std::string path_;
};

bool is_digits(std::string_view s)
{
    return !s.empty() && s.size() <= 10 &&
           s.find_first_not_of("0123456789") == std::string_view::npos;
}

Result<std::optional<int64_t>> resolve_epoch(const ImageOptions& o)
{
    if (o.source_date_epoch) {
        if (*o.source_date_epoch < 0)
            return fail("SOURCE_DATE_EPOCH must not be negative");
        return o.source_date_epoch;
    }
    const char* env = std::getenv("SOURCE_DATE_EPOCH");
    if (env == nullptr || *env == '\0')
        return std::optional<int64_t>{};
    const std::string_view s = env;
    if (s.size() > 15 || s.find_first_not_of("0123456789") != std::string_view::npos)
        return fail("SOURCE_DATE_EPOCH=" + std::string(s) +
                        " is not a number of seconds since 1970-01-01",
                    "set it to e.g. $(git log -1 --format=%ct), or unset it");
    return std::optional<int64_t>{std::stoll(std::string(s))};
}

std::string rfc3339(int64_t t)
{
    const time_t tt = static_cast<time_t>(t);
    struct tm tm {};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

Result<void> check_options(const ImageOptions& o)
{
    if (o.root.empty())
        return fail("no image root given",
                    "pass --root DIR (a directory made by trace-root export)", 2);
    struct stat st {};
    if (stat(o.root.c_str(), &st) != 0)
        return fail(errno_message("cannot use image root", o.root, errno),
                    "pass --root DIR (a directory made by trace-root export)", 2);
    if (!S_ISDIR(st.st_mode))
        return fail("cannot use image root " + o.root + ": not a directory", {}, 2);
    if (o.output.empty())
        return fail("no output file given", "pass --output FILE.tar", 2);
    // The output (and its temporary files) must not land inside the root
    // being packed: the layer would then contain itself, growing as it is read.
    const auto slash = o.output.rfind('/');
    const std::string out_dir = slash == std::string::npos ? "." : o.output.substr(0, slash + 1);
    char* real_out = realpath(out_dir.c_str(), nullptr);
    if (real_out == nullptr)
        return fail(errno_message("cannot write " + o.output + ": its directory", out_dir, errno),
                    {}, 2);
    std::string out_real = real_out;
    free(real_out);
    char* real_root = realpath(o.root.c_str(), nullptr);
    if (real_root == nullptr)
        return fail(errno_message("cannot use image root", o.root, errno), {}, 2);
    std::string root_real = real_root;
    free(real_root);
    if (out_real == root_real || out_real.rfind(root_real + "/", 0) == 0 || root_real == "/")
        return fail("cannot write " + o.output + " inside the image root " + o.root +
                        ": the image would contain itself",
                    "write the image next to the root, not into it", 2);
    std::set<std::string> keys;
    for (const auto& kv : o.env) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0)
            return fail("--env " + kv + ": expected KEY=VALUE", {}, 2);
        if (!keys.insert(kv.substr(0, eq)).second)
            return fail("--env " + kv.substr(0, eq) + " is given twice", {}, 2);
    }
    if (!o.workdir.empty() && o.workdir[0] != '/')
        return fail("--workdir " + o.workdir + ": must be an absolute path", {}, 2);
    if (!o.user.empty()) {
        const auto colon = o.user.find(':');
        const std::string uid = o.user.substr(0, colon);
        const std::string gid = colon == std::string::npos ? "0" : o.user.substr(colon + 1);
        if (!is_digits(uid) || !is_digits(gid))
            return fail("--user " + o.user + ": expected numeric UID or UID:GID",
                        "a slim image usually has no /etc/passwd to look names up in", 2);
    }
    for (const auto& [k, v] : o.labels)
        if (k.empty())
            return fail("--label =" + v + ": the label key is empty", {}, 2);
    return {};
}

json descriptor(const std::string& media_type, const std::string& digest, uint64_t size)
{
    return json{{"mediaType", media_type}, {"digest", digest}, {"size", size}};
}

// containerd and docker (with the containerd store) name images fully:
// "foo:1" is "docker.io/library/foo:1".
std::string qualified_name(const std::string& name_tag)
{
    const auto slash = name_tag.find('/');
    const std::string first = name_tag.substr(0, slash);
    const bool has_host = slash != std::string::npos &&
                          (first.find_first_of(".:") != std::string::npos || first == "localhost");
    if (has_host)
        return name_tag;
    if (slash == std::string::npos)
        return "docker.io/library/" + name_tag;
    return "docker.io/" + name_tag;
}

struct Member {
    std::string name;
    std::string data;       // in memory, or
    std::string from_file;  // streamed from this file
    uint64_t size = 0;
    bool directory = false;
};

std::string la_error(archive* a)
{
    const char* s = archive_error_string(a);
    return s != nullptr ? s : "unknown libarchive error";
}

Result<void> write_outer(int fd, const std::string& out_name, std::vector<Member> members,
                         int64_t mtime)
{
    std::sort(members.begin(), members.end(),
              [](const Member& a, const Member& b) { return a.name < b.name; });
    std::unique_ptr<archive, int (*)(archive*)> a(archive_write_new(), archive_write_free);
    archive_write_set_format_pax_restricted(a.get());
    if (archive_write_open_fd(a.get(), fd) != ARCHIVE_OK)
        return fail("cannot write " + out_name + ": " + la_error(a.get()));
    std::vector<char> buf(1 << 16);
    for (const auto& m : members) {
        std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(),
                                                                  archive_entry_free);
        archive_entry_copy_pathname(e.get(), m.name.c_str());
        archive_entry_set_filetype(e.get(), m.directory ? AE_IFDIR : AE_IFREG);
        archive_entry_set_perm(e.get(), m.directory ? 0755 : 0644);
        archive_entry_set_uid(e.get(), 0);
        archive_entry_set_gid(e.get(), 0);
        archive_entry_set_mtime(e.get(), mtime, 0);
        archive_entry_set_size(e.get(), m.directory ? 0 : static_cast<la_int64_t>(m.size));
        if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK)
            return fail("cannot write " + out_name + ": " + la_error(a.get()));
        if (!m.from_file.empty()) {
            UniqueFd in(open(m.from_file.c_str(), O_RDONLY | O_CLOEXEC));
            if (!in.valid())
                return fail(errno_message("cannot open", m.from_file, errno));
            uint64_t done = 0;
            for (;;) {
                const ssize_t n = read(in.get(), buf.data(), buf.size());
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0)
                    return fail(errno_message("cannot read", m.from_file, errno));
                if (n == 0)
                    break;
                if (archive_write_data(a.get(), buf.data(), static_cast<size_t>(n)) != n)
                    return fail("cannot write " + out_name + ": " + la_error(a.get()));
                done += static_cast<uint64_t>(n);
            }
            if (done != m.size)
                return fail("cannot write " + out_name + ": the layer blob " + m.from_file +
                            " changed size");
        } else if (!m.data.empty()) {
            if (archive_write_data(a.get(), m.data.data(), m.data.size()) !=
                static_cast<la_ssize_t>(m.data.size()))
                return fail("cannot write " + out_name + ": " + la_error(a.get()));
        }
    }
    if (archive_write_close(a.get()) != ARCHIVE_OK)
        return fail("cannot write " + out_name + ": " + la_error(a.get()));
    return {};
}

std::string blob_name(const std::string& digest)
{
    return "blobs/sha256/" + digest.substr(std::string("sha256:").size());
}

}  // namespace

Platform host_platform()
{
    struct utsname u {};
    uname(&u);
    const std::string m = u.machine;
    Platform p{m, "linux", ""};
    if (m == "x86_64")
        p.architecture = "amd64";
    else if (m == "aarch64" || m == "arm64")
        p = {"arm64", "linux", "v8"};
    else if (m.rfind("armv7", 0) == 0)
        p = {"arm", "linux", "v7"};
    else if (m.rfind("armv6", 0) == 0)
        p = {"arm", "linux", "v6"};
    else if (m == "i386" || m == "i486" || m == "i586" || m == "i686")
        p.architecture = "386";
    else if (m == "ppc64le" || m == "s390x" || m == "riscv64" || m == "mips64")
        p.architecture = m;
    else if (m == "loongarch64")
        p.architecture = "loong64";
    return p;
}

Result<std::vector<std::string>> parse_exec_form(std::string_view text, std::string_view flag)
{
    const std::string f(flag);
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) {
        return fail(f + " " + std::string(text) + ": not a JSON array (plain strings, the shell "
                                                  "form, are not accepted)",
                    kShellFormHint, 2);
    }
    if (j.is_string())
        return fail(f + " " + std::string(text) + ": a plain string is the shell form, which "
                                                  "is not accepted",
                    kShellFormHint, 2);
    if (!j.is_array())
        return fail(f + " " + std::string(text) + ": expected a JSON array of strings",
                    kShellFormHint, 2);
    std::vector<std::string> out;
    for (const auto& v : j) {
        if (!v.is_string())
            return fail(f + " " + std::string(text) + ": every element must be a string",
                        kShellFormHint, 2);
        out.push_back(v.get<std::string>());
    }
    return out;
}

Result<std::string> normalize_image_tag(std::string_view input)
{
    std::string s(input);
    const auto slash = s.rfind('/');
    const auto colon = s.rfind(':');
    std::string name = s, tag = "latest";
    if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
        name = s.substr(0, colon);
        tag = s.substr(colon + 1);
    }
    const std::string hint = "use NAME[:TAG], e.g. registry.example.com/team/app:1.2";
    auto bad = [&](const std::string& why) {
        return fail("--tag " + s + ": " + why, hint, 2);
    };
    if (tag.empty() || tag.size() > 128)
        return bad("the tag must be 1 to 128 characters");
    for (size_t i = 0; i < tag.size(); ++i) {
        const char c = tag[i];
        const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                        (i > 0 && (c == '.' || c == '-'));
        if (!ok)
            return bad("the tag may hold letters, digits, '_', '.' and '-' (not first)");
    }
    if (name.empty() || name.size() > 255)
        return bad("the name must be 1 to 255 characters");
    size_t start = 0;
    bool first = true;
    while (start <= name.size()) {
        const auto end = std::min(name.find('/', start), name.size());
        const std::string comp = name.substr(start, end - start);
        const bool is_host = first && end != name.size() &&
                             (comp.find_first_of(".:") != std::string::npos || comp == "localhost");
        if (comp.empty())
            return bad("empty name component");
        for (char c : comp) {
            const bool lower = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                               c == '_' || c == '-';
            const bool host_char = std::isalnum(static_cast<unsigned char>(c)) || c == '.' ||
                                   c == '-' || c == ':';
            if (!(is_host ? host_char : lower))
                return bad("name components may hold only lower-case letters, digits, '.', '_' "
                           "and '-'");
        }
        first = false;
        start = end + 1;
    }
    return name + ":" + tag;
}

Result<ImageResult> write_image(const ImageOptions& o)
{
    // Step 1: check everything before writing anything.
    if (auto r = check_options(o); !r)
        return tl::unexpected(r.error());
    std::string name_tag;
    if (!o.tag.empty()) {
        auto t = normalize_image_tag(o.tag);
        if (!t)
            return tl::unexpected(t.error());
        name_tag = *t;
    }
    auto epoch = resolve_epoch(o);
    if (!epoch)
        return tl::unexpected(epoch.error());
    const int64_t created_at = epoch->value_or(0);
    const std::string created = rfc3339(created_at);

    // Step 2: the layer, into a temporary blob beside the output.
    const std::string pid = std::to_string(getpid());
    TempFile layer_tmp(o.output + ".layer.tmp." + pid);
    auto layer = image_detail::write_layer(o.root, layer_tmp.path(), o.compression, *epoch);
    if (!layer)
        return tl::unexpected(layer.error());

    // Step 3: config, manifest, index, manifest.json.
    const Platform plat = host_platform();
    json cfg_inner = json::object();
    if (o.entrypoint)
        cfg_inner["Entrypoint"] = *o.entrypoint;
    if (o.cmd)
        cfg_inner["Cmd"] = *o.cmd;
    if (!o.env.empty())
        cfg_inner["Env"] = o.env;
    if (!o.workdir.empty())
        cfg_inner["WorkingDir"] = o.workdir;
    if (!o.user.empty())
        cfg_inner["User"] = o.user;
    if (!o.labels.empty())
        cfg_inner["Labels"] = o.labels;
    json config = {
        {"architecture", plat.architecture},
        {"os", plat.os},
        {"created", created},
        {"config", cfg_inner},
        {"rootfs", {{"type", "layers"}, {"diff_ids", json::array({layer->diff_id})}}},
        {"history", json::array({json{{"created", created},
                                      {"created_by", "trace-root image"},
                                      {"comment", "the traced file set, as one layer"}}})},
    };
    if (!plat.variant.empty())
        config["variant"] = plat.variant;
    const std::string config_text = config.dump();
    const std::string config_digest = image_detail::sha256_digest(config_text);

    const std::string layer_type = o.compression == Compression::Gzip
                                       ? "application/vnd.oci.image.layer.v1.tar+gzip"
                                       : "application/vnd.oci.image.layer.v1.tar+zstd";
    json manifest = {
        {"schemaVersion", 2},
        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
        {"config",
         descriptor("application/vnd.oci.image.config.v1+json", config_digest, config_text.size())},
        {"layers", json::array({descriptor(layer_type, layer->digest, layer->size)})},
    };
    const std::string manifest_text = manifest.dump();
    const std::string manifest_digest = image_detail::sha256_digest(manifest_text);

    json mdesc = descriptor("application/vnd.oci.image.manifest.v1+json", manifest_digest,
                            manifest_text.size());
    mdesc["platform"] = {{"architecture", plat.architecture}, {"os", plat.os}};
    if (!plat.variant.empty())
        mdesc["platform"]["variant"] = plat.variant;
    if (!name_tag.empty())
        mdesc["annotations"] = {
            {"org.opencontainers.image.ref.name", name_tag.substr(name_tag.rfind(':') + 1)},
            {"io.containerd.image.name", qualified_name(name_tag)}};
    json index = {{"schemaVersion", 2},
                  {"mediaType", "application/vnd.oci.image.index.v1+json"},
                  {"manifests", json::array({mdesc})}};
    json docker_entry = {{"Config", blob_name(config_digest)},
                         {"RepoTags", name_tag.empty() ? json(nullptr) : json::array({name_tag})},
                         {"Layers", json::array({blob_name(layer->digest)})}};
    json docker = json::array({docker_entry});

    // Step 4: the outer tar, to a temporary name, then renamed into place.
    std::vector<Member> members;
    members.push_back({"blobs", {}, {}, 0, true});
    members.push_back({"blobs/sha256", {}, {}, 0, true});
    members.push_back({blob_name(config_digest), config_text, {}, config_text.size(), false});
    members.push_back({blob_name(manifest_digest), manifest_text, {}, manifest_text.size(), false});
    if (layer->digest != config_digest && layer->digest != manifest_digest)
        members.push_back({blob_name(layer->digest), {}, layer_tmp.path(), layer->size, false});
    const std::string index_text = index.dump();
    const std::string docker_text = docker.dump();
    members.push_back({"index.json", index_text, {}, index_text.size(), false});
    members.push_back({"manifest.json", docker_text, {}, docker_text.size(), false});
    const std::string layout = R"({"imageLayoutVersion":"1.0.0"})";
    members.push_back({"oci-layout", layout, {}, layout.size(), false});

    TempFile out_tmp(o.output + ".tmp." + pid);
    UniqueFd fd(open(out_tmp.path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid())
        return fail(errno_message("cannot create", out_tmp.path(), errno));
    if (auto r = write_outer(fd.get(), o.output, std::move(members), created_at); !r)
        return tl::unexpected(r.error());
    if (fsync(fd.get()) != 0)
        return fail(errno_message("cannot write", o.output, errno));
    fd.reset();
    if (rename(out_tmp.path().c_str(), o.output.c_str()) != 0)
        return fail(errno_message("cannot rename into place", o.output, errno));
    out_tmp.release();

    ImageResult res;
    res.manifest_digest = manifest_digest;
    res.config_digest = config_digest;
    res.layer_digest = layer->digest;
    res.diff_id = layer->diff_id;
    res.layer_bytes = layer->size;
    res.entries = layer->entries;
    res.warnings = std::move(layer->warnings);
    return res;
}

}  // namespace trace_root
