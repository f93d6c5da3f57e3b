/* A program fixture for the ELF closure tests: its DT_NEEDED, DT_RPATH and
 * DT_RUNPATH come from the link line (tests/resolve/elf_fixtures/CMakeLists.txt). */
int main(void)
{
    return 0;
}
