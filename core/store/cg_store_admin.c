/*
 * cg_store_admin.c - admin and compliance queries (see cg_store_admin.h).
 *
 * These run from contactgatectl, once per command, so their statements are
 * prepared per call rather than cached on the connection. Long deletes
 * (prune) are cut into short transactions: the daemon's connection waits
 * on the write lock at most its busy_timeout, and one batch is far below.
 */
#include <fcntl.h>
#include <stddef.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg_store_admin.h"
#include "cg_store_int.h"
#include "cg_util.h"

/* run - execute a statement that returns no rows, bound with `key` as ?1
 * (NULL: nothing bound); *changes_r = rows changed (may be NULL) */
static int run(cg_store *st, const char *q, const char *key, const char *what,
               int64_t *changes_r)
{
    sqlite3_stmt *s = cg_store_prepare(st, q, what);
    if (!s)
        return -1;
    if (key)
        sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        cg_store_fail(st, what);
        sqlite3_finalize(s);
        return -1;
    }
    sqlite3_finalize(s);
    if (changes_r)
        *changes_r = sqlite3_changes64(cg_store_sqlite(st));
    return 0;
}

/* count - one integer from a query with an optional int64 ?1 */
static int count(cg_store *st, const char *q, int bind, int64_t v, int64_t *r)
{
    sqlite3_stmt *s = cg_store_prepare(st, q, "count");
    if (!s)
        return -1;
    if (bind)
        sqlite3_bind_int64(s, 1, v);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        cg_store_fail(st, "count");
        sqlite3_finalize(s);
        return -1;
    }
    *r = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return 0;
}

/* list_stmt - a listing for one customer (q_one, with the customer as ?1)
 * or for all (q_all), prepared */
static sqlite3_stmt *list_stmt(cg_store *st, const char *customer, const char *q_one,
                               const char *q_all, const char *what)
{
    sqlite3_stmt *s = cg_store_prepare(st, customer ? q_one : q_all, what);
    if (s && customer)
        sqlite3_bind_text(s, 1, customer, -1, SQLITE_STATIC);
    return s;
}

/* --- customer map ------------------------------------------------------ */

int cg_admin_customers(cg_store *st, const char *customer, cg_admin_customer_cb cb, void *arg)
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
        struct cg_customer_row r = {cg_store_col_text(s, 0), cg_store_col_text(s, 1),
                                    cg_store_col_text(s, 2), cg_store_col_text(s, 3)};
        if (cb(&r, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return cg_store_finish(st, s, rc, "customers");
}

int cg_admin_customer_count(cg_store *st, int64_t *addresses_r, int64_t *customers_r)
{
    int64_t v;
    if (addresses_r) {
        if (count(st, "SELECT count(*) FROM customers", 0, 0, &v) < 0)
            return -1;
        *addresses_r = v;
    }
    if (customers_r) {
        /* the customers_customer index makes this a scan of the index only */
        if (count(st, "SELECT count(DISTINCT customer) FROM customers", 0, 0, &v) < 0)
            return -1;
        *customers_r = v;
    }
    return 0;
}

int cg_admin_bulk(cg_store *st)
{
    /* up to 256 MiB of page cache, allocated only as pages are touched:
     * a large random-order upsert then stays in memory until COMMIT */
    return run(st, "PRAGMA cache_size = -262144", NULL, "cache_size", NULL);
}

/* --- opt-outs ------------------------------------------------------------ */

int cg_admin_optouts(cg_store *st, const char *customer, cg_admin_optout_cb cb, void *arg)
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
            .customer = cg_store_col_text(s, 0),
            .category = cg_store_col_text(s, 1),
            .since = sqlite3_column_int64(s, 2),
            .until = sqlite3_column_int64(s, 3),
            .note = cg_store_col_text(s, 4),
        };
        if (cb(&r, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return cg_store_finish(st, s, rc, "opt-outs");
}

/* --- retention ----------------------------------------------------------- */

/* prune_table - delete rows of `table` older than `before`, batch by batch */
static int prune_table(cg_store *st, const char *table, int64_t before, int batch, int64_t *n,
                       int64_t *batches)
{
    char *q = cg_xasprintf("DELETE FROM %s WHERE id IN (SELECT id FROM %s WHERE ts < ?1"
                           " ORDER BY ts LIMIT ?2)", table, table);
    sqlite3_stmt *s = cg_store_prepare(st, q, table);
    free(q);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, before);
    sqlite3_bind_int(s, 2, batch);
    for (;;) {
        if (cg_store_begin(st, 1) < 0)
            break;
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE) {
            cg_store_fail(st, table);
            cg_store_rollback(st);
            break;
        }
        int64_t k = sqlite3_changes64(cg_store_sqlite(st));
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
        if (cg_store_checkpoint(st, CG_CKPT_PASSIVE, &frames, NULL) == 0 && frames > 4096)
            cg_store_checkpoint(st, CG_CKPT_RESTART, &frames, NULL);
        if (k < batch) {
            sqlite3_finalize(s);
            /* done: give the WAL's disk space back if the readers allow */
            cg_store_checkpoint(st, CG_CKPT_TRUNCATE, &frames, NULL);
            return 0;
        }
    }
    sqlite3_finalize(s);
    return -1;
}

