/*
 * fz_libmilter.c - a libmilter of our own, for tests/fuzz/fuzz_milter.c:
 * the part of libmilter contactgate's callbacks (milter/cg_milter.c) talk
 * to, so that they run without the real one, driven by a byte stream.
 *
 *  - The API of libmilter/mfapi.h: smfi_register keeps the callbacks,
 *    smfi_main returns at once, smfi_opensocket creates the socket file
 *    of a unix: spec (nothing for inet:), smfi_getsymval,
 *    smfi_setpriv/getpriv, smfi_setreply, smfi_addheader, smfi_chgheader,
 *    smfi_quarantine, smfi_setsymlist and the rest, each refusing what
 *    libmilter refuses (message actions only at end of message and only
 *    when negotiated).
 *  - The engine: the bytes are the stream an MTA writes (per packet a
 *    4-byte big-endian length, a command byte, the data: SMFIC_* of
 *    libmilter/mfdef.h), and each command reaches the callbacks the way
 *    libmilter 8.17's engine does it: its state machine (a command out of
 *    order aborts the transaction, then is taken from HELO or ignored;
 *    steps negotiated away may be skipped), its argument decoding
 *    (NUL-separated argv for MAIL and RCPT, "name\0value\0" for a header,
 *    host, family, port and address for CONNECT), macros kept per stage
 *    and cleared when it clears them, abort and close when the stream
 *    ends. It behaves as libmilter 8.17's engine.c does (written anew from
 *    what that does, not copied).
 *
 * smfi_getsymval is what libmilter's should be: in a macro packet whose
 * last name has no value (the defect that makes libmilter's read past
 * its array; README "Security"), that name's value is NULL. This checks
 * our code, not libmilter's.
 *
 * What the callbacks must never do is an invariant (fz_fail, which
 * aborts: libFuzzer keeps the input):
 *  - return a status libmilter does not know; NOREPLY, SKIP or ALL_OPTS
 *    where they are not allowed; ask in negotiation for an action or a
 *    step the MTA did not offer;
 *  - set a reply other than with the status it goes with (4xx with
 *    TEMPFAIL, 5xx with REJECT), or one libmilter refuses (a 4xx/5xx
 *    code, an enhanced status code of that class, no CR or LF, no '%',
 *    at most 980 bytes);
 *  - add a header with an invalid name or a broken line, delete a header
 *    at an index the MTA did not send, quarantine without a reason;
 *  - keep the connection's private data after close.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "fz_common.h"
#include "fz_libmilter.h"

#define MAX_DATA 65535         /* MILTER_MAX_DATA_SIZE */
#define MAX_REPLY 980          /* libmilter's MAXREPLYLEN */

/* --- the engine's states and commands (libmilter's engine.c semantics) */

enum { ST_NONE = -1, ST_INIT, ST_OPTS, ST_CONN, ST_HELO, ST_MAIL, ST_RCPT, ST_DATA, ST_HDRS,
       ST_EOHS, ST_BODY, ST_ENDM, ST_QUIT, ST_ABRT, ST_UNKN, ST_Q_NC, ST_N };
#define BIT(s) (1u << (s))
#define NX_SKIP (1u << 16)
#define IN_MAIL(s) ((s) >= ST_MAIL && (s) < ST_ENDM)

/* which state may follow which (before steps are negotiated away) */
static const unsigned next_base[ST_N] = {
    [ST_INIT] = BIT(ST_OPTS),
    [ST_OPTS] = BIT(ST_CONN) | BIT(ST_UNKN),
    [ST_CONN] = BIT(ST_HELO) | BIT(ST_MAIL) | BIT(ST_UNKN),
    [ST_HELO] = BIT(ST_HELO) | BIT(ST_MAIL) | BIT(ST_UNKN),
    [ST_MAIL] = BIT(ST_RCPT) | BIT(ST_ABRT) | BIT(ST_UNKN),
    [ST_RCPT] = BIT(ST_HDRS) | BIT(ST_EOHS) | BIT(ST_DATA) | BIT(ST_BODY) | BIT(ST_ENDM) |
                BIT(ST_RCPT) | BIT(ST_ABRT) | BIT(ST_UNKN),
    [ST_DATA] = BIT(ST_EOHS) | BIT(ST_HDRS) | BIT(ST_ABRT),
    [ST_HDRS] = BIT(ST_EOHS) | BIT(ST_HDRS) | BIT(ST_ABRT),
    [ST_EOHS] = BIT(ST_BODY) | BIT(ST_ENDM) | BIT(ST_ABRT),
    [ST_BODY] = BIT(ST_ENDM) | BIT(ST_BODY) | BIT(ST_ABRT),
    [ST_ENDM] = BIT(ST_QUIT) | BIT(ST_MAIL) | BIT(ST_UNKN) | BIT(ST_Q_NC),
    [ST_QUIT] = 0,
    [ST_ABRT] = 0,
    [ST_UNKN] = BIT(ST_HELO) | BIT(ST_MAIL) | BIT(ST_RCPT) | BIT(ST_ABRT) | BIT(ST_DATA) |
                BIT(ST_BODY) | BIT(ST_UNKN) | BIT(ST_QUIT) | BIT(ST_Q_NC),
    [ST_Q_NC] = BIT(ST_CONN) | BIT(ST_UNKN),
};

