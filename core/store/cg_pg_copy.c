/*
 * cg_pg_copy.c - the PostgreSQL backend's bulk loads: the customer map,
 * contacts and decisions of a bulk transaction (cg_admin_bulk, then
 * cg_store_begin: `customers import`, `store copy` into PostgreSQL) go
 * by COPY instead of one INSERT each.
 *
 * The rows of one kind are kept as COPY text (a sequence number first:
 * the order they came in) and sent in pieces of COPY_CHUNK bytes with
 * cg_pgconn_copy into a temporary table of the transaction (ON COMMIT
 * DROP), created with the first piece. When anything else is to be sent
 * (a read, another kind of row, a queued write, the COMMIT) the rest
 * goes, and the rows are applied with one INSERT ... SELECT with the
 * semantics of the row-at-a-time statements of cg_pg.c:
 *   - customer map: an upsert per address; an address given twice counts
 *     as its last row (DISTINCT ON, the highest sequence number), as the
 *     last of two upserts would; a row that would not change is left
 *     alone (the same content either way, and re-importing an unchanged
 *     CRM export writes nothing: 1M rows, 2.2 s instead of 6.6 s here);
 *   - contacts: inserted in their order (ids ascend as they came), the
 *     department counters added from the same rows in one statement;
 *   - decisions: inserted in their order.
 * Then the table is dropped. Memory: one piece of text at a time.
 *
 * Values are text exactly as the statements' parameters are (struct
 * pgq): NULL is \N, backslash, tab, newline and carriage return are
 * escaped, every other byte goes as is; text that is not valid UTF-8 gets
 * the '?' of cg_pg.c's write queue.
 *
 * A failure (a refused row, a lost connection) fails the call that sent
 * the rows and aborts the transaction; the caller rolls back. Not used in
 * a decider's batch, nor inside a savepoint (a job's rows must roll back
 * with it): those rows take the write queue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_pg_int.h"
#include "cg_util.h"

/* rows are sent when this much COPY text is waiting */
#define COPY_CHUNK (4 * 1024 * 1024)

#define CUSTOMER_COLS "address, customer, timezone, attrs"
#define CONTACT_COLS_IN                                                                        \
    "ts, customer, address, department, category, channel, weight, message_id, queue_id,"     \
    " digest, relay"
#define DECISION_COLS_IN                                                                       \
    "ts, ref, stage, verdict, policy, reason, detail, department, sender, recipient,"         \
    " customer, category, message_id, queue_id, config_version, retry_after, monitor,"       \
    " episode, relay"
#define T " text COLLATE \"C\""

/* One kind of row: its temporary table (the columns of the row's
 * statement, in the order of its parameters, after seq), and how it is
 * applied. */
struct bulk_kind {
    const char *what;         /* for errors, as the row's own statement says */
    const char *create;
    const char *copy;
    const char *apply;
    const char *drop;
    int counters;             /* contacts: the department counters too */
    int nfields;              /* the row's values (its pgq) */
};

static const struct bulk_kind kinds[PG_BULK_N] = {
    [PG_BULK_CUSTOMERS] = {
        "customer put",
        "CREATE TEMP TABLE cg_copy_customers (seq bigint, address" T ", customer" T
        ", timezone" T ", attrs" T ") ON COMMIT DROP",
        "COPY cg_copy_customers (seq, " CUSTOMER_COLS ") FROM STDIN",
        "INSERT INTO customers(" CUSTOMER_COLS ") SELECT DISTINCT ON (address) " CUSTOMER_COLS
        " FROM cg_copy_customers ORDER BY address, seq DESC ON CONFLICT (address) DO UPDATE"
        " SET customer = excluded.customer, timezone = excluded.timezone,"
        " attrs = excluded.attrs WHERE (customers.customer, customers.timezone,"
        " customers.attrs) IS DISTINCT FROM (excluded.customer, excluded.timezone,"
        " excluded.attrs)",
        "DROP TABLE cg_copy_customers", 0, 4},
    [PG_BULK_CONTACTS] = {
        "contact add",
        "CREATE TEMP TABLE cg_copy_contacts (seq bigint, ts bigint, customer" T ", address" T
        ", department" T ", category" T ", channel" T ", weight double precision, message_id" T
        ", queue_id" T ", digest" T ", relay" T ") ON COMMIT DROP",
        "COPY cg_copy_contacts (seq, " CONTACT_COLS_IN ") FROM STDIN",
        "INSERT INTO contacts(" CONTACT_COLS_IN ") SELECT " CONTACT_COLS_IN
        " FROM cg_copy_contacts ORDER BY seq",
        "DROP TABLE cg_copy_contacts", 1, 11},
    [PG_BULK_DECISIONS] = {
        "decision add",
        "CREATE TEMP TABLE cg_copy_decisions (seq bigint, ts bigint, ref" T ", stage" T
        ", verdict" T ", policy" T ", reason" T ", detail" T ", department" T ", sender" T
        ", recipient" T ", customer" T ", category" T ", message_id" T ", queue_id" T
        ", config_version" T ", retry_after bigint, monitor integer, episode" T ", relay" T
        ") ON COMMIT DROP",
        "COPY cg_copy_decisions (seq, " DECISION_COLS_IN ") FROM STDIN",
        "INSERT INTO decisions(" DECISION_COLS_IN ") SELECT " DECISION_COLS_IN
        " FROM cg_copy_decisions ORDER BY seq",
        "DROP TABLE cg_copy_decisions", 0, 19},
};

