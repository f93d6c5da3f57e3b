// Parsers of image JSON: OCI index and manifest, docker manifest.json, and
// the image config. The input comes from whoever made the image, so each
// field is checked for type and form; unknown fields are ignored, as the OCI
// image spec asks.
#include <nlohmann/json.hpp>

#include "trace_root/image_read.hpp"

namespace trace_root {
namespace {

using nlohmann::json;

constexpr size_t kMaxJson = 16u << 20;

Result<json> parse_json(std::string_view text, const std::string& what)
{
    if (text.size() > kMaxJson)
        return fail(what + ": larger than " + std::to_string(kMaxJson) + " bytes");
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded())
        return fail(what + ": not valid JSON");
    return j;
}

Result<std::string> get_string(const json& obj, const char* key, const std::string& what,
                               bool required)
{
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        if (required)
            return fail(what + ": \"" + key + "\" is missing");
        return std::string();
    }
    if (!it->is_string())
        return fail(what + ": \"" + key + "\" is not a string");
    return it->get<std::string>();
}

Result<std::vector<std::string>> get_strings(const json& obj, const char* key,
                                             const std::string& what, bool required)
{
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        if (required)
            return fail(what + ": \"" + key + "\" is missing");
        return std::vector<std::string>{};
    }
    if (!it->is_array())
        return fail(what + ": \"" + key + "\" is not an array");
    std::vector<std::string> out;
    for (const auto& v : *it) {
        if (!v.is_string())
            return fail(what + ": \"" + key + "\" holds a value that is not a string");
        out.push_back(v.get<std::string>());
    }
    return out;
}

Result<Descriptor> parse_descriptor(const json& j, const std::string& what)
{
    if (!j.is_object())
        return fail(what + ": descriptor is not an object");
    Descriptor d;
    auto mt = get_string(j, "mediaType", what, true);
    if (!mt)
        return tl::unexpected(mt.error());
    d.media_type = *mt;
    auto dg = get_string(j, "digest", what, true);
    if (!dg)
        return tl::unexpected(dg.error());
    if (auto c = check_digest(*dg); !c)
        return fail(what + ": " + c.error().message);
    d.digest = *dg;
    const auto sz = j.find("size");
    if (sz == j.end() || !sz->is_number_integer())
        return fail(what + ": \"size\" is missing or not an integer");
    if (sz->is_number_unsigned() ? sz->get<uint64_t>() > (uint64_t(1) << 62)
                                 : sz->get<int64_t>() < 0)
        return fail(what + ": \"size\" is out of range");
    d.size = sz->get<int64_t>();
    if (const auto p = j.find("platform"); p != j.end()) {
        if (!p->is_object())
            return fail(what + ": \"platform\" is not an object");
        auto a = get_string(*p, "architecture", what + " platform", false);
        auto o = get_string(*p, "os", what + " platform", false);
        auto v = get_string(*p, "variant", what + " platform", false);
        if (!a || !o || !v)
            return tl::unexpected((!a ? a : !o ? o : v).error());
        d.platform_architecture = *a;
        d.platform_os = *o;
        d.platform_variant = *v;
    }
    return d;
}

Result<void> check_schema_version(const json& j, const std::string& what)
{
    const auto sv = j.find("schemaVersion");
    if (sv == j.end() || !sv->is_number_integer() || sv->get<int64_t>() != 2)
        return fail(what + ": \"schemaVersion\" must be 2");
    return {};
}

}  // namespace

Result<void> check_digest(std::string_view digest)
{
    constexpr std::string_view prefix = "sha256:";
    if (digest.substr(0, prefix.size()) != prefix)
        return fail("digest \"" + std::string(digest.substr(0, 80)) +
                    "\" is not a sha256 digest (the only algorithm supported)");
    const std::string_view hex = digest.substr(prefix.size());
    if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string_view::npos)
        return fail("digest \"" + std::string(digest.substr(0, 80)) +
                    "\" is not 64 lower-case hex digits");
    return {};
}

namespace {

// The start of every OCI document: JSON, an object, schemaVersion 2.
Result<json> parse_versioned_object(std::string_view text, const std::string& what)
{
    auto j = parse_json(text, what);
    if (!j)
        return tl::unexpected(j.error());
    if (!j->is_object())
        return fail(what + ": not a JSON object");
    if (auto r = check_schema_version(*j, what); !r)
        return tl::unexpected(r.error());
    return j;
}

}  // namespace

Result<OciIndex> parse_oci_index(std::string_view text)
{
    const std::string what = "index.json";
    auto j = parse_versioned_object(text, what);
    if (!j)
        return tl::unexpected(j.error());
    const auto m = j->find("manifests");
    if (m == j->end() || !m->is_array())
        return fail(what + ": \"manifests\" is missing or not an array");
    OciIndex out;
    for (size_t i = 0; i < m->size(); ++i) {
        auto d = parse_descriptor((*m)[i], what + " manifests[" + std::to_string(i) + "]");
        if (!d)
            return tl::unexpected(d.error());
        out.manifests.push_back(*d);
    }
    return out;
}

