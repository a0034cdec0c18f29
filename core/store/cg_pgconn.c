/*
 * cg_pgconn.c - one PostgreSQL connection with deadlines of our own (the
 * contract is in cg_pgconn.h).
 *
 * Everything runs on libpq's asynchronous API: PQconnectStartParams and
 * PQconnectPoll to connect, a non-blocking socket and pipeline mode to run
 * statements, poll(2) with the time left for every wait. libpq's own
 * timeouts (connect_timeout) only work in its blocking calls, which are
 * never used here.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "cg_pgconn.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define DEF_BACKOFF_MIN_MS 100
#define DEF_BACKOFF_MAX_MS 10000
#define DEF_CANCEL_GRACE_MS 1000
#define DEF_APPNAME "contactgate"

struct cg_pgres {
    int n;
    PGresult **res;                /* n; NULL where no result came */
    int *status;                   /* n; enum cg_pgres_status */
    struct cg_pgnotice notices[CG_PGCONN_MAX_NOTICES];
    char *notice_mem[CG_PGCONN_MAX_NOTICES];
    int nnotices;
    int dropped;
    int syncrep_cancelled;
    int deadline_hit;
};

struct cg_pgconn {
    char *conninfo;
    PQconninfoOption *opts;        /* conninfo parsed once */
    struct cg_pgconn_opts o;
    /* hosts, split from opts (nhosts 0: leave the host list to libpq) */
    int nhosts;
    char **host, **hostaddr, **port; /* nhosts each; NULL: not given */
    int per_host_ms;               /* from connect_timeout; 0: none */
    int prefer_standby;
    PGconn *pg;
    uint64_t generation;
    int in_xact;                   /* the last call left a transaction open */
    int doomed;                    /* a FATAL came while idle: the server is
                                    * closing this connection */
    int fails;                     /* connect failures in a row */
    int64_t retry_at_ms;           /* no attempt before this */
    char last_err[512];
    uint32_t rng;
    struct cg_pgres *cur;          /* the call being run: notices go here */
    char *prepared[CG_PGCONN_MAX_PREPARED]; /* texts prepared on this connection */
    uint64_t prepared_id[CG_PGCONN_MAX_PREPARED]; /* as "cg_p<id>": never reused */
    uint64_t prepared_next;
    int nprepared;
    uint64_t prepared_gen;         /* the connection they were prepared on */
};

/* --- small helpers -------------------------------------------------------- */

int64_t cg_pgconn_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* seterr - format into err (NULL-safe) */
static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* oneline - copy s into buf with newlines and tabs as single spaces and no
 * trailing blank (libpq's messages end in "\n" and may span lines) */
static const char *oneline(char *buf, size_t len, const char *s)
{
    size_t o = 0;
    int blank = 0;

    if (len == 0)
        return buf;
    for (; s != NULL && *s != '\0' && o + 1 < len; s++) {
        if (*s == '\n' || *s == '\t' || *s == '\r' || *s == ' ') {
            blank = 1;
            continue;
        }
        if (blank && o > 0 && o + 2 < len)
            buf[o++] = ' ';
        blank = 0;
        buf[o++] = *s;
    }
    buf[o] = '\0';
    return buf;
}

static int clamp_ms(int64_t ms)
{
    if (ms < 0)
        return 0;
    if (ms > INT_MAX)
        return INT_MAX;
    return (int) ms;
}

/* wait_fd - poll one descriptor until an event or the deadline.
 * 1: ready (or error/hang-up: the caller's next libpq call finds out),
 * 0: deadline, -1: poll failed */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
    struct pollfd p;
    int rc;

    for (;;) {
        int64_t left = deadline_ms - cg_pgconn_now_ms();

        if (left <= 0)
            return 0;
        p.fd = fd;
        p.events = events;
        p.revents = 0;
        rc = poll(&p, 1, clamp_ms(left));
        if (rc > 0)
            return 1;
        if (rc == 0)
            continue; /* re-check the clock: poll may round down */
        if (errno != EINTR)
            return -1;
    }
}

static uint32_t rng_next(struct cg_pgconn *c)
{
    uint32_t x = c->rng ? c->rng : 0x9e3779b9u;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c->rng = x;
    return x;
}

/* --- results ---------------------------------------------------------------- */

static struct cg_pgres *res_new(int n)
{
    struct cg_pgres *r = calloc(1, sizeof *r);

    if (r == NULL)
        return NULL;
    r->n = n;
    r->res = calloc((size_t) n, sizeof *r->res);
    r->status = malloc((size_t) n * sizeof *r->status);
    if (r->res == NULL || r->status == NULL) {
        free(r->res);
        free(r->status);
        free(r);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        r->status[i] = CG_PGRES_MISSING;
    return r;
}

void cg_pgres_free(struct cg_pgres **rp)
{
    struct cg_pgres *r;

    if (rp == NULL || *rp == NULL)
        return;
    r = *rp;
    for (int i = 0; i < r->n; i++)
        PQclear(r->res[i]);
    for (int k = 0; k < r->nnotices; k++)
        free(r->notice_mem[k]);
    free(r->res);
    free(r->status);
    free(r);
    *rp = NULL;
}

static PGresult *res_at(const struct cg_pgres *r, int i)
{
    if (r == NULL || i < 0 || i >= r->n)
        return NULL;
    return r->res[i];
}

int cg_pgres_count(const struct cg_pgres *r)
{
    return r ? r->n : 0;
}

int cg_pgres_status(const struct cg_pgres *r, int i)
{
    if (r == NULL || i < 0 || i >= r->n)
        return CG_PGRES_MISSING;
    return r->status[i];
}

static const char *field_or_empty(const struct cg_pgres *r, int i, int code)
{
    PGresult *res = res_at(r, i);
    const char *s = res ? PQresultErrorField(res, code) : NULL;

    return s ? s : "";
}

const char *cg_pgres_sqlstate(const struct cg_pgres *r, int i)
{
    return field_or_empty(r, i, PG_DIAG_SQLSTATE);
}

const char *cg_pgres_errmsg(const struct cg_pgres *r, int i)
{
    return field_or_empty(r, i, PG_DIAG_MESSAGE_PRIMARY);
}

int cg_pgres_ntuples(const struct cg_pgres *r, int i)
{
    PGresult *res = res_at(r, i);

    return res ? PQntuples(res) : 0;
}

int cg_pgres_nfields(const struct cg_pgres *r, int i)
{
    PGresult *res = res_at(r, i);

    return res ? PQnfields(res) : 0;
}

const char *cg_pgres_value(const struct cg_pgres *r, int i, int row, int col)
{
    PGresult *res = res_at(r, i);

    if (res == NULL || row < 0 || col < 0 || row >= PQntuples(res) || col >= PQnfields(res))
        return NULL;
    if (PQgetisnull(res, row, col))
        return NULL;
    return PQgetvalue(res, row, col);
}

int64_t cg_pgres_affected(const struct cg_pgres *r, int i)
{
    PGresult *res = res_at(r, i);
    const char *s = res ? PQcmdTuples(res) : NULL;
    char *end;
    long long v;

    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0)
        return -1;
    return (int64_t) v;
}