/* macro stages (libmilter's CI_*) */
enum { CI_NONE = -1, CI_CONN, CI_HELO, CI_MAIL, CI_RCPT, CI_DATA, CI_EOM, CI_EOH, CI_N };

/* what a command handler returns besides a callback's sfsistat */
#define R_FAIL (-1)      /* error, no reply, go on */
#define R_KEEP 20        /* the buffer now holds macros */
#define R_ABORT 21       /* end the connection */
#define R_OPTIONS 22     /* negotiation answered */

/* the macros of one stage: the packet and its NUL-terminated items,
 * name, value, name, value...; an odd count leaves the last name without
 * a value */
struct macros {
    char *buf;
    char **item;
    size_t n;
};

/* SMFICTX: libmilter keeps it opaque; this is ours */
struct smfi_str {
    void *priv;
    int state;                   /* as libmilter's ctx_state */
    unsigned long pflags;        /* steps the filter does not want, NR bits */
    unsigned long pflags2mta;
    unsigned long aflags;        /* actions negotiated */
    unsigned long mta_aflags, mta_pflags;
    unsigned next[ST_N];         /* next_base plus skip bits */
    struct macros mac[CI_N];
    char *symlist[SMFIM_LAST + 1];
    char *reply;                 /* set by smfi_setreply, sent with the status */
    int reply_fresh;             /* set during the callback now running */
    char **hdr;                  /* header names the MTA sent this transaction */
    size_t n_hdr, cap_hdr;
};

static struct smfiDesc desc;
static int registered;
static int unix_fd = -1;
static char sockspec[PATH_MAX + 8];

/* --- helpers --------------------------------------------------------- */

/* trace - with CG_FUZZ_VERBOSE, what the filter asked of the MTA */
__attribute__((format(printf, 1, 2))) static void trace(const char *fmt, ...)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("CG_FUZZ_VERBOSE") != NULL;
    if (!verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("libmilter: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* macros_clear - forget the macros of stage `from` and every later one */
static void macros_clear(SMFICTX *ctx, int from)
{
    for (int i = from < 0 ? 0 : from; i < CI_N; i++) {
        free(ctx->mac[i].buf);
        free(ctx->mac[i].item);
        memset(&ctx->mac[i], 0, sizeof ctx->mac[i]);
    }
}

/* headers_clear - a new transaction: no header sent yet */
static void headers_clear(SMFICTX *ctx)
{
    for (size_t i = 0; i < ctx->n_hdr; i++)
        free(ctx->hdr[i]);
    ctx->n_hdr = 0;
}

/* split_items - the NUL-terminated strings of buf[0..len) (an unterminated
 * tail is dropped, as libmilter's dec_argv does); NULL if there is none */
static char **split_items(char *buf, size_t len, size_t *n_r)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += buf[i] == 0;
    if (!n)
        return NULL;
    char **item = cg_xcalloc(n + 1, sizeof *item);
    size_t k = 0, start = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == 0) {
            item[k++] = buf + start;
            start = i + 1;
        }
    item[n] = NULL;
    *n_r = n;
    return item;
}

/* enhanced_ok - "4.7.1": class, subject, detail (RFC 3463) */
static int enhanced_ok(const char *x, char class)
{
    if (x[0] != class || x[1] != '.')
        return 0;
    const char *p = x + 2;
    for (int part = 0; part < 2; part++) {
        int digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 4)
            p++, digits++;
        if (!digits || digits > 3 || *p != (part == 0 ? '.' : '\0'))
            return 0;
        if (part == 0)
            p++;
    }
    return 1;
}

/* one_line - no CR, and no LF (folded lines allowed when `folding`) */
static int one_line(const char *s, int folding)
{
    for (; *s; s++)
        if (*s == '\r' || (*s == '\n' && !(folding && (s[1] == ' ' || s[1] == '\t'))))
            return 0;
    return 1;
}

/* sendok - libmilter's mi_sendok: message actions only at end of message
 * and only those negotiated */
static int sendok(SMFICTX *ctx, unsigned long flag)
{
    if (!ctx || !registered)
        return 0;
    if (flag && !(ctx->aflags & flag))
        return 0;
    return ctx->state == ST_ENDM;
}

/* --- libmilter's API, as cg_milter.c sees it ------------------------- *
 * Each function answers as libmilter's does (MI_SUCCESS / MI_FAILURE for
 * the same reasons); what our code must never ask for is an fz_fail. */

int smfi_register(struct smfiDesc d)
{
    if (!d.xxfi_name)
        return MI_FAILURE;
    desc = d;
    registered = 1;
    return MI_SUCCESS;
}

int smfi_setconn(char *spec)
{
    return spec && *spec ? MI_SUCCESS : MI_FAILURE;
}

