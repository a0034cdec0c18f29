/*
 * cg_sqlite_admin.c - the SQLite backend's admin and compliance operations
 * (see cg_store_admin.h).
 *
 * These run from contactgatectl, once per command, so their statements are
 * prepared per call rather than cached on the connection. Long deletes
 * (prune) are cut into short transactions: the daemon's connection waits
 * on the write lock at most its busy_timeout, and one batch is far below.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg_store_admin.h"
#include "cg_sqlite_int.h"
#include "cg_store_sql.h"
#include "cg_util.h"

/* list_stmt - a listing for one customer (q_one, with the customer as ?1)
 * or for all (q_all), prepared */
static sqlite3_stmt *list_stmt(cg_store *st, const char *customer, const char *q_one,
                               const char *q_all, const char *what)
{
    sqlite3_stmt *s = cg_sqlite_prepare(sq_of(st), customer ? q_one : q_all, what);
    if (s && customer)
        sqlite3_bind_text(s, 1, customer, -1, SQLITE_STATIC);
    return s;
}

/* --- customer map ------------------------------------------------------ */

int cg_sqlite_customers(cg_store *st, const char *customer, cg_admin_customer_cb cb, void *arg)
{
    sqlite3_stmt *s = list_stmt(st, customer,
                                "SELECT address, customer, timezone, attrs FROM customers"
                                " WHERE customer = ?1 ORDER BY address",
                                "SELECT address, customer, timezone, attrs FROM customers"
                                " ORDER BY customer, address",
                                "customers");
    if (!s)
        return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct cg_customer_row r = {cg_sqlite_col_text(s, 0), cg_sqlite_col_text(s, 1),
                                    cg_sqlite_col_text(s, 2), cg_sqlite_col_text(s, 3)};
        if (cb(&r, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return cg_sqlite_finish(sq_of(st), s, rc, "customers");
}

int cg_sqlite_customer_count(cg_store *st, int64_t *addresses_r, int64_t *customers_r)
{
    int64_t v;
    if (addresses_r) {
        if (cg_sqlite_count(sq_of(st), "SELECT count(*) FROM customers", 0, 0, &v) < 0)
            return -1;
        *addresses_r = v;
    }
    if (customers_r) {
        /* the customers_customer index makes this a scan of the index only */
        if (cg_sqlite_count(sq_of(st), "SELECT count(DISTINCT customer) FROM customers", 0, 0, &v) < 0)
            return -1;
        *customers_r = v;
    }
    return 0;
}

int cg_sqlite_bulk(cg_store *st)
{
    /* up to 256 MiB of page cache, allocated only as pages are touched:
     * a large random-order upsert then stays in memory until COMMIT */
    return cg_sqlite_run(sq_of(st), "PRAGMA cache_size = -262144", NULL, "cache_size", NULL);
}

/* --- opt-outs ------------------------------------------------------------ */

int cg_sqlite_optouts(cg_store *st, const char *customer, cg_admin_optout_cb cb, void *arg)
{
    sqlite3_stmt *s = list_stmt(st, customer,
                                "SELECT customer, category, since, until, note FROM optouts"
                                " WHERE customer = ?1 ORDER BY category",
                                "SELECT customer, category, since, until, note FROM optouts"
                                " ORDER BY customer, category",
                                "opt-outs");
    if (!s)
        return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct cg_optout_row r = {
            .customer = cg_sqlite_col_text(s, 0),
            .category = cg_sqlite_col_text(s, 1),
            .since = sqlite3_column_int64(s, 2),
            .until = sqlite3_column_int64(s, 3),
            .note = cg_sqlite_col_text(s, 4),
        };
        if (cb(&r, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return cg_sqlite_finish(sq_of(st), s, rc, "opt-outs");
}

/* --- retention ----------------------------------------------------------- */

/* prune_table - delete rows of `table` older than `before`, batch by
 * batch; a batch of contacts also leaves the department counters */
static int prune_table(cg_store *st, const char *table, int64_t before, int batch, int64_t *n,
                       int64_t *batches)
{
    struct sq *sq = sq_of(st);
    int contacts = strcmp(table, "contacts") == 0;
    char *doomed = cg_xasprintf("SELECT id, department, category, ts FROM %s WHERE ts < ?2"
                                " ORDER BY ts LIMIT %d", table, batch);
    char *q = cg_xasprintf("DELETE FROM %s WHERE id IN (SELECT id FROM (%s))", table, doomed);
    sqlite3_stmt *s = cg_sqlite_prepare(sq, q, table);
    free(q);
    int ret = -1;
    if (!s)
        goto out;
    sqlite3_bind_int64(s, 2, before);
    for (;;) {
        if (cg_store_begin(st, 1) < 0)
            break;
        if (contacts && cg_sqlite_counts_subtract(sq, doomed, NULL, before) < 0) {
            cg_store_rollback(st);
            break;
        }
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE) {
            cg_sqlite_fail(sq, table);
            cg_store_rollback(st);
            break;
        }
        int64_t k = sqlite3_changes64(sq->db);
        if (cg_store_commit(st) < 0) {
            cg_store_rollback(st);
            break;
        }
        *n += k;
        (*batches)++;
        /* keep the WAL small: copy this batch into the database now, and
         * when the WAL has grown anyway (the daemon always reading), wait
         * briefly for a moment to start it over */
        int frames = 0;
        if (cg_sqlite_checkpoint(sq, CG_SQ_CKPT_PASSIVE, &frames, NULL) == 0 && frames > 4096)
            cg_sqlite_checkpoint(sq, CG_SQ_CKPT_RESTART, &frames, NULL);
        if (k < batch) {
            /* done: give the WAL's disk space back if the readers allow */
            cg_sqlite_checkpoint(sq, CG_SQ_CKPT_TRUNCATE, &frames, NULL);
            ret = 0;
            break;
        }
    }
out:
    sqlite3_finalize(s);
    free(doomed);
    return ret;
}

int cg_sqlite_prune(cg_store *st, int64_t before, int batch, int dry_run,
                    struct cg_prune_counts *n)
{
    struct sq *sq = sq_of(st);
    if (dry_run)
        return cg_sqlite_count(sq, "SELECT count(*) FROM contacts WHERE ts < ?1", 1, before,
                               &n->contacts) < 0 ||
                       cg_sqlite_count(sq, "SELECT count(*) FROM decisions WHERE ts < ?1", 1,
                                       before, &n->decisions) < 0
                   ? -1
                   : 0;
    if (prune_table(st, "contacts", before, batch, &n->contacts, &n->batches) < 0 ||
        prune_table(st, "decisions", before, batch, &n->decisions, &n->batches) < 0)
        return -1;
    sqlite3_stmt *s = cg_sqlite_prepare(sq, "DELETE FROM deferrals"
                                        " WHERE max(last_ts, retry_after) < ?1", "deferral episodes");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, cg_now() - CG_EPISODE_STALE_SECS);
    return cg_sqlite_finish(sq, s, sqlite3_step(s), "deferral episodes");
}

/* --- erasure ------------------------------------------------------------- */

/* subjects - the customer id, every address mapped to it and every address
 * its history names (malloc'ed, NULL-terminated): what must not be left in
 * the file */
static char **subjects(cg_store *st, const char *customer)
{
    size_t n = 1, cap = 8;
    char **v = cg_xcalloc(cap, sizeof *v);
    v[0] = cg_xstrdup(customer);
    sqlite3_stmt *s = cg_sqlite_prepare(sq_of(st),
                              "SELECT address FROM customers WHERE customer = ?1"
                              " UNION SELECT address FROM contacts WHERE customer = ?1"
                              " AND address IS NOT NULL"
                              " UNION SELECT recipient FROM decisions WHERE customer = ?1"
                              " AND recipient IS NOT NULL",
                              "subjects");
    if (!s) {
        free(v[0]);
        free(v);
        return NULL;
    }
    sqlite3_bind_text(s, 1, customer, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n + 2 > cap) {
            cap *= 2;
            v = cg_xrealloc(v, cap * sizeof *v);
        }
        v[n++] = cg_xstrdup(cg_sqlite_col_text(s, 0));
        v[n] = NULL;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        cg_sqlite_fail(sq_of(st), "subjects");
        for (size_t i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return NULL;
    }
    return v;
}

/* file_holds - does the file contain any subject that is an address (a
 * bare customer id such as "C1001" may well occur inside other values)?
 * 1 yes, 0 no, -1 cannot read */
static int file_holds(const char *path, char **subj)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        close(fd);
        return -1;
    }
    if (sb.st_size == 0) {
        close(fd);
        return 0;
    }
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return -1;
    int found = 0;
    for (size_t i = 0; subj[i] && !found; i++)
        if (strchr(subj[i], '@') && memmem(p, (size_t)sb.st_size, subj[i], strlen(subj[i])))
            found = 1;
    munmap(p, (size_t)sb.st_size);
    return found;
}

