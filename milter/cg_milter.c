/*
 * cg_milter.c - libmilter callbacks: turn MTA events into a struct cg_msg,
 * hand decisions to the decider (cg_decider.c), and carry out the verdict with
 * the MTA (reply, tag header, control-header removal, quarantine).
 *
 * Protocol economy: HELO, unknown commands, end of headers and the body
 * are negotiated away (the body only when no loaded plugin asks for it with
 * CG_PLUGIN_WANTS_BODY). What else depends on the socket:
 *  - unix socket (the installed shape): DATA is negotiated away too, and
 *    connect, MAIL and each header get no reply (SMFIP_NR_CONN, NR_MAIL,
 *    NR_HDR: their callbacks never refuse anything), so the MTA writes
 *    them back to back and the milter wakes once for a run of them instead
 *    of once per event. Where the MTA does not offer a no-reply flag,
 *    libmilter sends the CONTINUE itself.
 *  - TCP (inet:): every event that is sent gets its reply and DATA is kept.
 *    Postfix sends the macros of an event it skips on their own, and
 *    whatever it writes next without reading a reply in between is held
 *    back by Nagle's algorithm until that is acknowledged, which the
 *    milter's side does only when its delayed-ACK timer runs out: 40 ms
 *    per message. Measured with one SMTP session: 19 messages/s with DATA
 *    negotiated away (its macros went alone, the headers 41 ms later);
 *    Postfix does not set TCP_NODELAY on milter connections.
 *
 * Per recipient: a recipient whose verdict the envelope settles gets its
 * 451/550 at RCPT (SMFIS_TEMPFAIL/SMFIS_REJECT with our reply); every other
 * recipient gets SMFIS_CONTINUE (never ACCEPT, which would end filtering
 * of the whole message).
 *
 * Non-SMTP mail (Postfix sendmail(1) -> pickup -> cleanup ->
 * non_smtpd_milters) arrives with an emulated connection from
 * "localhost"/127.0.0.1 port 0. On that path nothing is decided at RCPT
 * (Postfix treats a RCPT reject there as a configuration error); at end of
 * message: defer = 4xx (Postfix keeps the file in maildrop and retries it
 * about once a minute), reject = 5xx (Postfix bounces it to the sender),
 * hold/tag/accept as for SMTP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "cg_ident.h"
#include "cg_gate.h"
#include "cg_log.h"
#include "cg_metrics.h"
#include "cg_milter.h"
#include "cg_priv.h"
#include "cg_util.h"

/* the stack of a session thread (session_stacks) */
#define CG_SESSION_STACK (512 * 1024)

#define CG_MAX_HEADERS 2000
#define CG_MAX_HEADER_BYTES (256 * 1024)

/* The control headers and the tag header: every occurrence is removed
 * before delivery, however many headers the message has. */
enum { CTL_CATEGORY, CTL_DEPARTMENT, CTL_TAG, CTL_N };

/* one SMTP connection */
struct conn {
    struct cg_config *cfg;    /* snapshot for the whole connection */
    struct cg_msg m;
    size_t header_bytes;      /* of the headers kept */
    size_t headers_seen;      /* every header of the message */
    size_t ctl_seen[CTL_N];   /* occurrences of each, kept or not */
    size_t ctl_ignored;       /* control headers past the limits: not read */
    int headers_full;         /* a limit was reached: no later header is kept */
    unsigned long nr;         /* the SMFIP_NR_* agreed: those callbacks reply NOREPLY */
};

static cg_decider *milter_dc;
static int milter_local;      /* serving a unix socket: see the top of this file */
static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cg_config *cfg_current;

/* cg_milter_config_ref - a reference to the current snapshot */
struct cg_config *cg_milter_config_ref(void)
{
    pthread_mutex_lock(&cfg_lock);
    struct cg_config *c = cfg_current ? cg_config_ref(cfg_current) : NULL;
    pthread_mutex_unlock(&cfg_lock);
    return c;
}

