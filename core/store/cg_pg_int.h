/*
 * cg_pg_int.h - the PostgreSQL backend's own modules (core/store/cg_pg*.c):
 * the connection behind a cg_store, statement helpers, the write queue
 * and the batch cache, and each module's functions for the ops table
 * (cg_pg.c).
 *
 * Round trips. Inside a transaction, writes whose result nobody needs
 * (contacts, decisions, episodes, savepoints) are queued here and sent in
 * one pipeline with the next statement that needs an answer, or with the
 * COMMIT; a BEGIN is sent with the first statement after it. The
 * department counters of queued contacts are summed per bucket and sent as
 * one upsert in sorted order (two relays never wait for each other's
 * counter rows in opposite orders). So a batch of the daemon costs one
 * round trip for BEGIN, its locks and its reads (cg_store_batch_begin and
 * the cache of cg_pg_batch.c) and one for its writes and COMMIT.
 *
 * An error of a queued write shows at the flush: the call that flushed
 * fails, and the transaction is aborted (the caller rolls back).
 */
#ifndef CG_PG_INT_H
#define CG_PG_INT_H

#include <stdint.h>
#include "cg_pgconn.h"
#include "cg_store_be.h"

/* Text parameters of one statement ($1..$n). Numbers are formatted into
 * the struct; strings are pointed to (valid until the statement ran). */
#define PG_MAX_PARAMS 24
struct pgq {
    int n;
    const char *v[PG_MAX_PARAMS];
    char num[PG_MAX_PARAMS][32];
};
void pgq_text(struct pgq *q, const char *s);
void pgq_int(struct pgq *q, int64_t v);
void pgq_double(struct pgq *q, double v);

/* Named parameters (":since") of a query built from pieces: pg_named
 * turns them into $1.. in the order they first occur, with only the
 * values used (a value is never pasted into the text). */
struct pgn {
    int n;
    const char *name[PG_MAX_PARAMS];
    const char *val[PG_MAX_PARAMS];
    char num[PG_MAX_PARAMS][32];
};
void pgn_text(struct pgn *n, const char *name, const char *v);
void pgn_int(struct pgn *n, const char *name, int64_t v);
/* pg_named - the SQL with $n for :names (malloc'ed) and q's values */
char *pg_named(const char *sql, const struct pgn *n, struct pgq *q);

/* One queued statement (its parameters copied). */
struct pgw {
    const char *sql;          /* a static string */
    int n;
    char **params;
    int savepoint;            /* it is the SAVEPOINT of a job */
};

/* A counter delta waiting to be sent. */
struct pg_delta {
    char *department, *category;
    int64_t level, bucket, n;
};

struct pg_cache; /* cg_pg_batch.c */
struct pg_bulk;  /* cg_pg_copy.c */

/* One PostgreSQL connection. */
struct pgs {
    struct cg_store base;     /* first: a struct pgs is a cg_store */
    struct cg_pgconn *c;
    int timeout_ms;           /* one call's deadline */
    int daemon;               /* a daemon's connection: statements kept prepared */
    int in_tx;                /* a transaction is open (BEGIN queued or sent) */
    int begin_queued;         /* its BEGIN is not sent yet */
    int batch;                /* the transaction is a batch (cg_store_batch_begin) */
    struct pgw *q;            /* the write queue */
    size_t nq, capq;
    struct pg_delta *deltas;  /* counter deltas of queued contacts */
    size_t nd, capd;
    size_t sp_q, sp_d;        /* the queue's length at the open savepoint */
    int sp_open;              /* a job's savepoint is open */
    int sp_sent;              /* ... and its SAVEPOINT went to the server */
    struct pg_cache *cache;   /* the batch's reads (NULL: none) */
    int64_t window_secs;      /* longest contacts window read (learned) */
    char **dept_read;         /* departments whose counters were read */
    size_t n_dept_read;
    char *ep_strings[5];      /* an episode's strings, until the next call */
    int bulk;                 /* cg_admin_bulk: a transaction's rows go by COPY */
    struct pg_bulk *bulkq;    /* rows waiting to be copied (cg_pg_copy.c) */
};

static inline struct pgs *pgs_of(cg_store *st)
{
    return (struct pgs *)st;
}

/* The result of one statement of a pipeline. */
struct pgr {
    struct cg_pgres *res;
    int i;                    /* its index in res */
};
int pgr_n(const struct pgr *r);                          /* rows */
const char *pgr_v(const struct pgr *r, int row, int col); /* NULL for SQL NULL */
int64_t pgr_int(const struct pgr *r, int row, int col);  /* 0 for NULL */
void pgr_free(struct pgr *r);

