// The allow-list: parsing, glob matching, expansion against a root, writing.
//
// Rules are applied in the order they are read, includes inlined where they
// stand: a path line adds what it names, a `!` line removes from what has been
// added so far whatever it matches. So "later lines win": `!/a/**` followed by
// `/a/keep` keeps /a/keep. Every error names FILE:LINE.
//
// A literal path names itself whether or not it exists (export reports what is
// missing); a glob names what exists under root when it is expanded.
#include "trace_root/allowlist.hpp"

#include <algorithm>
#include <climits>
#include <iterator>
#include <cstdlib>
#include <set>

#include "trace_root/escape.hpp"
#include "trace_root/fs_util.hpp"

namespace trace_root {

namespace {

constexpr size_t kMaxListBytes = size_t(256) << 20;
constexpr int kMaxIncludeDepth = 64;

std::string_view trim_left(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    return s;
}

std::string_view trim_right(std::string_view s)
{
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

// Cuts a trailing comment: an unescaped '#' after a space or a tab.
std::string_view cut_comment(std::string_view s)
{
    for (size_t k = 1; k < s.size(); ++k)
        if (s[k] == '#' && (s[k - 1] == ' ' || s[k - 1] == '\t'))
            return s.substr(0, k);
    return s;
}

std::vector<std::string_view> split_path(std::string_view path)
{
    std::vector<std::string_view> out;
    size_t i = 1;  // skip the leading '/'
    while (i <= path.size()) {
        const size_t j = path.find('/', i);
        const size_t end = j == std::string_view::npos ? path.size() : j;
        out.push_back(path.substr(i, end - i));
        if (j == std::string_view::npos)
            break;
        i = j + 1;
    }
    return out;
}

std::string dir_of(const std::string& file)
{
    const size_t slash = file.rfind('/');
    if (slash == std::string::npos)
        return ".";
    if (slash == 0)
        return "/";
    return file.substr(0, slash);
}

}  // namespace

std::string escape_list_path(std::string_view raw)
{
    const std::string e = escape_path(raw);
    std::string out;
    out.reserve(e.size());
    for (char c : e) {
        if (c == '#')
            out += "\\x23";
        else if (c == '*')
            out += "\\x2a";
        else
            out += c;
    }
    if (!out.empty() && out.back() == ' ') {
        out.pop_back();
        out += "\\x20";
    }
    return out;
}

bool Pattern::has_wildcard() const
{
    for (const auto& p : parts)
        if (p.wildcard())
            return true;
    return false;
}

std::string Pattern::literal_path() const
{
    std::string out;
    for (const auto& p : parts) {
        out += '/';
        if (!p.pieces.empty())
            out += p.pieces[0];
    }
    return out.empty() ? "/" : out;
}

Result<Pattern> parse_pattern(std::string_view escaped)
{
    Pattern pat;
    pat.text = std::string(escaped);
    if (escaped.empty() || escaped[0] != '/')
        return fail("not an absolute path: \"" + pat.text + "\"",
                    "every line names an absolute path inside the image root, like /etc/passwd");
    if (escaped.size() == 1)
        return fail("the root directory \"/\" itself cannot be listed",
                    "name what is below it, e.g. /etc/** ");
    for (std::string_view comp : split_path(escaped)) {
        if (comp.empty())
            return fail("empty path component (// or a trailing /) in \"" + pat.text + "\"",
                        "write /a/b for a directory and /a/b/** for everything below it");
        Pattern::Component c;
        if (comp == "**") {
            c.pieces = {"**"};
            c.any_depth = true;
            pat.parts.push_back(std::move(c));
            continue;
        }
        size_t i = 0;
        for (;;) {
            const size_t star = comp.find('*', i);
            const std::string_view piece =
                comp.substr(i, star == std::string_view::npos ? std::string_view::npos : star - i);
            auto raw = unescape_path(piece);
            if (!raw)
                return fail(raw.error().message + " in \"" + pat.text + "\"", raw.error().hint);
            if (raw->find('/') != std::string::npos)
                return fail("an escaped '/' (\\x2f) cannot be part of a name in \"" + pat.text +
                            "\"");
            c.pieces.push_back(std::move(*raw));
            if (star == std::string_view::npos)
                break;
            i = star + 1;
            while (i < comp.size() && comp[i] == '*')  // "a**b" is "a*b"
                ++i;
        }
        if (!c.wildcard() && (c.pieces[0] == "." || c.pieces[0] == ".."))
            return fail("\".\" and \"..\" are not allowed in \"" + pat.text + "\"",
                        "write the canonical path; `trace-root explain` shows it");
        pat.parts.push_back(std::move(c));
    }
    return pat;
}

bool pattern_component_matches(const Pattern::Component& c, std::string_view name)
{
    if (c.any_depth)
        return true;
    const auto& p = c.pieces;
    if (p.size() == 1)
        return name == p[0];
    if (name.size() < p.front().size() + p.back().size())
        return false;
    if (name.substr(0, p.front().size()) != p.front())
        return false;
    if (name.substr(name.size() - p.back().size()) != p.back())
        return false;
    // Greedy leftmost placement of the middle pieces is optimal for '*'.
    size_t pos = p.front().size();
    const std::string_view middle = name.substr(0, name.size() - p.back().size());
    for (size_t i = 1; i + 1 < p.size(); ++i) {
        const size_t at = middle.find(p[i], pos);
        if (at == std::string_view::npos)
            return false;
        pos = at + p[i].size();
    }
    return true;
}

bool pattern_matches(const Pattern& pattern, std::string_view path)
{
    if (path.empty() || path[0] != '/' || path.size() == 1)
        return false;
    const auto comps = split_path(path);
    const auto& parts = pattern.parts;
    const size_t n = parts.size(), m = comps.size();
    // ok[i][j]: parts[i..] match comps[j..]. A `**` part matches zero or more
    // components, except as the last part, where it matches one or more
    // (`/a/**` is what is below /a, not /a itself).
    std::vector<std::vector<char>> ok(n + 1, std::vector<char>(m + 1, 0));
    ok[n][m] = 1;
    for (size_t i = n; i-- > 0;) {
        for (size_t j = m + 1; j-- > 0;) {
            const auto& part = parts[i];
            if (part.any_depth) {
                const bool last = i + 1 == n;
                bool v = !last && ok[i + 1][j];          // zero components
                if (j < m && (ok[i + 1][j + 1] || ok[i][j + 1]))  // one, or more
                    v = true;
                ok[i][j] = v;
            } else {
                ok[i][j] = j < m && pattern_component_matches(part, comps[j]) && ok[i + 1][j + 1];
            }
        }
    }
    return ok[0][0];
}

Result<std::vector<ListRule>> parse_allowlist(std::string_view text, const std::string& origin)
{
    std::vector<ListRule> rules;
    size_t lineno = 0;
    size_t start = 0;
    while (start < text.size()) {
        size_t nl = text.find('\n', start);
        if (nl == std::string_view::npos)
            nl = text.size();
        std::string_view line = text.substr(start, nl - start);
        start = nl + 1;
        ++lineno;
        const std::string where = origin + ":" + std::to_string(lineno);
        if (line.find('\0') != std::string_view::npos)
            return fail(where + ": a NUL byte in the line", "an allow-list is text; write bytes "
                                                            "as \\xHH escapes");
        line = trim_right(cut_comment(trim_left(line)));
        if (line.empty() || line[0] == '#')
            continue;
        ListRule rule;
        rule.origin = where;
        if (line.substr(0, 7) == "include" && line.size() > 7 &&
            (line[7] == ' ' || line[7] == '\t')) {
            auto name = unescape_path(trim_left(line.substr(8)));
            if (!name)
                return fail(where + ": " + name.error().message, name.error().hint);
            if (name->empty())
                return fail(where + ": include needs a file name");
            rule.kind = ListRule::Kind::Include;
            rule.include = std::move(*name);
            rules.push_back(std::move(rule));
            continue;
        }
        if (line[0] == '!') {
            rule.kind = ListRule::Kind::Exclude;
            line.remove_prefix(1);
        }
        auto pat = parse_pattern(line);
        if (!pat)
            return fail(where + ": " + pat.error().message, pat.error().hint);
        rule.pattern = std::move(*pat);
        rules.push_back(std::move(rule));
    }
    return rules;
}

namespace {

struct Expander {
    const RootDir& root;
    std::set<std::string> paths;
    std::vector<std::string> stack;  // real paths of the lists being read, for loops