Result<OciManifest> parse_oci_manifest(std::string_view text)
{
    const std::string what = "image manifest";
    auto j = parse_versioned_object(text, what);
    if (!j)
        return tl::unexpected(j.error());
    const auto c = j->find("config");
    if (c == j->end())
        return fail(what + ": \"config\" is missing");
    OciManifest out;
    auto cd = parse_descriptor(*c, what + " config");
    if (!cd)
        return tl::unexpected(cd.error());
    out.config = *cd;
    const auto l = j->find("layers");
    if (l == j->end() || !l->is_array())
        return fail(what + ": \"layers\" is missing or not an array");
    for (size_t i = 0; i < l->size(); ++i) {
        auto d = parse_descriptor((*l)[i], what + " layers[" + std::to_string(i) + "]");
        if (!d)
            return tl::unexpected(d.error());
        out.layers.push_back(*d);
    }
    return out;
}

Result<std::vector<DockerManifestEntry>> parse_docker_manifest(std::string_view text)
{
    const std::string what = "manifest.json";
    auto j = parse_json(text, what);
    if (!j)
        return tl::unexpected(j.error());
    if (!j->is_array())
        return fail(what + ": not a JSON array");
    std::vector<DockerManifestEntry> out;
    for (size_t i = 0; i < j->size(); ++i) {
        const json& e = (*j)[i];
        const std::string w = what + "[" + std::to_string(i) + "]";
        if (!e.is_object())
            return fail(w + ": not an object");
        DockerManifestEntry d;
        auto c = get_string(e, "Config", w, true);
        auto t = get_strings(e, "RepoTags", w, false);
        auto l = get_strings(e, "Layers", w, true);
        if (!c)
            return tl::unexpected(c.error());
        if (!t)
            return tl::unexpected(t.error());
        if (!l)
            return tl::unexpected(l.error());
        auto cn = normalize_member_path(*c);
        if (!cn || cn->empty())
            return fail(w + ": bad Config path: " +
                        (cn ? std::string("the archive root") : cn.error().message));
        d.config = *cn;
        d.repo_tags = *t;
        for (const auto& layer : *l) {
            auto ln = normalize_member_path(layer);
            if (!ln || ln->empty())
                return fail(w + ": bad layer path: " +
                            (ln ? std::string("the archive root") : ln.error().message));
            d.layers.push_back(*ln);
        }
        out.push_back(std::move(d));
    }
    return out;
}

Result<ImageConfig> parse_image_config(std::string_view text)
{
    const std::string what = "image config";
    auto j = parse_json(text, what);
    if (!j)
        return tl::unexpected(j.error());
    if (!j->is_object())
        return fail(what + ": not a JSON object");
    ImageConfig out;
    auto a = get_string(*j, "architecture", what, false);
    auto o = get_string(*j, "os", what, false);
    if (!a)
        return tl::unexpected(a.error());
    if (!o)
        return tl::unexpected(o.error());
    out.architecture = *a;
    out.os = *o;
    const auto rootfs = j->find("rootfs");
    if (rootfs == j->end() || !rootfs->is_object())
        return fail(what + ": \"rootfs\" is missing or not an object");
    auto type = get_string(*rootfs, "type", what + " rootfs", true);
    if (!type)
        return tl::unexpected(type.error());
    if (*type != "layers")
        return fail(what + ": rootfs type \"" + type->substr(0, 80) + "\" is not \"layers\"");
    auto ids = get_strings(*rootfs, "diff_ids", what + " rootfs", true);
    if (!ids)
        return tl::unexpected(ids.error());
    for (const auto& id : *ids)
        if (auto c = check_digest(id); !c)
            return fail(what + ": diff_ids: " + c.error().message);
    out.diff_ids = *ids;
    const auto cfg = j->find("config");
    if (cfg != j->end() && !cfg->is_null()) {
        if (!cfg->is_object())
            return fail(what + ": \"config\" is not an object");
        const std::string w = what + " config";
        for (auto [key, field] : {std::pair{"Entrypoint", &out.entrypoint},
                                  std::pair{"Cmd", &out.cmd}}) {
            if (cfg->contains(key) && !(*cfg)[key].is_null()) {
                auto v = get_strings(*cfg, key, w, true);
                if (!v)
                    return tl::unexpected(v.error());
                *field = *v;
            }
        }
        auto env = get_strings(*cfg, "Env", w, false);
        auto wd = get_string(*cfg, "WorkingDir", w, false);
        auto user = get_string(*cfg, "User", w, false);
        if (!env)
            return tl::unexpected(env.error());
        if (!wd)
            return tl::unexpected(wd.error());
        if (!user)
            return tl::unexpected(user.error());
        out.env = *env;
        out.working_dir = *wd;
        out.user = *user;
    }
    return out;
}

}  // namespace trace_root
