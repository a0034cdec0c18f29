/*
 * cg_sqlite_int.h - the SQLite backend's own modules (core/store/cg_sqlite*.c):
 * the connection behind a cg_store, error reporting, statement helpers,
 * and each module's functions for the ops table (cg_sqlite.c).
 *
 * The admin and compliance queries (imports, retention, erasure, reports,
 * held mail, lifecycles, simulate) live in their own cg_sqlite_<area>.c
 * files, so that the mail-path file stays short.
 */
#ifndef CG_SQLITE_INT_H
#define CG_SQLITE_INT_H

#include <sqlite3.h>
#include <sys/types.h>
#include "cg_store_be.h"

/* Statements of the mail path, prepared once per connection. */
enum {
    S_BEGIN,
    S_BEGIN_IMM,
    S_COMMIT,
    S_ROLLBACK,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,
    S_CUST_GET,
    S_CUST_EXISTS,
    S_CUST_PUT,
    S_CONTACT_ADD,
    S_COUNT_ADD,
    S_CONTACTS,
    S_DEPT_COUNTS,
    S_STATE_SET,
    S_STATE_CLEAR,
    S_STATES_ONE,
    S_STATES_ONE_OPEN,
    S_STATES_ALL,
    S_STATES_ALL_OPEN,
    S_OPTOUT_SET,
    S_OPTOUT_DEL,
    S_OPTOUTS_OPEN,
    S_DECISION_ADD,
    S_EPISODE_GET,
    S_EPISODE_PUT,
    S_EPISODE_END,
    S_COUNT
};

/* One SQLite connection. */
struct sq {
    struct cg_store base;     /* first: a struct sq is a cg_store */
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    char *path;               /* the file, as opened */
    dev_t dev;                /* its identity when opened (cg_store_present) */
    ino_t ino;
    int writer;               /* CG_STORE_WRITER */
    int64_t busy_since_us;    /* this wait for a lock began (monotonic) */
    int64_t busy_limit_us;    /* give up after this long */
    /* the maintainer's state (CG_STORE_MAINTAINER) */
    int maint_last;           /* frames in the WAL when the pass before began,
                                 if back to back */
    int db_fd;                /* a descriptor of the file, to sync it; -1 none */
    /* an open episode's strings, valid until the next call */
    char *ep_strings[5];
};

/* sq_of - the SQLite connection behind a store */
static inline struct sq *sq_of(cg_store *st)
{
    return (struct sq *)st;
}

/* cg_sqlite_fail - record "what: sqlite's message"; returns -1 */
int cg_sqlite_fail(struct sq *s, const char *what);
/* cg_sqlite_prepare - compile a one-off statement, or NULL with the error
 * recorded as "what: sqlite's message" */
sqlite3_stmt *cg_sqlite_prepare(struct sq *s, const char *q, const char *what);
/* cg_sqlite_finish - finalize a one-off statement after its last step:
 * 0, or -1 with the error recorded as "what: ..." unless rc is
 * SQLITE_DONE (a callback that stops early sets rc to SQLITE_DONE) */
int cg_sqlite_finish(struct sq *s, sqlite3_stmt *stmt, int rc, const char *what);
/* cg_sqlite_stmt - the cached mail-path statement i, reset, or NULL */
sqlite3_stmt *cg_sqlite_stmt(struct sq *s, int i);
/* cg_sqlite_done - reset a cached statement after use (it holds no locks) */
void cg_sqlite_done(sqlite3_stmt *stmt);
/* cg_sqlite_exec - run SQL text without results (schema, pragmas) */
int cg_sqlite_exec(struct sq *s, const char *q, const char *what);
/* cg_sqlite_run - one-off statement without rows, `key` bound as ?1
 * (NULL: nothing bound); *changes_r = rows changed (may be NULL) */
int cg_sqlite_run(struct sq *s, const char *q, const char *key, const char *what,
                  int64_t *changes_r);
/* cg_sqlite_count - one integer from a query with an optional int64 ?1 */
int cg_sqlite_count(struct sq *s, const char *q, int bind, int64_t v, int64_t *r);
/* cg_sqlite_bind_text - bind text or NULL */
void cg_sqlite_bind_text(sqlite3_stmt *stmt, int i, const char *v);
/* cg_sqlite_bind_named_int / _text - bind the named parameter `name`
 * (":since") if the statement has it; a NULL text binds NULL */
