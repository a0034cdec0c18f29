/*
 * cg_store_be.h - what a store backend implements (for core/store/ only).
 *
 * A backend fills one `struct cg_store_ops` with its functions and puts a
 * `struct cg_store` at the start of its own connection struct; the public
 * functions of cg_store.h and its area headers (cg_store_admin.h,
 * cg_store_held.h, cg_store_report.h, cg_store_sim.h) call through the
 * table (cg_store.c). Each member has the contract of the public function
 * of the same name; a backend sets errors with cg_store_seterr() and
 * returns -1. Every member is required.
 *
 * Adding an operation: a member here, its public function and contract in
 * the area header, its wrapper in cg_store.c, and an implementation in
 * every backend (the store test suite runs against each).
 */
#ifndef CG_STORE_BE_H
#define CG_STORE_BE_H

#include <stdarg.h>
#include "cg_store.h"
#include "cg_store_admin.h"
#include "cg_store_held.h"
#include "cg_store_report.h"
#include "cg_store_sim.h"

struct cg_store_ops {
    const char *name;                        /* "sqlite", "postgresql" */
    void (*close)(cg_store *st);             /* frees the connection struct */
    int (*schema_version)(cg_store *st);

    int (*begin)(cg_store *st, int immediate);
    int (*commit)(cg_store *st);
    int (*rollback)(cg_store *st);
    int (*savepoint)(cg_store *st);
    int (*release)(cg_store *st);
    int (*rollback_savepoint)(cg_store *st);
    int (*lock_keys)(cg_store *st, const char *const *keys, size_t n);
    int (*batch_begin)(cg_store *st, const struct cg_store_batch *b);
    int (*batch_join)(cg_store *st, const struct cg_store_batch *b);
    int wants_keys;                          /* data: cg_store_wants_keys */

    int (*maintain)(cg_store *st, struct cg_store_maint *m);
    int (*writer_step)(cg_store *st);
    int (*present)(cg_store *st);

    int (*customer_lookup)(cg_store *st, const char *address, char **customer_r,
                           char **timezone_r);
    int (*customer_put)(cg_store *st, const char *address, const char *customer,
                        const char *timezone, const char *attrs_json, int *added_r);
    int (*contact_add)(cg_store *st, const struct cg_contact_row *c);
    int (*contacts)(cg_store *st, const char *customer, int64_t since, int64_t until,
                    cg_store_contact_cb cb, void *arg);
    int (*contacts_all)(cg_store *st, int64_t since, int64_t until, cg_store_contact_cb cb,
                        void *arg);
    int (*dept_counts)(cg_store *st, const char *department, int64_t since, int64_t until,
                       cg_store_bucket_cb cb, void *arg);
    int (*state_set)(cg_store *st, const struct cg_state_row *s);
    int (*state_clear)(cg_store *st, const char *customer, const char *state);
    int (*states)(cg_store *st, const char *customer, int64_t now, cg_store_state_cb cb,
                  void *arg);
    int (*optout_set)(cg_store *st, const struct cg_optout_row *o);
    int (*optout_remove)(cg_store *st, const char *customer, const char *category);
    int (*opted_out)(cg_store *st, const char *customer, const char *address,
                     const char *category, int64_t now, int *r);
    int (*decision_add)(cg_store *st, const struct cg_decision_row *d);
    int (*decisions)(cg_store *st, const struct cg_decision_filter *f,
                     cg_store_decision_cb cb, void *arg);
    int (*episode_get)(cg_store *st, const char *sender, const char *recipient,
                       struct cg_episode *e);
    int (*episode_put)(cg_store *st, const struct cg_episode *e);
    int (*episode_end)(cg_store *st, const char *sender, const char *recipient);
    int (*relay_seen)(cg_store *st, const struct cg_relay_row *r);
    int (*relays)(cg_store *st, cg_store_relay_cb cb, void *arg);

