// Include packs: named sets of files a test run rarely touches in full but
// production needs (any CA, any time zone, any locale, NSS and gconv modules
// that glibc dlopen()s by name). Patterns cover Debian/Ubuntu, Alpine and
// Fedora/RHEL layouts; a pattern that matches nothing on this root is simply
// not there, but a pack that matches nothing at all is reported.
#include <sstream>

#include "trace_root/resolve.hpp"

namespace trace_root {

const std::vector<IncludePack>& include_packs()
{
    static const std::vector<IncludePack> packs = {
        {"ca-certificates",
         "the CA certificate store (OpenSSL and GnuTLS bundles and hashed links)",
         {"/etc/ssl/certs/**", "/etc/ssl/cert.pem", "/etc/ssl/openssl.cnf",
          "/usr/share/ca-certificates/**", "/etc/ca-certificates.conf",
          "/etc/pki/tls/**", "/etc/pki/ca-trust/**", "/usr/lib/ssl/**"}},
        {"tzdata",
         "all time zones",
         {"/usr/share/zoneinfo/**", "/etc/localtime", "/etc/timezone"}},
        {"locales",
         "compiled locales and locale aliases",
         {"/usr/lib/locale/**", "/usr/share/locale/locale.alias", "/etc/locale.gen",
          "/etc/default/locale", "/etc/locale.conf"}},
        {"nss",
         "name service switch: configuration, user and host databases, libnss_* modules",
         {"/etc/nsswitch.conf", "/etc/host.conf", "/etc/hosts", "/etc/passwd", "/etc/group",
          "/etc/shadow", "/etc/gshadow", "/etc/services", "/etc/protocols", "/etc/networks",
          "/etc/gai.conf", "/usr/lib/*/libnss_*.so*", "/usr/lib/libnss_*.so*",
          "/usr/lib64/libnss_*.so*", "/lib/libnss_*.so*", "/lib64/libnss_*.so*"}},
        {"gconv",
         "iconv character set converters (gconv modules and their cache)",
         {"/usr/lib/*/gconv/**", "/usr/lib/gconv/**", "/usr/lib64/gconv/**"}},
    };
    return packs;
}

const IncludePack* find_include_pack(const std::string& name)
{
    for (const auto& p : include_packs())
        if (p.name == name)
            return &p;
    return nullptr;
}

std::string include_packs_help()
{
    std::ostringstream out;
    out << "Include packs (--include-pack NAME; each file also brings its ELF closure):\n";
    for (const auto& p : include_packs()) {
        out << "  " << p.name << ": " << p.description << "\n";
        std::string line = "     ";
        for (const auto& pat : p.patterns) {
            if (line.size() + 1 + pat.size() > 90) {
                out << line << "\n";
                line = "     ";
            }
            line += " " + pat;
        }
        out << line << "\n";
    }
    return out.str();
}

}  // namespace trace_root