/* smfi_opensocket - a unix spec gets its socket file, as with libmilter
 * (cg_milter_run then sets its mode); inet specs bind nothing here */
int smfi_opensocket(bool rmsocket)
{
    (void)rmsocket;
    if (!registered)
        return MI_FAILURE;
    const char *p = strncmp(sockspec, "unix:", 5) == 0 ? sockspec + 5 : NULL;
    if (p && unix_fd < 0) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        cg_strlcpy(sun.sun_path, p, sizeof sun.sun_path);
        unlink(p);
        unix_fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (unix_fd < 0 || bind(unix_fd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
            listen(unix_fd, 1) != 0)
            return MI_FAILURE;
    }
    return MI_SUCCESS;
}

int smfi_main(void)
{
    return registered ? MI_SUCCESS : MI_FAILURE;
}

int smfi_settimeout(int secs)
{
    return secs >= 0 ? MI_SUCCESS : MI_FAILURE;
}

int smfi_setbacklog(int n)
{
    return n > 0 ? MI_SUCCESS : MI_FAILURE;
}

int smfi_setdbg(int level)
{
    (void)level;
    return MI_SUCCESS;
}

int smfi_stop(void)
{
    return MI_SUCCESS;
}

size_t smfi_setmaxdatasize(size_t n)
{
    (void)n;
    return MAX_DATA;
}

int smfi_version(unsigned int *major, unsigned int *minor, unsigned int *pl)
{
    if (major)
        *major = 8;
    if (minor)
        *minor = 17;
    if (pl)
        *pl = 1;
    return MI_SUCCESS;
}

int smfi_set_max_exec_time(unsigned int secs)
{
    (void)secs;
    return MI_SUCCESS;
}

/* smfi_getsymval - search the stages from the last to the first; "{x}"
 * and "x" name the same one-letter macro; a name without value is NULL */
char *smfi_getsymval(SMFICTX *ctx, char *name)
{
    if (!ctx || !name || !*name)
        return NULL;
    char one[2] = "", braces[4] = "";
    size_t len = strlen(name);
    if (len == 3 && name[0] == '{' && name[2] == '}')
        one[0] = name[1];
    if (len == 1)
        braces[0] = '{', braces[1] = name[0], braces[2] = '}';
    for (int i = CI_N - 1; i >= 0; i--) {
        const struct macros *m = &ctx->mac[i];
        for (size_t k = 0; k < m->n; k += 2)
            if (!strcmp(m->item[k], name) || (one[0] && !strcmp(m->item[k], one)) ||
                (braces[0] && !strcmp(m->item[k], braces)))
                return k + 1 < m->n ? m->item[k + 1] : NULL;
    }
    return NULL;
}

int smfi_setpriv(SMFICTX *ctx, void *priv)
{
    if (!ctx)
        return MI_FAILURE;
    ctx->priv = priv;
    return MI_SUCCESS;
}

void *smfi_getpriv(SMFICTX *ctx)
{
    return ctx ? ctx->priv : NULL;
}

int smfi_setsymlist(SMFICTX *ctx, int where, char *list)
{
    if (!ctx || !list || where < SMFIM_FIRST || where > SMFIM_LAST || ctx->symlist[where])
        return MI_FAILURE;
    ctx->symlist[where] = cg_xstrdup(list);
    return MI_SUCCESS;
}

/* smfi_setreply - what libmilter accepts; our code must never produce
 * anything else (it sanitises the text) */
int smfi_setreply(SMFICTX *ctx, char *rcode, char *xcode, char *message)
{
    if (!ctx || !rcode)
        return MI_FAILURE;
    if (strlen(rcode) != 3 || (rcode[0] != '4' && rcode[0] != '5') || rcode[1] < '0' ||
        rcode[1] > '9' || rcode[2] < '0' || rcode[2] > '9')
        fz_fail("reply code \"%s\" (libmilter refuses it)", rcode);
    if (xcode && !enhanced_ok(xcode, rcode[0]))
        fz_fail("reply %s with enhanced status \"%s\"", rcode, xcode);
    if (message) {
        if (!one_line(message, 0))
            fz_fail("reply %s text with CR or LF: \"%s\"", rcode, message);
        if (strchr(message, '%'))
            fz_fail("reply %s text with '%%': \"%s\"", rcode, message);
        if (strlen(message) > MAX_REPLY)
            fz_fail("reply %s text of %zu bytes", rcode, strlen(message));
    }
    free(ctx->reply);
    ctx->reply = cg_xasprintf("%s %s %s", rcode, xcode ? xcode : "", message ? message : "");
    ctx->reply_fresh = 1;
    trace("reply %s", ctx->reply);
    return MI_SUCCESS;
}

int smfi_setmlreply(SMFICTX *ctx, const char *rcode, const char *xcode, ...)
{
    va_list ap;
    va_start(ap, xcode);
    const char *line = va_arg(ap, const char *);
    int r = smfi_setreply(ctx, (char *)rcode, (char *)xcode, (char *)line);
    while (r == MI_SUCCESS && (line = va_arg(ap, const char *)) != NULL)
        if (!one_line(line, 0) || strchr(line, '%'))
            fz_fail("multi-line reply line \"%s\"", line);
    va_end(ap);
    return r;
}

