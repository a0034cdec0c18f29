/*
 * cg_store.h - the contact history store (SQLite).
 *
 * One cg_store is one SQLite connection. It is not shared between threads
 * at the same time: the daemon has one write connection (cg_decider),
 * a few readers and a checkpointer,
 * and contactgatectl and the tests open their own. All SQL lives in
 * cg_store.c and uses prepared statements only; no other module sees
 * SQLite.
 *
 * The file is WAL, synchronous=NORMAL by default (what was committed
 * survives a crash of the process; CG_STORE_SYNC_FULL below for a crash of
 * the machine too), busy_timeout 5 s. The schema is
 * versioned with PRAGMA user_version and migrated forward on open.
 *
 * Return values: 0 ok, -1 error (cg_store_errmsg says why). Lookups that
 * may find nothing return 1 found / 0 not found / -1 error.
 * Iterators call cb for each row; a non-zero cb return stops the iteration
 * and is not an error. Strings given to a callback are valid only during
 * the call.
 */
#ifndef CG_STORE_H
#define CG_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cg_store cg_store;

#define CG_STORE_SCHEMA_VERSION 2

/* open flags */
#define CG_STORE_READONLY 0x01 /* do not create or migrate */
/* Durability of a commit. Default (WAL, synchronous=NORMAL): a committed
 * transaction survives a crash or kill of the process; an OS crash or a
 * power loss may lose the last ones. CG_STORE_SYNC_FULL (synchronous=FULL):
 * every commit waits for an fsync and survives those too. */
#define CG_STORE_SYNC_FULL 0x02

cg_store *cg_store_open(const char *path, int flags, char *err, size_t errlen);
/* cg_store_free - close; NULL-safe; sets *st to NULL. */
void cg_store_free(cg_store **st);
const char *cg_store_errmsg(const cg_store *st);
int cg_store_schema_version(cg_store *st);

/* Transactions. begin(immediate=1) takes the write lock at once
 * (BEGIN IMMEDIATE), which check-and-record needs. */
/* WAL checkpoints. cg_store_autocheckpoint(st, 0) stops this connection
 * from checkpointing in its own commits (the write connection leaves that
 * to a checkpointer thread). cg_store_checkpoint copies the WAL into the
 * database: CG_CKPT_PASSIVE never waits; CG_CKPT_RESTART waits a moment
 * (50 ms at most, blocking writers meanwhile) for the readers to leave so
 * the WAL starts over, bounding its size; CG_CKPT_TRUNCATE also truncates
 * the file; CG_CKPT_RESTART_NOW is a restart that does not wait at all
 * (for the write connection itself, between its transactions). Busy is
 * not an error (next time). *frames_r: frames in the WAL; *left_r: of
 * those, not yet in the database (either may be NULL). */
enum { CG_CKPT_PASSIVE, CG_CKPT_RESTART, CG_CKPT_TRUNCATE, CG_CKPT_RESTART_NOW };
int cg_store_autocheckpoint(cg_store *st, int pages);
int cg_store_checkpoint(cg_store *st, int mode, int *frames_r, int *left_r);
int cg_store_begin(cg_store *st, int immediate);
int cg_store_commit(cg_store *st);
int cg_store_rollback(cg_store *st); /* safe when no transaction is open */

/* --- customer map ---------------------------------------------------- */
/* address (normalised) -> customer id and optional time zone. The strings
 * returned are malloc()ed; the caller frees them. */
int cg_store_customer_lookup(cg_store *st, const char *address,
                             char **customer_r, char **timezone_r);
/* Insert or update one mapping; *added_r = 1 when it was new. */
int cg_store_customer_put(cg_store *st, const char *address, const char *customer,
                          const char *timezone, const char *attrs_json, int *added_r);

