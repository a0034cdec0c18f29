/*
 * cg_pg_admin.c - the PostgreSQL backend's admin and compliance operations
 * (see cg_store_admin.h): listings, retention, erasure, the erasure audit
 * and the integrity check.
 *
 * Long deletes (prune) are cut into short transactions, as on SQLite, so
 * that the relays' batches never wait long for a row. An erasure deletes
 * in one transaction, then VACUUMs the tables it touched so the deleted
 * rows' space is reclaimed; unlike SQLite's secure_delete, PostgreSQL
 * does not overwrite freed space, and its WAL (and any standby, backup or
 * archive) keeps the old rows until they are recycled: README says what
 * that means for an erasure request.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_pg_int.h"
#include "cg_store_admin.h"
#include "cg_store_sql.h"
#include "cg_util.h"

/* list - one customer's rows (q_one, $1 = customer) or all (q_all) */
static int list(cg_store *st, const char *customer, const char *q_one, const char *q_all,
                const char *what, struct pgr *r)
{
    struct pgq q = {0};
    if (customer)
        pgq_text(&q, customer);
    return pg_exec(pgs_of(st), what, customer ? q_one : q_all, &q, r);
}

/* --- customer map ------------------------------------------------------ */

int cg_pg_customers(cg_store *st, const char *customer, cg_admin_customer_cb cb, void *arg)
{
    struct pgr r;
    if (list(st, customer, "SELECT address, customer, timezone, attrs FROM customers"
             " WHERE customer = $1 ORDER BY address",
             "SELECT address, customer, timezone, attrs FROM customers ORDER BY customer, address",
             "customers", &r) < 0)
        return -1;
    for (int i = 0; i < pgr_n(&r); i++) {
        struct cg_customer_row c = {pgr_v(&r, i, 0), pgr_v(&r, i, 1), pgr_v(&r, i, 2),
                                    pgr_v(&r, i, 3)};
        if (cb(&c, arg))
            break;
    }
    pgr_free(&r);
    return 0;
}

int cg_pg_customer_count(cg_store *st, int64_t *addresses_r, int64_t *customers_r)
{
    struct pgs *p = pgs_of(st);
    if (addresses_r && pg_count(p, "customers", "SELECT count(*) FROM customers", NULL,
                                addresses_r) < 0)
        return -1;
    if (customers_r && pg_count(p, "customers", "SELECT count(DISTINCT customer) FROM customers",
                                NULL, customers_r) < 0)
        return -1;
    return 0;
}

int cg_pg_bulk(cg_store *st)
{
    pgs_of(st)->bulk = 1; /* the map, contacts and decisions by COPY (cg_pg_copy.c) */
    return 0;
}

/* --- opt-outs ------------------------------------------------------------ */

int cg_pg_optouts(cg_store *st, const char *customer, cg_admin_optout_cb cb, void *arg)
{
    struct pgr r;
    if (list(st, customer, "SELECT customer, category, since, until, note FROM optouts"
             " WHERE customer = $1 ORDER BY category",
             "SELECT customer, category, since, until, note FROM optouts"
             " ORDER BY customer, category", "opt-outs", &r) < 0)
        return -1;
    for (int i = 0; i < pgr_n(&r); i++) {
        struct cg_optout_row o = {pgr_v(&r, i, 0), pgr_v(&r, i, 1), pgr_int(&r, i, 2),
                                  pgr_int(&r, i, 3), pgr_v(&r, i, 4)};
        if (cb(&o, arg))
            break;
    }
    pgr_free(&r);
    return 0;
}

/* --- retention ----------------------------------------------------------- */

/* prune_table - delete rows of `table` (a fixed name) older than `before`,
 * batch by batch; contacts leave the department counters with them */
