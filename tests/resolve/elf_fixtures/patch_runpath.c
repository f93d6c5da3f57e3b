/* Build-time helper for the ELF closure fixtures: give a 64-bit little-endian
 * program both DT_RPATH and DT_RUNPATH, which GNU ld never writes together.
 * The program is linked with DT_RPATH "A:B"; this turns its DT_DEBUG entry into
 * a DT_RUNPATH that points at "B", the last element of that same string.
 * Usage: patch_runpath FILE */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char* msg)
{
    fprintf(stderr, "patch_runpath: %s\n", msg);
    exit(1);
}

int main(int argc, char** argv)
{
    if (argc != 2)
        die("usage: patch_runpath FILE");
    FILE* f = fopen(argv[1], "r+b");
    if (!f)
        die("cannot open file");
    static unsigned char buf[1 << 24];
    const size_t n = fread(buf, 1, sizeof buf, f);
    if (n < sizeof(Elf64_Ehdr) || memcmp(buf, ELFMAG, SELFMAG) != 0 || buf[EI_CLASS] != ELFCLASS64)
        die("not a 64-bit ELF file");
    const Elf64_Ehdr* eh = (const Elf64_Ehdr*)buf;
    const Elf64_Phdr* dyn_ph = NULL;
    for (int i = 0; i < eh->e_phnum; ++i) {
        const Elf64_Phdr* ph = (const Elf64_Phdr*)(buf + eh->e_phoff + (size_t)i * eh->e_phentsize);
        if (ph->p_type == PT_DYNAMIC)
            dyn_ph = ph;
    }
    if (!dyn_ph || dyn_ph->p_offset + dyn_ph->p_filesz > n)
        die("no PT_DYNAMIC");
    Elf64_Dyn* dyn = (Elf64_Dyn*)(buf + dyn_ph->p_offset);
    const size_t count = dyn_ph->p_filesz / sizeof(Elf64_Dyn);
    Elf64_Dyn *rpath = NULL, *debug = NULL;
    Elf64_Addr strtab = 0;
    for (size_t i = 0; i < count && dyn[i].d_tag != DT_NULL; ++i) {
        if (dyn[i].d_tag == DT_RPATH)
            rpath = &dyn[i];
        else if (dyn[i].d_tag == DT_DEBUG)
            debug = &dyn[i];
        else if (dyn[i].d_tag == DT_STRTAB)
            strtab = dyn[i].d_un.d_ptr;
    }
    if (!rpath || !debug || !strtab)
        die("needs DT_RPATH, DT_DEBUG and DT_STRTAB");
    /* DT_STRTAB is a virtual address: find its file offset. */
    size_t str_off = 0;
    for (int i = 0; i < eh->e_phnum; ++i) {
        const Elf64_Phdr* ph = (const Elf64_Phdr*)(buf + eh->e_phoff + (size_t)i * eh->e_phentsize);
        if (ph->p_type == PT_LOAD && strtab >= ph->p_vaddr && strtab < ph->p_vaddr + ph->p_filesz)
            str_off = ph->p_offset + (strtab - ph->p_vaddr);
    }
    if (!str_off)
        die("DT_STRTAB not in a PT_LOAD segment");
    const char* s = (const char*)buf + str_off + rpath->d_un.d_val;
    const char* last = strrchr(s, ':');
    if (!last)
        die("DT_RPATH has no ':'");
    debug->d_tag = DT_RUNPATH;
    debug->d_un.d_val = rpath->d_un.d_val + (Elf64_Xword)(last + 1 - s);
    if (fseek(f, 0, SEEK_SET) != 0 || fwrite(buf, 1, n, f) != n || fclose(f) != 0)
        die("cannot write file");
    return 0;
}