int cg_admin_prune(cg_store *st, int64_t before, int batch, int dry_run,
                   struct cg_prune_counts *n)
{
    memset(n, 0, sizeof *n);
    if (batch < 1)
        batch = 1;
    if (dry_run)
        return count(st, "SELECT count(*) FROM contacts WHERE ts < ?1", 1, before, &n->contacts) < 0 ||
                       count(st, "SELECT count(*) FROM decisions WHERE ts < ?1", 1, before,
                             &n->decisions) < 0
                   ? -1
                   : 0;
    if (prune_table(st, "contacts", before, batch, &n->contacts, &n->batches) < 0 ||
        prune_table(st, "decisions", before, batch, &n->decisions, &n->batches) < 0)
        return -1;
    return 0;
}

/* --- erasure ------------------------------------------------------------- */

/* The subject is ?1: the customer id, or an unmapped address. Addresses
 * mapped to it are found through the customer map, which is erased last.
 * Senders and recipients are compared without case: they are logged as
 * the MTA gave them. */
#define MAPPED "(SELECT address FROM customers WHERE customer = ?1)"
#define MAPPED_LC "(SELECT lower(address) FROM customers WHERE customer = ?1)"
static const struct {
    const char *sql;
    size_t off;
} erase_steps[] = {
    {"DELETE FROM contacts WHERE customer = ?1 OR address = ?1 OR address IN " MAPPED,
     offsetof(struct cg_forget_counts, contacts)},
    {"DELETE FROM decisions WHERE customer = ?1 OR lower(recipient) = lower(?1)"
     " OR lower(sender) = lower(?1) OR lower(recipient) IN " MAPPED_LC
     " OR lower(sender) IN " MAPPED_LC " OR customer IN " MAPPED,
     offsetof(struct cg_forget_counts, decisions)},
    {"DELETE FROM states WHERE customer = ?1", offsetof(struct cg_forget_counts, states)},
    {"DELETE FROM optouts WHERE customer = ?1", offsetof(struct cg_forget_counts, optouts)},
    {"DELETE FROM customers WHERE customer = ?1 OR address = ?1",
     offsetof(struct cg_forget_counts, addresses)},
};

/* subjects - the customer id, every address mapped to it and every address
 * its history names (malloc'ed, NULL-terminated): what must not be left in
 * the file */