/* pg_fail - record "database D: what: why"; returns -1 */
int pg_fail(struct pgs *p, const char *what, const char *why);
/* pg_exec - run one statement, flushing the write queue before it in the
 * same pipeline. 0 and *r (the statement's result; r may be NULL when not
 * wanted; free with pgr_free), or -1 with the error recorded. */
int pg_exec(struct pgs *p, const char *what, const char *sql, const struct pgq *q,
            struct pgr *r);
/* pg_exec_named - pg_exec of a query with named parameters */
int pg_exec_named(struct pgs *p, const char *what, const char *sql, const struct pgn *n,
                  struct pgr *r);
/* pg_pipeline - several statements after the queue in one pipeline; *res_r
 * holds them all, the first at index *first_r. */
int pg_pipeline(struct pgs *p, const char *what, const struct cg_pgconn_stmt *st, int n,
                struct cg_pgres **res_r, int *first_r);
/* pg_write - a statement without an answer: queued inside a transaction,
 * else run at once */
int pg_write(struct pgs *p, const char *what, const char *sql, const struct pgq *q);
/* pg_flush - send what is queued (inside a transaction) */
int pg_flush(struct pgs *p, const char *what);
/* pg_count - one integer from a query with optional parameters */
int pg_count(struct pgs *p, const char *what, const char *sql, const struct pgq *q,
             int64_t *r);
/* pg_changes - rows a statement changed (run now, queue first) */
int pg_changes(struct pgs *p, const char *what, const char *sql, const struct pgq *q,
               int64_t *changes_r);
/* pg_int - a field as an integer (0 for NULL) */
int64_t pg_int(const struct cg_pgres *r, int i, int row, int col);
/* pg_text_array - a PostgreSQL array literal of strings (malloc'ed);
 * NULL elements are SQL NULLs */
char *pg_text_array(const char *const *v, size_t n);
/* pg_counts_add - count a contact in the pending counter deltas */
void pg_counts_add(struct pgs *p, const char *department, const char *category, int64_t ts,
                   int64_t n);
/* pg_counts_apply - count the contacts a query selects (department,
 * category, ts; parameters q) into the counters (sign 1) or out of them
 * (sign -1: buckets brought to 0 go), in this transaction */
int pg_counts_apply(struct pgs *p, const char *rows, const struct pgq *q, int sign);
/* pg_utf8_fixed - NULL when s is valid UTF-8, else a malloc'ed copy with
 * '?' for each byte of an invalid sequence (what the write queue stores) */
char *pg_utf8_fixed(const char *s);
/* pg_lock_text - lock "c:customer" / "d:department" keys (text, any
 * order, repeats allowed) in sorted order, as a statement of its own */
int pg_lock_text(struct pgs *p, const char *const *keys, size_t n);

/* The decision log's columns, as every SELECT of whole decision rows lists
 * them; pg_decision_rows gives each row of a result to cb. */
#define CG_PG_DECISION_COLS                                                                    \
    "id, ts, ref, stage, verdict, policy, reason, detail, department, sender, recipient,"     \
    " customer, category, message_id, queue_id, config_version, retry_after, monitor,"       \
    " episode, relay"
int pg_decision_rows(const struct pgr *r, cg_store_decision_cb cb, void *arg);

/* cg_pg_episode_fill - the strings of an episode returned to the caller,
 * kept on the connection until the next call */
void cg_pg_episode_fill(struct pgs *p, struct cg_episode *e, const char *sender,
                        const char *recipient, const char *first_ref, const char *message_id,
                        const char *policy);

/* --- the batch (cg_pg_batch.c) ----------------------------------------- */
int cg_pg_batch_begin(cg_store *st, const struct cg_store_batch *b);
int cg_pg_batch_join(cg_store *st, const struct cg_store_batch *b);
void cg_pg_cache_free(struct pgs *p);
/* The cache's answers: 1 answered, 0 not in the cache (ask the server),
 * -1 error */
int cg_pg_cache_customer(struct pgs *p, const char *address, char **customer_r,
                         char **timezone_r);
int cg_pg_cache_contacts(struct pgs *p, const char *customer, int64_t since, int64_t until,
                         cg_store_contact_cb cb, void *arg);
