/*
 * cg_store_held.h - the store's queries behind `contactgatectl held` (the
 * messages contactgate put in the MTA's hold queue, and what became of
 * them) and `contactgatectl decisions --lifecycle` (what became of each
 * deferred message). Not on the mail path.
 *
 * Return values follow cg_store.h: 0 ok, -1 error (cg_store_errmsg);
 * lookups 1 found / 0 not found / -1 error. Strings given to a callback
 * are valid only during the call.
 */
#ifndef CG_STORE_HELD_H
#define CG_STORE_HELD_H

#include <stdint.h>
#include "cg_store.h"

/* --- held messages ------------------------------------------------------ */
/* The enforced hold decisions recorded for queue ID `queue_id` with
 * ts >= since, oldest first: one row per recipient of the held message.
 * Queue IDs are reused by the MTA over time; `since` (the message's
 * arrival in the queue, less a little slack) keeps an older message's rows
 * out. Only rows of the newest reference are given (one message, one
 * decision). */
int cg_held_rows(cg_store *st, const char *queue_id, int64_t since, cg_store_decision_cb cb,
                 void *arg);
/* Whether the hold `ref` on `queue_id` already has an outcome row
 * (verdict "released" or "dropped"): 1 and the verdict in *verdict_r
 * (a static string), 0 none, -1 error. */
int cg_held_outcome(cg_store *st, const char *queue_id, const char *ref,
                    const char **verdict_r);

/* --- deferred messages -------------------------------------------------- */
/* One deferred message for one recipient: the defer rows of one
 * deferral episode taken together (the retries of one sender to one
 * recipient, linked at RCPT already: cg_store.h). Rows from before
 * episodes were kept are grouped by (Message-ID, recipient); such a row
 * without a Message-ID (deferred at RCPT) is a group of its own. */
struct cg_lifecycle_row {
    const char *message_id;     /* NULL: never seen with its headers */
    const char *episode;        /* the episode (its first deferral's reference);
                                 * NULL: a row from before episodes */
    const char *recipient;
    const char *customer;
    const char *department;
    const char *sender;
    const char *category;
    const char *policy;         /* of the last deferral */
    const char *reason;         /* of the last deferral */
    const char *first_ref;
    const char *last_ref;
    int64_t first_ts;           /* first deferral */
    int64_t last_ts;            /* last deferral */
    int64_t attempts;           /* deferred attempts */
    int64_t retry_after;        /* given with the last deferral (0: none) */
    /* what followed the last deferral */
    const char *next_verdict;   /* the decision that ended the episode (accept,
                                 * tag, reject, hold); NULL if none */
    int64_t next_ts;
    int64_t delivered_ts;       /* first later contact of the customer with the
                                 * same Message-ID (ts > first_ts); 0 if none */
    const char *final_verdict;  /* a later "released" or "dropped" (of a later
                                 * hold), NULL if none */
};
struct cg_lifecycle_filter {
    const char *department;     /* NULL = any */
    const char *policy;         /* any deferral of the group by this policy */
    const char *customer;
    const char *queue_id;       /* any deferral of the group with this queue ID */
    int64_t since;              /* first deferral >= since (0 = unbounded) */
    int64_t until;              /* first deferral < until (0 = unbounded) */
    long limit;                 /* 0 = no limit */
};
typedef int (*cg_lifecycle_cb)(const struct cg_lifecycle_row *r, void *arg);
/* The deferred messages, newest first deferral first. Only enforced
 * deferrals count (monitored ones did not defer anything). */
int cg_lifecycle(cg_store *st, const struct cg_lifecycle_filter *f, cg_lifecycle_cb cb,
                 void *arg);

#endif