static char **subjects(cg_store *st, const char *customer)
{
    size_t n = 1, cap = 8;
    char **v = cg_xcalloc(cap, sizeof *v);
    v[0] = cg_xstrdup(customer);
    sqlite3_stmt *s = cg_store_prepare(st,
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
        v[n++] = cg_xstrdup(cg_store_col_text(s, 0));
        v[n] = NULL;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        cg_store_fail(st, "subjects");
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
    int rc = sqlite3_wal_checkpoint_v2(cg_store_sqlite(st), NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                       &log, &done);
    if (rc == SQLITE_BUSY)
        return 1;
    if (rc != SQLITE_OK)
        return cg_store_fail(st, "checkpoint");
    return 0;
}

int cg_admin_forget(cg_store *st, const char *customer, int64_t now, char *ref, size_t reflen,
                    struct cg_forget_counts *n)
{
    memset(n, 0, sizeof *n);
    /* deleted cells and freed pages are overwritten with zeros */
    if (run(st, "PRAGMA secure_delete = ON", NULL, "secure_delete", NULL) < 0)
        return -1;
    if (cg_store_begin(st, 1) < 0)
        return -1;
    char **subj = subjects(st, customer);
    if (!subj) {
        cg_store_rollback(st);
        return -1;
    }
    int rc = 0;
    int64_t total = 0;
    for (size_t i = 0; i < sizeof erase_steps / sizeof erase_steps[0] && rc == 0; i++) {
        int64_t *slot = (int64_t *)((char *)n + erase_steps[i].off);
        rc = run(st, erase_steps[i].sql, customer, "erase", slot);
        total += *slot;
    }
    if (rc == 0) {
        cg_ref_new(ref, reflen);
        char note[200];
        snprintf(note, sizeof note,
                 "contacts=%lld decisions=%lld states=%lld optouts=%lld addresses=%lld",
                 (long long)n->contacts, (long long)n->decisions, (long long)n->states,
                 (long long)n->optouts, (long long)n->addresses);
        sqlite3_stmt *s = cg_store_prepare(st, "INSERT INTO erasures(ts, subject_hash, rows, note)"
                                      " VALUES (?1, ?2, ?3, ?4)", "erasure record");
        rc = -1;
        if (s) {
            sqlite3_bind_int64(s, 1, now);
            sqlite3_bind_text(s, 2, ref, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 3, total);
            sqlite3_bind_text(s, 4, note, -1, SQLITE_STATIC);
            rc = sqlite3_step(s) == SQLITE_DONE ? 0 : cg_store_fail(st, "erasure record");
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
    const char *path = sqlite3_db_filename(cg_store_sqlite(st), "main");
    if (path && *path && file_holds(path, subj) > 0) {
        /* a copy from before (an update or delete made without
         * secure_delete) sits in free space: rebuild the file */
        n->vacuumed = 1;
        rc = run(st, "VACUUM", NULL, "vacuum", NULL);
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

/* --- import files ---------------------------------------------------------- */

void cg_csv_init(struct cg_csv *c, FILE *fp)
{
    memset(c, 0, sizeof *c);
    c->fp = fp;
    c->next_line = 1;
}

void cg_csv_free(struct cg_csv *c)
{
    free(c->rec);
    free(c->tmp);
    free(c->field);
    memset(c, 0, sizeof *c);
}

/* utf8_ok - well-formed UTF-8 (no overlong forms, no surrogates) */
static int utf8_ok(const unsigned char *s)
{
    while (*s) {
        if (*s < 0x80) {
            s++;
            continue;
        }
        int n;
        unsigned cp;
        if ((*s & 0xe0) == 0xc0)
            n = 1, cp = *s & 0x1f;
        else if ((*s & 0xf0) == 0xe0)
            n = 2, cp = *s & 0x0f;
        else if ((*s & 0xf8) == 0xf0)
            n = 3, cp = *s & 0x07;
        else
            return 0;
        for (int i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        s += n + 1;
    }
    return 1;
}

/* rec_add - append n bytes to the record buffer */
static void rec_add(struct cg_csv *c, size_t *len, const char *s, size_t n)
{
    if (*len + n + 1 > c->rec_cap) {
        size_t cap = c->rec_cap ? c->rec_cap : 256;
        while (cap < *len + n + 1)
            cap *= 2;
        c->rec = cg_xrealloc(c->rec, cap);
        c->rec_cap = cap;
    }
    memcpy(c->rec + *len, s, n);
    *len += n;
    c->rec[*len] = 0;
}

/* read_record - the next record's raw text (quoted newlines kept):
 * 1, 0 at end of file, -1 unterminated quote */
static int read_record(struct cg_csv *c)
{
    size_t len = 0;
    int quotes = 0;
    c->line = c->next_line;
    for (;;) {
        ssize_t k = getline(&c->tmp, &c->tmp_cap, c->fp);
        if (k < 0) {
            if (len == 0)
                return 0;
            return quotes ? -1 : 1;
        }
        c->next_line++;
        const char *p = c->tmp;
        if (c->line == 1 && len == 0 && k >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
            p += 3, k -= 3; /* byte-order mark */
        for (ssize_t i = 0; i < k; i++)
            quotes ^= p[i] == '"';
        rec_add(c, &len, p, (size_t)k);
        if (!quotes) {
            while (len && (c->rec[len - 1] == '\n' || c->rec[len - 1] == '\r'))
                c->rec[--len] = 0;
            return 1;
        }
    }
}

int cg_csv_next(struct cg_csv *c, const char **why)
{
    for (;;) {
        int r = read_record(c);
        if (r <= 0) {
            if (r < 0)
                *why = "a quoted field is not closed before the end of the file";
            return r;
        }
        const char *b = c->rec;
        while (*b == ' ' || *b == '\t')
            b++;
        if (*b)
            break; /* not a blank line */
    }
    char *r = c->rec, *w = c->rec;
    c->n = 0;
    for (;;) {
        while (*r == ' ' || *r == '\t')
            r++;
        char *start = w;
        if (*r == '"') {
            r++;
            for (;;) {
                if (*r == '"' && r[1] == '"') {
                    *w++ = '"';
                    r += 2;
                } else if (*r == '"') {
                    r++;
                    break;
                } else if (!*r) {
                    *why = "a quoted field is not closed";
                    return -1;
                } else {
                    *w++ = *r++;
                }
            }
            while (*r == ' ' || *r == '\t')
                r++;
            if (*r && *r != ',') {
                *why = "text after the closing quote of a field";
                return -1;
            }
        } else {
            while (*r && *r != ',') {
                if (*r == '"') {
                    *why = "a quote inside an unquoted field (quote the whole field)";
                    return -1;
                }
                *w++ = *r++;
            }
            while (w > start && (w[-1] == ' ' || w[-1] == '\t'))
                w--;
        }
        char end = *r; /* *w = 0 below may overwrite it when w == r */
        *w++ = 0;
        if (c->n + 1 >= c->field_cap) {
            c->field_cap = c->field_cap ? c->field_cap * 2 : 16;
            c->field = cg_xrealloc(c->field, c->field_cap * sizeof *c->field);
        }
        c->field[c->n++] = start;
        if (!utf8_ok((const unsigned char *)start)) {
            *why = "not valid UTF-8 text";
            return -1;
        }
        if (end != ',')
            break;
        r++;
    }
    c->field[c->n] = NULL;
    return 1;
}