/* --- contact history ------------------------------------------------- */
struct cg_contact_row {
    int64_t id;
    int64_t ts;
    const char *customer;
    const char *address;
    const char *department;
    const char *category;
    const char *channel;      /* "email" for mail; "sms", "call", ... */
    double weight;
    const char *message_id;
    const char *queue_id;
    const char *digest;
};
int cg_store_contact_add(cg_store *st, const struct cg_contact_row *c);
typedef int (*cg_store_contact_cb)(const struct cg_contact_row *c, void *arg);
/* Contacts of one customer with since <= ts < until, newest first. */
int cg_store_contacts(cg_store *st, const char *customer, int64_t since, int64_t until,
                      cg_store_contact_cb cb, void *arg);

/* Contacts from one department (every customer), since <= ts < until,
 * newest first. */
int cg_store_department_contacts(cg_store *st, const char *department, int64_t since,
                                 int64_t until, cg_store_contact_cb cb, void *arg);

/* --- customer states --------------------------------------------------- */
struct cg_state_row {
    const char *customer;
    const char *state;
    int64_t since;
    int64_t until;            /* 0 = open-ended */
    const char *note;
};
/* Set (insert or replace) a state. */
int cg_store_state_set(cg_store *st, const struct cg_state_row *s);
/* Clear a state; returns 1 if one was cleared, 0 if none was open. */
int cg_store_state_clear(cg_store *st, const char *customer, const char *state);
typedef int (*cg_store_state_cb)(const struct cg_state_row *s, void *arg);
/* States of `customer` (NULL: every customer). now > 0: only states open at
 * `now` (since <= now and (until = 0 or until > now)); now == 0: all. */
int cg_store_states(cg_store *st, const char *customer, int64_t now,
                    cg_store_state_cb cb, void *arg);

/* --- opt-outs -------------------------------------------------------- */
/* category is a category pattern; "*" is the global suppression. */
struct cg_optout_row {
    const char *customer;
    const char *category;
    int64_t since;
    int64_t until;            /* 0 = open-ended */
    const char *note;
};
int cg_store_optout_set(cg_store *st, const struct cg_optout_row *o);
int cg_store_optout_remove(cg_store *st, const char *customer, const char *category);
/* *r = 1 when an opt-out open at `now`, of the customer or of the
 * address (NULL: the customer's only), matches `category`. */
int cg_store_opted_out(cg_store *st, const char *customer, const char *address,
                       const char *category, int64_t now, int *r);

/* --- decision log ---------------------------------------------------- */
struct cg_decision_row {
    int64_t id;
    int64_t ts;
    const char *ref;            /* reference shown to the sender */
    const char *stage;          /* "rcpt", "eom", "release" */
    const char *verdict;        /* "tag", "defer", "reject", "hold", "accept" */
    const char *policy;         /* deciding policy, or NULL */
    const char *reason;
    const char *detail;         /* every violation: "pol1=defer:reason; ..." */
    const char *department;
    const char *sender;
    const char *recipient;
    const char *customer;
    const char *category;
    const char *message_id;
    const char *queue_id;
    const char *config_version;
    int64_t retry_after;        /* 0 if none */
    int monitor;                /* 1 if only monitored (not enforced) */
};
int cg_store_decision_add(cg_store *st, const struct cg_decision_row *d);
struct cg_decision_filter {
    const char *verdict;      /* NULL = any */
    const char *department;
    const char *policy;
    const char *customer;
    const char *queue_id;
    int64_t since;            /* 0 = unbounded */
    int64_t until;            /* 0 = unbounded */
    long limit;               /* 0 = no limit */
};
typedef int (*cg_store_decision_cb)(const struct cg_decision_row *d, void *arg);
/* The time of the first deferral of (message_id, recipient): 1 found and
 * *ts_r set, 0 none, -1 error. */
int cg_store_first_deferral(cg_store *st, const char *message_id, const char *recipient,
                            int64_t *ts_r);
/* Matching decisions, newest first. */
int cg_store_decisions(cg_store *st, const struct cg_decision_filter *f,
                       cg_store_decision_cb cb, void *arg);

#endif
