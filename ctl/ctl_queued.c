/*
 * ctl_queued.c - `contactgatectl decisions --queue-id QID` for a queue ID
 * the decision log does not have: a message the MTA still holds under an
 * ID contactgate never saw.
 *
 * The case it is for: a sendmail(1) submission that contactgate defers.
 * Postfix keeps it in the maildrop under the ID `mailq` shows and offers
 * it again about once a minute, each time under a new cleanup queue ID
 * (the one in contactgate's rows and log lines); Sendmail keeps it in its
 * submission (MSP) queue, `mailq -Ac`, and the MTA gives each attempt an
 * ID of its own. What links them is the envelope: a retry keeps its
 * sender and recipients, and each recipient's deferral episode (cg_episode.h)
 * counts every attempt. So the MTA is asked for the message's envelope
 * (ctl_mta.h: postqueue -j, sendmail -bp), and each recipient's open
 * episode and its decision rows are shown, with when max_defer (or
 * local_submission.max_defer) ends it and how to remove the message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_addr.h"
#include "cg_engine.h"
#include "cg_ident.h"
#include "cg_util.h"
#include "ctl.h"
#include "ctl_mta.h"

/* no_match - what `decisions` says when nothing matches */
static int no_match(struct ctl *c)
{
    if (c->json)
        ctl_json_print(json_array());
    else
        printf("no decisions match\n");
    return CTL_OK;
}

/* local_queue - the queue of a submission not yet taken in */
static int local_queue(const struct ctl_mta_msg *msg)
{
    return msg->queue && (!strcmp(msg->queue, "maildrop") || !strcmp(msg->queue, "msp"));
}

/* jtime - a time as JSON (null for 0) */
static json_t *jtime(int64_t ts)
{
    char b[32];
    return ts ? json_string(cg_format_time(ts, b, sizeof b)) : json_null();
}

/* episode_json - the open deferral episode of (sender, rcpt) as JSON, its
 * decision rows appended to rows; json null when there is none. -1 on a
 * store error (printed) */
static int episode_json(struct ctl *c, cg_store *st, const struct ctl_mta_msg *msg,
                        const char *sender, const char *rcpt, json_t *rows, json_t **out)
{
    *out = json_null();
    struct cg_episode e;
    int found = cg_store_episode_get(st, sender, rcpt, &e);
    if (found < 0)
        return ctl_err(-1, "decisions", "%s", cg_store_errmsg(st));
    int64_t until = e.retry_after > e.last_ts ? e.retry_after : e.last_ts;
    if (!found || c->now > until + CG_EPISODE_STALE_SECS)
        return 0;
    json_t *o = json_object();
    json_object_set_new(o, "ref", json_string(e.first_ref));
    json_object_set_new(o, "first", jtime(e.first_ts));
    json_object_set_new(o, "last", jtime(e.last_ts));
    json_object_set_new(o, "attempts", json_integer(e.attempts));
    json_object_set_new(o, "policy", ctl_jstr(e.policy));
    json_object_set_new(o, "retry_after", jtime(e.retry_after));
    /* when it ends: the policy's max_defer, a local submission's own */
    const struct cg_config *cfg = c->cfg;
    int64_t cap = 0;
    const char *by = NULL;
    for (size_t i = 0; e.policy && i < cfg->n_policies; i++)
        if (!strcmp(cfg->policies[i].name, e.policy) && cfg->policies[i].max_defer) {
            cap = cfg->policies[i].max_defer;
            by = "max_defer";
        }
    if (local_queue(msg) && cfg->local_max_defer_secs && (!cap || cfg->local_max_defer_secs < cap)) {
        cap = cfg->local_max_defer_secs;
        by = "local_submission.max_defer";
    }
    json_object_set_new(o, "ends", cap ? jtime(e.first_ts + cap) : json_null());
    json_object_set_new(o, "ends_by", ctl_jstr(by));
    char first_ref[64];
    cg_strlcpy(first_ref, e.first_ref, sizeof first_ref);
    int64_t first_ts = e.first_ts;
    *out = o;
    /* its rows: the recipient's customer's decisions since the episode began */
    int rc = CTL_OK;
    char *cust = ctl_customer(c, rcpt, &rc);
    if (!cust)
        return rc == CTL_OK ? 0 : -1;
    struct cg_decision_filter f = {.customer = cust, .since = first_ts};
    json_t *all = json_array();
    if (cg_store_decisions(st, &f, ctl_collect_decision, all) < 0) {
        json_decref(all);
        free(cust);
        return ctl_err(-1, "decisions", "%s", cg_store_errmsg(st));
    }
    size_t i;
    json_t *d;
    json_array_foreach(all, i, d)
    {
        const char *ep = json_string_value(json_object_get(d, "episode"));
        if (ep && !strcmp(ep, first_ref))
            json_array_append(rows, d);
    }
    json_decref(all);
    free(cust);
    return 0;
}

/* text_episode - one recipient's line */
static void text_episode(const char *rcpt, json_t *ep)
{
    if (!json_is_object(ep)) {
        printf("  <%s>: no deferral by contactgate is open for it\n", rcpt);
        return;
    }
    long long n = json_integer_value(json_object_get(ep, "attempts"));
    printf("  <%s>: deferred %lld time%s from %s to %s (episode %s), by %s",
           rcpt, n, n == 1 ? "" : "s", json_string_value(json_object_get(ep, "first")),
           json_string_value(json_object_get(ep, "last")),
           json_string_value(json_object_get(ep, "ref")),
           json_is_string(json_object_get(ep, "policy"))
               ? json_string_value(json_object_get(ep, "policy")) : "-");
    if (json_is_string(json_object_get(ep, "retry_after")))
        printf(", retry after %s", json_string_value(json_object_get(ep, "retry_after")));
    if (json_is_string(json_object_get(ep, "ends")))
        printf("; refused from %s on (%s)", json_string_value(json_object_get(ep, "ends")),
               json_string_value(json_object_get(ep, "ends_by")));
    printf("\n");
}

