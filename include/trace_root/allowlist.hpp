// The allow-list: the reviewable text form of a file set.
//
// One absolute path per line, byte-sorted when trace-root writes it:
//   # comment                  a whole-line comment
//   /usr/bin/python3.11        a path (escape.hpp escaping for any byte)
//   /usr/share/zoneinfo/**     `*` matches within one component, `**` any depth
//   !/usr/share/zoneinfo/right/**   exclude; later lines win over earlier ones
//   include base.list          another list, relative to the including file
//   /etc/passwd  # read by ...  a comment after a path (after a space or tab)
// Besides the escapes of escape.hpp, a path line may hold \x23 for a literal
// '#', \x2a for a literal '*' and \x20 for a space it ends with; trace-root
// writes those three so that any path round-trips through a list.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "trace_root/error.hpp"
#include "trace_root/resolve.hpp"

namespace trace_root {

enum class ListStyle { Plain, Annotated };

std::string format_allowlist(const FileSet& set, ListStyle style);
Result<void> write_allowlist(const FileSet& set, ListStyle style, const std::string& file);

// A path escaped for one allow-list line (escape_path plus # * and a trailing space).
std::string escape_list_path(std::string_view raw);

// A glob pattern: literal byte runs and wildcards, split at '/'.
struct Pattern {
    std::string text;  // as written (escaped), for messages
    // Per component: the literal pieces between '*'s. A component that is
    // exactly `**` has the single piece "**" and `any_depth` set.
    struct Component {
        std::vector<std::string> pieces;  // pieces.size() - 1 == number of '*'
        bool any_depth = false;
        bool wildcard() const { return pieces.size() > 1 || any_depth; }
    };
    std::vector<Component> parts;
    bool has_wildcard() const;
    std::string literal_path() const;      // raw bytes; only when !has_wildcard()
};

// Parses an escaped pattern (must be absolute, no empty, "." or ".." components).
Result<Pattern> parse_pattern(std::string_view escaped);
// True when the raw path matches the pattern.
bool pattern_matches(const Pattern& pattern, std::string_view path);
// True when one path component (raw bytes) matches one pattern component.
bool pattern_component_matches(const Pattern::Component& component, std::string_view name);
// expand_glob() for a parsed pattern.
Result<std::vector<std::string>> expand_pattern(const RootDir& root, const Pattern& pattern);

struct ListRule {
    enum class Kind { Add, Exclude, Include };
    Kind kind = Kind::Add;
    Pattern pattern;         // Add, Exclude
    std::string include;     // Include: the file named (raw bytes, as written)
    std::string origin;      // "FILE:LINE"
};

// Parses list text; `origin` names the file in messages. Includes are not
// followed here (see expand_allowlist_file).
Result<std::vector<ListRule>> parse_allowlist(std::string_view text, const std::string& origin);

// Reads an allow-list (with includes, globs, excludes) and expands it against `root`
// into the sorted unique absolute paths it names (raw bytes). Literal paths
// are taken as written, existing or not; globs name what exists under root.
Result<std::vector<std::string>> expand_allowlist_file(const std::string& file,
                                                        const std::string& root);
// The same for rules already parsed (includes relative to `base_dir`).
Result<std::vector<std::string>> expand_allowlist_rules(const std::vector<ListRule>& rules,
                                                         const std::string& base_dir,
                                                         const std::string& root);

// Paths in `new_paths` and not in `old_paths` (added), and the other way
// round (removed). Both inputs sorted by bytes.
struct PathDiff {
    std::vector<std::string> added, removed;
    bool empty() const { return added.empty() && removed.empty(); }
};
PathDiff diff_paths(const std::vector<std::string>& old_paths,
                    const std::vector<std::string>& new_paths);
// "- PATH" and "+ PATH" lines, merged in path order, paths escaped as in a list.
std::string format_diff(const PathDiff& diff);

}  // namespace trace_root