/* cg_milter_config_swap - install a new snapshot */
void cg_milter_config_swap(struct cg_config *cfg)
{
    pthread_mutex_lock(&cfg_lock);
    struct cg_config *old = cfg_current;
    cfg_current = cfg;
    pthread_mutex_unlock(&cfg_lock);
    cg_config_unref(&old);
}

/* conn_get - our per-connection state */
static struct conn *conn_get(SMFICTX *ctx)
{
    return (struct conn *)smfi_getpriv(ctx);
}

/* macro - a macro value or NULL. libmilter (Debian 12's 8.17.1.9) reads
 * past its macro array in smfi_getsymval() when the peer sent a macro
 * packet with a name and no value, which can crash the process: only the
 * MTA may connect (cg_gate.c, the unix socket's mode) and a crash is
 * contained by the supervisor (cg_supervise.c); README "Security". */
static const char *macro(SMFICTX *ctx, const char *name)
{
    char *v = smfi_getsymval(ctx, (char *)name);
    return v && *v ? v : NULL;
}

/* reply - set our SMTP reply; '%' never reaches libmilter (sanitised) */
static void reply(SMFICTX *ctx, const struct cg_decision *d)
{
    if (smfi_setreply(ctx, (char *)d->smtp_code, (char *)d->smtp_xcode, (char *)d->smtp_text) !=
        MI_SUCCESS)
        cg_log(LOG_WARNING, "ref=%s: the MTA refused our reply text; it sends its default", d->ref);
}

/* go_on - carry on: no reply where none was agreed for the event (bit) */
static sfsistat go_on(const struct conn *c, unsigned long bit)
{
    return c && (c->nr & bit) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* cb_negotiate - drop the events we do not need */
static sfsistat cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                             unsigned long f2, unsigned long f3, unsigned long *pf0,
                             unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
    (void)f2;
    (void)f3;
    if (cg_gate_check_session() < 0)
        return SMFIS_REJECT; /* a connection that did not pass milter_clients */
    unsigned long want_actions = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST;
    /* see the top of this file */
    unsigned long drop = SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NOEOH;
    if (milter_local)
        drop |= SMFIP_NODATA | SMFIP_NR_CONN | SMFIP_NR_MAIL | SMFIP_NR_HDR;
    struct cg_config *cfg = cg_milter_config_ref();
    if (!cfg || !cfg->needs_body)
        drop |= SMFIP_NOBODY;
    cg_config_unref(&cfg);
    *pf0 = f0 & want_actions;
    *pf1 = f1 & drop;
    *pf2 = *pf3 = 0;
    /* the connection's state starts here, to remember what was agreed */
    struct conn *c = cg_xcalloc(1, sizeof *c);
    cg_msg_init(&c->m);
    c->nr = *pf1 & (SMFIP_NR_CONN | SMFIP_NR_MAIL | SMFIP_NR_HDR);
    smfi_setpriv(ctx, c);
    if (f0 & SMFIF_SETSYMLIST) {
        smfi_setsymlist(ctx, SMFIM_CONNECT, "{daemon_name} {client_addr} {client_name}");
        smfi_setsymlist(ctx, SMFIM_ENVFROM, "i {auth_authen} {mail_addr}");
        smfi_setsymlist(ctx, SMFIM_ENVRCPT, "i {rcpt_addr}");
        smfi_setsymlist(ctx, SMFIM_EOM, "i");
    }
    return SMFIS_CONTINUE;
}

/* cb_connect - a new connection: take a config snapshot */
static sfsistat cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
    (void)hostname;
    struct conn *c = conn_get(ctx);
    if (!c) { /* an MTA that does not negotiate */
        c = cg_xcalloc(1, sizeof *c);
        cg_msg_init(&c->m);
    }
    c->cfg = cg_milter_config_ref();
    char ip[INET6_ADDRSTRLEN] = "";
    int port = -1;
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
        port = ntohs(s4->sin_port);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
        port = ntohs(s6->sin6_port);
    }
    const char *mip = macro(ctx, "{client_addr}");
    cg_msg_set(&c->m.client_addr, mip ? mip : (ip[0] ? ip : NULL));
    cg_msg_set(&c->m.daemon_name, macro(ctx, "{daemon_name}"));
    /* Postfix emulates a connection from localhost port 0 for sendmail(1) */
    c->m.non_smtp = port == 0 && strcmp(ip, "127.0.0.1") == 0 && hostname &&
                    strcasecmp(hostname, "localhost") == 0;
    smfi_setpriv(ctx, c);
    return go_on(c, SMFIP_NR_CONN);
}

