/*
 * passthrough.c - the floor cost of any milter, for bench/mta.sh: a libmilter
 * milter that does no work in any callback.
 *
 *   passthrough SOCKET        every callback, a reply to every event
 *   passthrough -s SOCKET     contactgate's protocol shape, no work: the
 *                             events contactgate negotiates away are
 *                             negotiated away here too, the same macros
 *                             are asked for, and on a unix socket connect,
 *                             MAIL and headers get no reply (what
 *                             milter/cg_milter.c agrees with the MTA). The
 *                             body is kept, as contactgate keeps it when a
 *                             plugin reads it (dedupe, in the bench's set).
 *                             What contactgate costs beyond this is its own
 *                             work, on any machine.
 *   passthrough -s -d FILE SOCKET
 *                             the same, and the recipients listed in FILE
 *                             (one address a line, as contactgate's
 *                             decision log has them) get 451 4.7.1 at RCPT:
 *                             the messages contactgate deferred in the same
 *                             run send the bare milter no data either.
 *
 * SOCKET: unix:PATH or inet:PORT@127.0.0.1
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <ctype.h>
#include <libmilter/mfapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int shaped;          /* -s */
static int local_socket;    /* unix: or local: */
static unsigned long no_reply; /* the NR bits agreed (one MTA per run) */
static char **deferred;     /* -d: sorted, lower case */
static size_t n_deferred;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* load_deferred - the -d file's addresses, sorted; -1 if unreadable */
static int load_deferred(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    char line[512];
    size_t cap = 0;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0])
            continue;
        for (char *p = line; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (n_deferred == cap) {
            cap = cap ? 2 * cap : 1024;
            char **n = realloc(deferred, cap * sizeof *n);
            if (!n)
                break;
            deferred = n;
        }
        if (!(deferred[n_deferred] = strdup(line)))
            break;
        n_deferred++;
    }
    fclose(fp);
    qsort(deferred, n_deferred, sizeof *deferred, cmp_str);
    return 0;
}

/* is_deferred - is the RCPT argument (<addr>) listed */
static int is_deferred(const char *arg)
{
    char a[512];
    size_t n = 0;
    for (const char *p = arg; *p && n + 1 < sizeof a; p++)
        if (*p != '<' && *p != '>')
            a[n++] = (char)tolower((unsigned char)*p);
    a[n] = 0;
    const char *key = a;
    return n_deferred && bsearch(&key, deferred, n_deferred, sizeof *deferred, cmp_str);
}

static sfsistat go_on(unsigned long bit)
{
    return (no_reply & bit) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}
static sfsistat pt_negotiate(SMFICTX *c, unsigned long f0, unsigned long f1, unsigned long f2,
                             unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                             unsigned long *pf2, unsigned long *pf3)
{
    (void)f2, (void)f3;
    unsigned long drop = SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NOEOH;
    if (local_socket)
        drop |= SMFIP_NODATA | SMFIP_NR_CONN | SMFIP_NR_MAIL | SMFIP_NR_HDR;
    *pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST);
    *pf1 = f1 & drop;
    *pf2 = *pf3 = 0;
    no_reply = *pf1 & (SMFIP_NR_CONN | SMFIP_NR_MAIL | SMFIP_NR_HDR);
    if (f0 & SMFIF_SETSYMLIST) {
        smfi_setsymlist(c, SMFIM_CONNECT, "{daemon_name} {client_addr} {client_name}");
        smfi_setsymlist(c, SMFIM_ENVFROM, "i {auth_authen} {mail_addr}");
        smfi_setsymlist(c, SMFIM_ENVRCPT, "i {rcpt_addr}");
        smfi_setsymlist(c, SMFIM_EOM, "i");
    }
    return SMFIS_CONTINUE;
}
static sfsistat pt_connect(SMFICTX *c, char *host, _SOCK_ADDR *addr)
{
    (void)c, (void)host, (void)addr;
    return go_on(SMFIP_NR_CONN);
}
static sfsistat pt_helo(SMFICTX *c, char *h)
{
    (void)c, (void)h;
    return SMFIS_CONTINUE;
}
static sfsistat pt_from(SMFICTX *c, char **argv)
{
    (void)c, (void)argv;
    return go_on(SMFIP_NR_MAIL);
}
static sfsistat pt_rcpt(SMFICTX *c, char **argv)
{
    if (argv[0] && is_deferred(argv[0])) {
        smfi_setreply(c, "451", "4.7.1", "bench: deferred as contactgate deferred it");
        return SMFIS_TEMPFAIL;
    }
    return SMFIS_CONTINUE;
}
static sfsistat pt_header(SMFICTX *c, char *n, char *v)
{
    (void)c, (void)n, (void)v;
    return go_on(SMFIP_NR_HDR);
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
    if (argc >= 3 && strcmp(argv[1], "-s") == 0) {
        shaped = 1;
        argv++, argc--;
        if (argc >= 4 && strcmp(argv[1], "-d") == 0) {
            if (load_deferred(argv[2]) < 0) {
                fprintf(stderr, "passthrough: cannot read %s\n", argv[2]);
                return 1;
            }
            argv += 2, argc -= 2;
        }
    }
    if (argc != 2) {
        fprintf(stderr, "usage: passthrough [-s [-d FILE]] unix:PATH|inet:PORT@127.0.0.1\n");
        return 1;
    }
    local_socket = !strncmp(argv[1], "unix:", 5) || !strncmp(argv[1], "local:", 6);
    struct smfiDesc d = {
        .xxfi_name = "passthrough",
        .xxfi_version = SMFI_VERSION,
        .xxfi_flags = shaped ? SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE : 0,
        .xxfi_connect = pt_connect,
        .xxfi_helo = pt_helo,
        .xxfi_envfrom = pt_from,
        .xxfi_envrcpt = pt_rcpt,
        .xxfi_header = pt_header,
        .xxfi_eoh = pt_ctx,
        .xxfi_body = pt_body,
        .xxfi_eom = pt_ctx,
        .xxfi_abort = pt_ctx,
        .xxfi_close = pt_ctx,
        .xxfi_unknown = pt_unknown,
        .xxfi_data = pt_ctx,
        .xxfi_negotiate = shaped ? pt_negotiate : NULL,
    };
    if (smfi_setconn(argv[1]) != MI_SUCCESS || smfi_register(d) != MI_SUCCESS ||
        smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "passthrough: cannot listen on %s\n", argv[1]);
        return 1;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