/* checkpoint - copy the WAL into the file and truncate it; 1 if a reader
 * kept it from finishing */
static int checkpoint(cg_store *st)
{
    int log = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(sq_of(st)->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                       &log, &done);
    if (rc == SQLITE_BUSY)
        return 1;
    if (rc != SQLITE_OK)
        return cg_sqlite_fail(sq_of(st), "checkpoint");
    return 0;
}

int cg_sqlite_forget(cg_store *st, const char *customer, int64_t now, char *ref, size_t reflen,
                     struct cg_forget_counts *n)
{
    memset(n, 0, sizeof *n);
    /* deleted cells and freed pages are overwritten with zeros */
    if (cg_sqlite_run(sq_of(st), "PRAGMA secure_delete = ON", NULL, "secure_delete", NULL) < 0)
        return -1;
    if (cg_store_begin(st, 1) < 0)
        return -1;
    char **subj = subjects(st, customer);
    if (!subj) {
        cg_store_rollback(st);
        return -1;
    }
    /* its contacts leave the department counters; its deferral episodes
     * (by address) go */
    int rc = cg_sqlite_counts_subtract(sq_of(st), cg_store_sql_erase_counted, customer, 0);
    if (rc == 0)
        rc = cg_sqlite_run(sq_of(st), cg_store_sql_erase_episodes, customer, "erase", NULL);
    int64_t total = 0;
    for (size_t i = 0; cg_store_sql_erase_steps[i].sql && rc == 0; i++) {
        int64_t *slot = (int64_t *)((char *)n + cg_store_sql_erase_steps[i].off);
        rc = cg_sqlite_run(sq_of(st), cg_store_sql_erase_steps[i].sql, customer, "erase", slot);
        total += *slot;
    }
    if (rc == 0) {
        cg_ref_new(ref, reflen);
        char note[200];
        snprintf(note, sizeof note,
                 "contacts=%lld decisions=%lld states=%lld optouts=%lld addresses=%lld",
                 (long long)n->contacts, (long long)n->decisions, (long long)n->states,
                 (long long)n->optouts, (long long)n->addresses);
        sqlite3_stmt *s = cg_sqlite_prepare(sq_of(st), "INSERT INTO erasures(ts, subject_hash, rows, note)"
                                      " VALUES (?1, ?2, ?3, ?4)", "erasure record");
        rc = -1;
        if (s) {
            sqlite3_bind_int64(s, 1, now);
            sqlite3_bind_text(s, 2, ref, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 3, total);
            sqlite3_bind_text(s, 4, note, -1, SQLITE_STATIC);
            rc = sqlite3_step(s) == SQLITE_DONE ? 0 : cg_sqlite_fail(sq_of(st), "erasure record");
            sqlite3_finalize(s);
        }
    }
    if (rc == 0)
        rc = cg_store_commit(st);
    if (rc < 0) {
        cg_store_rollback(st);
        goto out;
    }
    /* What is committed is gone from the tables; now from the files. */
    rc = checkpoint(st);
    if (rc != 0) {
        n->wal_busy = rc > 0;
        rc = rc > 0 ? 0 : -1;
        goto out;
    }
    const char *path = sqlite3_db_filename(sq_of(st)->db, "main");
    if (path && *path && file_holds(path, subj) > 0) {
        /* a copy from before (an update or delete made without
         * secure_delete) sits in free space: rebuild the file */
        n->vacuumed = 1;
        rc = cg_sqlite_run(sq_of(st), "VACUUM", NULL, "vacuum", NULL);
        if (rc == 0) {
            int b = checkpoint(st);
            n->wal_busy = b > 0;
            rc = b < 0 ? -1 : 0;
        }
        /* still there: inside another value (a longer address), or a
         * reader kept the WAL */
        if (rc == 0 && !n->wal_busy && file_holds(path, subj) > 0)
            n->residue = 1;
    }
out:
    for (size_t i = 0; subj[i]; i++)
        free(subj[i]);
    free(subj);
    return rc;
}