/* transaction_reset - forget the transaction: the message and what was
 * counted of its headers (which control headers to remove at end of
 * message: the next transaction's own, never this one's) */
static void transaction_reset(struct conn *c)
{
    cg_msg_reset_transaction(&c->m);
    c->header_bytes = c->headers_seen = c->ctl_ignored = 0;
    c->headers_full = 0;
    memset(c->ctl_seen, 0, sizeof c->ctl_seen);
}

/* cb_envfrom - a new transaction */
static sfsistat cb_envfrom(SMFICTX *ctx, char **argv)
{
    struct conn *c = conn_get(ctx);
    if (!c)
        return go_on(c, SMFIP_NR_MAIL);
    transaction_reset(c);
    cg_msg_set(&c->m.queue_id, macro(ctx, "i"));
    /* the argument as the client wrote it, and the MTA's own parse of it */
    c->m.sender = cg_ident_sender(&c->m, argv[0], macro(ctx, "{mail_addr}"));
    cg_msg_set(&c->m.auth_user, macro(ctx, "{auth_authen}"));
    if (!c->m.client_addr)
        cg_msg_set(&c->m.client_addr, macro(ctx, "{client_addr}"));
    if (!c->m.daemon_name)
        cg_msg_set(&c->m.daemon_name, macro(ctx, "{daemon_name}"));
    return go_on(c, SMFIP_NR_MAIL);
}

/* cb_envrcpt - one recipient; decide now if the envelope settles it */
static sfsistat cb_envrcpt(SMFICTX *ctx, char **argv)
{
    struct conn *c = conn_get(ctx);
    if (!c || !c->cfg)
        return SMFIS_CONTINUE;
    struct cg_rcpt *r = cg_msg_add_rcpt(&c->m, argv[0]);
    if (!c->m.queue_id)
        cg_msg_set(&c->m.queue_id, macro(ctx, "i"));
    cg_ident_rcpt_address(c->cfg, &c->m, r, macro(ctx, "{rcpt_addr}"));
    struct cg_decision d;
    c->m.now = 0;
    cg_decider_rcpt(milter_dc, c->cfg, &c->m, r, &d);
    if (d.verdict == CG_ACT_DEFER || d.verdict == CG_ACT_REJECT) {
        r->refused = 1;
        reply(ctx, &d);
        return d.verdict == CG_ACT_DEFER ? SMFIS_TEMPFAIL : SMFIS_REJECT;
    }
    return SMFIS_CONTINUE;
}

/* control_name - the names removed before delivery, in CTL_* order */
static const char *control_name(const struct conn *c, int k)
{
    return k == CTL_CATEGORY ? c->cfg->category_header
           : k == CTL_DEPARTMENT ? c->cfg->department_header
                                 : c->cfg->tag_header;
}

/* cb_header - collect headers (bounded: CG_MAX_HEADERS, CG_MAX_HEADER_BYTES;
 * the first ones are what the message is classified by). Every control
 * header is counted whatever the size, so that every one is removed; a
 * claim past the limits is not read (logged at end of message). */
static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
    struct conn *c = conn_get(ctx);
    if (!c || !c->cfg)
        return go_on(c, SMFIP_NR_HDR);
    int ctl = -1;
    for (int k = 0; k < CTL_N && ctl < 0; k++)
        if (strcasecmp(name, control_name(c, k)) == 0)
            ctl = k;
    if (ctl >= 0)
        c->ctl_seen[ctl]++;
    c->headers_seen++;
    size_t len = strlen(name) + strlen(value);
    /* once full, no later header is kept, however short: what is kept is
     * the first ones, in order */
    if (c->headers_full || c->m.n_hdrs >= CG_MAX_HEADERS ||
        c->header_bytes + len > CG_MAX_HEADER_BYTES) {
        c->headers_full = 1;
        if (ctl == CTL_CATEGORY || ctl == CTL_DEPARTMENT)
            c->ctl_ignored++;
        return go_on(c, SMFIP_NR_HDR);
    }
    c->header_bytes += len;
    cg_msg_add_header(&c->m, name, value);
    return go_on(c, SMFIP_NR_HDR);
}