static int prune_table(cg_store *st, const char *table, int64_t before, int batch, int64_t *n,
                       int64_t *batches)
{
    struct pgs *p = pgs_of(st);
    int contacts = strcmp(table, "contacts") == 0;
    char *ids = cg_xasprintf("SELECT id FROM %s WHERE ts < $1 ORDER BY ts LIMIT %d", table, batch);
    char *doomed = cg_xasprintf("SELECT department, category, ts FROM contacts WHERE id IN (%s)",
                                ids);
    char *del = cg_xasprintf("DELETE FROM %s WHERE id IN (%s)", table, ids);
    struct pgq q = {0};
    pgq_int(&q, before);
    int ret = -1;
    for (;;) {
        if (cg_store_begin(st, 1) < 0)
            break;
        int64_t k = 0;
        if ((contacts && pg_counts_apply(p, doomed, &q, -1) < 0) ||
            pg_changes(p, table, del, &q, &k) < 0 || cg_store_commit(st) < 0) {
            cg_store_rollback(st);
            break;
        }
        *n += k;
        (*batches)++;
        if (k < batch) {
            ret = 0;
            break;
        }
    }
    free(ids);
    free(doomed);
    free(del);
    return ret;
}

int cg_pg_prune(cg_store *st, int64_t before, int batch, int dry_run,
                struct cg_prune_counts *n)
{
    struct pgs *p = pgs_of(st);
    struct pgq q = {0};
    pgq_int(&q, before);
    if (dry_run)
        return pg_count(p, "prune", "SELECT count(*) FROM contacts WHERE ts < $1", &q,
                        &n->contacts) < 0 ||
                       pg_count(p, "prune", "SELECT count(*) FROM decisions WHERE ts < $1", &q,
                                &n->decisions) < 0
                   ? -1
                   : 0;
    if (prune_table(st, "contacts", before, batch, &n->contacts, &n->batches) < 0 ||
        prune_table(st, "decisions", before, batch, &n->decisions, &n->batches) < 0)
        return -1;
    struct pgq s = {0};
    pgq_int(&s, cg_now() - CG_EPISODE_STALE_SECS);
    return pg_exec(p, "deferral episodes", "DELETE FROM deferrals"
                   " WHERE greatest(last_ts, retry_after) < $1", &s, NULL);
}

/* --- erasure ------------------------------------------------------------- */

int cg_pg_forget(cg_store *st, const char *customer, int64_t now, char *ref, size_t reflen,
                 struct cg_forget_counts *n)
{
    struct pgs *p = pgs_of(st);
    memset(n, 0, sizeof *n);
    struct pgq q = {0};
    pgq_text(&q, customer);
    if (cg_store_begin(st, 1) < 0)
        return -1;
    /* the subject's check-and-record is exclusive meanwhile */
    char *key = cg_xasprintf("c:%s", customer);
    int rc = pg_lock_text(p, (const char *const *)&key, 1);
    free(key);
    if (rc == 0)
        rc = pg_counts_apply(p, cg_store_sql_erase_counted, &q, -1);
    if (rc == 0)
        rc = pg_exec(p, "erase", cg_store_sql_erase_episodes, &q, NULL);
    int64_t total = 0;
    for (size_t i = 0; cg_store_sql_erase_steps[i].sql && rc == 0; i++) {
        int64_t *slot = (int64_t *)((char *)n + cg_store_sql_erase_steps[i].off);
        rc = pg_changes(p, "erase", cg_store_sql_erase_steps[i].sql, &q, slot);
        total += *slot;
    }
    if (rc == 0) {
        cg_ref_new(ref, reflen);
        char note[200];
        snprintf(note, sizeof note,
                 "contacts=%lld decisions=%lld states=%lld optouts=%lld addresses=%lld",
                 (long long)n->contacts, (long long)n->decisions, (long long)n->states,
                 (long long)n->optouts, (long long)n->addresses);
        struct cg_erasure_row e = {now, ref, total, note};
        rc = cg_pg_erasure_add(st, &e);
    }
    if (rc == 0)
        rc = cg_store_commit(st);
    if (rc < 0) {
        char keep[sizeof st->err];
        memcpy(keep, st->err, sizeof keep);
        cg_store_rollback(st);
        memcpy(st->err, keep, sizeof keep);
        return -1;
    }
    /* the dead rows' space back to the tables (outside a transaction) */
    static const char *const vacuum[] = {"VACUUM contacts", "VACUUM decisions", "VACUUM states",
                                         "VACUUM optouts", "VACUUM customers", "VACUUM deferrals",
                                         "VACUUM dept_counts"};
    for (size_t i = 0; i < sizeof vacuum / sizeof vacuum[0]; i++)
        if (pg_exec(p, "vacuum", vacuum[i], NULL, NULL) < 0)
            return -1;
    n->vacuumed = 1;
    return 0;
}