/* hdrname_ok - a header field name: printable ASCII but ':' */
static int hdrname_ok(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (*s < 33 || *s > 126 || *s == ':')
            return 0;
    return 1;
}

int smfi_addheader(SMFICTX *ctx, char *name, char *value)
{
    if (!name || !*name || !value || !sendok(ctx, SMFIF_ADDHDRS))
        return MI_FAILURE;
    if (!hdrname_ok(name))
        fz_fail("adds a header with the name \"%s\"", name);
    if (!one_line(value, 1))
        fz_fail("adds header %s with a broken line: \"%s\"", name, value);
    trace("add header %s: %s", name, value);
    return MI_SUCCESS;
}

int smfi_insheader(SMFICTX *ctx, int idx, char *name, char *value)
{
    if (idx < 0)
        return MI_FAILURE;
    return smfi_addheader(ctx, name, value);
}

int smfi_chgheader(SMFICTX *ctx, char *name, int idx, char *value)
{
    if (!name || !*name || idx < 0 || !sendok(ctx, SMFIF_CHGHDRS))
        return MI_FAILURE;
    if (value && !one_line(value, 1))
        fz_fail("changes header %s to a broken line: \"%s\"", name, value);
    if (!value) {
        int count = 0;
        for (size_t i = 0; i < ctx->n_hdr; i++)
            count += strcasecmp(ctx->hdr[i], name) == 0;
        if (idx < 1 || idx > count)
            fz_fail("deletes header %s #%d; the MTA sent %d", name, idx, count);
    }
    trace("change header %s #%d to %s", name, idx, value ? value : "(deleted)");
    return MI_SUCCESS;
}

int smfi_quarantine(SMFICTX *ctx, char *reason)
{
    if (!reason || !*reason || !sendok(ctx, SMFIF_QUARANTINE))
        return MI_FAILURE;
    if (!one_line(reason, 0))
        fz_fail("quarantine reason with CR or LF: \"%s\"", reason);
    trace("quarantine: %s", reason);
    return MI_SUCCESS;
}

int smfi_chgfrom(SMFICTX *ctx, char *from, char *args)
{
    (void)args;
    return from && *from && sendok(ctx, SMFIF_CHGFROM) ? MI_SUCCESS : MI_FAILURE;
}

int smfi_addrcpt(SMFICTX *ctx, char *rcpt)
{
    return rcpt && *rcpt && sendok(ctx, SMFIF_ADDRCPT) ? MI_SUCCESS : MI_FAILURE;
}

int smfi_addrcpt_par(SMFICTX *ctx, char *rcpt, char *args)
{
    (void)args;
    return rcpt && *rcpt && sendok(ctx, SMFIF_ADDRCPT_PAR) ? MI_SUCCESS : MI_FAILURE;
}

int smfi_delrcpt(SMFICTX *ctx, char *rcpt)
{
    return rcpt && *rcpt && sendok(ctx, SMFIF_DELRCPT) ? MI_SUCCESS : MI_FAILURE;
}

int smfi_progress(SMFICTX *ctx)
{
    return sendok(ctx, 0) ? MI_SUCCESS : MI_FAILURE;
}

int smfi_replacebody(SMFICTX *ctx, unsigned char *body, int len)
{
    return body && len >= 0 && sendok(ctx, SMFIF_CHGBODY) ? MI_SUCCESS : MI_FAILURE;
}

/* --- the engine -------------------------------------------------------- */

/* nr_bit - the "no reply" flag of a state */
static unsigned long nr_bit(int state)
{
    switch (state) {
    case ST_CONN: return SMFIP_NR_CONN;
    case ST_HELO: return SMFIP_NR_HELO;
    case ST_MAIL: return SMFIP_NR_MAIL;
    case ST_RCPT: return SMFIP_NR_RCPT;
    case ST_DATA: return SMFIP_NR_DATA;
    case ST_UNKN: return SMFIP_NR_UNKN;
    case ST_HDRS: return SMFIP_NR_HDR;
    case ST_EOHS: return SMFIP_NR_EOH;
    case ST_BODY: return SMFIP_NR_BODY;
    default: return 0;
    }
}

/* how a callback's status is used */
#define SENT 0      /* sent to the MTA */
#define SENT_BODY 1 /* sent; SKIP allowed */
#define IGNORED 2   /* abort and close: libmilter ignores it */

/* status - check what a callback returned and send it as libmilter's
 * sendreply would: a reply set with it goes with a TEMPFAIL or REJECT of
 * its class, or it is a mistake */