/* cb_body - hash the body for content rules (only negotiated when wanted) */
static sfsistat cb_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    struct conn *c = conn_get(ctx);
    if (c)
        cg_msg_add_body(&c->m, chunk, len);
    return SMFIS_CONTINUE;
}

/* remove_control_headers - internal headers never reach the customer:
 * every occurrence the MTA sent, counted in cb_header (the MTA numbers
 * the occurrences of a name from 1, case-insensitively) */
static void remove_control_headers(SMFICTX *ctx, const struct conn *c)
{
    for (int k = 0; k < CTL_N; k++) {
        const char *name = control_name(c, k);
        /* delete from the last occurrence down so indexes stay valid */
        for (size_t idx = c->ctl_seen[k]; idx >= 1; idx--)
            if (smfi_chgheader(ctx, (char *)name, (int)idx, NULL) != MI_SUCCESS)
                cg_log(LOG_WARNING, "%s: could not remove header %s",
                       c->m.queue_id ? c->m.queue_id : "NOQUEUE", name);
    }
}

/* cb_eom - the atomic decision and its execution */
static sfsistat cb_eom(SMFICTX *ctx)
{
    struct conn *c = conn_get(ctx);
    if (!c || !c->cfg)
        return SMFIS_CONTINUE;
    cg_msg_set(&c->m.queue_id, macro(ctx, "i"));
    if (c->ctl_ignored)
        cg_log(LOG_WARNING, "%s: %zu control header%s after the first %d headers or %d KiB of "
               "headers (the message has %zu): not read, removed",
               c->m.queue_id ? c->m.queue_id : "NOQUEUE", c->ctl_ignored,
               c->ctl_ignored == 1 ? "" : "s", CG_MAX_HEADERS, CG_MAX_HEADER_BYTES / 1024,
               c->headers_seen);
    struct cg_decision d;
    c->m.now = 0;
    cg_decider_eom(milter_dc, c->cfg, &c->m, &d);
    if (d.verdict == CG_ACT_DEFER) {
        reply(ctx, &d);
        return SMFIS_TEMPFAIL;
    }
    if (d.verdict == CG_ACT_REJECT) {
        reply(ctx, &d);
        return SMFIS_REJECT;
    }
    remove_control_headers(ctx, c);
    if (d.tag_value[0] &&
        smfi_addheader(ctx, (char *)c->cfg->tag_header, d.tag_value) != MI_SUCCESS)
        cg_log(LOG_WARNING, "%s: could not add the %s header", c->m.queue_id ? c->m.queue_id : "NOQUEUE",
               c->cfg->tag_header);
    if (d.verdict == CG_ACT_HOLD) {
        char why[300];
        snprintf(why, sizeof why, "contactgate ref=%s policy=%s", d.ref,
                 d.policy ? d.policy->name : "-");
        if (smfi_quarantine(ctx, why) != MI_SUCCESS) {
            /* cannot hold: never deliver what should be held */
            cg_log(LOG_ERR, "%s: ref=%s hold failed (quarantine refused by the MTA): deferring",
                   c->m.queue_id ? c->m.queue_id : "NOQUEUE", d.ref);
            cg_metrics_error(CG_MC_HOLD, 1);
            smfi_setreply(ctx, "451", "4.3.0", "contact strategy: message could not be held "
                          "for review, try again later");
            return SMFIS_TEMPFAIL;
        }
    }
    return SMFIS_CONTINUE;
}

/* cb_abort - the transaction ended without end of message */
static sfsistat cb_abort(SMFICTX *ctx)
{
    struct conn *c = conn_get(ctx);
    if (c)
        transaction_reset(c);
    return SMFIS_CONTINUE;
}

