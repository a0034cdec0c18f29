/*
 * cg_store_sim.h - the store side of `contactgatectl simulate` and
 * `contactgatectl store copy`: seed a scratch store from the real one,
 * copy a whole history from one store to another, and read the recorded
 * traffic as one attempt per message and customer.
 */
#ifndef CG_STORE_SIM_H
#define CG_STORE_SIM_H

#include <stdint.h>
#include "cg_store.h"

/* cg_store_sim_seed - copy the customer map, states and opt-outs of `src`,
 * and its contacts with history_from <= ts < since (what caps and spacing
 * see at the start of the range), into `sim` (any backends; a scratch
 * SQLite ":memory:" store in simulate). Returns 0 or -1 (the message in
 * cg_store_errmsg(sim)). */
int cg_store_sim_seed(cg_store *sim, cg_store *src, int64_t history_from, int64_t since);

/* cg_store_copy - copy the history of `src` into the empty store `dst`:
 * customer map, contacts (the department counters are rebuilt from
 * them), states, opt-outs, decision log, erasure audit and relays (open
 * deferral episodes are not copied: they are short-lived and a retry
 * only starts a new one). One transaction on dst. progress,
 * when set, is called now and then with what was copied so far. The
 * counts are what was copied; 0 or -1 (the message in cg_store_errmsg of
 * whichever store failed, copied to err). */
struct cg_copy_counts {
    int64_t addresses, contacts, states, optouts, decisions, erasures, relays;
};
typedef void (*cg_copy_progress_cb)(const struct cg_copy_counts *n, void *arg);
int cg_store_copy(cg_store *dst, cg_store *src, struct cg_copy_counts *n,
                  cg_copy_progress_cb progress, void *arg, char *err, size_t errlen);

/* One recorded message to one customer, in the range. */
struct cg_sim_event {
    int64_t ts;              /* first attempt */
    const char *customer;
    const char *address;
    const char *sender;      /* NULL when only the contact was recorded */
    const char *department;
    const char *category;    /* for RCPT-stage rows: the department default */
    const char *channel;     /* "email", or another channel (fixed history) */
    const char *message_id;
    const char *digest;
    const char *outcome;     /* what happened: sent, defer, reject, hold, tempfail */
    int attempts;
};
typedef int (*cg_sim_event_cb)(const struct cg_sim_event *e, void *arg);

/* cg_store_sim_events - the attempts in since <= ts < until, oldest first;
 * attempts of one message (same Message-ID and customer) are one event. */
int cg_store_sim_events(cg_store *st, int64_t since, int64_t until, cg_sim_event_cb cb,
                        void *arg);

#endif
