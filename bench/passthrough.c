/*
 * passthrough.c - the floor cost of any milter, for bench/mta.sh: a libmilter
 * milter that registers every callback and does no work in any of them.
 *
 *   passthrough inet:PORT@127.0.0.1
 */
#include <libmilter/mfapi.h>
#include <stdio.h>
#include <stdlib.h>

static sfsistat pt_connect(SMFICTX *c, char *host, _SOCK_ADDR *addr)
{
    (void)c, (void)host, (void)addr;
    return SMFIS_CONTINUE;
}
static sfsistat pt_helo(SMFICTX *c, char *h)
{
    (void)c, (void)h;
    return SMFIS_CONTINUE;
}
static sfsistat pt_env(SMFICTX *c, char **argv)
{
    (void)c, (void)argv;
    return SMFIS_CONTINUE;
}
static sfsistat pt_header(SMFICTX *c, char *n, char *v)
{
    (void)c, (void)n, (void)v;
    return SMFIS_CONTINUE;
}
static sfsistat pt_ctx(SMFICTX *c)
{
    (void)c;
    return SMFIS_CONTINUE;
}
static sfsistat pt_body(SMFICTX *c, unsigned char *b, size_t n)
{
    (void)c, (void)b, (void)n;
    return SMFIS_CONTINUE;
}
static sfsistat pt_unknown(SMFICTX *c, const char *cmd)
{
    (void)c, (void)cmd;
    return SMFIS_CONTINUE;
}
int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: passthrough inet:PORT@127.0.0.1\n");
        return 1;
    }
    struct smfiDesc d = {
        .xxfi_name = "passthrough",
        .xxfi_version = SMFI_VERSION,
        .xxfi_flags = 0,
        .xxfi_connect = pt_connect,
        .xxfi_helo = pt_helo,
        .xxfi_envfrom = pt_env,
        .xxfi_envrcpt = pt_env,
        .xxfi_header = pt_header,
        .xxfi_eoh = pt_ctx,
        .xxfi_body = pt_body,
        .xxfi_eom = pt_ctx,
        .xxfi_abort = pt_ctx,
        .xxfi_close = pt_ctx,
        .xxfi_unknown = pt_unknown,
        .xxfi_data = pt_ctx,
    };
    if (smfi_setconn(argv[1]) != MI_SUCCESS || smfi_register(d) != MI_SUCCESS ||
        smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "passthrough: cannot listen on %s\n", argv[1]);
        return 1;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