struct pg_result *cg_pgres_raw(const struct cg_pgres *r, int i)
{
    return res_at(r, i);
}

int cg_pgres_nnotices(const struct cg_pgres *r)
{
    return r ? r->nnotices : 0;
}

const struct cg_pgnotice *cg_pgres_notice(const struct cg_pgres *r, int k)
{
    if (r == NULL || k < 0 || k >= r->nnotices)
        return NULL;
    return &r->notices[k];
}

int cg_pgres_notices_dropped(const struct cg_pgres *r)
{
    return r ? r->dropped : 0;
}

int cg_pgres_syncrep_cancelled(const struct cg_pgres *r)
{
    return r ? r->syncrep_cancelled : 0;
}

int cg_pgres_deadline_hit(const struct cg_pgres *r)
{
    return r ? r->deadline_hit : 0;
}

/* is_syncrep_cancel - the primary message of the server's notice when a
 * backend stops waiting for synchronous replication (syncrep.c): "canceling
 * wait for synchronous replication due to user request" on a cancel,
 * "canceling the wait for synchronous replication and terminating
 * connection ..." on a termination */
static int is_syncrep_cancel(const char *msg)
{
    return msg != NULL && strncmp(msg, "canceling ", 10) == 0 &&
           strstr(msg, "wait for synchronous replication") != NULL;
}

/* notice_cb - libpq's notice receiver: keep the notice in the call's
 * results; outside a call, notices are dropped, but a FATAL marks the
 * connection as going away */
static void notice_cb(void *arg, const PGresult *res)
{
    struct cg_pgconn *c = arg;
    struct cg_pgres *r = c->cur;
    const char *f[4];
    size_t len[4], total = 0;
    char *mem, *p;
    struct cg_pgnotice *n;

    f[0] = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (f[0] == NULL)
        f[0] = PQresultErrorField(res, PG_DIAG_SEVERITY);
    if (r == NULL) {
        /* between calls libpq passes an ErrorResponse here: the server
         * saying why it is about to close the connection */
        if (f[0] && (strcmp(f[0], "FATAL") == 0 || strcmp(f[0], "PANIC") == 0))
            c->doomed = 1;
        return;
    }
    f[1] = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    f[2] = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    f[3] = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    if (is_syncrep_cancel(f[2]))
        r->syncrep_cancelled = 1;
    if (r->nnotices >= CG_PGCONN_MAX_NOTICES) {
        r->dropped++;
        return;
    }
    for (int i = 0; i < 4; i++) {
        if (f[i] == NULL)
            f[i] = "";
        len[i] = strlen(f[i]) + 1;
        total += len[i];
    }
    mem = malloc(total);
    if (mem == NULL) {
        r->dropped++;
        return;
    }
    n = &r->notices[r->nnotices];
    p = mem;
    for (int i = 0; i < 4; i++) {
        memcpy(p, f[i], len[i]);
        if (i == 0)
            n->severity = p;
        else if (i == 1)
            n->sqlstate = p;
        else if (i == 2)
            n->message = p;
        else
            n->detail = p;
        p += len[i];
    }
    r->notice_mem[r->nnotices++] = mem;
}

/* --- the connection object ------------------------------------------------ */

static const char *opt_val(const PQconninfoOption *opts, const char *key)
{
    for (const PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, key) == 0)
            return o->val;
    return NULL;
}

/* count_list - elements of a comma-separated list (0 for NULL) */
static int count_list(const char *s)
{
    int n = 1;

    if (s == NULL)
        return 0;
    for (; *s; s++)
        if (*s == ',')
            n++;
    return n;
}

/* split_list - the list's elements as n strings; a list of one element is
 * repeated n times; NULL list gives n NULLs. 0 ok, -1 out of memory. */
static int split_list(const char *s, int n, char ***out_r)
{
    char **out = calloc((size_t) n, sizeof *out);
    int k = count_list(s);

    *out_r = out;
    if (out == NULL)
        return -1;
    if (s == NULL)
        return 0;
    for (int i = 0; i < n; i++) {
        const char *start = s, *end;

        if (k > 1) {
            /* element i */
            start = s;
            for (int j = 0; j < i; j++)
                start = strchr(start, ',') + 1;
        }
        end = strchr(start, ',');
        if (k == 1 || end == NULL)
            end = start + strlen(start);
        out[i] = strndup(start, (size_t) (end - start));
        if (out[i] == NULL)
            return -1;
    }
    return 0;
}