void cg_sqlite_bind_named_int(sqlite3_stmt *stmt, const char *name, int64_t v);
void cg_sqlite_bind_named_text(sqlite3_stmt *stmt, const char *name, const char *v);
/* cg_sqlite_checkpoint - a WAL checkpoint: CG_SQ_CKPT_PASSIVE never waits;
 * _RESTART waits a moment (50 ms at most, blocking writers meanwhile) for
 * the readers to leave so the WAL starts over; _TRUNCATE also truncates
 * the file; _RESTART_NOW does not wait at all (the write connection
 * itself, between its transactions). Busy is not an error (next time).
 * *frames_r: frames in the WAL; *left_r: of those, not yet in the
 * database (either may be NULL). */
enum { CG_SQ_CKPT_PASSIVE, CG_SQ_CKPT_RESTART, CG_SQ_CKPT_TRUNCATE, CG_SQ_CKPT_RESTART_NOW };
int cg_sqlite_checkpoint(struct sq *s, int mode, int *frames_r, int *left_r);

/* cg_sqlite_col_text - a text column, NULL for NULL */
static inline const char *cg_sqlite_col_text(sqlite3_stmt *stmt, int i)
{
    return (const char *)sqlite3_column_text(stmt, i);
}

/* The decision log's columns, as every SELECT of whole decision rows lists
 * them. cg_sqlite_decision_rows steps such a statement (bound and ready),
 * gives each row to cb until it returns non-zero, and finalizes it: 0, or
 * -1 with the error recorded as "what: ..." */
#define CG_SQ_DECISION_COLS                                                                    \
    "id, ts, ref, stage, verdict, policy, reason, detail, department, sender, recipient,"     \
    " customer, category, message_id, queue_id, config_version, retry_after, monitor,"       \
    " episode, relay"
int cg_sqlite_decision_rows(struct sq *s, sqlite3_stmt *stmt, cg_store_decision_cb cb,
                            void *arg, const char *what);
/* cg_sqlite_counts_subtract - take the contacts selected by `doomed` (a
 * SELECT of department, category, ts; ?1 bound to key when not NULL, ?2
 * to v) out of the department counters */
int cg_sqlite_counts_subtract(struct sq *s, const char *doomed, const char *key, int64_t v);

/* the ops of each module */
int cg_sqlite_customers(cg_store *st, const char *customer, cg_admin_customer_cb cb, void *arg);
int cg_sqlite_customer_count(cg_store *st, int64_t *addresses_r, int64_t *customers_r);
int cg_sqlite_bulk(cg_store *st);
int cg_sqlite_optouts(cg_store *st, const char *customer, cg_admin_optout_cb cb, void *arg);
int cg_sqlite_prune(cg_store *st, int64_t before, int batch, int dry_run,
                    struct cg_prune_counts *n);
int cg_sqlite_forget(cg_store *st, const char *customer, int64_t now, char *ref, size_t reflen,
                     struct cg_forget_counts *n);
int cg_sqlite_erasures(cg_store *st, cg_admin_erasure_cb cb, void *arg);
int cg_sqlite_erasure_add(cg_store *st, const struct cg_erasure_row *r);
int cg_sqlite_check(cg_store *st, struct cg_check_counts *n, cg_admin_problem_cb cb, void *arg);
int cg_sqlite_held_rows(cg_store *st, const char *queue_id, int64_t since,
                        cg_store_decision_cb cb, void *arg);
int cg_sqlite_held_outcome(cg_store *st, const char *queue_id, const char *ref,
                           const char **verdict_r);
int cg_sqlite_lifecycle(cg_store *st, const struct cg_lifecycle_filter *f, cg_lifecycle_cb cb,
                        void *arg);
int cg_sqlite_report_counts(cg_store *st, const struct cg_report_range *r,
                            enum cg_report_by by, cg_report_counts_cb cb, void *arg);
int cg_sqlite_report_reasons(cg_store *st, const struct cg_report_range *r, int top,
                             cg_report_reason_cb cb, void *arg);
int cg_sqlite_report_histogram(cg_store *st, const struct cg_report_range *r, int cap,
                               cg_report_hist_cb cb, void *arg);
int cg_sqlite_report_held_outcomes(cg_store *st, const struct cg_report_range *r,
                                   int64_t *released, int64_t *dropped);
int cg_sqlite_sim_events(cg_store *st, int64_t since, int64_t until, cg_sim_event_cb cb,
                         void *arg);

#endif