static sfsistat status(SMFICTX *ctx, const char *cb, sfsistat r, int use)
{
    switch (use == IGNORED ? SMFIS_CONTINUE : r) {
    case SMFIS_CONTINUE: case SMFIS_REJECT: case SMFIS_DISCARD: case SMFIS_ACCEPT:
    case SMFIS_TEMPFAIL:
        break;
    case SMFIS_NOREPLY:
        if (!(nr_bit(ctx->state) & ctx->pflags))
            fz_fail("%s returned NOREPLY without that no-reply flag negotiated", cb);
        break;
    case SMFIS_SKIP:
        if (use != SENT_BODY || !(ctx->pflags2mta & SMFIP_SKIP))
            fz_fail("%s returned SKIP where it is not allowed", cb);
        break;
    default:
        fz_fail("%s returned %d, not a milter status", cb, r);
    }
    if (use != IGNORED && (r == SMFIS_TEMPFAIL || r == SMFIS_REJECT) && ctx->reply &&
        ctx->reply[0] == (r == SMFIS_TEMPFAIL ? '4' : '5')) {
        free(ctx->reply); /* sent */
        ctx->reply = NULL;
    }
    if (ctx->reply_fresh && ctx->reply)
        fz_fail("%s set the reply \"%s\" and returned %d: it is never sent", cb, ctx->reply, r);
    ctx->reply_fresh = 0;
    if (use != IGNORED)
        trace("%s: %d", cb, r);
    return r;
}

/* trans_ok - may `to` follow `from`, skipping the steps negotiated away */
static int trans_ok(const SMFICTX *ctx, int from, int to)
{
    for (int s = from; s < ST_N;) {
        if (ctx->next[s] & BIT(to))
            return 1;
        if (s + 1 >= ST_N || !(ctx->next[s + 1] & NX_SKIP))
            return 0;
        s++;
    }
    return 0;
}

/* fix_stm - the steps the filter does not want may be skipped */
static void fix_stm(SMFICTX *ctx)
{
    static const struct { unsigned long flag; int state; } skip[] = {
        {SMFIP_NOCONNECT, ST_CONN}, {SMFIP_NOHELO, ST_HELO}, {SMFIP_NOMAIL, ST_MAIL},
        {SMFIP_NORCPT, ST_RCPT}, {SMFIP_NOHDRS, ST_HDRS}, {SMFIP_NOEOH, ST_EOHS},
        {SMFIP_NOBODY, ST_BODY}, {SMFIP_NODATA, ST_DATA}, {SMFIP_NOUNKNOWN, ST_UNKN},
    };
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (ctx->pflags & skip[i].flag)
            ctx->next[skip[i].state] |= NX_SKIP;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* st_optneg - option negotiation */
static int st_optneg(SMFICTX *ctx, char *buf, size_t len, int ci)
{
    macros_clear(ctx, ci + 1);
    if (len < 12)
        return R_ABORT;
    uint32_t version = be32((const uint8_t *)buf);
    if (version < 2)
        return R_ABORT;
    uint32_t a = be32((const uint8_t *)buf + 4), p = be32((const uint8_t *)buf + 8);
    ctx->mta_aflags = a ? a : SMFI_V1_ACTS;
    ctx->mta_pflags = (p ? p : SMFI_V1_PROT) & ~(unsigned long)SMFI_INTERNAL;
    ctx->aflags = desc.xxfi_flags;
    unsigned long fake = SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT |
                         SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_HDR | SMFIP_NR_EOH |
                         SMFIP_NR_BODY;
    if (desc.xxfi_version > 4 && desc.xxfi_negotiate) {
        unsigned long f0 = ctx->mta_aflags, f1 = ctx->mta_pflags | fake;
        unsigned long m0 = f0, m1 = ctx->pflags, m2 = 0, m3 = 0;
        if (ctx->mta_pflags & SMFIP_SKIP)
            m1 |= SMFIP_SKIP;
        sfsistat r = desc.xxfi_negotiate(ctx, f0, f1, 0, 0, &m0, &m1, &m2, &m3);
        if (r != SMFIS_CONTINUE && r != SMFIS_ALL_OPTS)
            fz_fail("negotiate returned %d", r);
        if (ctx->reply_fresh)
            fz_fail("negotiate set a reply");
        if (r == SMFIS_ALL_OPTS) {
            ctx->aflags = ctx->mta_aflags;
            ctx->pflags2mta = ctx->pflags | (ctx->mta_pflags & SMFIP_SKIP);
        } else {
            if ((m0 & f0) != m0)
                fz_fail("negotiate asks for actions 0x%lx, offered 0x%lx", m0, f0);
            /* libmilter drops NODATA and NOUNKNOWN itself when not offered */
            if ((m1 & ~(f1 | SMFIP_NODATA | SMFIP_NOUNKNOWN)) != 0)
                fz_fail("negotiate asks for steps 0x%lx, offered 0x%lx", m1, f1);
            ctx->aflags = m0;
            ctx->pflags = ctx->pflags2mta = m1;
        }
        for (int b = 0; b < 32; b++) /* no-reply flags libmilter fakes */
            if ((fake & (1ul << b)) && !(ctx->mta_pflags & (1ul << b)))
                ctx->pflags2mta &= ~(1ul << b);
    } else {
        ctx->pflags2mta = ctx->pflags;
    }
    if ((ctx->aflags & ctx->mta_aflags) != ctx->aflags)
        return R_ABORT;
    if (!(ctx->mta_pflags & SMFIP_NODATA))
        ctx->pflags2mta &= ~SMFIP_NODATA;
    if (!(ctx->mta_pflags & SMFIP_NOUNKNOWN))
        ctx->pflags2mta &= ~SMFIP_NOUNKNOWN;
    if ((ctx->mta_pflags & ctx->pflags2mta) != ctx->pflags2mta)
        return R_ABORT;
    fix_stm(ctx);
    return R_OPTIONS;
}

/* st_connect - host\0 family [port(2) address\0] */
static int st_connect(SMFICTX *ctx, char *buf, size_t len, int ci)
{
    macros_clear(ctx, ci + 1);
    if (!desc.xxfi_connect)
        return SMFIS_CONTINUE;
    const char *nul = memchr(buf, 0, len);
    if (!nul)
        return R_ABORT;
    size_t i = (size_t)(nul - buf);
    if (i + 1 >= len)
        return R_ABORT;
    i++;
    char family = buf[i++];
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
        struct sockaddr_un un;
    } sa;
    memset(&sa, 0, sizeof sa);
    if (family != SMFIA_UNKNOWN) {
        uint16_t port;
        if (i + sizeof port >= len)
            return R_ABORT;
        memcpy(&port, buf + i, sizeof port);
        i += sizeof port;
        if (buf[len - 1] != 0)
            return R_ABORT;
        if (family == SMFIA_INET) {
            if (inet_aton(buf + i, &sa.in4.sin_addr) != 1)
                return R_ABORT;
            sa.in4.sin_family = AF_INET;
            sa.in4.sin_port = port;
        } else if (family == SMFIA_INET6) {
            if (inet_pton(AF_INET6, buf + i, &sa.in6.sin6_addr) != 1)
                return R_ABORT;
            sa.in6.sin6_family = AF_INET6;
            sa.in6.sin6_port = port;
        } else if (family == SMFIA_UNIX) {
            if (cg_strlcpy(sa.un.sun_path, buf + i, sizeof sa.un.sun_path) >=
                sizeof sa.un.sun_path)
                return R_ABORT;
            sa.un.sun_family = AF_UNIX;
        } else {
            return R_ABORT;
        }
    }
    return status(ctx, "connect",
                  desc.xxfi_connect(ctx, buf, family != SMFIA_UNKNOWN ? &sa.sa : NULL), SENT);
}