static void free_list(char **l, int n)
{
    if (l == NULL)
        return;
    for (int i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

/* plan_hosts - from the parsed conninfo: the host list to try one by one
 * (only when it has several entries and port/hostaddr lists match, else
 * libpq gets the conninfo whole and reports any mismatch itself), the
 * per-host budget, prefer-standby */
static int plan_hosts(struct cg_pgconn *c)
{
    const char *host = opt_val(c->opts, "host");
    const char *hostaddr = opt_val(c->opts, "hostaddr");
    const char *port = opt_val(c->opts, "port");
    const char *ct = opt_val(c->opts, "connect_timeout");
    const char *tsa = opt_val(c->opts, "target_session_attrs");
    int nh = count_list(host), na = count_list(hostaddr), np = count_list(port);
    int n = nh > na ? nh : na;

    if (ct != NULL && *ct != '\0') {
        long s = strtol(ct, NULL, 10);

        if (s > 0)
            c->per_host_ms = (int) ((s < 2 ? 2 : (s > 86400 ? 86400 : s)) * 1000);
    }
    c->prefer_standby = tsa != NULL && strcmp(tsa, "prefer-standby") == 0;
    if (n < 2 || (nh != 0 && nh != n) || (na != 0 && na != n) || (np > 1 && np != n))
        return 0;
    c->nhosts = n;
    if (split_list(host, n, &c->host) < 0 || split_list(hostaddr, n, &c->hostaddr) < 0 ||
        split_list(port, n, &c->port) < 0)
        return -1;
    return 0;
}

int cg_pgconn_new(const char *conninfo, const struct cg_pgconn_opts *opts,
                  struct cg_pgconn **conn_r, char *err, size_t errlen)
{
    struct cg_pgconn *c;
    char *perr = NULL;
    char line[512];

    if (conn_r == NULL) {
        seterr(err, errlen, "conn_r is NULL");
        return -1;
    }
    *conn_r = NULL;
    if (conninfo == NULL) {
        seterr(err, errlen, "no conninfo");
        return -1;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        seterr(err, errlen, "out of memory");
        return -1;
    }
    c->opts = PQconninfoParse(conninfo, &perr);
    if (c->opts == NULL) {
        seterr(err, errlen, "invalid conninfo: %s",
               perr ? oneline(line, sizeof line, perr) : "out of memory");
        PQfreemem(perr);
        free(c);
        return -1;
    }
    c->conninfo = strdup(conninfo);
    if (opts != NULL)
        c->o = *opts;
    if (c->o.backoff_min_ms <= 0)
        c->o.backoff_min_ms = DEF_BACKOFF_MIN_MS;
    if (c->o.backoff_max_ms <= 0)
        c->o.backoff_max_ms = DEF_BACKOFF_MAX_MS;
    if (c->o.backoff_max_ms < c->o.backoff_min_ms)
        c->o.backoff_max_ms = c->o.backoff_min_ms;
    if (c->o.cancel_grace_ms <= 0)
        c->o.cancel_grace_ms = DEF_CANCEL_GRACE_MS;
    c->o.application_name = strdup(c->o.application_name ? c->o.application_name : DEF_APPNAME);
    c->rng = (uint32_t) cg_pgconn_now_ms() ^ (uint32_t) getpid() ^ (uint32_t) (uintptr_t) c;
    if (c->conninfo == NULL || c->o.application_name == NULL || plan_hosts(c) < 0) {
        seterr(err, errlen, "out of memory");
        cg_pgconn_free(&c);
        return -1;
    }
    *conn_r = c;
    return 0;
}

static void drop(struct cg_pgconn *c)
{
    if (c->pg != NULL)
        PQfinish(c->pg);
    c->pg = NULL;
    c->in_xact = 0;
    c->doomed = 0;
}

void cg_pgconn_free(struct cg_pgconn **connp)
{
    struct cg_pgconn *c;

    if (connp == NULL || *connp == NULL)
        return;
    c = *connp;
    drop(c);
    for (int i = 0; i < c->nprepared; i++)
        free(c->prepared[i]);
    free_list(c->host, c->nhosts);
    free_list(c->hostaddr, c->nhosts);
    free_list(c->port, c->nhosts);
    if (c->opts)
        PQconninfoFree(c->opts);
    free(c->conninfo);
    free((char *) c->o.application_name);
    free(c);
    *connp = NULL;
}

void cg_pgconn_disconnect(struct cg_pgconn *c)
{
    if (c != NULL)
        drop(c);
}

uint64_t cg_pgconn_generation(const struct cg_pgconn *c)
{
    return c ? c->generation : 0;
}

int cg_pgconn_connected(const struct cg_pgconn *c)
{
    return c != NULL && c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK;
}

int64_t cg_pgconn_retry_in_ms(const struct cg_pgconn *c)
{
    int64_t left;

    if (c == NULL || c->fails == 0)
        return 0;
    left = c->retry_at_ms - cg_pgconn_now_ms();
    return left > 0 ? left : 0;
}

const char *cg_pgconn_host(const struct cg_pgconn *c)
{
    return c && c->pg ? PQhost(c->pg) : NULL;
}

const char *cg_pgconn_port(const struct cg_pgconn *c)
{
    return c && c->pg ? PQport(c->pg) : NULL;
}

int cg_pgconn_in_transaction(const struct cg_pgconn *c)
{
    return c ? c->in_xact : 0;
}

const char *cg_pgconn_rc_name(int rc)
{
    switch (rc) {
    case CG_PGCONN_OK: return "ok";
    case CG_PGCONN_SQL_ERROR: return "sql-error";
    case CG_PGCONN_NOT_REPLICATED: return "not-replicated";
    case CG_PGCONN_TIMEOUT: return "timeout";
    case CG_PGCONN_DOWN: return "down";
    case CG_PGCONN_MISUSE: return "misuse";
    }
    return "unknown";
}

/* --- connecting ------------------------------------------------------------ */

#define MAX_KW 64

/* connect_one - one libpq connection attempt with every parsed option,
 * host/hostaddr/port replaced by host number idx (idx < 0: as given), and
 * target_session_attrs by tsa (NULL: as given); polled until host_deadline.
 * Returns the connection, or NULL with why in ebuf. */
static PGconn *connect_one(struct cg_pgconn *c, int idx, const char *tsa,
                           int64_t host_deadline, char *ebuf, size_t elen)
{
    const char *kw[MAX_KW + 1], *val[MAX_KW + 1];
    int n = 0;
    PGconn *pg;
    PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
    char line[512];

    for (const PQconninfoOption *o = c->opts; o && o->keyword && n < MAX_KW - 4; o++) {
        const char *v = o->val;

        if (idx >= 0 && strcmp(o->keyword, "host") == 0)
            v = c->host[idx];
        else if (idx >= 0 && strcmp(o->keyword, "hostaddr") == 0)
            v = c->hostaddr[idx];
        else if (idx >= 0 && strcmp(o->keyword, "port") == 0)
            v = c->port[idx];
        else if (tsa != NULL && strcmp(o->keyword, "target_session_attrs") == 0)
            v = tsa;
        else if (v == NULL && strcmp(o->keyword, "fallback_application_name") == 0)
            v = c->o.application_name;
        else if (v == NULL && strcmp(o->keyword, "client_encoding") == 0)
            v = "UTF8";
        if (v == NULL)
            continue;
        kw[n] = o->keyword;
        val[n] = v;
        n++;
    }
    kw[n] = NULL;
    val[n] = NULL;

    pg = PQconnectStartParams(kw, val, 0);
    if (pg == NULL) {
        seterr(ebuf, elen, "out of memory");
        return NULL;
    }
    if (PQstatus(pg) == CONNECTION_BAD) {
        seterr(ebuf, elen, "%s", oneline(line, sizeof line, PQerrorMessage(pg)));
        PQfinish(pg);
        return NULL;
    }
    for (;;) {
        int fd, w;

        if (ps == PGRES_POLLING_OK)
            break;
        if (ps == PGRES_POLLING_FAILED) {
            seterr(ebuf, elen, "%s", oneline(line, sizeof line, PQerrorMessage(pg)));
            PQfinish(pg);
            return NULL;
        }
        fd = PQsocket(pg); /* may change: libpq tries each address in turn */
        if (fd < 0) {
            seterr(ebuf, elen, "no socket: %s", oneline(line, sizeof line, PQerrorMessage(pg)));
            PQfinish(pg);
            return NULL;
        }
        w = wait_fd(fd, ps == PGRES_POLLING_READING ? POLLIN : POLLOUT, host_deadline);
        if (w <= 0) {
            if (w == 0)
                seterr(ebuf, elen, "timeout: no answer in time");
            else
                seterr(ebuf, elen, "poll: %s", strerror(errno));
            PQfinish(pg);
            return NULL;
        }
        ps = PQconnectPoll(pg);
    }
    if (PQsetnonblocking(pg, 1) != 0) {
        seterr(ebuf, elen, "cannot make the socket non-blocking: %s",
               oneline(line, sizeof line, PQerrorMessage(pg)));
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeReceiver(pg, notice_cb, c);
    return pg;
}

/* connect_all - try each host (each pass) until one connects or the
 * deadline passes; the errors of all attempts go into err */
static PGconn *connect_all(struct cg_pgconn *c, int64_t deadline_ms, char *err, size_t errlen)
{
    int passes = c->prefer_standby ? 2 : 1;
    int nh = c->nhosts > 0 ? c->nhosts : 1;
    size_t o = 0;
    char one[512];

    if (err && errlen)
        err[0] = '\0';
    for (int pass = 0; pass < passes; pass++) {
        const char *tsa = c->prefer_standby ? (pass == 0 ? "standby" : "any") : NULL;

        for (int i = 0; i < nh; i++) {
            int64_t now = cg_pgconn_now_ms(), hd = deadline_ms;
            int left = (passes - pass) * nh - i; /* attempts left, this one included */
            PGconn *pg;

            if (now >= deadline_ms) {
                if (err && o < errlen)
                    snprintf(err + o, errlen - o, "%sdeadline reached", o ? "; " : "");
                return NULL;
            }
            /* this host's budget: connect_timeout, else a fair share of
             * what is left, so that one silent host cannot take it all */
            if (c->per_host_ms > 0) {
                if (now + c->per_host_ms < hd)
                    hd = now + c->per_host_ms;
            } else if (left > 1) {
                hd = now + (deadline_ms - now) / left;
            }
            pg = connect_one(c, c->nhosts > 0 ? i : -1, tsa, hd, one, sizeof one);
            if (pg != NULL)
                return pg;
            if (err && o < errlen) {
                int k;

                if (c->nhosts > 0)
                    k = snprintf(err + o, errlen - o, "%s%s:%s: %s", o ? "; " : "",
                                 c->host[i] ? c->host[i] : (c->hostaddr[i] ? c->hostaddr[i] : ""),
                                 c->port[i] ? c->port[i] : "", one);
                else
                    k = snprintf(err + o, errlen - o, "%s%s", o ? "; " : "", one);
                if (k > 0)
                    o += (size_t) k < errlen - o ? (size_t) k : errlen - o - 1;
            }
        }
    }
    return NULL;
}

/* healthy - the connection is up as far as can be told without sending.
 * An idle connection has nothing to read; when the server closes it
 * (restart, termination, idle timeout) it first sends a FATAL message,
 * which libpq passes to the notice receiver (doomed), then end of file,
 * a moment later. So: read and parse while the socket is readable, until
 * EOF or a FATAL. */
static int healthy(struct cg_pgconn *c, char *why, size_t whylen)
{
    struct pollfd p;
    char line[512];

    for (int i = 0; i < 8; i++) {
        if (PQstatus(c->pg) != CONNECTION_OK) {
            seterr(why, whylen, "%s", oneline(line, sizeof line, PQerrorMessage(c->pg)));
            return 0;
        }
        if (c->doomed) {
            seterr(why, whylen, "the server is closing the connection (FATAL while idle)");
            return 0;
        }
        p.fd = PQsocket(c->pg);
        p.events = POLLIN;
        p.revents = 0;
        if (p.fd < 0) {
            seterr(why, whylen, "no socket");
            return 0;
        }
        if (poll(&p, 1, 0) <= 0)
            return 1;
        if (!PQconsumeInput(c->pg)) {
            seterr(why, whylen, "%s", oneline(line, sizeof line, PQerrorMessage(c->pg)));
            return 0;
        }
        /* PQconsumeInput only reads; PQisBusy parses, which hands an
         * ErrorResponse received while idle to notice_cb */
        (void) PQisBusy(c->pg);
    }
    return 1; /* readable and still alive after several reads: unusual; let the call find out */
}

/* ensure - a usable connection, or why not (enum cg_pgconn_rc) */
static int ensure(struct cg_pgconn *c, int64_t deadline_ms, char *err, size_t errlen)
{
    char why[512];
    int64_t now, delay;
    PGconn *pg;

    if (c->pg != NULL) {
        int was_in_xact = c->in_xact;

        if (healthy(c, why, sizeof why))
            return CG_PGCONN_OK;
        drop(c);
        snprintf(c->last_err, sizeof c->last_err, "connection lost: %.480s", why);
        if (was_in_xact) {
            seterr(err, errlen, "connection lost inside a transaction (the server "
                   "rolled it back): %s", why);
            return CG_PGCONN_DOWN;
        }
    }
    now = cg_pgconn_now_ms();
    if (c->fails > 0 && now < c->retry_at_ms) {
        seterr(err, errlen, "not connecting for another %lld ms (backoff after %d failed "
               "attempt%s): %s", (long long) (c->retry_at_ms - now), c->fails,
               c->fails == 1 ? "" : "s", c->last_err);
        return CG_PGCONN_DOWN;
    }
    if (now >= deadline_ms) {
        seterr(err, errlen, "deadline passed before connecting");
        return CG_PGCONN_TIMEOUT;
    }
    pg = connect_all(c, deadline_ms, why, sizeof why);
    if (pg == NULL) {
        int shift = c->fails < 20 ? c->fails : 20;

        c->fails++;
        delay = (int64_t) c->o.backoff_min_ms << shift;
        if (delay > c->o.backoff_max_ms)
            delay = c->o.backoff_max_ms;
        delay = delay / 2 + (int64_t) (rng_next(c) % (uint32_t) (delay - delay / 2 + 1));
        c->retry_at_ms = cg_pgconn_now_ms() + delay;
        snprintf(c->last_err, sizeof c->last_err, "%s", why);
        seterr(err, errlen, "cannot connect: %s", why);
        return CG_PGCONN_DOWN;
    }
    c->pg = pg;
    c->fails = 0;
    c->retry_at_ms = 0;
    c->in_xact = 0;
    c->generation++;
    return CG_PGCONN_OK;
}

int cg_pgconn_connect(struct cg_pgconn *c, int64_t deadline_ms, char *err, size_t errlen)
{
    if (c == NULL) {
        seterr(err, errlen, "no connection object");
        return CG_PGCONN_MISUSE;
    }
    return ensure(c, deadline_ms, err, errlen);
}

/* --- cancel, bounded ------------------------------------------------------ */
/* PQcancel opens a connection of its own and waits for the server to take
 * the request; against a host that stopped answering that can take minutes.
 * It runs in a helper thread; the caller waits for it until the grace
 * deadline and then leaves it (it frees its own job when it ends). */

struct cancel_job {
    PGcancel *cancel;
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, abandoned, ok;
    char err[256];
};

static void cancel_job_free(struct cancel_job *j)
{
    PQfreeCancel(j->cancel);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

static void *cancel_main(void *arg)
{
    struct cancel_job *j = arg;
    char e[256];
    int ok, abandoned;

    e[0] = '\0';
    ok = PQcancel(j->cancel, e, sizeof e);
    pthread_mutex_lock(&j->mu);
    j->done = 1;
    j->ok = ok;
    memcpy(j->err, e, sizeof j->err);
    abandoned = j->abandoned;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (abandoned)
        cancel_job_free(j);
    return NULL;
}

/* cancel_start - NULL when no cancel could be started */
static struct cancel_job *cancel_start(PGconn *pg)
{
    struct cancel_job *j = calloc(1, sizeof *j);
    pthread_condattr_t ca;

    if (j == NULL)
        return NULL;
    j->cancel = PQgetCancel(pg);
    if (j->cancel == NULL) {
        free(j);
        return NULL;
    }
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&j->tid, NULL, cancel_main, j) != 0) {
        cancel_job_free(j);
        return NULL;
    }
    return j;
}

/* cancel_finish - wait for the cancel until deadline_ms; 1 when the server
 * took it, 0 when it refused or failed (why in err), -1 still running
 * (left to finish on its own) */
static int cancel_finish(struct cancel_job *j, int64_t deadline_ms, char *err, size_t errlen)
{
    struct timespec ts;
    int rc;

    ts.tv_sec = (time_t) (deadline_ms / 1000);
    ts.tv_nsec = (long) (deadline_ms % 1000) * 1000000L;
    pthread_mutex_lock(&j->mu);
    while (!j->done) {
        if (pthread_cond_timedwait(&j->cv, &j->mu, &ts) == ETIMEDOUT)
            break;
    }
    if (!j->done) {
        j->abandoned = 1;
        pthread_mutex_unlock(&j->mu);
        pthread_detach(j->tid);
        seterr(err, errlen, "cancel request unanswered");
        return -1;
    }
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->tid, NULL);
    rc = j->ok ? 1 : 0;
    if (!j->ok)
        seterr(err, errlen, "%s", j->err);
    cancel_job_free(j);
    return rc;
}

/* --- running statements ---------------------------------------------------- */

enum { PUMP_DONE, PUMP_TIMEOUT, PUMP_BROKEN };

struct pump {
    int idx;      /* statement whose results are being read */
    int have;     /* statement idx has its result */
    int got_sync;
    int nulls;    /* NULLs in a row without a result: a guard */
};

static int map_status(ExecStatusType st)
{
    switch (st) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        return CG_PGRES_OK;
    case PGRES_PIPELINE_ABORTED:
        return CG_PGRES_ABORTED;
    default:
        return CG_PGRES_ERROR;
    }
}

