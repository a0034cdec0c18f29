/*
 * cg_pg.c - the PostgreSQL backend of the store (cg_store.h): the schema
 * and its migrations, opening, transactions, the write queue (see
 * cg_pg_int.h) and the mail path. The batch cache is in cg_pg_batch.c,
 * the admin, report, held-mail and simulate queries in cg_pg_<area>.c.
 *
 * Several relays share one database: the schema is created or migrated
 * under an advisory lock, in one transaction, and a database of a newer
 * schema is never touched. Every statement is sent with its values as
 * parameters (cg_pgconn.h): no value is ever pasted into SQL; the only
 * identifier that is (the test hook's schema name) is checked first.
 *
 * Deadlines: every call has one of our own (cg_store_set_timeout, 5 s by
 * default, on the daemon's connections; contactgatectl's statements may
 * run long, its connect is bounded the same). A commit that waits for a
 * synchronous standby is covered too: past the deadline the wait is
 * cancelled and the commit reported as failed (it may have committed
 * locally: the batch's mail is tempfailed and retried; cg_pg_batch.c
 * keeps the retry from being counted twice).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_category.h"
#include "cg_pg_int.h"
#include "cg_util.h"

#define CG_STR_(x) #x
#define CG_STR(x) CG_STR_(x)

/* contactgatectl's calls: the connect as the daemon's, statements long */
#define CLI_TIMEOUT_MS (6 * 3600 * 1000)
/* queued statements sent at once when there are this many */
#define QUEUE_FLUSH_AT 2000

/* The schema as migrations: steps[i] takes the database from version
 * steps[i].from to steps[i].to, in one transaction. PostgreSQL starts at
 * schema 3 (the SQLite file's third version: the same tables). Never edit
 * a released step: add one. */
static const char *const schema_3[] = {
    "CREATE TABLE meta (key text PRIMARY KEY, value text)",
    "CREATE TABLE contacts ("
    "  id bigserial PRIMARY KEY,"
    "  ts bigint NOT NULL,"
    "  customer text COLLATE \"C\" NOT NULL,"
    "  address text COLLATE \"C\","
    "  department text COLLATE \"C\" NOT NULL,"
    "  category text COLLATE \"C\" NOT NULL,"
    "  channel text COLLATE \"C\" NOT NULL DEFAULT 'email',"
    "  weight double precision NOT NULL DEFAULT 1,"
    "  message_id text COLLATE \"C\","
    "  queue_id text COLLATE \"C\","
    "  digest text COLLATE \"C\")",
    "CREATE INDEX contacts_customer_ts ON contacts(customer, ts)",
    "CREATE INDEX contacts_ts ON contacts(ts)",
    "CREATE TABLE customers ("
    "  address text COLLATE \"C\" PRIMARY KEY,"
    "  customer text COLLATE \"C\" NOT NULL,"
    "  timezone text COLLATE \"C\","
    "  attrs text COLLATE \"C\")",
    "CREATE INDEX customers_customer ON customers(customer)",
    "CREATE TABLE states ("
    "  customer text COLLATE \"C\" NOT NULL,"
    "  state text COLLATE \"C\" NOT NULL,"
    "  since bigint NOT NULL,"
    "  until bigint NOT NULL DEFAULT 0,"
    "  note text COLLATE \"C\","
    "  PRIMARY KEY (customer, state))",
    "CREATE TABLE optouts ("
    "  customer text COLLATE \"C\" NOT NULL,"
    "  category text COLLATE \"C\" NOT NULL,"
    "  since bigint NOT NULL,"
    "  until bigint NOT NULL DEFAULT 0,"
    "  note text COLLATE \"C\","
    "  PRIMARY KEY (customer, category))",
    "CREATE TABLE decisions ("
    "  id bigserial PRIMARY KEY,"
    "  ts bigint NOT NULL,"
    "  ref text COLLATE \"C\" NOT NULL,"
    "  stage text COLLATE \"C\" NOT NULL,"
    "  verdict text COLLATE \"C\" NOT NULL,"
    "  policy text COLLATE \"C\","
    "  reason text COLLATE \"C\","
    "  detail text COLLATE \"C\","
    "  department text COLLATE \"C\","
    "  sender text COLLATE \"C\","
    "  recipient text COLLATE \"C\","
    "  customer text COLLATE \"C\","
    "  category text COLLATE \"C\","
    "  message_id text COLLATE \"C\","
    "  queue_id text COLLATE \"C\","
    "  config_version text COLLATE \"C\","
    "  retry_after bigint NOT NULL DEFAULT 0,"
    "  monitor integer NOT NULL DEFAULT 0,"
    "  episode text COLLATE \"C\","
    "  relay text COLLATE \"C\")",
    "CREATE INDEX decisions_ts ON decisions(ts)",
    "CREATE INDEX decisions_customer ON decisions(customer, ts)",
    "CREATE INDEX decisions_msg ON decisions(message_id, recipient)",
    "CREATE INDEX decisions_queue ON decisions(queue_id)",
    "CREATE INDEX decisions_episode ON decisions(episode) WHERE episode IS NOT NULL",
    "CREATE TABLE erasures ("
    "  id bigserial PRIMARY KEY,"
    "  ts bigint NOT NULL,"
    "  subject_hash text COLLATE \"C\" NOT NULL,"
    "  rows bigint NOT NULL,"
    "  note text COLLATE \"C\")",
    "CREATE TABLE dept_counts ("
    "  department text COLLATE \"C\" NOT NULL,"
    "  level bigint NOT NULL,"
    "  bucket bigint NOT NULL,"
    "  category text COLLATE \"C\" NOT NULL,"
    "  n bigint NOT NULL,"
    "  PRIMARY KEY (department, level, bucket, category))",
    "CREATE TABLE deferrals ("
    "  recipient text COLLATE \"C\" NOT NULL,"
    "  sender text COLLATE \"C\" NOT NULL,"
    "  first_ts bigint NOT NULL,"
    "  first_ref text COLLATE \"C\" NOT NULL,"
    "  last_ts bigint NOT NULL,"
    "  attempts bigint NOT NULL,"
    "  retry_after bigint NOT NULL DEFAULT 0,"
    "  message_id text COLLATE \"C\","
    "  policy text COLLATE \"C\","
    "  expired integer NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (recipient, sender))",
    "CREATE TABLE relays ("
    "  name text COLLATE \"C\" PRIMARY KEY,"
    "  config_version text COLLATE \"C\","
    "  software text COLLATE \"C\","
    "  started bigint NOT NULL DEFAULT 0,"
    "  last_seen bigint NOT NULL DEFAULT 0)",
    NULL,
};

/* 3 -> 4: the relay that let a contact through */
static const char *const schema_4[] = {
    "ALTER TABLE contacts ADD COLUMN relay text COLLATE \"C\"",
    NULL,
};

static const struct {
    int from, to;
    const char *const *sql;
} steps[] = {
    {0, 3, schema_3},
    {3, 4, schema_4},
};
_Static_assert(4 == CG_STORE_SCHEMA_VERSION, "add a PostgreSQL migration step");

/* every migration and creation runs under this advisory lock: relays that
 * start together do not race */
#define MIGRATION_LOCK "SELECT pg_advisory_xact_lock(7405184236712836149)"

#define CONTACT_COLS \
    "id, ts, customer, address, department, category, channel, weight, message_id, queue_id," \
    " digest, relay"

static const struct cg_store_ops pg_ops;

/* --- parameters and results ------------------------------------------------ */

void pgq_text(struct pgq *q, const char *s)
{
    if (q->n < PG_MAX_PARAMS)
        q->v[q->n++] = s;
}

void pgq_int(struct pgq *q, int64_t v)
{
    if (q->n < PG_MAX_PARAMS) {
        snprintf(q->num[q->n], sizeof q->num[q->n], "%" PRId64, v);
        q->v[q->n] = q->num[q->n];
        q->n++;
    }
}

void pgq_double(struct pgq *q, double v)
{
    if (q->n < PG_MAX_PARAMS) {
        snprintf(q->num[q->n], sizeof q->num[q->n], "%.17g", v);
        q->v[q->n] = q->num[q->n];
        q->n++;
    }
}