static int st_helo(SMFICTX *ctx, char *buf, size_t len, int ci)
{
    macros_clear(ctx, ci + 1);
    if (!desc.xxfi_helo)
        return SMFIS_CONTINUE;
    if (!len || buf[len - 1] != 0)
        return R_FAIL;
    return status(ctx, "helo", desc.xxfi_helo(ctx, buf), SENT);
}

/* st_argv - MAIL and RCPT: the address and its ESMTP arguments */
static int st_argv(SMFICTX *ctx, char *buf, size_t len, int ci)
{
    macros_clear(ctx, ci + 1);
    sfsistat (*cb)(SMFICTX *, char **) = ci == CI_MAIL ? desc.xxfi_envfrom : desc.xxfi_envrcpt;
    if (!cb)
        return SMFIS_CONTINUE;
    size_t n;
    char **argv = split_items(buf, len, &n);
    if (!argv)
        return R_ABORT;
    if (ci == CI_MAIL)
        headers_clear(ctx);
    sfsistat r = status(ctx, ci == CI_MAIL ? "envfrom" : "envrcpt", cb(ctx, argv), SENT);
    free(argv);
    return r;
}

/* st_header - "name\0value\0", decoded as libmilter's dec_arg2 does */
static int st_header(SMFICTX *ctx, char *buf, size_t len, int ci)
{
    (void)ci;
    if (!desc.xxfi_header)
        return SMFIS_CONTINUE;
    if (!len || buf[len - 1] != 0)
        return R_ABORT;
    size_t i = 1;
    while (i < len && buf[i] != 0)
        i++;
    if (i >= len - 1)
        return R_ABORT;
    if (ctx->n_hdr == ctx->cap_hdr) {
        ctx->cap_hdr = ctx->cap_hdr ? 2 * ctx->cap_hdr : 16;
        ctx->hdr = cg_xrealloc(ctx->hdr, ctx->cap_hdr * sizeof *ctx->hdr);
    }
    ctx->hdr[ctx->n_hdr++] = cg_xstrdup(buf);
    return status(ctx, "header", desc.xxfi_header(ctx, buf, buf + i + 1), SENT);
}

static int st_eoh(SMFICTX *ctx, char *buf, size_t len, int ci)
{
    (void)buf, (void)len, (void)ci;
    return desc.xxfi_eoh ? status(ctx, "eoh", desc.xxfi_eoh(ctx), SENT) : SMFIS_CONTINUE;
}

static int st_data(SMFICTX *ctx, char *buf, size_t len, int ci)
{
    (void)buf, (void)len, (void)ci;
    if (desc.xxfi_version > 3 && desc.xxfi_data)
        return status(ctx, "data", desc.xxfi_data(ctx), SENT);
    return SMFIS_CONTINUE;
}