int cg_pg_erasures(cg_store *st, cg_admin_erasure_cb cb, void *arg)
{
    struct pgr r;
    if (pg_exec(pgs_of(st), "erasures", "SELECT ts, subject_hash, rows, note FROM erasures"
                " ORDER BY ts, id", NULL, &r) < 0)
        return -1;
    for (int i = 0; i < pgr_n(&r); i++) {
        struct cg_erasure_row e = {pgr_int(&r, i, 0), pgr_v(&r, i, 1), pgr_int(&r, i, 2),
                                   pgr_v(&r, i, 3)};
        if (cb(&e, arg))
            break;
    }
    pgr_free(&r);
    return 0;
}

int cg_pg_erasure_add(cg_store *st, const struct cg_erasure_row *r)
{
    struct pgq q = {0};
    pgq_int(&q, r->ts);
    pgq_text(&q, r->ref);
    pgq_int(&q, r->rows);
    pgq_text(&q, r->note);
    return pg_write(pgs_of(st), "erasure record", "INSERT INTO erasures(ts, subject_hash, rows,"
                    " note) VALUES ($1, $2, $3, $4)", &q);
}

/* --- integrity ---------------------------------------------------------------- */


int cg_pg_check(cg_store *st, struct cg_check_counts *n, cg_admin_problem_cb cb, void *arg)
{
    struct pgs *p = pgs_of(st);
    int found = 0;
    memset(n, 0, sizeof *n);
    n->schema_version = cg_store_schema_version(st);
    if (n->schema_version < 0)
        return -1;
    if (n->schema_version != CG_STORE_SCHEMA_VERSION)
        cg_store_problem(cb, arg, &found, "schema version %d, this contactgate writes %d",
                n->schema_version, CG_STORE_SCHEMA_VERSION);
    /* the server's own view: an index left invalid by an interrupted build */
    struct pgr r;
    if (pg_exec(p, "integrity check", "SELECT c.relname FROM pg_index i JOIN pg_class c"
                " ON c.oid = i.indexrelid WHERE NOT i.indisvalid AND c.relnamespace ="
                " (SELECT oid FROM pg_namespace WHERE nspname = current_schema())", NULL, &r) < 0)
        return -1;
    for (int i = 0; i < pgr_n(&r); i++)
        cg_store_problem(cb, arg, &found, "integrity: index %s is invalid (REINDEX it)", pgr_v(&r, i, 0));
    pgr_free(&r);
    for (size_t i = 0; cg_check_count_queries[i].sql; i++)
        if (pg_count(p, "check", cg_check_count_queries[i].sql, NULL,
                     (int64_t *)((char *)n + cg_check_count_queries[i].off)) < 0)
            return -1;
    if (pg_exec(p, "counter recount", cg_store_recount_sql, NULL, &r) < 0)
        return -1;
    for (int i = 0; i < pgr_n(&r); i++)
        cg_store_counter_problem(cb, arg, &found, n, pgr_v(&r, i, 0), pgr_v(&r, i, 3),
                                 pgr_int(&r, i, 1), pgr_int(&r, i, 2), pgr_int(&r, i, 5),
                                 pgr_int(&r, i, 4));
    pgr_free(&r);
    cg_store_counter_problems_end(cb, arg, &found, n);
    return found;
}