    Result<void> run(const std::vector<ListRule>& rules, const std::string& base_dir, int depth)
    {
        for (const auto& rule : rules) {
            switch (rule.kind) {
            case ListRule::Kind::Add:
                if (!rule.pattern.has_wildcard()) {
                    paths.insert(rule.pattern.literal_path());
                } else {
                    auto found = expand_pattern(root, rule.pattern);
                    if (!found)
                        return fail(rule.origin + ": " + found.error().message,
                                    found.error().hint);
                    paths.insert(found->begin(), found->end());
                }
                break;
            case ListRule::Kind::Exclude:
                for (auto it = paths.begin(); it != paths.end();)
                    it = pattern_matches(rule.pattern, *it) ? paths.erase(it) : std::next(it);
                break;
            case ListRule::Kind::Include: {
                const std::string file = !rule.include.empty() && rule.include[0] == '/'
                                             ? rule.include
                                             : base_dir + "/" + rule.include;
                if (auto r = include(file, rule.origin, depth); !r)
                    return r;
                break;
            }
            }
        }
        return {};
    }

    Result<void> include(const std::string& file, const std::string& from, int depth)
    {
        if (depth >= kMaxIncludeDepth)
            return fail(from + ": includes nested deeper than " +
                        std::to_string(kMaxIncludeDepth) + " at " + escape_path(file));
        char real[PATH_MAX];
        if (!realpath(file.c_str(), real))
            return fail((from.empty() ? "" : from + ": ") +
                        errno_message("cannot read allow-list", escape_path(file), errno));
        const std::string key = real;
        for (const auto& s : stack)
            if (s == key) {
                std::string chain;
                for (const auto& f : stack)
                    chain += escape_path(f) + " -> ";
                return fail(from + ": include loop: " + chain + escape_path(key),
                            "remove one of the include lines");
            }
        auto text = read_file(file, kMaxListBytes);
        if (!text)
            return fail((from.empty() ? "" : from + ": ") + text.error().message);
        auto rules = parse_allowlist(*text, escape_path(file));
        if (!rules)
            return tl::unexpected(rules.error());
        stack.push_back(key);
        auto r = run(*rules, dir_of(file), depth + 1);
        stack.pop_back();
        return r;
    }
};

}  // namespace

Result<std::vector<std::string>> expand_allowlist_rules(const std::vector<ListRule>& rules,
                                                         const std::string& base_dir,
                                                         const std::string& root)
{
    auto rd = RootDir::open(root);
    if (!rd)
        return tl::unexpected(rd.error());
    Expander ex{*rd, {}, {}};
    if (auto r = ex.run(rules, base_dir, 0); !r)
        return tl::unexpected(r.error());
    return std::vector<std::string>(ex.paths.begin(), ex.paths.end());
}

Result<std::vector<std::string>> expand_allowlist_file(const std::string& file,
                                                        const std::string& root)
{
    auto rd = RootDir::open(root);
    if (!rd)
        return tl::unexpected(rd.error());
    Expander ex{*rd, {}, {}};
    if (auto r = ex.include(file, "", 0); !r)
        return tl::unexpected(r.error());
    return std::vector<std::string>(ex.paths.begin(), ex.paths.end());
}

// ---- writing -----------------------------------------------------------------

namespace {

// A directory on the way to a thousand files would have a thousand reasons:
// the list shows the first few, `trace-root explain` shows what is stored.
constexpr size_t kListedReasons = 3;

std::string annotation(const FileEntry& e)
{
    std::string out = file_type_name(e.type) + ", " + origin_name(e.origin);
    if (e.type == FileType::Symlink)
        out += " -> " + escape_path(e.symlink_target);
    for (size_t i = 0; i < e.reasons.size() && i < kListedReasons; ++i)
        out += "; " + escape_path(e.reasons[i]);
    if (e.reasons.size() > kListedReasons)
        out += "; and more (trace-root explain shows them)";
    return out;
}

}  // namespace

std::string format_allowlist(const FileSet& set, ListStyle style)
{
    std::string out =
        "# trace-root allow-list, format 1: one absolute path per line, escaped as described\n"
        "# in `trace-root list --help`.\n";
    if (style == ListStyle::Plain) {
        for (const auto& e : set.entries)
            if (e.exported)
                out += escape_list_path(e.path) + "\n";
        return out;
    }
    for (const auto& p : set.problems)
        out += "# problem: " + escape_path(p) + "\n";
    for (const auto& e : set.entries)
        if (e.exported)
            out += escape_list_path(e.path) + "  # " + annotation(e) + "\n";
    bool first = true;
    for (const auto& e : set.entries) {
        if (e.exported)
            continue;
        if (first)
            out += "#\n# Seen but not exported:\n";
        first = false;
        out += "#   " + escape_list_path(e.path) + "  (" + annotation(e) + ")\n";
    }
    return out;
}

Result<void> write_allowlist(const FileSet& set, ListStyle style, const std::string& file)
{
    return write_file_atomic(file, format_allowlist(set, style));
}

PathDiff diff_paths(const std::vector<std::string>& old_paths,
                    const std::vector<std::string>& new_paths)
{
    PathDiff d;
    std::set_difference(new_paths.begin(), new_paths.end(), old_paths.begin(), old_paths.end(),
                        std::back_inserter(d.added));
    std::set_difference(old_paths.begin(), old_paths.end(), new_paths.begin(), new_paths.end(),
                        std::back_inserter(d.removed));
    return d;
}

std::string format_diff(const PathDiff& diff)
{
    std::string out;
    size_t i = 0, j = 0;
    while (i < diff.removed.size() || j < diff.added.size()) {
        if (j == diff.added.size() ||
            (i < diff.removed.size() && diff.removed[i] < diff.added[j]))
            out += "- " + escape_list_path(diff.removed[i++]) + "\n";
        else
            out += "+ " + escape_list_path(diff.added[j++]) + "\n";
    }
    return out;
}

}  // namespace trace_root
