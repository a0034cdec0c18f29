/*
 * cg_store_admin.h - the store's admin and compliance queries for
 * contactgatectl: customer map listings, opt-out listings, bulk-load
 * tuning, retention (prune) and erasure (forget). Not on the mail path.
 *
 * Return values follow cg_store.h: 0 ok, -1 error (cg_store_errmsg).
 */
#ifndef CG_STORE_ADMIN_H
#define CG_STORE_ADMIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "cg_store.h"

/* --- customer map ------------------------------------------------------ */
struct cg_customer_row {
    const char *address;
    const char *customer;
    const char *timezone;     /* NULL: the configured default */
    const char *attrs;        /* JSON object text, or NULL */
};
typedef int (*cg_admin_customer_cb)(const struct cg_customer_row *r, void *arg);
/* Mappings of `customer` (NULL: every mapping), by customer then address. */
int cg_admin_customers(cg_store *st, const char *customer, cg_admin_customer_cb cb, void *arg);
/* Number of mapped addresses and of distinct customers (either may be NULL). */
int cg_admin_customer_count(cg_store *st, int64_t *addresses_r, int64_t *customers_r);
/* cg_admin_bulk - a larger page cache for this connection, for imports */
int cg_admin_bulk(cg_store *st);

/* --- opt-outs ------------------------------------------------------------ */
typedef int (*cg_admin_optout_cb)(const struct cg_optout_row *r, void *arg);
/* Opt-outs of `customer` (NULL: all), every row whether open or not. */
int cg_admin_optouts(cg_store *st, const char *customer, cg_admin_optout_cb cb, void *arg);

/* --- retention ----------------------------------------------------------- */
struct cg_prune_counts {
    int64_t contacts;
    int64_t decisions;
    int64_t batches;          /* transactions used */
};
/* Delete contacts and decisions with ts < before, at most `batch` rows per
 * transaction so that the daemon's writers wait at most one batch.
 * dry_run: count only. */
int cg_admin_prune(cg_store *st, int64_t before, int batch, int dry_run,
                   struct cg_prune_counts *n);

/* --- erasure ------------------------------------------------------------- */
struct cg_forget_counts {
    int64_t contacts;
    int64_t decisions;
    int64_t states;
    int64_t optouts;
    int64_t addresses;        /* customer map rows */
    int wal_busy;             /* 1: a reader kept the WAL from being truncated */
    int vacuumed;             /* 1: a copy survived in free space; VACUUM ran */
    int residue;              /* 1: the file still holds an erased address after
                               * VACUUM (inside another value, e.g. a longer one) */
};
/* Erase `customer` (a customer id, or an unmapped normalised address) and
 * every address mapped to it, from every table, in one transaction with
 * secure_delete on; then one row in erasures (a random reference, the time
 * and the row count: nothing that identifies the subject), a WAL
 * checkpoint(TRUNCATE), and a scan of the database file for any copy
 * left in free space (VACUUM if one is found). The reference (for the
 * compliance record) is written to ref[reflen]. */
int cg_admin_forget(cg_store *st, const char *customer, int64_t now, char *ref, size_t reflen,
                    struct cg_forget_counts *n);

/* --- import files -------------------------------------------------------
 * A CSV record reader for the bulk imports (RFC 4180: comma-separated,
 * fields may be double-quoted, "" is a quote inside one, a quoted field
 * may span lines). Unquoted fields lose surrounding blanks; blank lines
 * and a leading UTF-8 byte-order mark are skipped; every field must be
 * UTF-8. Fields point into a buffer reused for the next record: nothing
 * is allocated per record once the buffers have grown. */
struct cg_csv {
    long line;                /* first line of the record just read */
    char **field;             /* the record's fields */
    size_t n;                 /* how many */
    /* private */
    FILE *fp;
    long next_line;
    char *rec, *tmp;
    size_t rec_cap, tmp_cap, field_cap;
};
void cg_csv_init(struct cg_csv *c, FILE *fp);
/* 1 a record, 0 end of file, -1 malformed (*why set; c->line names it) */
int cg_csv_next(struct cg_csv *c, const char **why);
void cg_csv_free(struct cg_csv *c);

#endif