/* what_queue - the queue in words */
static const char *what_queue(const struct ctl_mta_msg *msg)
{
    if (!msg->queue)
        return "queue";
    if (!strcmp(msg->queue, "maildrop"))
        return "maildrop (a sendmail(1) submission not yet taken in: pickup offers it again "
               "about once a minute)";
    if (!strcmp(msg->queue, "msp"))
        return "submission queue (mailq -Ac: a sendmail(1) submission the MTA has not "
               "taken yet; the MSP retries it at its queue runs)";
    if (!strcmp(msg->queue, "mta"))
        return "queue";
    return msg->queue;
}

/* What the MTA has under a queue ID, asked before the store is opened
 * (contactgatectl may then give up root, which the MTA's listing needs
 * for another instance's queue). */
struct ctl_queued {
    char *qid;
    int explicit;             /* the MTA options were given */
    struct ctl_mta *m;        /* NULL: it could not be asked (err says why) */
    struct ctl_mta_queue q;
    const struct ctl_mta_msg *msg; /* NULL: not there */
    struct cg_buf err;
};

/* ctl_queued_find - see ctl.h */
struct ctl_queued *ctl_queued_find(const char *qid, const struct ctl_mta_opts *mo, int explicit)
{
    struct ctl_queued *x = cg_xcalloc(1, sizeof *x);
    x->qid = cg_xstrdup(qid);
    x->explicit = explicit;
    x->m = ctl_mta_open(mo, &x->err);
    if (x->m && ctl_mta_queued(x->m, &x->q, &x->err) < 0)
        ctl_mta_free(&x->m);
    if (x->m)
        x->msg = ctl_mta_find(&x->q, qid);
    return x;
}

/* e - see ctl.h */
void ctl_queued_free(struct ctl_queued **xp)
{
    struct ctl_queued *x = xp ? *xp : NULL;
    if (!x)
        return;
    ctl_mta_queue_free(&x->q);
    ctl_mta_free(&x->m);
    cg_buf_free(&x->err);
    free(x->qid);
    free(x);
    *xp = NULL;
}

/* w - see ctl.h */
int ctl_queued_show(struct ctl *c, struct ctl_queued *x)
{
    const char *cmd = "decisions";
    const char *qid = x->qid;
    if (!x->m)
        return x->explicit ? ctl_err(CTL_USAGE, cmd, "--queue-id %s: no decision has it, and "
                                     "the MTA's queues could not be listed: %s", qid, x->err.s)
                           : no_match(c);
    const struct ctl_mta_msg *msg = x->msg;
    struct ctl_mta *m = x->m;
    if (!msg)
        return no_match(c);
    int rc = CTL_OK;
    cg_store *st = ctl_config(c) ? ctl_store(c) : NULL;
    if (!st)
        return c->cfg ? CTL_STORE : CTL_USAGE;
    unsigned flags = cg_ident_addr_flags(c->cfg);
    const char *why = NULL;
    /* the sender as the milter keys it (cg_ident_sender) */
    char *sender = msg->sender && *msg->sender
                       ? cg_addr_normalise(msg->sender, CG_ADDR_FOLD_LOCAL, &why)
                       : cg_xstrdup("");
    json_t *o = json_object(), *rcpts = json_array(), *rows = json_array();
    json_object_set_new(o, "queue_id", json_string(qid));
    json_object_set_new(o, "mta", json_string(m->ops->name));
    json_object_set_new(o, "queue", ctl_jstr(msg->queue));
    json_object_set_new(o, "arrival", jtime(msg->arrival));
    json_object_set_new(o, "sender", ctl_jstr(msg->sender));
    for (size_t i = 0; i < msg->n_rcpts && rc == CTL_OK; i++) {
        json_t *r = json_object(), *ep = json_null();
        json_object_set_new(r, "address", json_string(msg->rcpts[i]));
        char *addr = sender ? cg_addr_normalise(msg->rcpts[i], flags, &why) : NULL;
        if (addr && episode_json(c, st, msg, sender, addr, rows, &ep) < 0)
            rc = CTL_STORE;
        json_object_set_new(r, "episode", ep);
        json_array_append_new(rcpts, r);
        free(addr);
    }
    json_object_set_new(o, "recipients", rcpts);
    json_object_set_new(o, "decisions", rows);
    struct cg_buf rm = {0};
    m->ops->remove(m, msg, &rm);
    json_object_set_new(o, "remove", json_string(rm.s));
    if (rc == CTL_OK && c->json) {
        ctl_json_print(json_incref(o));
    } else if (rc == CTL_OK) {
        printf("queue ID %s: in %s's %s since %s, from <%s>\n", qid, m->ops->name,
               what_queue(msg), json_string_value(json_object_get(o, "arrival")),
               msg->sender ? msg->sender : "");
        size_t i;
        json_t *r;
        json_array_foreach(rcpts, i, r)
            text_episode(json_string_value(json_object_get(r, "address")),
                         json_object_get(r, "episode"));
        printf("  to remove it: %s\n", rm.s);
        if (json_array_size(rows)) {
            printf("its decisions (each attempt had an ID of its own):\n");
            ctl_decisions_table(rows);
        }
    }
    cg_buf_free(&rm);
    json_decref(o);
    free(sender);
    return rc;
}