static int st_body(SMFICTX *ctx, char *buf, size_t len, int ci)
{
    (void)ci;
    if (!desc.xxfi_body)
        return SMFIS_CONTINUE;
    return status(ctx, "body", desc.xxfi_body(ctx, (unsigned char *)buf, len), SENT_BODY);
}

/* st_eob - the last body chunk (if any), then end of message */
static int st_eob(SMFICTX *ctx, char *buf, size_t len, int ci)
{
    (void)ci;
    sfsistat r = SMFIS_CONTINUE;
    if (desc.xxfi_body && buf && len > 0)
        r = status(ctx, "body", desc.xxfi_body(ctx, (unsigned char *)buf, len), SENT_BODY);
    if (r == SMFIS_CONTINUE && desc.xxfi_eom)
        r = status(ctx, "eom", desc.xxfi_eom(ctx), SENT);
    return r; /* the headers stay the message's until the next MAIL */
}

/* call_abort - the transaction is over without end of message */
static void call_abort(SMFICTX *ctx)
{
    if (desc.xxfi_abort)
        (void)status(ctx, "abort", desc.xxfi_abort(ctx), IGNORED);
    headers_clear(ctx);
}

static int st_abort(SMFICTX *ctx, char *buf, size_t len, int ci)
{
    (void)buf, (void)len, (void)ci;
    call_abort(ctx);
    return SMFIS_NOREPLY;
}

static int st_quit(SMFICTX *ctx, char *buf, size_t len, int ci)
{
    (void)buf, (void)len, (void)ci;
    if (desc.xxfi_close)
        (void)status(ctx, "close", desc.xxfi_close(ctx), IGNORED);
    macros_clear(ctx, 0);
    headers_clear(ctx);
    return SMFIS_NOREPLY;
}

static int st_unknown(SMFICTX *ctx, char *buf, size_t len, int ci)
{
    (void)ci;
    if (desc.xxfi_version > 2 && desc.xxfi_unknown) {
        /* libmilter passes the raw buffer; terminate it for the callback */
        char *s = cg_xstrndup(buf, len);
        sfsistat r = status(ctx, "unknown", desc.xxfi_unknown(ctx, s), SENT);
        free(s);
        return r;
    }
    return SMFIS_CONTINUE;
}

/* st_macro - 'D', the stage's command letter, then name\0value\0... */
static int st_macro(SMFICTX *ctx, char *buf, size_t len, int ci)
{
    (void)ci;
    if (len < 1)
        return R_FAIL;
    size_t n;
    char **item = split_items(buf + 1, len - 1, &n);
    if (!item)
        return R_FAIL;
    int idx;
    switch (buf[0]) {
    case SMFIC_CONNECT: idx = CI_CONN; break;
    case SMFIC_HELO: idx = CI_HELO; break;
    case SMFIC_MAIL: idx = CI_MAIL; break;
    case SMFIC_RCPT: idx = CI_RCPT; break;
    case SMFIC_DATA: idx = CI_DATA; break;
    case SMFIC_BODYEOB: idx = CI_EOM; break;
    case SMFIC_EOH: idx = CI_EOH; break;
    default:
        free(item);
        return R_FAIL;
    }
    free(ctx->mac[idx].buf);
    free(ctx->mac[idx].item);
    ctx->mac[idx].buf = buf;
    ctx->mac[idx].item = item;
    ctx->mac[idx].n = n;
    return R_KEEP;
}

#define CT_IGNO 1 /* a failure status keeps the state (RCPT) */
#define CT_END 2  /* last command of the connection */

static const struct command {
    char cmd;
    int nullok;                  /* may come without data */
    int next;                    /* state it moves to */
    int flags;
    int ci;                      /* macro stage it clears after */
    int (*fn)(SMFICTX *, char *, size_t, int);
} commands[] = {
    {SMFIC_ABORT, 1, ST_ABRT, 0, CI_NONE, st_abort},
    {SMFIC_MACRO, 0, ST_NONE, 0, CI_NONE, st_macro},
    {SMFIC_BODY, 0, ST_BODY, 0, CI_NONE, st_body},
    {SMFIC_CONNECT, 0, ST_CONN, 0, CI_CONN, st_connect},
    {SMFIC_BODYEOB, 1, ST_ENDM, 0, CI_EOM, st_eob},
    {SMFIC_HELO, 0, ST_HELO, 0, CI_HELO, st_helo},
    {SMFIC_HEADER, 0, ST_HDRS, 0, CI_NONE, st_header},
    {SMFIC_MAIL, 0, ST_MAIL, 0, CI_MAIL, st_argv},
    {SMFIC_OPTNEG, 0, ST_OPTS, 0, CI_NONE, st_optneg},
    {SMFIC_EOH, 1, ST_EOHS, 0, CI_EOH, st_eoh},
    {SMFIC_QUIT, 1, ST_QUIT, CT_END, CI_NONE, st_quit},
    {SMFIC_DATA, 1, ST_DATA, 0, CI_DATA, st_data},
    {SMFIC_RCPT, 0, ST_RCPT, CT_IGNO, CI_RCPT, st_argv},
    {SMFIC_UNKNOWN, 0, ST_UNKN, CT_IGNO, CI_NONE, st_unknown},
    {SMFIC_QUIT_NC, 1, ST_Q_NC, 0, CI_NONE, st_quit},
};

