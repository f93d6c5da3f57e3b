// `trace-root image`: write a slim root as a reproducible OCI image archive.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "trace_root/cli.hpp"
#include "trace_root/image.hpp"

namespace trace_root {
namespace {

struct ImageCliArgs {
    ImageOptions options;
    std::string entrypoint, cmd, compression = "gzip";
    std::vector<std::string> labels;
};

Outcome run_image(ImageCliArgs& a)
{
    ImageOptions& o = a.options;
    if (!a.entrypoint.empty()) {
        auto v = parse_exec_form(a.entrypoint, "--entrypoint");
        if (!v)
            return tl::unexpected(v.error());
        o.entrypoint = *v;
    }
    if (!a.cmd.empty()) {
        auto v = parse_exec_form(a.cmd, "--cmd");
        if (!v)
            return tl::unexpected(v.error());
        o.cmd = *v;
    }
    for (const auto& kv : a.labels) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0)
            return fail("--label " + kv + ": expected KEY=VALUE", {}, 2);
        if (!o.labels.emplace(kv.substr(0, eq), kv.substr(eq + 1)).second)
            return fail("--label " + kv.substr(0, eq) + " is given twice", {}, 2);
    }
    o.compression = a.compression == "zstd" ? Compression::Zstd : Compression::Gzip;

    auto r = write_image(o);
    if (!r)
        return tl::unexpected(r.error());
    for (const auto& w : r->warnings)
        std::cerr << "trace-root: warning: " << w << "\n";
    std::cerr << "trace-root: wrote " << o.output << ": " << r->entries << " entries, layer "
              << r->layer_bytes << " bytes\n";
    // stdout: the manifest digest, for scripts.
    std::cout << r->manifest_digest << "\n";
    return 0;
}

}  // namespace

void add_image_commands(CLI::App& app, Outcome& outcome)
{
    auto args = std::make_shared<ImageCliArgs>();
    CLI::App* sub = app.add_subcommand(
        "image",
        "Write a root directory as a single-layer OCI image archive (also loadable by "
        "docker load and podman load). Reproducible: the same root and flags give the same "
        "bytes; SOURCE_DATE_EPOCH clamps every timestamp. Prints the manifest digest.");
    ImageOptions& o = args->options;
    sub->add_option("--root", o.root, "Directory that becomes / of the image")->required();
    sub->add_option("--output", o.output, "The image archive to write (FILE.tar)")->required();
    sub->add_option("--entrypoint", args->entrypoint,
                    "Entrypoint as a JSON array, e.g. '[\"/app/server\"]'");
    sub->add_option("--cmd", args->cmd, "Default command as a JSON array, e.g. '[\"--help\"]'");
    sub->add_option("--env", o.env, "Environment variable KEY=VALUE (repeatable)")
        ->allow_extra_args(false);
    sub->add_option("--workdir", o.workdir, "Working directory (absolute path)");
    sub->add_option("--user", o.user, "Numeric UID or UID:GID to run as");
    sub->add_option("--label", args->labels, "Label KEY=VALUE (repeatable)")
        ->allow_extra_args(false);
    sub->add_option("--tag", o.tag, "Image name NAME[:TAG] (TAG defaults to latest)");
    sub->add_option("--compression", args->compression, "Layer compression (default gzip)")
        ->check(CLI::IsMember({"gzip", "zstd"}));
    sub->callback([args, &outcome] { outcome = run_image(*args); });
}

}  // namespace trace_root
