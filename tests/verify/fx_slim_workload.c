// A workload that needs what slim images most often lose: a dlopen'd
// library, a locale, tzdata, NSS (getpwnam), an iconv (gconv) module and a
// shell. It prints one line per feature; export + verify must reproduce the
// output exactly in the slim root.
#include <dlfcn.h>
#include <iconv.h>
#include <langinfo.h>
#include <locale.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(void)
{
    void* libm = dlopen("libm.so.6", RTLD_NOW);
    double (*cosine)(double) = libm ? (double (*)(double))dlsym(libm, "cos") : NULL;
    printf("dlopen: %s\n", cosine ? (cosine(0.0) == 1.0 ? "ok" : "wrong") : dlerror());

    printf("locale: %s\n", setlocale(LC_ALL, "C.UTF-8") ? nl_langinfo(CODESET) : "missing");

    setenv("TZ", "Europe/Paris", 1);
    tzset();
    time_t t = 1700000000;  // November 2023: CET
    char zone[16];
    strftime(zone, sizeof zone, "%Z", localtime(&t));
    printf("tzdata: %s\n", zone);

    struct passwd* pw = getpwnam("root");
    printf("nss: %s\n", pw ? pw->pw_dir : "missing");

    iconv_t cd = iconv_open("ISO-8859-15", "UTF-8");
    if (cd == (iconv_t)-1) {
        printf("iconv: missing\n");
    } else {
        char in[] = "\xe2\x82\xac";  // the euro sign, 0xa4 in ISO-8859-15
        char out[8] = {0};
        char *ip = in, *op = out;
        size_t il = strlen(in), ol = sizeof out;
        iconv(cd, &ip, &il, &op, &ol);
        printf("iconv: %02x\n", (unsigned char)out[0]);
        iconv_close(cd);
    }

    fflush(stdout);
    return system("echo shell: ok") == 0 ? 0 : 1;
}