/* pump - flush what is queued and read results until the pipeline's sync
 * result, or the deadline, or a broken connection */
static int pump(struct cg_pgconn *c, struct cg_pgres *r, struct pump *p, int64_t deadline_ms)
{
    PGconn *pg = c->pg;

    while (!p->got_sync) {
        int f = PQflush(pg), w;

        if (f < 0)
            return PUMP_BROKEN;
        while (!PQisBusy(pg)) {
            PGresult *res = PQgetResult(pg);

            if (PQstatus(pg) == CONNECTION_BAD) {
                if (res != NULL && p->idx < r->n && !p->have) {
                    r->res[p->idx] = res;
                    r->status[p->idx] = CG_PGRES_ERROR;
                } else {
                    PQclear(res);
                }
                return PUMP_BROKEN;
            }
            if (res == NULL) {
                if (p->have) {
                    p->idx++;
                    p->have = 0;
                    p->nulls = 0;
                } else if (++p->nulls > 2) {
                    return PUMP_BROKEN; /* no progress: protocol confusion */
                }
                continue;
            }
            p->nulls = 0;
            if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
                PQclear(res);
                p->got_sync = 1;
                break;
            }
            if (p->idx < r->n && !p->have) {
                r->res[p->idx] = res;
                r->status[p->idx] = map_status(PQresultStatus(res));
                p->have = 1;
            } else {
                PQclear(res); /* a second result of one statement: not expected */
            }
        }
        if (p->got_sync)
            break;
        w = wait_fd(PQsocket(pg), (short) (POLLIN | (f == 1 ? POLLOUT : 0)), deadline_ms);
        if (w == 0)
            return PUMP_TIMEOUT;
        if (w < 0 || !PQconsumeInput(pg))
            return PUMP_BROKEN;
    }
    /* out of pipeline mode again: a NULL may still follow the sync */
    if (!PQexitPipelineMode(pg)) {
        PGresult *res = PQgetResult(pg);

        PQclear(res);
        if (!PQexitPipelineMode(pg))
            return PUMP_BROKEN;
    }
    return PUMP_DONE;
}