int64_t pg_int(const struct cg_pgres *r, int i, int row, int col)
{
    const char *v = cg_pgres_value(r, i, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

char *pg_text_array(const char *const *v, size_t n)
{
    struct cg_buf b = {0};
    cg_buf_add(&b, "{");
    for (size_t i = 0; i < n; i++) {
        if (i)
            cg_buf_add(&b, ",");
        if (!v[i]) {
            cg_buf_add(&b, "NULL");
            continue;
        }
        cg_buf_add(&b, "\"");
        for (const char *s = v[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                cg_buf_add(&b, "\\");
            cg_buf_addn(&b, s, 1);
        }
        cg_buf_add(&b, "\"");
    }
    cg_buf_add(&b, "}");
    return b.s;
}

int pg_fail(struct pgs *p, const char *what, const char *why)
{
    return cg_store_seterr(&p->base, "database %s: %s: %s", p->base.database, what, why);
}

/* --- text the server takes ----------------------------------------------------- */

/* pg_utf8_fixed - NULL when s is valid UTF-8 (what the server takes), else
 * a malloc'ed copy with each byte of an invalid sequence replaced by '?'
 * (a raw 8-bit Message-ID or subject must not stop the mail: SQLite
 * stores any bytes, PostgreSQL refuses them) */
char *pg_utf8_fixed(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    char *copy = NULL;
    for (size_t i = 0; u[i];) {
        size_t len = u[i] < 0x80 ? 1 : (u[i] & 0xe0) == 0xc0 ? 2 : (u[i] & 0xf0) == 0xe0 ? 3
                   : (u[i] & 0xf8) == 0xf0 ? 4 : 0;
        int ok = len > 0 && !(len == 2 && u[i] < 0xc2) && !(len == 4 && u[i] > 0xf4);
        for (size_t k = 1; ok && k < len; k++)
            ok = (u[i + k] & 0xc0) == 0x80;
        if (ok && len == 3) /* no overlong forms, no surrogates */
            ok = !(u[i] == 0xe0 && u[i + 1] < 0xa0) && !(u[i] == 0xed && u[i + 1] >= 0xa0);
        if (ok && len == 4)
            ok = !(u[i] == 0xf0 && u[i + 1] < 0x90) && !(u[i] == 0xf4 && u[i + 1] >= 0x90);
        if (ok) {
            i += len;
            continue;
        }
        if (!copy)
            copy = cg_xstrdup(s);
        copy[i++] = '?';
    }
    return copy;
}

/* --- the write queue --------------------------------------------------------- */

static void queue_free(struct pgs *p, size_t from)
{
    for (size_t i = from; i < p->nq; i++) {
        for (int k = 0; k < p->q[i].n; k++)
            free(p->q[i].params[k]);
        free(p->q[i].params);
    }
    p->nq = from;
}

static void deltas_free(struct pgs *p, size_t from)
{
    for (size_t i = from; i < p->nd; i++) {
        free(p->deltas[i].department);
        free(p->deltas[i].category);
    }
    p->nd = from;
}

/* enqueue - one statement to send later (parameters copied) */
static void enqueue(struct pgs *p, const char *sql, const struct pgq *q, int savepoint)
{
    if (p->nq == p->capq) {
        p->capq = p->capq ? 2 * p->capq : 32;
        p->q = cg_xrealloc(p->q, p->capq * sizeof *p->q);
    }
    struct pgw *w = &p->q[p->nq++];
    w->sql = sql;
    w->n = q ? q->n : 0;
    w->params = w->n ? cg_xcalloc((size_t)w->n, sizeof *w->params) : NULL;
    for (int i = 0; i < w->n; i++) {
        char *fixed = q->v[i] ? pg_utf8_fixed(q->v[i]) : NULL;
        w->params[i] = fixed ? fixed : cg_xstrdup(q->v[i]);
    }
    w->savepoint = savepoint;
}

void pg_counts_add(struct pgs *p, const char *department, const char *category, int64_t ts,
                   int64_t n)
{
    static const int64_t levels[] = {CG_COUNT_MINUTE, CG_COUNT_HOUR, CG_COUNT_DAY};
    for (size_t l = 0; l < 3; l++) {
        int64_t b = cg_store_bucket_of(ts, levels[l]);
        size_t i;
        for (i = p->sp_d; i < p->nd; i++) /* merge within the open job only */
            if (p->deltas[i].level == levels[l] && p->deltas[i].bucket == b &&
                !strcmp(p->deltas[i].department, department) &&
                !strcmp(p->deltas[i].category, category))
                break;
        if (i < p->nd) {
            p->deltas[i].n += n;
            continue;
        }
        if (p->nd == p->capd) {
            p->capd = p->capd ? 2 * p->capd : 32;
            p->deltas = cg_xrealloc(p->deltas, p->capd * sizeof *p->deltas);
        }
        p->deltas[p->nd++] = (struct pg_delta){cg_xstrdup(department), cg_xstrdup(category),
                                               levels[l], b, n};
    }
}

/* delta_cmp - the counters' key order (their rows are locked in it) */
static int delta_cmp(const void *a, const void *b)
{
    const struct pg_delta *x = a, *y = b;
    int c = strcmp(x->department, y->department);
    if (c)
        return c;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    if (x->bucket != y->bucket)
        return x->bucket < y->bucket ? -1 : 1;
    return strcmp(x->category, y->category);
}

/* The pending counter deltas as one upsert in key order. */
static const char counts_upsert[] =
    "INSERT INTO dept_counts(department, level, bucket, category, n)"
    " SELECT d, l, b, c, sum(n) FROM unnest($1::text[], $2::bigint[], $3::bigint[],"
    " $4::text[], $5::bigint[]) AS u(d, l, b, c, n) GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    " ON CONFLICT (department, level, bucket, category) DO UPDATE SET n = dept_counts.n + excluded.n";
static const char counts_clean[] = "DELETE FROM dept_counts WHERE n <= 0 AND department = ANY($1::text[])";

/* deltas_stmt - the pending deltas as a statement (its five array
 * parameters malloc'ed into a[]); sorted first */
static void deltas_stmt(struct pgs *p, char *a[5], int *negative_r)
{
    qsort(p->deltas, p->nd, sizeof *p->deltas, delta_cmp);
    struct cg_buf b[5] = {{0}};
    *negative_r = 0;
    for (int k = 0; k < 5; k++)
        cg_buf_add(&b[k], "{");
    for (size_t i = 0; i < p->nd; i++) {
        const struct pg_delta *d = &p->deltas[i];
        const char *sep = i ? "," : "";
        char *da = pg_text_array((const char *const *)&d->department, 1);
        char *ca = pg_text_array((const char *const *)&d->category, 1);
        /* strip the braces of the one-element literals */
        da[strlen(da) - 1] = 0;
        ca[strlen(ca) - 1] = 0;
        cg_buf_printf(&b[0], "%s%s", sep, da + 1);
        cg_buf_printf(&b[1], "%s%" PRId64, sep, d->level);
        cg_buf_printf(&b[2], "%s%" PRId64, sep, d->bucket);
        cg_buf_printf(&b[3], "%s%s", sep, ca + 1);
        cg_buf_printf(&b[4], "%s%" PRId64, sep, d->n);
        if (d->n < 0)
            *negative_r = 1;
        free(da);
        free(ca);
    }
    for (int k = 0; k < 5; k++) {
        cg_buf_add(&b[k], "}");
        a[k] = b[k].s;
    }
}

/* add_deltas - the counter deltas [from, to) as two statements at v[*k]
 * (their parameters kept in a[] and dept, freed by the caller) */
static void add_deltas(struct pgs *p, size_t from, size_t to, struct cg_pgconn_stmt *v,
                       size_t *k, char *a[5], char **dept)
{
    struct pgs part = *p; /* deltas_stmt sorts and reads p->deltas[0..nd) */
    part.deltas = p->deltas + from;
    part.nd = to - from;
    int negative;
    deltas_stmt(&part, a, &negative);
    *dept = a[0];
    v[(*k)++] = (struct cg_pgconn_stmt){counts_upsert, 5, (const char *const *)a, 0};
    /* rows brought to 0 by a subtraction go (an addition never does) */
    if (negative)
        v[(*k)++] = (struct cg_pgconn_stmt){counts_clean, 1, (const char *const *)dept, 0};
}

/* send - BEGIN if still to be sent, the queue with its counter deltas
 * (a job's SAVEPOINT where it belongs), then `extra`, in one pipeline;
 * the results of extra from index *first_r */
static int send(struct pgs *p, const char *what, const struct cg_pgconn_stmt *extra, int n_extra,
                struct cg_pgres **res_r, int *first_r)
{
    if (pg_bulk_pending(p) && pg_bulk_flush(p) < 0) /* rows that came before */
        return -1;
    int sp = p->sp_open && !p->sp_sent;
    size_t qa = sp ? p->sp_q : p->nq, da = sp ? p->sp_d : p->nd;
    size_t total = p->nq + 6 + (size_t)n_extra;
    struct cg_pgconn_stmt *v = cg_xcalloc(total, sizeof *v);
    char *arr[2][5] = {{0}}, *dept[2] = {0};
    size_t k = 0;
    if (p->begin_queued)
        v[k++] = (struct cg_pgconn_stmt){"BEGIN", 0, NULL, 0};
    for (size_t i = 0; i < qa; i++)
        v[k++] = (struct cg_pgconn_stmt){p->q[i].sql, p->q[i].n,
                                         (const char *const *)p->q[i].params, 0};
    if (da)
        add_deltas(p, 0, da, v, &k, arr[0], &dept[0]);
    if (sp) {
        v[k++] = (struct cg_pgconn_stmt){"SAVEPOINT job", 0, NULL, 0};
        for (size_t i = qa; i < p->nq; i++)
            v[k++] = (struct cg_pgconn_stmt){p->q[i].sql, p->q[i].n,
                                             (const char *const *)p->q[i].params, 0};
        if (p->nd > da)
            add_deltas(p, da, p->nd, v, &k, arr[1], &dept[1]);
    }
    size_t first = k;
    char **fixed = NULL; /* the extras' parameters that needed fixing (owned) */
    size_t n_fixed = 0;
    for (int i = 0; i < n_extra; i++) {
        v[k] = extra[i];
        for (int j = 0; j < extra[i].nparams; j++) {
            char *f = extra[i].params[j] ? pg_utf8_fixed(extra[i].params[j]) : NULL;
            if (!f)
                continue;
            if (v[k].params == extra[i].params) { /* a copy of the array to change */
                const char **copy = cg_xcalloc((size_t)extra[i].nparams, sizeof *copy);
                memcpy(copy, extra[i].params, (size_t)extra[i].nparams * sizeof *copy);
                v[k].params = copy;
                fixed = cg_xrealloc(fixed, (n_fixed + 1) * sizeof *fixed);
                fixed[n_fixed++] = (char *)copy;
            }
            ((const char **)v[k].params)[j] = f;
            fixed = cg_xrealloc(fixed, (n_fixed + 1) * sizeof *fixed);
            fixed[n_fixed++] = f;
        }
        k++;
    }
    /* statements with values are kept prepared (the mail path's few fixed
     * texts, an import's one upsert): parsed and planned once per
     * connection; one-off texts only take up a few of the slots */
    for (size_t i = 0; i < k; i++)
        v[i].prepare = v[i].nparams > 0;
    int rc = CG_PGCONN_OK;
    struct cg_pgres *res = NULL;
    char err[512] = "";
    if (k)
        rc = cg_pgconn_pipeline(p->c, cg_pgconn_now_ms() + p->timeout_ms, v, (int)k, &res, err,
                                sizeof err);
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 5; i++)
            free(arr[h][i]);
    for (size_t i = 0; i < n_fixed; i++)
        free(fixed[i]);
    free(fixed);
    free(v);
    p->begin_queued = 0;
    if (sp)
        p->sp_sent = 1;
    queue_free(p, 0);
    deltas_free(p, 0);
    p->sp_q = p->sp_d = 0;
    if (rc != CG_PGCONN_OK) {
        /* say which statement failed, if one did */
        const char *why = err[0] ? err : cg_pgconn_rc_name(rc);
        for (int i = 0; res && i < cg_pgres_count(res); i++)
            if (cg_pgres_status(res, i) == CG_PGRES_ERROR) {
                why = cg_pgres_errmsg(res, i);
                break;
            }
        if (rc == CG_PGCONN_NOT_REPLICATED)
            why = "the commit was not confirmed by the synchronous standby (committed locally "
                  "only: it may be lost in a failover)";
        pg_fail(p, what, why);
        cg_pgres_free(&res);
        return -1;
    }
    if (res_r)
        *res_r = res;
    else
        cg_pgres_free(&res);
    if (first_r)
        *first_r = (int)first;
    return 0;
}

int pg_pipeline(struct pgs *p, const char *what, const struct cg_pgconn_stmt *st, int n,
                struct cg_pgres **res_r, int *first_r)
{
    return send(p, what, st, n, res_r, first_r);
}

int pg_exec(struct pgs *p, const char *what, const char *sql, const struct pgq *q,
            struct pgr *r)
{
    struct cg_pgconn_stmt s = {sql, q ? q->n : 0, q ? q->v : NULL, 0};
    struct cg_pgres *res = NULL;
    int first = 0;
    if (send(p, what, &s, 1, &res, &first) < 0)
        return -1;
    if (r) {
        r->res = res;
        r->i = first;
    } else {
        cg_pgres_free(&res);
    }
    return 0;
}

int pgr_n(const struct pgr *r)
{
    return cg_pgres_ntuples(r->res, r->i);
}

const char *pgr_v(const struct pgr *r, int row, int col)
{
    return cg_pgres_value(r->res, r->i, row, col);
}

int64_t pgr_int(const struct pgr *r, int row, int col)
{
    return pg_int(r->res, r->i, row, col);
}

void pgr_free(struct pgr *r)
{
    cg_pgres_free(&r->res);
}

int pg_write(struct pgs *p, const char *what, const char *sql, const struct pgq *q)
{
    if (!p->in_tx) {
        struct cg_pgconn_stmt s = {sql, q ? q->n : 0, q ? q->v : NULL, 0};
        return send(p, what, &s, 1, NULL, NULL);
    }
    if (pg_bulk_pending(p) && pg_bulk_flush(p) < 0) /* rows that came before */
        return -1;
    enqueue(p, sql, q, 0);
    return p->nq >= QUEUE_FLUSH_AT ? pg_flush(p, what) : 0;
}

int pg_flush(struct pgs *p, const char *what)
{
    if (!p->nq && !p->nd && !p->begin_queued && !(p->sp_open && !p->sp_sent))
        return 0;
    return send(p, what, NULL, 0, NULL, NULL);
}

int pg_count(struct pgs *p, const char *what, const char *sql, const struct pgq *q, int64_t *r)
{
    struct pgr res;
    if (pg_exec(p, what, sql, q, &res) < 0)
        return -1;
    *r = pgr_int(&res, 0, 0);
    pgr_free(&res);
    return 0;
}

int pg_changes(struct pgs *p, const char *what, const char *sql, const struct pgq *q,
               int64_t *changes_r)
{
    struct pgr res;
    if (pg_exec(p, what, sql, q, &res) < 0)
        return -1;
    int64_t n = cg_pgres_affected(res.res, res.i);
    if (changes_r)
        *changes_r = n < 0 ? 0 : n;
    pgr_free(&res);
    return 0;
}

int pg_counts_apply(struct pgs *p, const char *rows, const struct pgq *q, int sign)
{
    /* floor buckets (ts may be negative in principle), rows in key order */
    char *sql = cg_xasprintf(
        "INSERT INTO dept_counts(department, level, bucket, category, n)"
        " SELECT department, l, ts - ((ts %% l) + l) %% l, category, %scount(*)"
        " FROM (%s) AS r CROSS JOIN (VALUES (" CG_STR(CG_COUNT_MINUTE) "::bigint), ("
        CG_STR(CG_COUNT_HOUR) "), (" CG_STR(CG_COUNT_DAY) ")) AS v(l)"
        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
        " ON CONFLICT (department, level, bucket, category)"
        " DO UPDATE SET n = dept_counts.n + excluded.n", sign < 0 ? "-" : "", rows);
    int rc = pg_exec(p, "department counters", sql, q, NULL);
    free(sql);
    if (rc == 0 && sign < 0)
        rc = pg_exec(p, "department counters", "DELETE FROM dept_counts WHERE n <= 0", NULL,
                     NULL);
    return rc;
}

int pg_lock_text(struct pgs *p, const char *const *keys, size_t n)
{
    if (!n)
        return 0;
    /* sorted by the lock's own key; a statement of its own: what is read
     * after it sees what the previous holder committed */
    char *arr = pg_text_array(keys, n);
    struct pgq q = {0};
    pgq_text(&q, arr);
    int rc = pg_exec(p, "lock", "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT"
                     " hashtextextended(x, 0) AS k FROM unnest($1::text[]) AS x ORDER BY 1) AS s",
                     &q, NULL);
    free(arr);
    return rc;
}

/* --- schema ------------------------------------------------------------------ */

static int pg_schema_version(cg_store *st)
{
    struct pgs *p = pgs_of(st);
    int64_t have = 0, v = 0;
    if (pg_count(p, "schema version", "SELECT (to_regclass('meta') IS NOT NULL)::int", NULL,
                 &have) < 0)
        return -1;
    if (have && pg_count(p, "schema version", "SELECT coalesce((SELECT value::int FROM meta"
                         " WHERE key = 'schema_version'), 0)", NULL, &v) < 0)
        return -1;
    return (int)v;
}

/* migrate - bring the schema to CG_STORE_SCHEMA_VERSION in one transaction
 * under the migration lock; a newer one is refused untouched */
static int migrate(struct pgs *p, int may_create)
{
    p->in_tx = p->begin_queued = 1;
    int rc = pg_exec(p, "migration", MIGRATION_LOCK, NULL, NULL);
    int v = rc < 0 ? -1 : pg_schema_version(&p->base);
    if (v > CG_STORE_SCHEMA_VERSION) {
        rc = cg_store_seterr(&p->base, "database %s: schema version %d is newer than this "
                             "contactgate (%d): refusing to touch it", p->base.database, v,
                             CG_STORE_SCHEMA_VERSION);
    } else if (v == 0 && !may_create) {
        rc = cg_store_seterr(&p->base, "database %s: no contactgate schema in it",
                             p->base.database);
    } else if (v >= 0) {
        for (size_t i = 0; i < sizeof steps / sizeof steps[0] && rc == 0; i++) {
            if (steps[i].from != v)
                continue; /* steps are in order: each takes the one before's result */
            for (size_t k = 0; steps[i].sql[k] && rc == 0; k++)
                rc = pg_write(p, "migration", steps[i].sql[k], NULL);
            struct pgq q = {0};
            pgq_int(&q, steps[i].to);
            if (rc == 0)
                rc = pg_write(p, "migration", "INSERT INTO meta(key, value) VALUES"
                              " ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET"
                              " value = excluded.value", &q);
            v = steps[i].to;
        }
    } else {
        rc = -1;
    }
    if (rc == 0)
        return cg_store_commit(&p->base);
    char keep[sizeof p->base.err];
    memcpy(keep, p->base.err, sizeof keep);
    cg_store_rollback(&p->base);
    memcpy(p->base.err, keep, sizeof keep);
    return -1;
}

/* --- opening ------------------------------------------------------------------ */

static void pg_close(cg_store *st)
{
    struct pgs *p = pgs_of(st);
    queue_free(p, 0);
    deltas_free(p, 0);
    free(p->q);
    free(p->deltas);
    cg_pg_cache_free(p);
    pg_bulk_free(p);
    for (size_t i = 0; i < p->n_dept_read; i++)
        free(p->dept_read[i]);
    free(p->dept_read);
    for (size_t i = 0; i < sizeof p->ep_strings / sizeof p->ep_strings[0]; i++)
        free(p->ep_strings[i]);
    cg_pgconn_free(&p->c);
    cg_store_base_free(st);
    free(p);
}

/* test_schema - the test hook: CG_PG_TEST_SCHEMA names a schema to drop,
 * create and use (search_path) on this connection only. NULL when unset;
 * "" when the name is not a plain lower-case identifier. */
static const char *test_schema(void)
{
    const char *s = getenv("CG_PG_TEST_SCHEMA");
    if (!s || !*s)
        return NULL;
    if (strlen(s) > 63 || !(islower((unsigned char)s[0]) || s[0] == '_'))
        return "";
    for (const char *c = s; *c; c++)
        if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_'))
            return "";
    return s;
}

cg_store *cg_pg_open(const char *conninfo, int flags, char *err, size_t errlen)
{
    struct pgs *p = cg_xcalloc(1, sizeof *p);
    cg_store_base_init(&p->base, &pg_ops, conninfo);
    int daemon = flags & (CG_STORE_WRITER | CG_STORE_MAINTAINER);
    p->daemon = daemon != 0;
    p->timeout_ms = daemon ? cg_store_timeout_ms() : CLI_TIMEOUT_MS;
    const char *schema = test_schema();
    char *ci = NULL;
    if (schema && !*schema) {
        cg_errf(err, errlen, "CG_PG_TEST_SCHEMA: not a plain lower-case identifier");
        pg_close(&p->base);
        return NULL;
    }
    /* options of every connection this object makes: the prepared
     * statements' plans made once (their values are arrays and keys whose
     * best plan does not change; re-planning them at every execution cost
     * more than running them), and the test hook's search path. An
     * `options` of the administrator's own is left alone. */
    if (!strstr(conninfo, "options")) {
        int uri = strstr(conninfo, "://") != NULL;
        struct cg_buf o = {0};
        cg_buf_add(&o, uri ? "-cplan_cache_mode%3Dforce_generic_plan"
                           : "-cplan_cache_mode=force_generic_plan");
        if (schema)
            cg_buf_printf(&o, uri ? "%%20-csearch_path%%3D%s" : " -csearch_path=%s", schema);
        ci = uri ? cg_xasprintf("%s%soptions=%s", conninfo, strchr(conninfo, '?') ? "&" : "?",
                                o.s)
                 : cg_xasprintf("%s options='%s'", conninfo, o.s);
        cg_buf_free(&o);
    } else if (schema) {
        ci = NULL; /* the test hook needs the options to itself */
        cg_errf(err, errlen, "CG_PG_TEST_SCHEMA: the conninfo has options of its own");
        pg_close(&p->base);
        return NULL;
    }
    struct cg_pgconn_opts o = {.application_name = "contactgate"};
    char e[512];
    if (cg_pgconn_new(ci ? ci : conninfo, &o, &p->c, e, sizeof e) < 0) {
        cg_errf(err, errlen, "database %s: %s", p->base.database, e);
        free(ci);
        pg_close(&p->base);
        return NULL;
    }
    free(ci);
    int rc = cg_pgconn_connect(p->c, cg_pgconn_now_ms() + cg_store_timeout_ms(), e, sizeof e);
    if (rc != CG_PGCONN_OK) {
        cg_errf(err, errlen, "database %s: cannot connect: %s", p->base.database, e);
        pg_close(&p->base);
        return NULL;
    }
    int ok = 0;
    if (schema) {
        char *drop = cg_xasprintf("DROP SCHEMA IF EXISTS %s CASCADE", schema);
        char *create = cg_xasprintf("CREATE SCHEMA %s", schema);
        ok = pg_exec(p, "test schema", drop, NULL, NULL) == 0 &&
             pg_exec(p, "test schema", create, NULL, NULL) == 0;
        free(drop);
        free(create);
        if (!ok)
            goto fail;
    }
    if (flags & CG_STORE_READONLY) {
        int v = pg_schema_version(&p->base);
        if (v != CG_STORE_SCHEMA_VERSION) {
            if (v >= 0)
                cg_store_seterr(&p->base, "database %s: schema version %d, expected %d (start "
                                "contactgate once to migrate)", p->base.database, v,
                                CG_STORE_SCHEMA_VERSION);
            goto fail;
        }
    } else if (pg_schema_version(&p->base) != CG_STORE_SCHEMA_VERSION &&
               migrate(p, !(flags & CG_STORE_NO_CREATE)) < 0) {
        goto fail;
    }
    return &p->base;
fail:
    cg_strlcpy(err, p->base.err[0] ? p->base.err : "cannot open", errlen);
    pg_close(&p->base);
    return NULL;
}

/* --- transactions ------------------------------------------------------------ */

static void tx_end(struct pgs *p)
{
    queue_free(p, 0);
    deltas_free(p, 0);
    p->in_tx = p->begin_queued = p->batch = 0;
    p->sp_open = p->sp_sent = 0;
    p->sp_q = p->sp_d = 0;
    cg_pg_cache_free(p);
    pg_bulk_reset(p);
}

static int pg_begin(cg_store *st, int immediate)
{
    struct pgs *p = pgs_of(st);
    (void)immediate; /* exclusion is by lock_keys */
    if (p->in_tx)
        return pg_fail(p, "begin", "a transaction is already open");
    tx_end(p);
    p->in_tx = p->begin_queued = 1;
    return 0;
}

static int pg_commit(cg_store *st)
{
    struct pgs *p = pgs_of(st);
    if (!p->in_tx)
        return pg_fail(p, "commit", "no transaction is open");
    int rc = 0;
    if (p->begin_queued && !p->nq && !p->nd && !pg_bulk_pending(p)) {
        tx_end(p); /* nothing was done */
        return 0;
    }
    struct cg_pgconn_stmt c = {"COMMIT", 0, NULL, 0};
    rc = send(p, "commit", &c, 1, NULL, NULL);
    if (rc < 0) {
        char keep[sizeof p->base.err];
        memcpy(keep, p->base.err, sizeof keep);
        cg_store_rollback(st);
        memcpy(p->base.err, keep, sizeof keep);
        return -1;
    }
    tx_end(p);
    return 0;
}

static int pg_rollback(cg_store *st)
{
    struct pgs *p = pgs_of(st);
    int sent = p->in_tx && !p->begin_queued;
    tx_end(p);
    if (!sent || !cg_pgconn_in_transaction(p->c))
        return 0;
    char e[512];
    struct cg_pgres *res = NULL;
    int rc = cg_pgconn_exec(p->c, cg_pgconn_now_ms() + p->timeout_ms, "ROLLBACK", 0, NULL, &res,
                            e, sizeof e);
    cg_pgres_free(&res);
    if (rc != CG_PGCONN_OK && rc != CG_PGCONN_DOWN) /* a lost connection rolled back */
        return pg_fail(p, "rollback", e);
    return 0;
}

static int pg_savepoint(cg_store *st)
{
    struct pgs *p = pgs_of(st);
    if (!p->in_tx)
        return pg_fail(p, "savepoint", "no transaction is open");
    if (pg_bulk_flush(p) < 0) /* a job's rows take the queue: they roll back with it */
        return -1;
    /* sent only if something is sent before the job ends (see send) */
    p->sp_open = 1;
    p->sp_sent = 0;
    p->sp_q = p->nq;
    p->sp_d = p->nd;
    return 0;
}

static int pg_release(cg_store *st)
{
    struct pgs *p = pgs_of(st);
    int sent = p->sp_open && p->sp_sent;
    p->sp_open = p->sp_sent = 0;
    p->sp_q = p->sp_d = 0;
    if (sent)
        enqueue(p, "RELEASE SAVEPOINT job", NULL, 0);
    return 0;
}

static int pg_rollback_savepoint(cg_store *st)
{
    struct pgs *p = pgs_of(st);
    int sent = p->sp_open && p->sp_sent;
    if (!p->sp_open)
        return pg_fail(p, "rollback to savepoint", "no savepoint is open");
    queue_free(p, p->sp_q);
    deltas_free(p, p->sp_d);
    p->sp_open = p->sp_sent = 0;
    p->sp_q = p->sp_d = 0;
    cg_pg_cache_drop(p); /* it may hold the job's writes */
    if (sent) {
        enqueue(p, "ROLLBACK TO SAVEPOINT job", NULL, 0);
        enqueue(p, "RELEASE SAVEPOINT job", NULL, 0);
        return pg_flush(p, "rollback to savepoint");
    }
    return 0;
}

/* lock_key - "c:customer" or "d:department" of a public key ("dept:NAME"
 * or a customer id), malloc'ed */
static char *lock_key(const char *k)
{
    return strncmp(k, "dept:", 5) == 0 ? cg_xasprintf("d:%s", k + 5) : cg_xasprintf("c:%s", k);
}

static int pg_lock_keys(cg_store *st, const char *const *keys, size_t n)
{
    struct pgs *p = pgs_of(st);
    char **v = cg_xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = lock_key(keys[i]);
    int rc = pg_lock_text(p, (const char *const *)v, n);
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return rc;
}

/* --- maintenance ------------------------------------------------------------- */

static int pg_maintain(cg_store *st, struct cg_store_maint *m)
{
    (void)st; /* the server's autovacuum and checkpoints */
    m->again = m->writer_step = 0;
    return 0;
}

static int pg_writer_step(cg_store *st)
{
    (void)st;
    return 0;
}

static int pg_present(cg_store *st)
{
    (void)st; /* a server's database does not go away under a connection
               * the way a file does: a lost one fails the next call */
    return 1;
}

/* --- customer map ------------------------------------------------------ */

static int pg_customer_lookup(cg_store *st, const char *address, char **customer_r,
                              char **timezone_r)
{
    struct pgs *p = pgs_of(st);
    int c = cg_pg_cache_customer(p, address, customer_r, timezone_r);
    if (c != 0)
        return c < 0 ? -1 : c == 1;
    struct pgq q = {0};
    pgq_text(&q, address);
    struct pgr r;
    if (pg_exec(p, "customer lookup", "SELECT customer, timezone FROM customers"
                " WHERE address = $1", &q, &r) < 0)
        return -1;
    int found = pgr_n(&r) > 0;
    if (found && customer_r)
        *customer_r = cg_xstrdup(pgr_v(&r, 0, 0));
    if (found && timezone_r)
        *timezone_r = cg_xstrdup(pgr_v(&r, 0, 1));
    pgr_free(&r);
    return found;
}

static int pg_customer_put(cg_store *st, const char *address, const char *customer,
                           const char *timezone, const char *attrs_json, int *added_r)
{
    struct pgs *p = pgs_of(st);
    static const char sql[] =
        "INSERT INTO customers(address, customer, timezone, attrs) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (address) DO UPDATE SET customer = excluded.customer,"
        " timezone = excluded.timezone, attrs = excluded.attrs RETURNING (xmax = 0)::int";
    struct pgq q = {0};
    pgq_text(&q, address);
    pgq_text(&q, customer);
    pgq_text(&q, timezone);
    pgq_text(&q, attrs_json);
    if (!added_r && pg_bulk_on(p))
        return pg_bulk_row(p, PG_BULK_CUSTOMERS, &q);
    if (!added_r)
        return pg_write(p, "customer put", sql, &q);
    struct pgr r;
    if (pg_exec(p, "customer put", sql, &q, &r) < 0)
        return -1;
    *added_r = pgr_int(&r, 0, 0) == 1;
    pgr_free(&r);
    return 0;
}

/* --- contacts and counters ------------------------------------------------- */

static int pg_contact_add(cg_store *st, const struct cg_contact_row *c)
{
    struct pgs *p = pgs_of(st);
    if (p->batch && cg_pg_cache_has_message(p, c))
        return 0; /* recorded by an earlier attempt of this message */
    struct pgq q = {0};
    pgq_int(&q, c->ts);
    pgq_text(&q, c->customer);
    pgq_text(&q, c->address);
    pgq_text(&q, c->department);
    pgq_text(&q, c->category);
    pgq_text(&q, c->channel ? c->channel : "email");
    pgq_double(&q, c->weight);
    pgq_text(&q, c->message_id);
    pgq_text(&q, c->queue_id);
    pgq_text(&q, c->digest);
    pgq_text(&q, c->relay);
    static const char sql[] =
        "INSERT INTO contacts(ts, customer, address, department, category, channel, weight,"
        " message_id, queue_id, digest, relay) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
        " $11)";
    if (!p->in_tx) { /* the contact and its counters in one implicit transaction */
        enqueue(p, sql, &q, 0);
        pg_counts_add(p, c->department, c->category, c->ts, 1);
        return send(p, "contact add", NULL, 0, NULL, NULL);
    }
    if (pg_bulk_on(p)) /* its counters with the rows */
        return pg_bulk_row(p, PG_BULK_CONTACTS, &q);
    if (pg_write(p, "contact add", sql, &q) < 0)
        return -1;
    pg_counts_add(p, c->department, c->category, c->ts, 1);
    if (p->batch)
        cg_pg_cache_contact_added(p, c);
    return 0;
}

/* contact_rows - the CONTACT_COLS rows of a result into cb */
static void contact_rows(const struct pgr *r, cg_store_contact_cb cb, void *arg)
{
    for (int i = 0; i < pgr_n(r); i++) {
        struct cg_contact_row c = {
            .id = pgr_int(r, i, 0),
            .ts = pgr_int(r, i, 1),
            .customer = pgr_v(r, i, 2),
            .address = pgr_v(r, i, 3),
            .department = pgr_v(r, i, 4),
            .category = pgr_v(r, i, 5),
            .channel = pgr_v(r, i, 6),
            .weight = pgr_v(r, i, 7) ? strtod(pgr_v(r, i, 7), NULL) : 0,
            .message_id = pgr_v(r, i, 8),
            .queue_id = pgr_v(r, i, 9),
            .digest = pgr_v(r, i, 10),
            .relay = pgr_v(r, i, 11),
        };
        if (cb(&c, arg))
            break;
    }
}

static int pg_contacts(cg_store *st, const char *customer, int64_t since, int64_t until,
                       cg_store_contact_cb cb, void *arg)
{
    struct pgs *p = pgs_of(st);
    int c = cg_pg_cache_contacts(p, customer, since, until, cb, arg);
    if (c != 0)
        return c < 0 ? -1 : 0;
    if (p->batch) {
        char *k = cg_xasprintf("c:%s", customer);
        int rc = cg_pg_cache_lock(p, k);
        free(k);
        if (rc < 0)
            return -1;
    }
    struct pgq q = {0};
    pgq_text(&q, customer);
    pgq_int(&q, since);
    pgq_int(&q, until);
    struct pgr r;
    if (pg_exec(p, "contacts", "SELECT " CONTACT_COLS " FROM contacts WHERE customer = $1"
                " AND ts >= $2 AND ts < $3 ORDER BY ts DESC, id DESC", &q, &r) < 0)
        return -1;
    contact_rows(&r, cb, arg);
    pgr_free(&r);
    return 0;
}

/* Contacts read at a time by pg_contacts_all: a copy of a large history
 * never holds more than this many rows in memory. */
#define ALL_PAGE_ROWS 20000

/* page_cb - one page's rows to the caller, remembering the last (ts, id) */
struct page {
    cg_store_contact_cb cb;
    void *arg;
    int64_t ts, id;
    int stopped;
};

static int page_cb(const struct cg_contact_row *c, void *arg)
{
    struct page *pg = arg;
    pg->ts = c->ts;
    pg->id = c->id;
    return pg->stopped = pg->cb(c, pg->arg) != 0;
}

static int pg_contacts_all(cg_store *st, int64_t since, int64_t until, cg_store_contact_cb cb,
                           void *arg)
{
    struct pgs *p = pgs_of(st);
    struct page pg = {cb, arg, INT64_MIN, INT64_MIN, 0};
    for (;;) {
        struct pgq q = {0};
        pgq_int(&q, since);
        pgq_int(&q, until);
        pgq_int(&q, since == 0 && until == 0);
        pgq_int(&q, pg.ts);
        pgq_int(&q, pg.id);
        struct pgr r;
        /* keyset pages in (ts, id) order */
        if (pg_exec(p, "contacts", "SELECT " CONTACT_COLS " FROM contacts WHERE ($3::int = 1"
                    " OR (ts >= $1 AND ts < $2)) AND (ts, id) > ($4, $5) ORDER BY ts, id"
                    " LIMIT " CG_STR(ALL_PAGE_ROWS), &q, &r) < 0)
            return -1;
        int n = pgr_n(&r);
        contact_rows(&r, page_cb, &pg);
        pgr_free(&r);
        if (pg.stopped || n < ALL_PAGE_ROWS)
            return 0;
    }
}

/* dept_noted - remember that this department's counters are read (its
 * lock is then taken with the batch's others, in order) */
static void dept_noted(struct pgs *p, const char *department)
{
    for (size_t i = 0; i < p->n_dept_read; i++)
        if (!strcmp(p->dept_read[i], department))
            return;
    p->dept_read = cg_xrealloc(p->dept_read, (p->n_dept_read + 1) * sizeof *p->dept_read);
    p->dept_read[p->n_dept_read++] = cg_xstrdup(department);
}

static int pg_dept_counts(cg_store *st, const char *department, int64_t since, int64_t until,
                          cg_store_bucket_cb cb, void *arg)
{
    struct pgs *p = pgs_of(st);
    struct cg_count_span span[CG_COUNT_MAX_SPANS];
    size_t n = cg_store_count_spans(since, until, span);
    if (p->batch) {
        dept_noted(p, department);
        char *k = cg_xasprintf("d:%s", department);
        int rc = cg_pg_cache_lock(p, k);
        free(k);
        if (rc < 0)
            return -1;
    }
    if (!n)
        return 0;
    static const char sql[] = "SELECT bucket, category, n FROM dept_counts WHERE department = $1"
                              " AND level = $2 AND bucket >= $3 AND bucket < $4"
                              " ORDER BY bucket, category";
    struct pgq q[CG_COUNT_MAX_SPANS];
    struct cg_pgconn_stmt v[CG_COUNT_MAX_SPANS];
    for (size_t i = 0; i < n; i++) {
        memset(&q[i], 0, sizeof q[i]);
        pgq_text(&q[i], department);
        pgq_int(&q[i], span[i].level);
        pgq_int(&q[i], span[i].from);
        pgq_int(&q[i], span[i].to);
        v[i] = (struct cg_pgconn_stmt){sql, q[i].n, q[i].v, 0};
    }
    struct cg_pgres *res = NULL;
    int first = 0;
    if (send(p, "department counters", v, (int)n, &res, &first) < 0)
        return -1;
    int stop = 0;
    for (size_t i = 0; i < n && !stop; i++) {
        struct pgr r = {res, first + (int)i};
        for (int row = 0; row < pgr_n(&r) && !stop; row++) {
            int64_t b = pgr_int(&r, row, 0);
            struct cg_count_bucket k = {b, b + span[i].level, pgr_v(&r, row, 1),
                                        pgr_int(&r, row, 2)};
            stop = cb(&k, arg) != 0;
        }
    }
    cg_pgres_free(&res);
    return 0;
}

/* --- states -------------------------------------------------------------- */

static int pg_state_set(cg_store *st, const struct cg_state_row *s)
{
    struct pgq q = {0};
    pgq_text(&q, s->customer);
    pgq_text(&q, s->state);
    pgq_int(&q, s->since);
    pgq_int(&q, s->until);
    pgq_text(&q, s->note);
    return pg_write(pgs_of(st), "state set",
                    "INSERT INTO states(customer, state, since, until, note)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (customer, state) DO UPDATE SET"
                    " since = excluded.since, until = excluded.until, note = excluded.note", &q);
}

static int pg_state_clear(cg_store *st, const char *customer, const char *state)
{
    struct pgq q = {0};
    pgq_text(&q, customer);
    pgq_text(&q, state);
    pgq_int(&q, cg_now());
    int64_t n = 0;
    if (pg_changes(pgs_of(st), "state clear", "UPDATE states SET until = $3 WHERE customer = $1"
                   " AND state = $2 AND since <= $3 AND (until = 0 OR until > $3)", &q, &n) < 0)
        return -1;
    return n > 0;
}

static int pg_states(cg_store *st, const char *customer, int64_t now, cg_store_state_cb cb,
                     void *arg)
{
    struct pgs *p = pgs_of(st);
    if (customer && now) {
        int c = cg_pg_cache_states(p, customer, now, cb, arg);
        if (c != 0)
            return c < 0 ? -1 : 0;
    }
    struct pgq q = {0};
    struct cg_buf sql = {0};
    cg_buf_add(&sql, "SELECT customer, state, since, until, note FROM states WHERE true");
    if (customer) {
        pgq_text(&q, customer);
        cg_buf_add(&sql, " AND customer = $1");
    }
    if (now) {
        pgq_int(&q, now);
        cg_buf_printf(&sql, " AND since <= $%d AND (until = 0 OR until > $%d)", q.n, q.n);
    }
    cg_buf_add(&sql, customer ? " ORDER BY since DESC, state" : " ORDER BY customer, since DESC, state");
    struct pgr r;
    int rc = pg_exec(p, "states", sql.s, &q, &r);
    cg_buf_free(&sql);
    if (rc < 0)
        return -1;
    for (int i = 0; i < pgr_n(&r); i++) {
        struct cg_state_row s = {pgr_v(&r, i, 0), pgr_v(&r, i, 1), pgr_int(&r, i, 2),
                                 pgr_int(&r, i, 3), pgr_v(&r, i, 4)};
        if (cb(&s, arg))
            break;
    }
    pgr_free(&r);
    return 0;
}

/* --- opt-outs ------------------------------------------------------------ */

static int pg_optout_set(cg_store *st, const struct cg_optout_row *o)
{
    struct pgq q = {0};
    pgq_text(&q, o->customer);
    pgq_text(&q, o->category);
    pgq_int(&q, o->since);
    pgq_int(&q, o->until);
    pgq_text(&q, o->note);
    return pg_write(pgs_of(st), "opt-out set",
                    "INSERT INTO optouts(customer, category, since, until, note)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (customer, category) DO UPDATE SET"
                    " since = excluded.since, until = excluded.until, note = excluded.note", &q);
}

static int pg_optout_remove(cg_store *st, const char *customer, const char *category)
{
    struct pgq q = {0};
    pgq_text(&q, customer);
    pgq_text(&q, category);
    int64_t n = 0;
    if (pg_changes(pgs_of(st), "opt-out remove", "DELETE FROM optouts WHERE customer = $1"
                   " AND category = $2", &q, &n) < 0)
        return -1;
    return n > 0;
}

static int pg_opted_out(cg_store *st, const char *customer, const char *address,
                        const char *category, int64_t now, int *r)
{
    struct pgs *p = pgs_of(st);
    *r = 0;
    int c = cg_pg_cache_opted_out(p, customer, address, category, now, r);
    if (c != 0)
        return c < 0 ? -1 : 0;
    struct pgq q = {0};
    pgq_text(&q, customer);
    pgq_int(&q, now);
    pgq_text(&q, address ? address : customer);
    struct pgr res;
    if (pg_exec(p, "opt-outs", "SELECT category FROM optouts WHERE customer IN ($1, $3)"
                " AND since <= $2 AND (until = 0 OR until > $2)", &q, &res) < 0)
        return -1;
    for (int i = 0; i < pgr_n(&res) && !*r; i++) {
        const char *pat = pgr_v(&res, i, 0);
        if (pat && cg_category_match(pat, category))
            *r = 1;
    }
    pgr_free(&res);
    return 0;
}

/* --- decision log -------------------------------------------------------- */

int pg_decision_rows(const struct pgr *r, cg_store_decision_cb cb, void *arg)
{
    for (int i = 0; i < pgr_n(r); i++) {
        struct cg_decision_row d = {
            .id = pgr_int(r, i, 0),
            .ts = pgr_int(r, i, 1),
            .ref = pgr_v(r, i, 2),
            .stage = pgr_v(r, i, 3),
            .verdict = pgr_v(r, i, 4),
            .policy = pgr_v(r, i, 5),
            .reason = pgr_v(r, i, 6),
            .detail = pgr_v(r, i, 7),
            .department = pgr_v(r, i, 8),
            .sender = pgr_v(r, i, 9),
            .recipient = pgr_v(r, i, 10),
            .customer = pgr_v(r, i, 11),
            .category = pgr_v(r, i, 12),
            .message_id = pgr_v(r, i, 13),
            .queue_id = pgr_v(r, i, 14),
            .config_version = pgr_v(r, i, 15),
            .retry_after = pgr_int(r, i, 16),
            .monitor = (int)pgr_int(r, i, 17),
            .episode = pgr_v(r, i, 18),
            .relay = pgr_v(r, i, 19),
        };
        if (cb(&d, arg))
            break;
    }
    return 0;
}

static int pg_decision_add(cg_store *st, const struct cg_decision_row *d)
{
    struct pgq q = {0};
    pgq_int(&q, d->ts);
    pgq_text(&q, d->ref);
    pgq_text(&q, d->stage);
    pgq_text(&q, d->verdict);
    pgq_text(&q, d->policy);
    pgq_text(&q, d->reason);
    pgq_text(&q, d->detail);
    pgq_text(&q, d->department);
    pgq_text(&q, d->sender);
    pgq_text(&q, d->recipient);
    pgq_text(&q, d->customer);
    pgq_text(&q, d->category);
    pgq_text(&q, d->message_id);
    pgq_text(&q, d->queue_id);
    pgq_text(&q, d->config_version);
    pgq_int(&q, d->retry_after);
    pgq_int(&q, d->monitor);
    pgq_text(&q, d->episode);
    pgq_text(&q, d->relay);
    if (pg_bulk_on(pgs_of(st)))
        return pg_bulk_row(pgs_of(st), PG_BULK_DECISIONS, &q);
    return pg_write(pgs_of(st), "decision add",
                    "INSERT INTO decisions(ts, ref, stage, verdict, policy, reason, detail,"
                    " department, sender, recipient, customer, category, message_id, queue_id,"
                    " config_version, retry_after, monitor, episode, relay) VALUES ($1, $2, $3,"
                    " $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
                    &q);
}

static int pg_decisions(cg_store *st, const struct cg_decision_filter *f,
                        cg_store_decision_cb cb, void *arg)
{
    static const struct cg_decision_filter none;
    if (!f)
        f = &none;
    struct pgq q = {0};
    struct cg_buf sql = {0};
    cg_buf_add(&sql, "SELECT " CG_PG_DECISION_COLS " FROM decisions WHERE true");
    const struct {
        const char *v, *col;
    } eq[] = {{f->verdict, "verdict"},   {f->department, "department"}, {f->policy, "policy"},
              {f->customer, "customer"}, {f->queue_id, "queue_id"},     {f->relay, "relay"}};
    for (size_t i = 0; i < sizeof eq / sizeof eq[0]; i++)
        if (eq[i].v) {
            pgq_text(&q, eq[i].v);
            cg_buf_printf(&sql, " AND %s = $%d", eq[i].col, q.n);
        }
    if (f->since) {
        pgq_int(&q, f->since);
        cg_buf_printf(&sql, " AND ts >= $%d", q.n);
    }
    if (f->until) {
        pgq_int(&q, f->until);
        cg_buf_printf(&sql, " AND ts < $%d", q.n);
    }
    cg_buf_add(&sql, f->oldest_first ? " ORDER BY ts, id" : " ORDER BY ts DESC, id DESC");
    if (f->limit > 0)
        cg_buf_printf(&sql, " LIMIT %ld", f->limit);
    struct pgr r;
    int rc = pg_exec(pgs_of(st), "decisions", sql.s, &q, &r);
    cg_buf_free(&sql);
    if (rc < 0)
        return -1;
    pg_decision_rows(&r, cb, arg);
    pgr_free(&r);
    return 0;
}

/* --- deferral episodes ---------------------------------------------------- */

/* episode_keep - fill *e from strings that are copied first (an argument
 * may be one of the previous call's) */
void cg_pg_episode_fill(struct pgs *p, struct cg_episode *e, const char *sender,
                        const char *recipient, const char *first_ref, const char *message_id,
                        const char *policy)
{
    const char *v[5] = {sender, recipient, first_ref, message_id, policy};
    char *copy[5];
    for (size_t i = 0; i < 5; i++)
        copy[i] = cg_xstrdup(v[i]);
    for (size_t i = 0; i < 5; i++) {
        free(p->ep_strings[i]);
        p->ep_strings[i] = copy[i];
    }
    e->sender = copy[0];
    e->recipient = copy[1];
    e->first_ref = copy[2];
    e->message_id = copy[3];
    e->policy = copy[4];
}

static int pg_episode_get(cg_store *st, const char *sender, const char *recipient,
                          struct cg_episode *e)
{
    struct pgs *p = pgs_of(st);
    int c = cg_pg_cache_episode(p, sender, recipient, e);
    if (c != 0)
        return c < 0 ? -1 : c == 1;
    struct pgq q = {0};
    pgq_text(&q, sender);
    pgq_text(&q, recipient);
    struct pgr r;
    if (pg_exec(p, "deferral episode", "SELECT first_ts, first_ref, last_ts, attempts,"
                " retry_after, message_id, policy, expired FROM deferrals"
                " WHERE recipient = $2 AND sender = $1", &q, &r) < 0)
        return -1;
    int found = pgr_n(&r) > 0;
    if (found) {
        struct cg_episode x = {
            .first_ts = pgr_int(&r, 0, 0),
            .last_ts = pgr_int(&r, 0, 2),
            .attempts = pgr_int(&r, 0, 3),
            .retry_after = pgr_int(&r, 0, 4),
            .expired = (int)pgr_int(&r, 0, 7),
        };
        cg_pg_episode_fill(p, &x, sender, recipient, pgr_v(&r, 0, 1), pgr_v(&r, 0, 5),
                           pgr_v(&r, 0, 6));
        *e = x;
    }
    pgr_free(&r);
    return found;
}

static int pg_episode_put(cg_store *st, const struct cg_episode *e)
{
    struct pgs *p = pgs_of(st);
    struct pgq q = {0};
    pgq_text(&q, e->sender);
    pgq_text(&q, e->recipient);
    pgq_int(&q, e->first_ts);
    pgq_text(&q, e->first_ref);
    pgq_int(&q, e->last_ts);
    pgq_int(&q, e->attempts);
    pgq_int(&q, e->retry_after);
    pgq_text(&q, e->message_id);
    pgq_text(&q, e->policy);
    pgq_int(&q, e->expired);
    if (pg_write(p, "deferral episode",
                 "INSERT INTO deferrals(sender, recipient, first_ts, first_ref, last_ts, attempts,"
                 " retry_after, message_id, policy, expired) VALUES ($1, $2, $3, $4, $5, $6, $7,"
                 " $8, $9, $10) ON CONFLICT (recipient, sender) DO UPDATE SET"
                 " first_ts = excluded.first_ts, first_ref = excluded.first_ref,"
                 " last_ts = excluded.last_ts, attempts = excluded.attempts,"
                 " retry_after = excluded.retry_after, message_id = excluded.message_id,"
                 " policy = excluded.policy, expired = excluded.expired", &q) < 0)
        return -1;
    if (p->batch)
        cg_pg_cache_episode_put(p, e);
    return 0;
}

static int pg_episode_end(cg_store *st, const char *sender, const char *recipient)
{
    struct pgs *p = pgs_of(st);
    struct pgq q = {0};
    pgq_text(&q, sender);
    pgq_text(&q, recipient);
    if (pg_write(p, "deferral episode", "DELETE FROM deferrals WHERE recipient = $2"
                 " AND sender = $1", &q) < 0)
        return -1;
    if (p->batch)
        cg_pg_cache_episode_end(p, sender, recipient);
    return 0;
}

/* --- relays ------------------------------------------------------------------ */

static int pg_relay_seen(cg_store *st, const struct cg_relay_row *r)
{
    struct pgq q = {0};
    pgq_text(&q, r->name);
    pgq_text(&q, r->config_version);
    pgq_text(&q, r->software);
    pgq_int(&q, r->started);
    pgq_int(&q, r->last_seen);
    return pg_write(pgs_of(st), "relay",
                    "INSERT INTO relays(name, config_version, software, started, last_seen)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET"
                    " config_version = excluded.config_version, software = excluded.software,"
                    " started = CASE WHEN excluded.started > 0 THEN excluded.started"
                    " ELSE relays.started END, last_seen = excluded.last_seen", &q);
}

static int pg_relays(cg_store *st, cg_store_relay_cb cb, void *arg)
{
    struct pgr r;
    if (pg_exec(pgs_of(st), "relays", "SELECT name, config_version, software, started, last_seen"
                " FROM relays ORDER BY name", NULL, &r) < 0)
        return -1;
    for (int i = 0; i < pgr_n(&r); i++) {
        struct cg_relay_row row = {pgr_v(&r, i, 0), pgr_v(&r, i, 1), pgr_v(&r, i, 2),
                                   pgr_int(&r, i, 3), pgr_int(&r, i, 4)};
        if (cb(&row, arg))
            break;
    }
    pgr_free(&r);
    return 0;
}

static const struct cg_store_ops pg_ops = {
    .name = "postgresql",
    .close = pg_close,
    .schema_version = pg_schema_version,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .savepoint = pg_savepoint,
    .release = pg_release,
    .rollback_savepoint = pg_rollback_savepoint,
    .lock_keys = pg_lock_keys,
    .batch_begin = cg_pg_batch_begin,
    .batch_join = cg_pg_batch_join,
    .wants_keys = 1,
    .maintain = pg_maintain,
    .writer_step = pg_writer_step,
    .present = pg_present,
    .customer_lookup = pg_customer_lookup,
    .customer_put = pg_customer_put,
    .contact_add = pg_contact_add,
    .contacts = pg_contacts,
    .contacts_all = pg_contacts_all,
    .dept_counts = pg_dept_counts,
    .state_set = pg_state_set,
    .state_clear = pg_state_clear,
    .states = pg_states,
    .optout_set = pg_optout_set,
    .optout_remove = pg_optout_remove,
    .opted_out = pg_opted_out,
    .decision_add = pg_decision_add,
    .decisions = pg_decisions,
    .episode_get = pg_episode_get,
    .episode_put = pg_episode_put,
    .episode_end = pg_episode_end,
    .relay_seen = pg_relay_seen,
    .relays = pg_relays,
    .customers = cg_pg_customers,
    .customer_count = cg_pg_customer_count,
    .bulk = cg_pg_bulk,
    .optouts = cg_pg_optouts,
    .prune = cg_pg_prune,
    .forget = cg_pg_forget,
    .erasures = cg_pg_erasures,
    .erasure_add = cg_pg_erasure_add,
    .check = cg_pg_check,
    .held_rows = cg_pg_held_rows,
    .held_outcome = cg_pg_held_outcome,
    .lifecycle = cg_pg_lifecycle,
    .report_counts = cg_pg_report_counts,
    .report_reasons = cg_pg_report_reasons,
    .report_histogram = cg_pg_report_histogram,
    .report_held_outcomes = cg_pg_report_held_outcomes,
    .sim_events = cg_pg_sim_events,
};

/* --- named parameters (the admin and report queries) --------------------- */

void pgn_text(struct pgn *n, const char *name, const char *v)
{
    if (n->n < PG_MAX_PARAMS) {
        n->name[n->n] = name;
        n->val[n->n++] = v;
    }
}

void pgn_int(struct pgn *n, const char *name, int64_t v)
{
    if (n->n < PG_MAX_PARAMS) {
        snprintf(n->num[n->n], sizeof n->num[n->n], "%" PRId64, v);
        n->name[n->n] = name;
        n->val[n->n] = n->num[n->n];
        n->n++;
    }
}

char *pg_named(const char *sql, const struct pgn *n, struct pgq *q)
{
    struct cg_buf b = {0};
    int index[PG_MAX_PARAMS] = {0};
    memset(q, 0, sizeof *q);
    for (const char *s = sql; *s;) {
        /* ":name", not the second colon of a "::type" cast */
        if (s[0] == ':' && (islower((unsigned char)s[1]) || s[1] == '_') &&
            !(s > sql && s[-1] == ':')) {
            size_t len = 1;
            while (islower((unsigned char)s[len]) || isdigit((unsigned char)s[len]) || s[len] == '_')
                len++;
            int k;
            for (k = 0; k < n->n; k++)
                if (strlen(n->name[k]) == len && !strncmp(n->name[k], s, len))
                    break;
            if (k < n->n) {
                if (!index[k]) {
                    pgq_text(q, n->val[k]);
                    index[k] = q->n;
                }
                cg_buf_printf(&b, "$%d", index[k]);
                s += len;
                continue;
            }
        }
        cg_buf_addn(&b, s, 1);
        s++;
    }
    return b.s;
}

int pg_exec_named(struct pgs *p, const char *what, const char *sql, const struct pgn *n,
                  struct pgr *r)
{
    struct pgq q;
    char *text = pg_named(sql, n, &q);
    int rc = pg_exec(p, what, text, &q, r);
    free(text);
    return rc;
}