/* cb_close - the connection ended */
static sfsistat cb_close(SMFICTX *ctx)
{
    struct conn *c = conn_get(ctx);
    if (c) {
        cg_msg_clear(&c->m);
        cg_config_unref(&c->cfg);
        free(c);
        smfi_setpriv(ctx, NULL);
    }
    return SMFIS_CONTINUE;
}

/* unix_in_use - a unix socket spec whose socket a running process
 * accepts on (smfi_opensocket would remove it from under that process) */
static int unix_in_use(const char *spec)
{
    const char *p = !strncmp(spec, "unix:", 5) ? spec + 5 : !strncmp(spec, "local:", 6) ? spec + 6
                                                                                         : NULL;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (!p || strlen(p) >= sizeof sun.sun_path)
        return 0;
    memcpy(sun.sun_path, p, strlen(p) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int used = connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0;
    close(fd);
    return used;
}

/* session_stacks - the stack of every thread created from here on, i.e.
 * libmilter's one thread per MTA connection. glibc's default is 8 MiB, of
 * which it keeps 40 MiB of exited threads' stacks for reuse: 5, so with
 * more concurrent connections than that nearly every connection maps a
 * new stack and unmaps an old one, and each unmap of a multi-threaded
 * process interrupts the other CPUs to flush their TLBs (measured on a
 * 2-vCPU VM: 6% of the milter's CPU samples under munmap). At
 * CG_SESSION_STACK the cache holds 80 (see plugin.h: what a plugin may put
 * on its stack). */
static void session_stacks(void)
{
    pthread_attr_t a;
    if (pthread_attr_init(&a) != 0)
        return;
    if (pthread_attr_setstacksize(&a, CG_SESSION_STACK) != 0 ||
        pthread_setattr_default_np(&a) != 0)
        cg_log(LOG_WARNING, "cannot set the session threads' stack size to %d KiB: glibc's "
               "default stays", CG_SESSION_STACK / 1024);
    pthread_attr_destroy(&a);
}

/* cg_milter_run - register, open the socket, arm the gate, run */
int cg_milter_run(const struct cg_config *cfg, cg_decider *dc, void (*ready)(void *),
                  void *ready_arg)
{
    static struct smfiDesc desc = {
        .xxfi_name = "contactgate",
        .xxfi_version = SMFI_VERSION,
        .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE,
        .xxfi_connect = cb_connect,
        .xxfi_envfrom = cb_envfrom,
        .xxfi_envrcpt = cb_envrcpt,
        .xxfi_header = cb_header,
        .xxfi_body = cb_body,
        .xxfi_eom = cb_eom,
        .xxfi_abort = cb_abort,
        .xxfi_close = cb_close,
        .xxfi_negotiate = cb_negotiate,
    };
    const char *socket_spec = cfg->socket;
    milter_dc = dc;
    milter_local = !strncmp(socket_spec, "unix:", 5) || !strncmp(socket_spec, "local:", 6);
    if (smfi_setconn((char *)socket_spec) == MI_FAILURE) {
        cg_log(LOG_CRIT, "socket %s: not a valid milter socket", socket_spec);
        return 1;
    }
    /* a peer that stalls (mid-packet or between commands) is dropped after
     * milter_timeout; libmilter's own default is 7210 s */
    smfi_settimeout((int)cfg->milter_timeout_secs);
    if (smfi_register(desc) == MI_FAILURE) {
        cg_log(LOG_CRIT, "smfi_register failed");
        return 1;
    }
    if (unix_in_use(socket_spec)) {
        cg_log(LOG_CRIT, "socket %s: in use (another contactgate is serving on it)", socket_spec);
        return 1;
    }
    if (smfi_opensocket(1) == MI_FAILURE) {
        cg_log(LOG_CRIT, "socket %s: cannot open (in use, or no permission?)", socket_spec);
        return 1;
    }
    char err[512];
    if (cg_gate_arm(socket_spec, err, sizeof err) < 0 ||
        cg_socket_secure(socket_spec, err, sizeof err) < 0) {
        cg_log(LOG_CRIT, "%s", err);
        return 1;
    }
    session_stacks();
    if (ready)
        ready(ready_arg);
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