/* --- prepared statements ----------------------------------------------------- */

/* prepared_index - the number of the statement prepared with this text on
 * the current connection, or -1 */
static int prepared_index(const struct cg_pgconn *c, const char *sql)
{
    for (int i = 0; i < c->nprepared; i++)
        if (strcmp(c->prepared[i], sql) == 0)
            return i;
    return -1;
}

/* new_before - is statement i's text to be prepared by an earlier
 * statement of the same pipeline */
static int new_before(const struct cg_pgconn_stmt *stmts, int i)
{
    for (int k = 0; k < i; k++)
        if (stmts[k].prepare && strcmp(stmts[k].sql, stmts[i].sql) == 0)
            return 1;
    return 0;
}

/* send_all - queue the statements: one to keep prepared is prepared
 * (slot[] says where a Parse goes first) and executed by name */
static int send_all(struct cg_pgconn *c, const struct cg_pgconn_stmt *stmts, int n,
                    const int *slot, int *newprep)
{
    char name[32];

    *newprep = 0;
    for (int i = 0; i < n; i++) {
        int parse = i == 0 ? slot[0] == 1 : slot[i] - slot[i - 1] == 2;
        int k = -1;

        if (parse) {
            k = c->nprepared++;
            c->prepared[k] = strdup(stmts[i].sql); /* kept if the Parse succeeds (compact) */
            c->prepared_id[k] = c->prepared_next++;
            if (c->prepared[k] == NULL)
                return -1;
            snprintf(name, sizeof name, "cg_p%llu", (unsigned long long) c->prepared_id[k]);
            if (!PQsendPrepare(c->pg, name, stmts[i].sql, stmts[i].nparams, NULL))
                return -1;
            (*newprep)++;
        } else if (stmts[i].prepare) {
            k = prepared_index(c, stmts[i].sql);
        }
        if (k >= 0) {
            snprintf(name, sizeof name, "cg_p%llu", (unsigned long long) c->prepared_id[k]);
            if (!PQsendQueryPrepared(c->pg, name, stmts[i].nparams, stmts[i].params, NULL,
                                     NULL, 0))
                return -1;
        } else if (!PQsendQueryParams(c->pg, stmts[i].sql, stmts[i].nparams, NULL,
                                      stmts[i].params, NULL, NULL, 0)) {
            return -1;
        }
    }
    return 0;
}

