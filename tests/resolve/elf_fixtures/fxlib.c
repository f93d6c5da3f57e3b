/* A shared library fixture for the ELF closure tests. FX_VALUE tells the
 * copies of one soname apart; nothing calls it, the tests only read the ELF. */
#ifndef FX_VALUE
#define FX_VALUE 0
#endif
int fx_value(void)
{
    return FX_VALUE;
}
