// Test helpers for the image stage: temp dirs, tar building with libarchive,
// tree comparison and shell-outs.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace image_test {

namespace fs = std::filesystem;

// A temporary directory owned by one test; removed at the end.
class TempDir {
public:
    TempDir()
    {
        std::string tmpl = (fs::temp_directory_path() / "trace-root-image-XXXXXX").string();
        if (mkdtemp(tmpl.data()) == nullptr)
            throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir()
    {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

inline void write_file(const std::string& path, const std::string& data, mode_t mode = 0644)
{
    std::ofstream(path, std::ios::binary) << data;
    chmod(path.c_str(), mode);
}

inline std::string read_all(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline int run(const std::string& cmd) { return WEXITSTATUS(std::system(cmd.c_str())); }

// Runs a command, returns its stdout+stderr.
inline std::string capture(const std::string& cmd, int* status = nullptr)
{
    std::string out;
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        out.append(buf, n);
    const int st = pclose(p);
    if (status)
        *status = WEXITSTATUS(st);
    return out;
}

inline std::string sha256_hex(const std::string& data)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    std::string out;
    char hex[3];
    for (unsigned i = 0; i < len; ++i) {
        std::snprintf(hex, sizeof hex, "%02x", md[i]);
        out += hex;
    }
    return out;
}

// One member of a tar built by a test.
struct TarMember {
    std::string name;
    char type = 'f';  // f file, d dir, l symlink, h hardlink
    std::string data; // file content, or link target
    mode_t mode = 0644;
};

inline la_ssize_t append_cb(archive*, void* client, const void* buf, size_t n)
{
    static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
}

enum class TarCompression { None, Gzip, Zstd, Xz };

inline std::string make_tar(const std::vector<TarMember>& members,
                            TarCompression c = TarCompression::None)
{
    std::string out;
    archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (c == TarCompression::Gzip)
        archive_write_add_filter_gzip(a);
    else if (c == TarCompression::Zstd)
        archive_write_add_filter_zstd(a);
    else if (c == TarCompression::Xz)
        archive_write_add_filter_xz(a);
    archive_write_set_bytes_in_last_block(a, 1);
    archive_write_open(a, &out, nullptr, append_cb, nullptr);
    for (const auto& m : members) {
        archive_entry* e = archive_entry_new();
        archive_entry_copy_pathname(e, m.name.c_str());
        archive_entry_set_perm(e, m.mode);
        archive_entry_set_mtime(e, 1000, 0);
        switch (m.type) {
        case 'd':
            archive_entry_set_filetype(e, AE_IFDIR);
            break;
        case 'l':
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_copy_symlink(e, m.data.c_str());
            break;
        case 'h':
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_copy_hardlink(e, m.data.c_str());
            break;
        default:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, static_cast<la_int64_t>(m.data.size()));
        }
        archive_write_header(a, e);
        if (m.type == 'f' && !m.data.empty())
            archive_write_data(a, m.data.data(), m.data.size());
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    return out;
}

// A description of a tree: per path, type/mode/owner/size/content or target,
// xattrs, and which paths share an inode.
inline std::map<std::string, std::string> describe_tree(const std::string& root)
{
    std::map<std::string, std::string> out;
    std::map<std::pair<dev_t, ino_t>, std::string> first;
    std::vector<std::string> paths;
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
         ++it)
        paths.push_back(it->path().lexically_relative(root).string());
    std::sort(paths.begin(), paths.end());
    for (const auto& rel : paths) {
        const std::string p = root + "/" + rel;
        struct stat st {};
        lstat(p.c_str(), &st);
        std::ostringstream d;
        d << std::oct << st.st_mode << std::dec << " " << st.st_uid << ":" << st.st_gid;
        if (S_ISREG(st.st_mode)) {
            auto [it, fresh] = first.try_emplace({st.st_dev, st.st_ino}, rel);
            d << " size=" << st.st_size << " sha=" << sha256_hex(read_all(p));
            if (!fresh)
                d << " hardlink-of=" << it->second;
        } else if (S_ISLNK(st.st_mode)) {
            d << " -> " << fs::read_symlink(p).string();
        }
        char names[4096];
        const ssize_t n = llistxattr(p.c_str(), names, sizeof names);
        std::vector<std::string> xs;
        for (ssize_t i = 0; i < n;) {
            std::string name(names + i);
            i += static_cast<ssize_t>(name.size()) + 1;
            char val[4096];
            const ssize_t vn = lgetxattr(p.c_str(), name.c_str(), val, sizeof val);
            xs.push_back(name + "=" + sha256_hex(std::string(val, vn > 0 ? size_t(vn) : 0)));
        }
        std::sort(xs.begin(), xs.end());
        for (const auto& x : xs)
            d << " xattr:" << x;
        out[rel] = d.str();
    }
    return out;
}

inline bool dir_is_empty(const std::string& path)
{
    return fs::is_directory(path) && fs::is_empty(path);
}

}  // namespace image_test

namespace image_test {

// The entries that differ between two described trees, one per line.
inline std::string tree_diff(const std::map<std::string, std::string>& want,
                             const std::map<std::string, std::string>& got)
{
    std::string out;
    for (const auto& [k, v] : want) {
        const auto it = got.find(k);
        if (it == got.end())
            out += "missing " + k + " (" + v + ")\n";
        else if (it->second != v)
            out += "differs " + k + ": want " + v + ", got " + it->second + "\n";
    }
    for (const auto& [k, v] : got)
        if (!want.count(k))
            out += "extra " + k + " (" + v + ")\n";
    return out;
}

}  // namespace image_test