/* compact - the results of the statements alone (n), the Parse results
 * taken out: a failed Parse becomes its statement's error; a statement
 * whose Parse did not succeed is forgotten (prepared again next time) */
static void compact(struct cg_pgconn *c, struct cg_pgres *r, const struct cg_pgconn_stmt *stmts,
                    int n, const int *slot)
{
    if (r == NULL || r->n == n)
        return;
    for (int i = 0; i < n; i++) {
        int s = slot[i], prep = i == 0 ? s == 1 : s - slot[i - 1] == 2;

        if (prep) {
            int ok = r->status[s - 1] == CG_PGRES_OK && r->res[s - 1] != NULL;
            int k = prepared_index(c, stmts[i].sql);

            if (!ok) {
                if (k >= 0) /* not prepared (or not known to be): prepare again next time */
                    c->prepared[k][0] = 0;
                if (r->status[s - 1] == CG_PGRES_ERROR) { /* its error is the statement's */
                    PQclear(r->res[s]);
                    r->res[s] = r->res[s - 1];
                    r->status[s] = CG_PGRES_ERROR;
                    r->res[s - 1] = NULL;
                }
            }
            PQclear(r->res[s - 1]);
            r->res[s - 1] = NULL;
        }
        r->res[i] = r->res[s];
        r->status[i] = r->status[s];
        if (s != i)
            r->res[s] = NULL;
    }
    r->n = n;
}

static int check_args(const struct cg_pgconn_stmt *stmts, int n, char *err, size_t errlen)
{
    if (stmts == NULL || n < 1) {
        seterr(err, errlen, "no statements");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (stmts[i].sql == NULL || stmts[i].nparams < 0 || stmts[i].nparams > 65535 ||
            (stmts[i].nparams > 0 && stmts[i].params == NULL)) {
            seterr(err, errlen, "statement %d: no SQL or bad parameters", i);
            return -1;
        }
    }
    return 0;
}

/* --- what every statement call shares ----------------------------------------- */

/* call_start - connect if need be; CG_PGCONN_OK when the call may send */
static int call_start(struct cg_pgconn *c, int64_t deadline_ms, char *err, size_t errlen)
{
    int rc = ensure(c, deadline_ms, err, errlen);

    if (rc != CG_PGCONN_OK)
        return rc;
    if (cg_pgconn_now_ms() >= deadline_ms) {
        seterr(err, errlen, "deadline passed before sending");
        return CG_PGCONN_TIMEOUT;
    }
    return CG_PGCONN_OK;
}

/* call_outcome - a call whose results all came: CG_PGCONN_OK, the first
 * failed statement's CG_PGCONN_SQL_ERROR, or CG_PGCONN_NOT_REPLICATED */
static int call_outcome(const struct cg_pgres *r, char *err, size_t errlen)
{
    char line[512];

    for (int i = 0; i < r->n; i++) {
        if (r->status[i] != CG_PGRES_OK) {
            seterr(err, errlen, "statement %d: %s: %s", i, cg_pgres_sqlstate(r, i),
                   oneline(line, sizeof line, cg_pgres_errmsg(r, i)));
            return CG_PGCONN_SQL_ERROR;
        }
    }
    if (r->syncrep_cancelled) {
        seterr(err, errlen, "the wait for synchronous replication was cancelled: "
               "committed locally, maybe not replicated");
        return CG_PGCONN_NOT_REPLICATED;
    }
    return CG_PGCONN_OK;
}

/* call_end - every call's end: the transaction state, the results handed
 * over (res_r) or freed; returns rc */