int cg_sqlite_erasures(cg_store *st, cg_admin_erasure_cb cb, void *arg)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = cg_sqlite_prepare(sq, "SELECT ts, subject_hash, rows, note FROM erasures"
                                        " ORDER BY ts, id", "erasures");
    if (!s)
        return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct cg_erasure_row r = {sqlite3_column_int64(s, 0), cg_sqlite_col_text(s, 1),
                                   sqlite3_column_int64(s, 2), cg_sqlite_col_text(s, 3)};
        if (cb(&r, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return cg_sqlite_finish(sq, s, rc, "erasures");
}

int cg_sqlite_erasure_add(cg_store *st, const struct cg_erasure_row *r)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = cg_sqlite_prepare(sq, "INSERT INTO erasures(ts, subject_hash, rows, note)"
                                        " VALUES (?1, ?2, ?3, ?4)", "erasure record");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, r->ts);
    cg_sqlite_bind_text(s, 2, r->ref);
    sqlite3_bind_int64(s, 3, r->rows);
    cg_sqlite_bind_text(s, 4, r->note);
    return cg_sqlite_finish(sq, s, sqlite3_step(s), "erasure record");
}

/* --- integrity ---------------------------------------------------------------- */


int cg_sqlite_check(cg_store *st, struct cg_check_counts *n, cg_admin_problem_cb cb, void *arg)
{
    struct sq *sq = sq_of(st);
    int found = 0;
    memset(n, 0, sizeof *n);
    n->schema_version = cg_store_schema_version(st);
    if (n->schema_version < 0)
        return -1;
    if (n->schema_version != CG_STORE_SCHEMA_VERSION)
        cg_store_problem(cb, arg, &found, "schema version %d, this contactgate writes %d",
                n->schema_version, CG_STORE_SCHEMA_VERSION);
    sqlite3_stmt *s = cg_sqlite_prepare(sq, "PRAGMA integrity_check", "integrity check");
    if (!s)
        return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *line = cg_sqlite_col_text(s, 0);
        if (line && strcmp(line, "ok") != 0)
            cg_store_problem(cb, arg, &found, "integrity: %s", line);
    }
    if (cg_sqlite_finish(sq, s, rc, "integrity check") < 0)
        return -1;
    for (size_t i = 0; cg_check_count_queries[i].sql; i++)
        if (cg_sqlite_count(sq, cg_check_count_queries[i].sql, 0, 0,
                            (int64_t *)((char *)n + cg_check_count_queries[i].off)) < 0)
            return -1;
    if (!(s = cg_sqlite_prepare(sq, cg_store_recount_sql, "counter recount")))
        return -1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        cg_store_counter_problem(cb, arg, &found, n, cg_sqlite_col_text(s, 0),
                                 cg_sqlite_col_text(s, 3), sqlite3_column_int64(s, 1),
                                 sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 5),
                                 sqlite3_column_int64(s, 4));
    if (cg_sqlite_finish(sq, s, rc, "counter recount") < 0)
        return -1;
    cg_store_counter_problems_end(cb, arg, &found, n);
    return found;
}
