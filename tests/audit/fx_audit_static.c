/* A static workload for the audit tests: needs nothing from an image but the
 * file it is given and the APP_MODE the image's Env sets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv)
{
    const char* mode = getenv("APP_MODE");
    if (argc < 2 || mode == NULL || strcmp(mode, "audit") != 0)
        return 3;
    FILE* f = fopen(argv[1], "r");
    if (f == NULL)
        return 4;
    char buf[64];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    printf("read %zu bytes\n", n);
    return 0;
}