static int call_end(struct cg_pgconn *c, struct cg_pgres *r, struct cg_pgres **res_r, int rc)
{
    if (c->pg != NULL) {
        PGTransactionStatusType ts = PQtransactionStatus(c->pg);

        c->in_xact = ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;
    }
    c->cur = NULL;
    if (res_r != NULL)
        *res_r = r;
    else
        cg_pgres_free(&r);
    return rc;
}

/* deadline_start - a call's deadline passed: a cancel started (NULL when
 * none could be) and the grace for the server's answer (*grace_r) */
static struct cancel_job *deadline_start(struct cg_pgconn *c, struct cg_pgres *r,
                                         int64_t *grace_r)
{
    *grace_r = cg_pgconn_now_ms() + c->o.cancel_grace_ms;
    r->deadline_hit = 1;
    return cancel_start(c->pg);
}

/* deadline_finish - the cancel's end and the call's (answered: the server
 * answered within the grace); without an answer the connection is dropped */
static int deadline_finish(struct cg_pgconn *c, struct cg_pgres *r, struct cancel_job *j,
                           int64_t grace, int answered, struct cg_pgres **res_r, char *err,
                           size_t errlen)
{
    char cerr[256] = "could not start a cancel";
    int cok = j != NULL ? cancel_finish(j, grace, cerr, sizeof cerr) : -1;

    if (!answered) {
        drop(c);
        seterr(err, errlen, "deadline passed; no answer to the cancel within %d ms "
               "(%s): connection dropped; outcome unknown", c->o.cancel_grace_ms,
               cok == 1 ? "cancel sent" : cerr);
    } else if (r->syncrep_cancelled) {
        seterr(err, errlen, "deadline passed while the commit waited for synchronous "
               "replication: committed locally, maybe not replicated");
    } else {
        seterr(err, errlen, "deadline passed; cancelled (%s)",
               cok == 1 ? "the statements may or may not have taken effect" : cerr);
    }
    return call_end(c, r, res_r, CG_PGCONN_TIMEOUT);
}

/* call_broken - the connection broke during a call (sent: after something
 * was sent): why into err, the connection dropped */
static int call_broken(struct cg_pgconn *c, struct cg_pgres *r, struct cg_pgres **res_r,
                       int sent, char *err, size_t errlen)
{
    char line[512];

    seterr(err, errlen, "connection lost%s: %s",
           sent ? " during the call (outcome unknown)" : "",
           oneline(line, sizeof line, PQerrorMessage(c->pg)));
    snprintf(c->last_err, sizeof c->last_err, "connection lost: %.480s", line);
    drop(c);
    return call_end(c, r, res_r, CG_PGCONN_DOWN);
}

int cg_pgconn_pipeline(struct cg_pgconn *c, int64_t deadline_ms,
                       const struct cg_pgconn_stmt *stmts, int n,
                       struct cg_pgres **res_r, char *err, size_t errlen)
{
    struct cg_pgres *r;
    struct pump p = { 0, 0, 0, 0 };
    int rc, io, sent = 0;

    if (res_r != NULL)
        *res_r = NULL;
    if (c == NULL || check_args(stmts, n, err, errlen) < 0) {
        if (c == NULL)
            seterr(err, errlen, "no connection object");
        return CG_PGCONN_MISUSE;
    }
    rc = call_start(c, deadline_ms, err, errlen);
    if (rc != CG_PGCONN_OK)
        return rc;
    /* statements to prepare first: their Parse results come in the
     * pipeline too (slot[i]: the result index of statement i) */
    if (c->prepared_gen != c->generation) {
        for (int i = 0; i < c->nprepared; i++)
            free(c->prepared[i]);
        c->nprepared = 0;
        c->prepared_gen = c->generation;
    }
    int *slot = calloc((size_t) n, sizeof *slot), total = 0, newprep = 0;
    if (slot == NULL) {
        seterr(err, errlen, "out of memory");
        return CG_PGCONN_MISUSE;
    }
    for (int i = 0; i < n; i++) {
        if (stmts[i].prepare && prepared_index(c, stmts[i].sql) < 0 &&
            c->nprepared + newprep < CG_PGCONN_MAX_PREPARED && !new_before(stmts, i))
            total++, newprep++;
        slot[i] = total++;
    }
    r = res_new(total);
    if (r == NULL) {
        free(slot);
        seterr(err, errlen, "out of memory");
        return CG_PGCONN_MISUSE;
    }
    c->cur = r;

    if (!PQenterPipelineMode(c->pg) || send_all(c, stmts, n, slot, &newprep) < 0 ||
        !PQpipelineSync(c->pg)) {
        compact(c, r, stmts, n, slot);
        free(slot);
        return call_broken(c, r, res_r, 0, err, errlen);
    }
    sent = 1;
    io = pump(c, r, &p, deadline_ms);
    if (io == PUMP_TIMEOUT) {
        /* our deadline: cancel, then give the server the grace to answer */
        int64_t grace;
        struct cancel_job *j = deadline_start(c, r, &grace);

        io = j ? pump(c, r, &p, grace) : PUMP_TIMEOUT;
        compact(c, r, stmts, n, slot);
        free(slot);
        return deadline_finish(c, r, j, grace, io == PUMP_DONE, res_r, err, errlen);
    }
    compact(c, r, stmts, n, slot);
    free(slot);
    if (io == PUMP_BROKEN)
        return call_broken(c, r, res_r, sent, err, errlen);
    return call_end(c, r, res_r, call_outcome(r, err, errlen));
}

int cg_pgconn_exec(struct cg_pgconn *c, int64_t deadline_ms, const char *sql,
                   int nparams, const char *const *params,
                   struct cg_pgres **res_r, char *err, size_t errlen)
{
    struct cg_pgconn_stmt s;

    s.sql = sql;
    s.nparams = nparams;
    s.params = params;
    s.prepare = 0;
    return cg_pgconn_pipeline(c, deadline_ms, &s, 1, res_r, err, errlen);
}

/* --- COPY ... FROM STDIN ------------------------------------------------------- */
/* Outside pipeline mode (libpq has no COPY in it): the statement with
 * PQsendQuery, the data with PQputCopyData in pieces, PQputCopyEnd, then
 * the results until PQgetResult's NULL; every wait bounded by the call's
 * deadline. libpq would buffer all of the data a non-blocking connection
 * is given; a piece is given only when what went before has been sent, so
 * it holds at most one piece. */

#define COPY_PIECE (256 * 1024)