/* fz_milter_connection - see fz_libmilter.h */
int fz_milter_connection(const uint8_t *data, size_t size, size_t *pos)
{
    SMFICTX *ctx = cg_xcalloc(1, sizeof *ctx);
    memcpy(ctx->next, next_base, sizeof ctx->next);
    /* what libmilter's listener derives from the callbacks present */
    if (!desc.xxfi_connect) ctx->pflags |= SMFIP_NOCONNECT;
    if (!desc.xxfi_helo) ctx->pflags |= SMFIP_NOHELO;
    if (!desc.xxfi_envfrom) ctx->pflags |= SMFIP_NOMAIL;
    if (!desc.xxfi_envrcpt) ctx->pflags |= SMFIP_NORCPT;
    if (!desc.xxfi_header) ctx->pflags |= SMFIP_NOHDRS;
    if (!desc.xxfi_eoh) ctx->pflags |= SMFIP_NOEOH;
    if (!desc.xxfi_body) ctx->pflags |= SMFIP_NOBODY;
    if (desc.xxfi_version <= 3 || !desc.xxfi_data) ctx->pflags |= SMFIP_NODATA;
    if (desc.xxfi_version <= 2 || !desc.xxfi_unknown) ctx->pflags |= SMFIP_NOUNKNOWN;
    fix_stm(ctx);
    ctx->state = ST_INIT;

    int cur = ST_INIT, failed = 0, in_mail = 0;
    for (;;) {
        in_mail = IN_MAIL(cur);
        if (size - *pos < 4) {
            failed = 1; /* end of stream (or a short read) */
            break;
        }
        uint32_t len = be32(data + *pos);
        if (len == 0 || len - 1 > MAX_DATA || size - *pos - 4 < len) {
            failed = 1;
            *pos = size;
            break;
        }
        char cmd = (char)data[*pos + 4];
        char *buf = NULL;
        if (len > 1) {
            buf = cg_xmalloc(len - 1); /* exactly the data: overreads show */
            memcpy(buf, data + *pos + 5, len - 1);
        }
        *pos += 4 + len;
        const struct command *c = NULL;
        for (size_t i = 0; i < sizeof commands / sizeof commands[0] && !c; i++)
            if (commands[i].cmd == cmd)
                c = &commands[i];
        if (!c) {
            free(buf);
            failed = 1;
            break;
        }
        int next = c->next;
        if (next != ST_NONE && !trans_ok(ctx, cur, next)) {
            if (in_mail)
                call_abort(ctx);
            cur = ST_HELO;
            if (!trans_ok(ctx, cur, next)) {
                free(buf);
                continue;
            }
        }
        if (!c->nullok && !buf) {
            failed = 1;
            break;
        }
        if (next != ST_NONE)
            cur = ctx->state = next;
        in_mail = IN_MAIL(cur);
        int r = c->fn(ctx, buf, buf ? len - 1 : 0, c->ci);
        if (r != R_KEEP)
            free(buf);
        if (r == SMFIS_ACCEPT)
            cur = ST_HELO;
        else if (r == SMFIS_REJECT || r == SMFIS_DISCARD || r == SMFIS_TEMPFAIL) {
            if (!(c->flags & CT_IGNO))
                cur = ST_HELO;
        } else if (r == R_ABORT) {
            failed = 1;
            break;
        }
        if (c->flags & CT_END)
            break;
    }
    ctx->state = cur;
    if (failed && in_mail)
        call_abort(ctx);
    if (ctx->state != ST_QUIT && desc.xxfi_close)
        (void)status(ctx, "close", desc.xxfi_close(ctx), IGNORED);
    if (ctx->priv)
        fz_fail("private data left after close");
    macros_clear(ctx, 0);
    headers_clear(ctx);
    free(ctx->hdr);
    for (int i = 0; i <= SMFIM_LAST; i++)
        free(ctx->symlist[i]);
    free(ctx->reply);
    free(ctx);
    return !failed;
}

/* --- for the harness ------------------------------------------------------ */

/* fz_milter_socket - see fz_libmilter.h */
void fz_milter_socket(const char *spec)
{
    cg_strlcpy(sockspec, spec, sizeof sockspec);
}

/* fz_milter_registered - see fz_libmilter.h */
int fz_milter_registered(void)
{
    return registered;
}

/* fz_milter_forget - see fz_libmilter.h */
void fz_milter_forget(void)
{
    registered = 0;
    memset(&desc, 0, sizeof desc);
}

/* fz_milter_close - see fz_libmilter.h */
void fz_milter_close(void)
{
    if (unix_fd >= 0)
        close(unix_fd);
    unix_fd = -1;
}
