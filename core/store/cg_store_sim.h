/*
 * cg_store_sim.h - the store side of `contactgatectl simulate`: seed an
 * in-memory store from the real database, and read the recorded traffic
 * as one attempt per message and customer.
 */
#ifndef CG_STORE_SIM_H
#define CG_STORE_SIM_H

#include <stdint.h>
#include "cg_store.h"

/* cg_store_sim_seed - copy the customer map, states and opt-outs of the
 * database file `src`, and its contacts with history_from <= ts < since
 * (what caps and spacing see at the start of the range), into `sim`.
 * Returns 0 or -1 (message in cg_store_errmsg(sim)). */
int cg_store_sim_seed(cg_store *sim, const char *src, int64_t history_from, int64_t since);

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