/* next_result - flush, then wait until a result (or the end of them: NULL)
 * can be taken without blocking; PUMP_DONE with *res_r set */
static int next_result(PGconn *pg, int64_t deadline_ms, PGresult **res_r)
{
    *res_r = NULL;
    for (;;) {
        int f = PQflush(pg), w;

        if (f < 0)
            return PUMP_BROKEN;
        if (!PQisBusy(pg)) {
            *res_r = PQgetResult(pg);
            if (PQstatus(pg) == CONNECTION_BAD) {
                PQclear(*res_r);
                *res_r = NULL;
                return PUMP_BROKEN;
            }
            return PUMP_DONE;
        }
        w = wait_fd(PQsocket(pg), (short) (POLLIN | (f == 1 ? POLLOUT : 0)), deadline_ms);
        if (w == 0)
            return PUMP_TIMEOUT;
        if (w < 0 || !PQconsumeInput(pg))
            return PUMP_BROKEN;
    }
}

/* copy_send - data[0..len-1] as CopyData, then CopyDone (or, with
 * fail_msg, only a CopyFail saying so), all flushed. PUMP_DONE also when
 * the server ended the COPY first (its result says why). */
static int copy_send(PGconn *pg, const char *data, size_t len, const char *fail_msg,
                     int64_t deadline_ms)
{
    size_t off = fail_msg ? len : 0;
    int ended = 0;

    for (;;) {
        int f = PQflush(pg), k = 0, w;

        if (f < 0)
            return PUMP_BROKEN;
        if (f == 0 && ended)
            return PUMP_DONE;
        if (f == 0) {
            if (off < len) {
                size_t n = len - off < COPY_PIECE ? len - off : COPY_PIECE;

                k = PQputCopyData(pg, data + off, (int) n);
                if (k > 0)
                    off += n;
            } else {
                k = PQputCopyEnd(pg, fail_msg);
                if (k > 0)
                    ended = 1;
            }
            if (k < 0) /* no COPY in progress any more, or broken */
                return PQstatus(pg) == CONNECTION_BAD ? PUMP_BROKEN : PUMP_DONE;
            if (k > 0)
                continue;
        }
        /* not all sent yet: wait until the socket takes more, reading
         * what the server says meanwhile (it may be waiting to send) */
        w = wait_fd(PQsocket(pg), POLLOUT | POLLIN, deadline_ms);
        if (w == 0)
            return PUMP_TIMEOUT;
        if (w < 0 || !PQconsumeInput(pg))
            return PUMP_BROKEN;
    }
}

/* copy_run - read the COPY's results until the end, sending the data
 * (fail_msg NULL) or a CopyFail (fail_msg) when the server asks for it;
 * the statement's result goes into r. *copy_ended: the data went. */
static int copy_run(PGconn *pg, struct cg_pgres *r, const char *data, size_t len,
                    const char *fail_msg, int *copy_ended, int64_t deadline_ms)
{
    for (;;) {
        PGresult *res;
        int io = next_result(pg, deadline_ms, &res);

        if (io != PUMP_DONE)
            return io;
        if (res == NULL) /* the end; a COPY always has a result first */
            return r->res[0] != NULL ? PUMP_DONE : PUMP_BROKEN;
        if (PQresultStatus(res) == PGRES_COPY_IN) {
            PQclear(res);
            if (*copy_ended && fail_msg == NULL)
                return PUMP_BROKEN; /* asked again: protocol confusion */
            io = copy_send(pg, data, len, fail_msg, deadline_ms);
            if (io != PUMP_DONE)
                return io;
            *copy_ended = 1;
            continue;
        }
        if (r->res[0] == NULL) {
            r->res[0] = res;
            r->status[0] = map_status(PQresultStatus(res));
        } else {
            PQclear(res);
        }
    }
}

int cg_pgconn_copy(struct cg_pgconn *c, int64_t deadline_ms, const char *sql,
                   const char *data, size_t len, struct cg_pgres **res_r,
                   char *err, size_t errlen)
{
    struct cg_pgres *r;
    int rc, io, ended = 0;
    char line[512], ctx[256];

    if (res_r != NULL)
        *res_r = NULL;
    if (c == NULL || sql == NULL || (data == NULL && len > 0)) {
        seterr(err, errlen, c == NULL ? "no connection object" : "no SQL or no data");
        return CG_PGCONN_MISUSE;
    }
    rc = call_start(c, deadline_ms, err, errlen);
    if (rc != CG_PGCONN_OK)
        return rc;
    if (PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF) { /* never left on between calls */
        seterr(err, errlen, "COPY inside pipeline mode");
        return CG_PGCONN_MISUSE;
    }
    r = res_new(1);
    if (r == NULL) {
        seterr(err, errlen, "out of memory");
        return CG_PGCONN_MISUSE;
    }
    c->cur = r;
    if (!PQsendQuery(c->pg, sql))
        return call_broken(c, r, res_r, 0, err, errlen);
    io = copy_run(c->pg, r, data, len, NULL, &ended, deadline_ms);
    if (io == PUMP_BROKEN)
        return call_broken(c, r, res_r, 1, err, errlen);
    if (io == PUMP_TIMEOUT) {
        /* as a pipeline's: a cancel for what the server is doing; and if
         * it still waits for data, a CopyFail ends the COPY (a cancel is
         * not noticed by a server blocked reading); the grace for both */
        int64_t grace;
        struct cancel_job *j = deadline_start(c, r, &grace);

        io = copy_run(c->pg, r, NULL, 0, "the client's deadline passed", &ended, grace);
        return deadline_finish(c, r, j, grace, io == PUMP_DONE, res_r, err, errlen);
    }
    rc = call_outcome(r, err, errlen);
    if (rc == CG_PGCONN_SQL_ERROR) {
        /* the server's CONTEXT names the row: "COPY t, line 3, column x: ..." */
        const char *cx = r->res[0] ? PQresultErrorField(r->res[0], PG_DIAG_CONTEXT) : NULL;

        oneline(ctx, sizeof ctx, cx);
        seterr(err, errlen, "COPY: %s: %s%s%s%s", cg_pgres_sqlstate(r, 0),
               oneline(line, sizeof line, cg_pgres_errmsg(r, 0)), ctx[0] ? " (" : "", ctx,
               ctx[0] ? ")" : "");
    }
    return call_end(c, r, res_r, rc);
}