/* the rows of the kind being loaded */
struct pg_bulk {
    int kind;
    struct cg_buf text;       /* COPY text not sent yet */
    int64_t rows;             /* rows since the last apply (sent or not) */
    int table;                /* the temporary table exists */
    int busy;                 /* sending: what it sends goes straight out */
};

int pg_bulk_on(const struct pgs *p)
{
    return p->bulk && p->in_tx && !p->batch && !p->sp_open;
}

int pg_bulk_pending(const struct pgs *p)
{
    return p->bulkq && p->bulkq->rows > 0 && !p->bulkq->busy;
}

void pg_bulk_reset(struct pgs *p)
{
    if (!p->bulkq)
        return;
    p->bulkq->text.len = 0;
    p->bulkq->rows = 0;
    p->bulkq->table = 0;
    p->bulkq->busy = 0;
}

void pg_bulk_free(struct pgs *p)
{
    if (!p->bulkq)
        return;
    cg_buf_free(&p->bulkq->text);
    free(p->bulkq);
    p->bulkq = NULL;
}

/* copy_text - one value as a field of COPY's text format */
static void copy_text(struct cg_buf *b, const char *v)
{
    if (!v) {
        cg_buf_addn(b, "\\N", 2);
        return;
    }
    char *fixed = pg_utf8_fixed(v);
    const char *s = fixed ? fixed : v, *run = s;
    for (; *s; s++) {
        const char *esc = *s == '\\' ? "\\\\" : *s == '\t' ? "\\t" : *s == '\n' ? "\\n"
                        : *s == '\r' ? "\\r" : NULL;
        if (!esc)
            continue;
        cg_buf_addn(b, run, (size_t)(s - run));
        cg_buf_addn(b, esc, 2);
        run = s + 1;
    }
    cg_buf_addn(b, run, (size_t)(s - run));
    free(fixed);
}

/* ship - the waiting text into the temporary table (created first) */
static int ship(struct pgs *p)
{
    struct pg_bulk *b = p->bulkq;
    const struct bulk_kind *k = &kinds[b->kind];
    if (!b->table) { /* with the BEGIN when that is still to go */
        if (pg_exec(p, k->what, k->create, NULL, NULL) < 0)
            return -1;
        b->table = 1;
    }
    if (!b->text.len)
        return 0;
    char err[1024];
    struct cg_pgres *res = NULL;
    int rc = cg_pgconn_copy(p->c, cg_pgconn_now_ms() + p->timeout_ms, k->copy, b->text.s,
                            b->text.len, &res, err, sizeof err);
    cg_pgres_free(&res);
    b->text.len = 0;
    if (rc != CG_PGCONN_OK)
        return pg_fail(p, k->what, err);
    return 0;
}

int pg_bulk_flush(struct pgs *p)
{
    if (!pg_bulk_pending(p))
        return 0;
    struct pg_bulk *b = p->bulkq;
    const struct bulk_kind *k = &kinds[b->kind];
    b->busy = 1;
    int rc = ship(p);
    if (rc == 0)
        rc = pg_exec(p, k->what, k->apply, NULL, NULL);
    if (rc == 0 && k->counters)
        rc = pg_counts_apply(p, "SELECT department, category, ts FROM cg_copy_contacts", NULL,
                             1);
    if (rc == 0)
        rc = pg_exec(p, k->what, k->drop, NULL, NULL);
    pg_bulk_reset(p);
    return rc;
}

int pg_bulk_row(struct pgs *p, int kind, const struct pgq *q)
{
    if (p->bulkq && p->bulkq->kind != kind && pg_bulk_flush(p) < 0)
        return -1;
    /* what was queued before these rows goes before them */
    if ((p->nq || p->nd) && pg_flush(p, kinds[kind].what) < 0)
        return -1;
    if (!p->bulkq)
        p->bulkq = cg_xcalloc(1, sizeof *p->bulkq);
    struct pg_bulk *b = p->bulkq;
    b->kind = kind;
    char seq[24];
    cg_buf_addn(&b->text, seq, (size_t)snprintf(seq, sizeof seq, "%lld", (long long)b->rows));
    for (int i = 0; i < kinds[kind].nfields; i++) {
        cg_buf_addn(&b->text, "\t", 1);
        copy_text(&b->text, i < q->n ? q->v[i] : NULL);
    }
    cg_buf_addn(&b->text, "\n", 1);
    b->rows++;
    if (b->text.len < COPY_CHUNK)
        return 0;
    b->busy = 1;
    int rc = ship(p);
    b->busy = 0;
    if (rc < 0)
        pg_bulk_reset(p);
    return rc;
}
