// The audit's three outputs: the table for stdout, the JSON document, and the
// self-contained HTML page with its squarified treemaps.
//
// The treemap layout is Bruls, Huizing and van Wijk's "squarified" algorithm:
// items sorted by weight, largest first, are laid in rows along the shorter
// side of the space left; an item joins the current row while that makes the
// row's worst aspect ratio (longest side over shortest) better, otherwise the
// row is fixed and a new one starts in the rest of the space. Rows along the
// short side keep rectangles near square, which is what makes a treemap
// readable: long slivers hide their size. Each item's rectangle is then cut
// in two along its longer side, used bytes and unused bytes, in proportion.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "trace_root/audit.hpp"
#include "trace_root/escape.hpp"

namespace trace_root {

namespace {

std::string human_bytes(uint64_t b)
{
    static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = double(b);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    if (u == 0)
        std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
    else
        std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    return buf;
}

std::string percent(double share)
{
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1f%%", share * 100.0);
    return buf;
}

std::string pad(std::string s, size_t width, bool right = false)
{
    if (s.size() >= width)
        return s;
    return right ? std::string(width - s.size(), ' ') + s : s + std::string(width - s.size(), ' ');
}

std::string surface_name(const SurfaceItem& item)
{
    std::string s = escape_path(item.path);
    for (const auto& a : item.aliases)
        s += " (" + escape_path(a) + ")";
    return s;
}

std::string html_escape(std::string_view raw)
{
    std::string out;
    for (char c : escape_path(raw)) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

double worst_ratio(double sum, double largest, double smallest, double side)
{
    const double s2 = sum * sum, side2 = side * side;
    return std::max(side2 * largest / s2, s2 / (side2 * smallest));
}

}  // namespace

std::vector<Rect> squarify(const std::vector<double>& weights, Rect area)
{
    std::vector<Rect> out(weights.size());
    double total = 0;
    for (double w : weights)
        total += w;
    if (weights.empty() || total <= 0 || area.w <= 0 || area.h <= 0)
        return out;
    const double scale = area.w * area.h / total;
    Rect left = area;
    size_t i = 0;
    while (i < weights.size()) {
        const double side = std::min(left.w, left.h);
        size_t end = i + 1;
        double sum = weights[i] * scale;
        double ratio = worst_ratio(sum, weights[i] * scale, weights[i] * scale, side);
        while (end < weights.size()) {
            const double a = weights[end] * scale;
            const double next = worst_ratio(sum + a, weights[i] * scale, a, side);
            if (next > ratio)
                break;
            ratio = next;
            sum += a;
            ++end;
        }
        // The row is laid along the shorter side, with thickness sum / side.
        const bool vertical = left.w >= left.h;  // a column at the left edge
        const double thick = side > 0 ? sum / side : 0;
        double offset = 0;
        for (size_t k = i; k < end; ++k) {
            const double len = thick > 0 ? weights[k] * scale / thick : 0;
            out[k] = vertical ? Rect{left.x, left.y + offset, thick, len}
                              : Rect{left.x + offset, left.y, len, thick};
            offset += len;
        }
        if (vertical) {
            left.x += thick;
            left.w = std::max(0.0, left.w - thick);
        } else {
            left.y += thick;
            left.h = std::max(0.0, left.h - thick);
        }
        i = end;
    }
    return out;
}

std::string format_audit_table(const AuditResult& r, const std::string& image)
{
    std::ostringstream o;
    const Usage& t = r.totals;
    o << "trace-root audit of " << escape_path(image) << "\n\n";
    o << pad("", 12) << pad("files", 10, true) << pad("bytes", 14, true) << "\n";
    o << pad("total", 12) << pad(std::to_string(t.used_files + t.unused_files), 10, true)
      << pad(human_bytes(t.total_bytes()), 14, true) << "\n";
    o << pad("used", 12) << pad(std::to_string(t.used_files), 10, true)
      << pad(human_bytes(t.used_bytes), 14, true) << "\n";
    o << pad("unused", 12) << pad(std::to_string(t.unused_files), 10, true)
      << pad(human_bytes(t.unused_bytes), 14, true) << "  (" << percent(r.unused_share())
      << " of the bytes)\n";
    o << pad("slim image", 12) << pad("", 10) << pad(human_bytes(t.used_bytes), 14, true)
      << "  (the used files only)\n";

    const size_t kTop = 20;
    o << "\nunused bytes by package";
    if (!r.has_dpkg)
        o << " (no dpkg database in the image)";
    else if (r.by_package.size() > kTop)
        o << " (top " << kTop << " of " << r.by_package.size() << ")";
    o << "\n";
    o << "  " << pad("PACKAGE", 32) << pad("VERSION", 24) << pad("UNUSED", 12, true)
      << pad("USED", 12, true) << "\n";
    for (size_t i = 0; i < r.by_package.size() && i < kTop; ++i) {
        const auto& p = r.by_package[i];
        o << "  " << pad(escape_path(p.name), 32) << pad(escape_path(p.version), 24)
          << pad(human_bytes(p.usage.unused_bytes), 12, true)
          << pad(human_bytes(p.usage.used_bytes), 12, true) << "\n";
    }

    o << "\nunused bytes by top-level directory\n";
    o << "  " << pad("DIRECTORY", 32) << pad("UNUSED", 12, true) << pad("USED", 12, true)
      << "\n";
    for (const auto& d : r.by_directory)
        o << "  " << pad(escape_path(d.name), 32)
          << pad(human_bytes(d.usage.unused_bytes), 12, true)
          << pad(human_bytes(d.usage.used_bytes), 12, true) << "\n";

    size_t unused_items = 0;
    for (const auto& s : r.surface)
        unused_items += s.used ? 0 : 1;
    o << "\nattack surface: " << unused_items << " item(s) the workload never used, "
      << r.surface.size() - unused_items << " it used\n";
    for (const auto& s : r.surface)
        o << "  " << pad(s.used ? "used" : "UNUSED", 8) << pad(surface_kind_name(s.kind), 30)
          << surface_name(s) << "\n";
    for (const auto& w : r.warnings)
        o << "\nwarning: " << w;
    if (!r.warnings.empty())
        o << "\n";
    return o.str();
}

namespace {

nlohmann::json usage_json(const Usage& u)
{
    return {{"used_bytes", u.used_bytes},     {"unused_bytes", u.unused_bytes},
            {"used_files", u.used_files},     {"unused_files", u.unused_files},
            {"total_bytes", u.total_bytes()}};
}

}  // namespace

std::string audit_to_json(const AuditResult& r, const std::string& image)
{
    nlohmann::json j;
    const Usage& t = r.totals;
    j["schema_version"] = kAuditSchemaVersion;
    j["image"] = escape_path(image);
    j["total_files"] = t.used_files + t.unused_files;
    j["total_bytes"] = t.total_bytes();
    j["used_files"] = t.used_files;
    j["used_bytes"] = t.used_bytes;
    j["unused_files"] = t.unused_files;
    j["unused_bytes"] = t.unused_bytes;
    j["unused_share"] = r.unused_share();
    j["slim_bytes"] = t.used_bytes;
    j["has_dpkg"] = r.has_dpkg;
    j["by_package"] = nlohmann::json::array();
    for (const auto& p : r.by_package) {
        nlohmann::json e = usage_json(p.usage);
        e["name"] = escape_path(p.name);
        e["version"] = escape_path(p.version);
        j["by_package"].push_back(std::move(e));
    }
    j["by_directory"] = nlohmann::json::array();
    for (const auto& d : r.by_directory) {
        nlohmann::json e = usage_json(d.usage);
        e["name"] = escape_path(d.name);
        j["by_directory"].push_back(std::move(e));
    }
    j["surface"] = nlohmann::json::array();
    for (const auto& s : r.surface) {
        nlohmann::json aliases = nlohmann::json::array();
        for (const auto& a : s.aliases)
            aliases.push_back(escape_path(a));
        j["surface"].push_back({{"path", escape_path(s.path)},
                                {"kind", surface_kind_name(s.kind)},
                                {"used", s.used},
                                {"aliases", std::move(aliases)}});
    }
    j["warnings"] = r.warnings;
    return j.dump(2) + "\n";
}

namespace {

struct TreemapItem {
    std::string name;
    Usage usage;
};

// At most `limit` items; the rest are summed into one "(N others)" item, so
// nothing is left out of the picture.
std::vector<TreemapItem> treemap_items(std::vector<TreemapItem> items, size_t limit,
                                       const std::string& others)
{
    std::erase_if(items, [](const TreemapItem& i) { return i.usage.total_bytes() == 0; });
    std::sort(items.begin(), items.end(), [](const TreemapItem& a, const TreemapItem& b) {
        return a.usage.total_bytes() > b.usage.total_bytes();
    });
    if (items.size() > limit) {
        TreemapItem rest{"(" + std::to_string(items.size() - limit + 1) + " other " + others + ")",
                         {}};
        for (size_t i = limit - 1; i < items.size(); ++i) {
            rest.usage.used_bytes += items[i].usage.used_bytes;
            rest.usage.unused_bytes += items[i].usage.unused_bytes;
        }
        items.resize(limit - 1);
        items.push_back(rest);
        std::sort(items.begin(), items.end(), [](const TreemapItem& a, const TreemapItem& b) {
            return a.usage.total_bytes() > b.usage.total_bytes();
        });
    }
    return items;
}

std::string num(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

std::string svg_rect(const Rect& r, const char* cls, const std::string& title)
{
    return "<rect class=\"" + std::string(cls) + "\" x=\"" + num(r.x) + "\" y=\"" + num(r.y) +
           "\" width=\"" + num(r.w) + "\" height=\"" + num(r.h) + "\"><title>" + title +
           "</title></rect>\n";
}

std::string treemap_svg(const std::vector<TreemapItem>& items, const std::string& id)
{
    const double W = 960, H = 420;
    std::vector<double> weights;
    for (const auto& i : items)
        weights.push_back(double(i.usage.total_bytes()));
    const auto rects = squarify(weights, {0, 0, W, H});
    std::string svg = "<svg id=\"" + id + "\" class=\"treemap\" viewBox=\"0 0 960 420\" "
                      "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">\n";
    for (size_t k = 0; k < items.size(); ++k) {
        const auto& it = items[k];
        const Rect& r = rects[k];
        const std::string name = html_escape(it.name);
        const std::string title = name + ": " + human_bytes(it.usage.unused_bytes) + " unused, " +
                                  human_bytes(it.usage.used_bytes) + " used";
        const double used_share = double(it.usage.used_bytes) / double(it.usage.total_bytes());
        Rect used = r, unused = r;
        if (r.w >= r.h) {
            used.w = r.w * used_share;
            unused.x = r.x + used.w;
            unused.w = r.w - used.w;
        } else {
            used.h = r.h * used_share;
            unused.y = r.y + used.h;
            unused.h = r.h - used.h;
        }
        svg += "<g class=\"item\" data-name=\"" + name + "\">\n";
        if (it.usage.unused_bytes > 0)
            svg += svg_rect(unused, "unused", title);
        if (it.usage.used_bytes > 0)
            svg += svg_rect(used, "used", title);
        svg += "<rect class=\"frame\" x=\"" + num(r.x) + "\" y=\"" + num(r.y) + "\" width=\"" +
               num(r.w) + "\" height=\"" + num(r.h) + "\"><title>" + title + "</title></rect>\n";
        if (r.w > 56 && r.h > 16) {
            // Text is cut to what fits at about 6.5 px a character.
            const size_t fit = size_t((r.w - 6) / 6.5);
            std::string label = it.name.size() > fit ? it.name.substr(0, fit) : it.name;
            svg += "<text x=\"" + num(r.x + 3) + "\" y=\"" + num(r.y + 13) + "\">" +
                   html_escape(label) + "</text>\n";
        }
        svg += "</g>\n";
    }
    return svg + "</svg>\n";
}

const char* const kStyle = R"(
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.used td { color: #888; }
.treemap { width: 100%; max-width: 960px; border: 1px solid #999; display: block; }
.treemap rect.used { fill: #4caf50; } .treemap rect.unused { fill: #e57373; }
.treemap rect.frame { fill: none; stroke: #fff; stroke-width: 1.5; pointer-events: all; }
.treemap g.item:hover rect.frame { stroke: #000; }
.treemap text { font-size: 11px; fill: #111; pointer-events: none; }
.key span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; }
.strong { color: #b71c1c; font-weight: bold; }
)";

const char* const kScript = R"(
document.getElementById('show-used').addEventListener('change', function (e) {
  document.querySelectorAll('#surface tr.used').forEach(function (row) {
    row.style.display = e.target.checked ? '' : 'none';
  });
});
)";

}  // namespace

std::string audit_to_html(const AuditResult& r, const std::string& image)
{
    std::vector<TreemapItem> dirs, pkgs;
    for (const auto& d : r.by_directory)
        dirs.push_back({d.name, d.usage});
    for (const auto& p : r.by_package)
        pkgs.push_back({p.name, p.usage});
    const Usage& t = r.totals;

    std::string h;
    h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
    // Nothing may be fetched: the page is an artifact people open offline.
    h += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
         "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n";
    h += "<title>trace-root audit: " + html_escape(image) + "</title>\n<style>" +
         std::string(kStyle) + "</style></head><body>\n";
    h += "<h1>trace-root audit of <code>" + html_escape(image) + "</code></h1>\n";
    h += "<table id=\"summary\"><tr><th></th><th>files</th><th>bytes</th></tr>\n";
    auto row = [&](const char* name, uint64_t files, uint64_t bytes, const std::string& extra) {
        h += "<tr><td>" + std::string(name) + "</td><td class=\"n\">" + std::to_string(files) +
             "</td><td class=\"n\">" + human_bytes(bytes) + "</td><td>" + extra + "</td></tr>\n";
    };
    row("total", t.used_files + t.unused_files, t.total_bytes(), "");
    row("used", t.used_files, t.used_bytes, "slim image weight");
    row("unused", t.unused_files, t.unused_bytes, percent(r.unused_share()) + " of the bytes");
    h += "</table>\n";
    h += "<p class=\"key\"><span style=\"background:#4caf50\"></span>used"
         "<span style=\"background:#e57373\"></span>unused (area: bytes)</p>\n";
    h += "<h2>Bytes by top-level directory</h2>\n" +
         treemap_svg(treemap_items(dirs, 60, "directories"), "treemap-directories");
    h += "<h2>Bytes by package</h2>\n";
    if (r.has_dpkg)
        h += treemap_svg(treemap_items(pkgs, 120, "packages"), "treemap-packages");
    else
        h += "<p>The image has no dpkg database.</p>\n";

    h += "<h2>Attack surface</h2>\n<p><label><input type=\"checkbox\" id=\"show-used\" "
         "checked> show the items the workload used</label></p>\n";
    h += "<table id=\"surface\"><tr><th>status</th><th>kind</th><th>path</th></tr>\n";
    for (const auto& s : r.surface) {
        const bool strong = s.kind == SurfaceKind::WorldWritableDirNoSticky ||
                            s.kind == SurfaceKind::Setuid;
        h += std::string("<tr class=\"") + (s.used ? "used" : "unused") + "\"><td>" +
             (s.used ? "used" : "<b>unused</b>") + "</td><td" +
             (strong ? " class=\"strong\"" : "") + ">" + surface_kind_name(s.kind) +
             "</td><td><code>" + html_escape(s.path) + "</code>";
        for (const auto& a : s.aliases)
            h += " (<code>" + html_escape(a) + "</code>)";
        h += "</td></tr>\n";
    }
    h += "</table>\n";
    for (const auto& w : r.warnings)
        h += "<p class=\"strong\">warning: " + html_escape(w) + "</p>\n";
    h += "<script>" + std::string(kScript) + "</script>\n</body></html>\n";
    return h;
}

}  // namespace trace_root
