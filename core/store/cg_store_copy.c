/*
 * cg_store_copy.c - copying history from one store to another through the
 * interface alone, so any backend to any backend: `contactgatectl store
 * copy` (everything, e.g. SQLite to PostgreSQL) and `contactgatectl
 * simulate` (the customer map, states, opt-outs and the recent contacts
 * into a scratch store). One piece of code for both.
 *
 * Contacts go through cg_store_contact_add, so the destination's
 * department counters are built as the contacts arrive. Everything is one
 * transaction on the destination: a copy that fails leaves it as it was.
 */
#include <stdio.h>
#include <string.h>

#include "cg_store_be.h"
#include "cg_util.h"

/* the flow of one copy */
struct copy {
    cg_store *dst, *src;
    struct cg_copy_counts *n;
    cg_copy_progress_cb progress;
    void *arg;
    int64_t next_progress;    /* rows copied at the next progress call */
    int failed;               /* the destination failed (its message stands) */
};

#define PROGRESS_EVERY 50000

/* tick - one more row; now and then tell the caller */
static void tick(struct copy *c, int64_t *counter)
{
    (*counter)++;
    const struct cg_copy_counts *n = c->n;
    int64_t total = n->addresses + n->contacts + n->states + n->optouts + n->decisions +
                    n->erasures + n->relays;
    if (c->progress && total >= c->next_progress) {
        c->next_progress = total + PROGRESS_EVERY;
        c->progress(n, c->arg);
    }
}

static int copy_customer(const struct cg_customer_row *r, void *arg)
{
    struct copy *c = arg;
    if (cg_store_customer_put(c->dst, r->address, r->customer, r->timezone, r->attrs, NULL) < 0)
        return c->failed = 1;
    tick(c, &c->n->addresses);
    return 0;
}

static int copy_contact(const struct cg_contact_row *r, void *arg)
{
    struct copy *c = arg;
    if (cg_store_contact_add(c->dst, r) < 0)
        return c->failed = 1;
    tick(c, &c->n->contacts);
    return 0;
}

static int copy_state(const struct cg_state_row *r, void *arg)
{
    struct copy *c = arg;
    if (cg_store_state_set(c->dst, r) < 0)
        return c->failed = 1;
    tick(c, &c->n->states);
    return 0;
}

static int copy_optout(const struct cg_optout_row *r, void *arg)
{
    struct copy *c = arg;
    if (cg_store_optout_set(c->dst, r) < 0)
        return c->failed = 1;
    tick(c, &c->n->optouts);
    return 0;
}

/* Decisions are copied oldest first: ids are the destination's own, and
 * the lifecycle of deferred messages takes a higher id as later. */
static int copy_decision(const struct cg_decision_row *r, void *arg)
{
    struct copy *c = arg;
    if (cg_store_decision_add(c->dst, r) < 0)
        return c->failed = 1;
    tick(c, &c->n->decisions);
    return 0;
}

static int copy_erasure(const struct cg_erasure_row *r, void *arg)
{
    struct copy *c = arg;
    if (cg_admin_erasure_add(c->dst, r) < 0)
        return c->failed = 1;
    tick(c, &c->n->erasures);
    return 0;
}

static int copy_relay(const struct cg_relay_row *r, void *arg)
{
    struct copy *c = arg;
    if (cg_store_relay_seen(c->dst, r) < 0)
        return c->failed = 1;
    tick(c, &c->n->relays);
    return 0;
}

/* finish - commit or roll back; the message of whichever store failed */
static int finish(struct copy *c, int rc, char *err, size_t errlen)
{
    if (rc == 0 && cg_store_commit(c->dst) < 0)
        rc = -1, c->failed = 1;
    if (rc < 0) {
        cg_errf(err, errlen, "%s", cg_store_errmsg(c->failed ? c->dst : c->src));
        cg_store_rollback(c->dst);
        return -1;
    }
    if (c->progress)
        c->progress(c->n, c->arg);
    return 0;
}

int cg_store_copy(cg_store *dst, cg_store *src, struct cg_copy_counts *n,
                  cg_copy_progress_cb progress, void *arg, char *err, size_t errlen)
{
    memset(n, 0, sizeof *n);
    struct copy c = {dst, src, n, progress, arg, PROGRESS_EVERY, 0};
    if (cg_admin_bulk(dst) < 0 || cg_store_begin(dst, 1) < 0) { /* PostgreSQL: by COPY */
        cg_errf(err, errlen, "%s", cg_store_errmsg(dst));
        return -1;
    }
    int rc = cg_admin_customers(src, NULL, copy_customer, &c);
    if (rc == 0 && !c.failed)
        rc = cg_store_contacts_all(src, 0, 0, copy_contact, &c);
    if (rc == 0 && !c.failed)
        rc = cg_store_states(src, NULL, 0, copy_state, &c);
    if (rc == 0 && !c.failed)
        rc = cg_admin_optouts(src, NULL, copy_optout, &c);
    struct cg_decision_filter in_order = {.oldest_first = 1};
    if (rc == 0 && !c.failed)
        rc = cg_store_decisions(src, &in_order, copy_decision, &c);
    if (rc == 0 && !c.failed)
        rc = cg_admin_erasures(src, copy_erasure, &c);
    if (rc == 0 && !c.failed)
        rc = cg_store_relays(src, copy_relay, &c);
    return finish(&c, rc == 0 && !c.failed ? 0 : -1, err, errlen);
}

int cg_store_sim_seed(cg_store *sim, cg_store *src, int64_t history_from, int64_t since)
{
    struct cg_copy_counts n;
    memset(&n, 0, sizeof n);
    struct copy c = {sim, src, &n, NULL, NULL, 0, 0};
    char err[sizeof sim->err];
    if (cg_store_begin(sim, 1) < 0)
        return -1;
    int rc = cg_admin_customers(src, NULL, copy_customer, &c);
    if (rc == 0 && !c.failed)
        rc = cg_store_states(src, NULL, 0, copy_state, &c);
    if (rc == 0 && !c.failed)
        rc = cg_admin_optouts(src, NULL, copy_optout, &c);
    if (rc == 0 && !c.failed && since > history_from)
        rc = cg_store_contacts_all(src, history_from, since, copy_contact, &c);
    if (finish(&c, rc == 0 && !c.failed ? 0 : -1, err, sizeof err) < 0) {
        if (!c.failed) /* the source failed: say so on the store the caller asks */
            cg_store_seterr(sim, "%s", err);
        return -1;
    }
    return 0;
}
