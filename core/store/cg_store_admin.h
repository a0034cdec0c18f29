/*
 * cg_store_admin.h - the store's admin and compliance operations for
 * contactgatectl: customer map listings, opt-out listings, bulk-load
 * tuning, retention (prune), erasure (forget), the erasure audit and the
 * integrity check. Not on the mail path. Part of the store interface
 * (cg_store.h): every backend implements them.
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
/* cg_admin_bulk - tune this connection for a large import (SQLite: a
 * larger page cache; PostgreSQL: the customer map, contact and decision
 * rows of its transactions go by COPY, applied before anything else is
 * read or written; a row the server refuses fails the call that sent it
 * or the COMMIT) */
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
 * transaction so that the daemon's writers wait at most one batch; the
 * department counters lose exactly the contacts deleted, and stale
 * deferral episodes go too. dry_run: count only. */
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
 * every address mapped to it, from every table (the department counters
 * lose its contacts, its deferral episodes go), in one transaction (SQLite:
 * with secure_delete on); then one row in erasures (a random reference, the time
 * and the row count: nothing that identifies the subject), a WAL
 * checkpoint(TRUNCATE), and a scan of the database file for any copy
 * left in free space (VACUUM if one is found). The reference (for the
 * compliance record) is written to ref[reflen]. */
int cg_admin_forget(cg_store *st, const char *customer, int64_t now, char *ref, size_t reflen,
                    struct cg_forget_counts *n);

/* The erasure audit, oldest first (and adding a row: copies). */
struct cg_erasure_row {
    int64_t ts;
    const char *ref;          /* the reference given to the compliance record */
    int64_t rows;
    const char *note;         /* counts per table; never the subject */
};
typedef int (*cg_admin_erasure_cb)(const struct cg_erasure_row *r, void *arg);
int cg_admin_erasures(cg_store *st, cg_admin_erasure_cb cb, void *arg);
int cg_admin_erasure_add(cg_store *st, const struct cg_erasure_row *r);

/* --- integrity --------------------------------------------------------------
 * cg_admin_check - what `contactgatectl store check` reports: the
 * backend's own integrity check (SQLite: PRAGMA integrity_check), the
 * schema version, row counts, and whether the department counters agree
 * with a recount of the contacts. Each problem found is given to cb (one
 * line of text). Returns 0 nothing wrong, 1 problems found, -1 the check
 * itself failed. */
struct cg_check_counts {
    int schema_version;
    int64_t contacts, decisions, addresses, customers, states, optouts, erasures;
    int64_t episodes;         /* open deferral episodes */
    int64_t counter_rows;
    int64_t counter_mismatches; /* counter buckets that disagree with a recount */
};
typedef int (*cg_admin_problem_cb)(const char *problem, void *arg);
int cg_admin_check(cg_store *st, struct cg_check_counts *n, cg_admin_problem_cb cb, void *arg);

#endif