int cg_pg_cache_states(struct pgs *p, const char *customer, int64_t now, cg_store_state_cb cb,
                       void *arg);
int cg_pg_cache_opted_out(struct pgs *p, const char *customer, const char *address,
                          const char *category, int64_t now, int *r);
int cg_pg_cache_episode(struct pgs *p, const char *sender, const char *recipient,
                        struct cg_episode *e);
/* the batch's writes seen by its later reads */
void cg_pg_cache_contact_added(struct pgs *p, const struct cg_contact_row *c);
/* 1: the customer has this Message-ID already (the contact is not recorded
 * twice: see cg_pg_batch.c) */
int cg_pg_cache_has_message(struct pgs *p, const struct cg_contact_row *c);
void cg_pg_cache_episode_put(struct pgs *p, const struct cg_episode *e);
void cg_pg_cache_episode_end(struct pgs *p, const char *sender, const char *recipient);
/* a customer or department read outside the batch's keys: lock it first */
int cg_pg_cache_lock(struct pgs *p, const char *key);
/* the cache can no longer be trusted (a job was rolled back) */
void cg_pg_cache_drop(struct pgs *p);

/* --- bulk rows by COPY (cg_pg_copy.c) -------------------------------------- */
enum { PG_BULK_CUSTOMERS, PG_BULK_CONTACTS, PG_BULK_DECISIONS, PG_BULK_N };
/* pg_bulk_on - rows go by COPY now: a bulk connection (cg_admin_bulk) in
 * a transaction of its own, not a batch, no savepoint open */
int pg_bulk_on(const struct pgs *p);
/* pg_bulk_row - one row of a PG_BULK_ kind, its values as the row's own
 * statement takes them (q); sent with others by COPY, applied before
 * anything else is sent (pg_bulk_flush). 0, or -1 with the error set. */
int pg_bulk_row(struct pgs *p, int kind, const struct pgq *q);
/* pg_bulk_pending - rows wait to be applied */
int pg_bulk_pending(const struct pgs *p);
/* pg_bulk_flush - send and apply the waiting rows (send() calls it first) */
int pg_bulk_flush(struct pgs *p);
/* pg_bulk_reset - forget the waiting rows (the transaction ended) */
void pg_bulk_reset(struct pgs *p);
void pg_bulk_free(struct pgs *p);

/* --- the ops of each module ---------------------------------------------- */
int cg_pg_customers(cg_store *st, const char *customer, cg_admin_customer_cb cb, void *arg);
int cg_pg_customer_count(cg_store *st, int64_t *addresses_r, int64_t *customers_r);
int cg_pg_bulk(cg_store *st);
int cg_pg_optouts(cg_store *st, const char *customer, cg_admin_optout_cb cb, void *arg);
int cg_pg_prune(cg_store *st, int64_t before, int batch, int dry_run,
                struct cg_prune_counts *n);
int cg_pg_forget(cg_store *st, const char *customer, int64_t now, char *ref, size_t reflen,
                 struct cg_forget_counts *n);
int cg_pg_erasures(cg_store *st, cg_admin_erasure_cb cb, void *arg);
int cg_pg_erasure_add(cg_store *st, const struct cg_erasure_row *r);
int cg_pg_check(cg_store *st, struct cg_check_counts *n, cg_admin_problem_cb cb, void *arg);
int cg_pg_held_rows(cg_store *st, const char *queue_id, int64_t since,
                    cg_store_decision_cb cb, void *arg);
int cg_pg_held_outcome(cg_store *st, const char *queue_id, const char *ref,
                       const char **verdict_r);
int cg_pg_lifecycle(cg_store *st, const struct cg_lifecycle_filter *f, cg_lifecycle_cb cb,
                    void *arg);
int cg_pg_report_counts(cg_store *st, const struct cg_report_range *r, enum cg_report_by by,
                        cg_report_counts_cb cb, void *arg);
int cg_pg_report_reasons(cg_store *st, const struct cg_report_range *r, int top,
                         cg_report_reason_cb cb, void *arg);
int cg_pg_report_histogram(cg_store *st, const struct cg_report_range *r, int cap,
                           cg_report_hist_cb cb, void *arg);
int cg_pg_report_held_outcomes(cg_store *st, const struct cg_report_range *r,
                               int64_t *released, int64_t *dropped);
int cg_pg_sim_events(cg_store *st, int64_t since, int64_t until, cg_sim_event_cb cb,
                     void *arg);

#endif