    /* cg_store_admin.h */
    int (*customers)(cg_store *st, const char *customer, cg_admin_customer_cb cb, void *arg);
    int (*customer_count)(cg_store *st, int64_t *addresses_r, int64_t *customers_r);
    int (*bulk)(cg_store *st);
    int (*optouts)(cg_store *st, const char *customer, cg_admin_optout_cb cb, void *arg);
    /* n comes zeroed and batch at least 1 (cg_admin_prune) */
    int (*prune)(cg_store *st, int64_t before, int batch, int dry_run,
                 struct cg_prune_counts *n);
    int (*forget)(cg_store *st, const char *customer, int64_t now, char *ref, size_t reflen,
                  struct cg_forget_counts *n);
    int (*erasures)(cg_store *st, cg_admin_erasure_cb cb, void *arg);
    int (*erasure_add)(cg_store *st, const struct cg_erasure_row *r);
    int (*check)(cg_store *st, struct cg_check_counts *n, cg_admin_problem_cb cb, void *arg);

    /* cg_store_held.h */
    int (*held_rows)(cg_store *st, const char *queue_id, int64_t since,
                     cg_store_decision_cb cb, void *arg);
    int (*held_outcome)(cg_store *st, const char *queue_id, const char *ref,
                        const char **verdict_r);
    /* f is never NULL (cg_lifecycle) */
    int (*lifecycle)(cg_store *st, const struct cg_lifecycle_filter *f, cg_lifecycle_cb cb,
                     void *arg);

    /* cg_store_report.h */
    int (*report_counts)(cg_store *st, const struct cg_report_range *r, enum cg_report_by by,
                         cg_report_counts_cb cb, void *arg);
    int (*report_reasons)(cg_store *st, const struct cg_report_range *r, int top,
                          cg_report_reason_cb cb, void *arg);
    int (*report_histogram)(cg_store *st, const struct cg_report_range *r, int cap,
                            cg_report_hist_cb cb, void *arg);
    int (*report_held_outcomes)(cg_store *st, const struct cg_report_range *r,
                                int64_t *released, int64_t *dropped);

    /* cg_store_sim.h */
    int (*sim_events)(cg_store *st, int64_t since, int64_t until, cg_sim_event_cb cb,
                      void *arg);
};

/* The start of every backend's connection struct. */
struct cg_store {
    const struct cg_store_ops *ops;
    char *database;            /* as opened (a URI's password masked) */
    char err[1024];
};

/* cg_store_seterr - the message cg_store_errmsg returns; returns -1 */
int cg_store_seterr(cg_store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* cg_store_base_init - fill the common part (the database string is copied
 * with any password masked) */
void cg_store_base_init(cg_store *st, const struct cg_store_ops *ops, const char *database);
/* cg_store_base_free - release the common part (backends call it from close) */
void cg_store_base_free(cg_store *st);

/* --- shared by the backends' integrity checks (cg_admin_check) --- */
/* cg_store_problem - one line to the check's callback; *found = 1 */
void cg_store_problem(cg_admin_problem_cb cb, void *arg, int *found, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The row counts of a check: the same SQL on every backend, each into the
 * int64_t at `off` in struct cg_check_counts; ended by a NULL sql. */
struct cg_check_count_query {
    const char *sql;
    size_t off;
};
extern const struct cg_check_count_query cg_check_count_queries[];
/* The department counters against a recount of the contacts: one row per
 * bucket that differs (department, level, bucket, category, counted,
 * kept). */
extern const char cg_store_recount_sql[];
/* cg_store_counter_problem - the line for one counter bucket that differs
 * from a recount (the first ten; then one line with the total) */
void cg_store_counter_problem(cg_admin_problem_cb cb, void *arg, int *found,
                              struct cg_check_counts *n, const char *department,
                              const char *category, int64_t level, int64_t bucket, int64_t kept,
                              int64_t counted);
void cg_store_counter_problems_end(cg_admin_problem_cb cb, void *arg, int *found,
                                   const struct cg_check_counts *n);

/* The backends' open functions (cg_store_open picks one). */
cg_store *cg_sqlite_open(const char *path, int flags, char *err, size_t errlen);
cg_store *cg_pg_open(const char *conninfo, int flags, char *err, size_t errlen);
/* cg_store_timeout_ms - what cg_store_set_timeout set (the default: 5000) */
int cg_store_timeout_ms(void);

#endif
