/* no_symbol.c - a shared object without the descriptor: must be refused. */
__attribute__((visibility("default"))) int not_a_plugin(void);
int not_a_plugin(void)
{
    return 42;
}
