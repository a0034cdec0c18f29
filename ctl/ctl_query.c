/*
 * ctl_query.c - contactgatectl history and decisions: what a customer got
 * and what contactgate decided, for admins and compliance.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_episode.h"
#include "cg_store_held.h"
#include "cg_util.h"
#include "ctl.h"
#include "ctl_mta.h"

/* event_json - a timeline event of `kind` at ts, as JSON */
static json_t *event_json(const char *kind, int64_t ts)
{
    char t[32];
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(kind));
    json_object_set_new(o, "time", json_string(cg_format_time(ts, t, sizeof t)));
    json_object_set_new(o, "ts", json_integer(ts));
    return o;
}

/* contact_json - one contact as JSON */
static json_t *contact_json(const struct cg_contact_row *r)
{
    json_t *o = event_json("contact", r->ts);
    json_object_set_new(o, "customer", ctl_jstr(r->customer));
    json_object_set_new(o, "address", ctl_jstr(r->address));
    json_object_set_new(o, "department", ctl_jstr(r->department));
    json_object_set_new(o, "category", ctl_jstr(r->category));
    json_object_set_new(o, "channel", ctl_jstr(r->channel));
    json_object_set_new(o, "weight", json_real(r->weight));
    json_object_set_new(o, "message_id", ctl_jstr(r->message_id));
    json_object_set_new(o, "queue_id", ctl_jstr(r->queue_id));
    return o;
}

/* decision_json - one decision as JSON */
static json_t *decision_json(const struct cg_decision_row *d)
{
    char ra[32];
    json_t *o = event_json("decision", d->ts);
    json_object_set_new(o, "ref", ctl_jstr(d->ref));
    json_object_set_new(o, "stage", ctl_jstr(d->stage));
    json_object_set_new(o, "verdict", ctl_jstr(d->verdict));
    json_object_set_new(o, "monitor", json_boolean(d->monitor));
    json_object_set_new(o, "policy", ctl_jstr(d->policy));
    json_object_set_new(o, "reason", ctl_jstr(d->reason));
    json_object_set_new(o, "detail", ctl_jstr(d->detail));
    json_object_set_new(o, "department", ctl_jstr(d->department));
    json_object_set_new(o, "sender", ctl_jstr(d->sender));
    json_object_set_new(o, "recipient", ctl_jstr(d->recipient));
    json_object_set_new(o, "customer", ctl_jstr(d->customer));
    json_object_set_new(o, "category", ctl_jstr(d->category));
    json_object_set_new(o, "message_id", ctl_jstr(d->message_id));
    json_object_set_new(o, "queue_id", ctl_jstr(d->queue_id));
    json_object_set_new(o, "config_version", ctl_jstr(d->config_version));
    json_object_set_new(o, "relay", ctl_jstr(d->relay));
    json_object_set_new(o, "episode", ctl_jstr(d->episode));
    json_object_set_new(o, "retry_after",
                        d->retry_after ? json_string(cg_format_time(d->retry_after, ra, sizeof ra))
                                       : json_null());
    return o;
}

/* collect_contact / collect_decision - gather rows as JSON */
static int collect_contact(const struct cg_contact_row *r, void *arg)
{
    json_array_append_new((json_t *)arg, contact_json(r));
    return 0;
}

/* ctl_collect_decision - see ctl.h */
int ctl_collect_decision(const struct cg_decision_row *d, void *arg)
{
    json_array_append_new((json_t *)arg, decision_json(d));
    return 0;
}

/* str_of - a JSON member as text */
static const char *str_of(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

/* reason_of - what happened, for a listing: the reason, else the detail
 * (an accepted message whose category claim was refused has no reason,
 * and the detail says "claimed category X not allowed for department Y") */
static const char *reason_of(json_t *o)
{
    const char *r = json_string_value(json_object_get(o, "reason"));
    if (r && *r)
        return r;
    const char *d = json_string_value(json_object_get(o, "detail"));
    return d && *d ? d : "-";
}

/* policy_of - the policy, marked when it only monitors */
static char *policy_of(json_t *o)
{
    return cg_xasprintf("%s%s", str_of(o, "policy"),
                        json_is_true(json_object_get(o, "monitor")) ? " (monitor)" : "");
}

/* history_row - one timeline event as a row of the history listing */
static void history_row(struct ctl_table *t, json_t *o)
{
    int contact = !strcmp(str_of(o, "kind"), "contact");
    char *policy = contact ? NULL : policy_of(o);
    const char *cells[] = {
        str_of(o, "time"),
        contact ? "contact" : str_of(o, "verdict"),
        str_of(o, "department"),
        str_of(o, "category"),
        str_of(o, contact ? "channel" : "stage"),
        str_of(o, contact ? "address" : "recipient"),
        policy,
        contact ? NULL : reason_of(o),
    };
    ctl_table_row(t, cells);
    free(policy);
}

/* by_ts_desc - newest first */
static int by_ts_desc(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "ts"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "ts"));
    return x < y ? 1 : x > y ? -1 : 0;
}

/* history_run - every contact and decision of one customer */
static int history_run(struct ctl *c, int argc, char **argv)
{
    const char *cmd = "history";
    const struct ctl_opt opts[] = {{NULL, NULL, NULL}};
    char *pos[1] = {NULL};
    if (ctl_args(cmd, argc, argv, opts, pos, 1, NULL) != CTL_OK)
        return CTL_USAGE;
    if (!pos[0])
        return ctl_err(CTL_USAGE, cmd, "usage: history CUSTOMER|ADDRESS [--json]");
    char *cust;
    cg_store *st;
    int rc = ctl_customer_store(c, pos[0], &cust, &st);
    if (rc != CTL_OK)
        return rc;
    json_t *rows = json_array();
    struct cg_decision_filter f = {.customer = cust};
    if (cg_store_contacts(st, cust, 0, INT64_MAX, collect_contact, rows) < 0 ||
        cg_store_decisions(st, &f, ctl_collect_decision, rows) < 0) {
        rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
        json_decref(rows);
        free(cust);
        return rc;
    }
    size_t n = json_array_size(rows);
    json_t **v = cg_xcalloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(rows, i));
    qsort(v, n, sizeof *v, by_ts_desc);
    if (c->json) {
        json_t *o = json_object(), *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append(arr, v[i]);
        json_object_set_new(o, "customer", json_string(cust));
        json_object_set_new(o, "events", arr);
        ctl_json_print(o);
    } else {
        static const char *const head[] = {"TIME",    "EVENT",   "DEPT",   "CATEGORY",
                                           "VIA",     "ADDRESS", "POLICY", "REASON"};
        struct ctl_table t = {.ncols = 8, .head = head};
        printf("customer %s: %zu event%s, newest first\n", cust, n, n == 1 ? "" : "s");
        for (size_t i = 0; i < n; i++)
            history_row(&t, v[i]);
        ctl_table_print(&t);
    }
    for (size_t i = 0; i < n; i++)
        json_decref(v[i]);
    free(v);
    json_decref(rows);
    free(cust);
    return rc;
}

/* A deferred message is retried by the sender; its deferrals are one
 * episode (the store links a retry to them by sender and recipient, at
 * RCPT already); its outcome, from what ended the episode (see the help
 * text):
 *   delivered later      the accept or tag decision that ended it (rows
 *                        from before episodes: a contact of the customer
 *                        with that Message-ID after the first deferral)
 *   rejected/held later  a reject or hold decision (e.g. max_defer)
 *   still deferred       nothing yet, and the last attempt's retry-after
 *                        is in the future or passed less than
 *                        LIFECYCLE_GRACE ago
 *   never retried        nothing, retry-after passed longer ago
 *   untracked            a row from before episodes, deferred at RCPT
 *                        time without a Message-ID and past its retry
 *                        window: a retry cannot be matched to it */
#define LIFECYCLE_GRACE 3600

struct life_arg {
    struct ctl *c;
    json_t *arr;
};

/* life_cb - one deferred message (one recipient) as JSON */
static int life_cb(const struct cg_lifecycle_row *r, void *arg)
{
    struct life_arg *la = arg;
    int64_t now = la->c->now;
    const char *outcome;
    int64_t outcome_ts = 0;
    const char *later = NULL;
    int64_t window_end = r->retry_after ? r->retry_after : r->last_ts;
    if (r->next_verdict && (!strcmp(r->next_verdict, "reject") ||
                            !strcmp(r->next_verdict, "hold"))) {
        outcome = "rejected/held later";
        later = r->next_verdict;
        outcome_ts = r->next_ts;
    } else if (r->next_verdict) {
        outcome = "delivered later";
        later = r->next_verdict;
        outcome_ts = r->next_ts;
        if (r->delivered_ts && r->delivered_ts < outcome_ts)
            outcome_ts = r->delivered_ts;
    } else if (r->delivered_ts) {
        outcome = "delivered later";
        later = "contact";
        outcome_ts = r->delivered_ts;
    } else if (window_end + LIFECYCLE_GRACE > now) {
        outcome = "still deferred";
    } else if (!r->message_id && !r->episode) {
        outcome = "untracked";
    } else {
        outcome = "never retried";
    }
    char t1[32], t2[32], t3[32], t4[32];
    json_t *o = json_object();
    json_object_set_new(o, "message_id", ctl_jstr(r->message_id));
    json_object_set_new(o, "recipient", ctl_jstr(r->recipient));
    json_object_set_new(o, "customer", ctl_jstr(r->customer));
    json_object_set_new(o, "department", ctl_jstr(r->department));
    json_object_set_new(o, "sender", ctl_jstr(r->sender));
    json_object_set_new(o, "category", ctl_jstr(r->category));
    json_object_set_new(o, "policy", ctl_jstr(r->policy));
    json_object_set_new(o, "reason", ctl_jstr(r->reason));
    json_object_set_new(o, "episode", ctl_jstr(r->episode));
    json_object_set_new(o, "first_ref", ctl_jstr(r->first_ref));
    json_object_set_new(o, "last_ref", ctl_jstr(r->last_ref));
    json_object_set_new(o, "first_deferral", json_string(cg_format_time(r->first_ts, t1, sizeof t1)));
    json_object_set_new(o, "first_deferral_ts", json_integer(r->first_ts));
    json_object_set_new(o, "attempts", json_integer(r->attempts));
    json_object_set_new(o, "last_attempt", json_string(cg_format_time(r->last_ts, t2, sizeof t2)));
    json_object_set_new(o, "last_attempt_ts", json_integer(r->last_ts));
    json_object_set_new(o, "retry_after", r->retry_after
                                              ? json_string(cg_format_time(r->retry_after, t3, sizeof t3))
                                              : json_null());
    json_object_set_new(o, "outcome", json_string(outcome));
    json_object_set_new(o, "outcome_by", ctl_jstr(later));
    json_object_set_new(o, "outcome_time", outcome_ts ? json_string(cg_format_time(outcome_ts, t4, sizeof t4))
                                                      : json_null());
    json_object_set_new(o, "after_hold", ctl_jstr(r->final_verdict));
    json_object_set_new(o, "ended_ts", r->next_verdict ? json_integer(r->next_ts) : json_null());
    json_array_append_new(la->arr, o);
    return 0;
}

/* ended_after - the count in the row that ended episode ep (CG_EPISODE_AFTER
 * in its detail), or 0 */
static int64_t ended_after(cg_store *st, json_t *o)
{
    struct cg_decision_filter f = {
        .customer = json_string_value(json_object_get(o, "customer")),
        .since = json_integer_value(json_object_get(o, "ended_ts")),
    };
    f.until = f.since + 1;
    json_t *rows = json_array();
    int64_t n = 0;
    if (f.customer && cg_store_decisions(st, &f, ctl_collect_decision, rows) == 0) {
        size_t i;
        json_t *d;
        json_array_foreach(rows, i, d)
        {
            const char *ep = json_string_value(json_object_get(d, "episode"));
            const char *detail = json_string_value(json_object_get(d, "detail"));
            const char *a = detail ? strstr(detail, "after ") : NULL;
            long long k;
            if (ep && !strcmp(ep, str_of(o, "episode")) && a && sscanf(a, "after %lld", &k) == 1)
                n = k;
        }
    }
    json_decref(rows);
    return n;
}

/* exact_attempts - a local submission's episode logs only some of its
 * retries (cg_episode.h): its attempts, last attempt and retry-after are
 * the episode's own while it is open (so is whether it is still deferred),
 * the count in the row that ended it once it is over */
static void exact_attempts(cg_store *st, json_t *arr, int64_t now)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        const char *ep = json_string_value(json_object_get(o, "episode"));
        if (!ep || json_integer_value(json_object_get(o, "attempts")) < CG_EPISODE_ROWS_ALL)
            continue;
        int64_t n = 0, last = 0;
        struct cg_episode e;
        if (json_is_null(json_object_get(o, "ended_ts"))) {
            const char *snd = json_string_value(json_object_get(o, "sender"));
            const char *rcp = json_string_value(json_object_get(o, "recipient"));
            if (rcp && cg_store_episode_get(st, snd ? snd : "", rcp, &e) == 1 &&
                e.first_ref && !strcmp(e.first_ref, ep))
                n = e.attempts, last = e.last_ts;
            int64_t end = e.retry_after > e.last_ts ? e.retry_after : e.last_ts;
            if (n && end + LIFECYCLE_GRACE > now) {
                char t[32];
                json_object_set_new(o, "outcome", json_string("still deferred"));
                if (e.retry_after)
                    json_object_set_new(o, "retry_after", json_string(cg_format_time(
                                                               e.retry_after, t, sizeof t)));
            }
        } else {
            n = ended_after(st, o);
        }
        if (n > json_integer_value(json_object_get(o, "attempts")))
            json_object_set_new(o, "attempts", json_integer(n));
        if (last) {
            char t[32];
            json_object_set_new(o, "last_attempt", json_string(cg_format_time(last, t, sizeof t)));
            json_object_set_new(o, "last_attempt_ts", json_integer(last));
        }
    }
}

/* lifecycle - decisions --lifecycle: deferred messages and their outcome */
static int lifecycle(struct ctl *c, const struct cg_decision_filter *f)
{
    const char *cmd = "decisions";
    cg_store *st = ctl_store(c);
    if (!st)
        return CTL_STORE;
    struct cg_lifecycle_filter lf = {
        .department = f->department,
        .policy = f->policy,
        .customer = f->customer,
        .queue_id = f->queue_id,
        .since = f->since,
        .until = f->until,
        .limit = f->limit,
    };
    struct life_arg la = {.c = c, .arr = json_array()};
    if (cg_lifecycle(st, &lf, life_cb, &la) < 0) {
        json_decref(la.arr);
        return ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
    }
    exact_attempts(st, la.arr, c->now);
    if (c->json) {
        ctl_json_print(la.arr);
        return CTL_OK;
    }
    size_t n = json_array_size(la.arr);
    static const char *const head[] = {"FIRST DEFERRAL", "ATTEMPTS", "LAST ATTEMPT", "OUTCOME",
                                       "DEPT",           "POLICY",   "RECIPIENT",    "MESSAGE-ID"};
    struct ctl_table t = {.ncols = 8, .head = head};
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(la.arr, i);
        char attempts[24];
        snprintf(attempts, sizeof attempts, "%lld",
                 (long long)json_integer_value(json_object_get(o, "attempts")));
        const char *cells[] = {str_of(o, "first_deferral"), attempts, str_of(o, "last_attempt"),
                               str_of(o, "outcome"),        str_of(o, "department"),
                               str_of(o, "policy"),         str_of(o, "recipient"),
                               str_of(o, "message_id")};
        ctl_table_row(&t, cells);
    }
    ctl_table_print(&t);
    if (!n)
        printf("no deferred messages match\n");
    json_decref(la.arr);
    return CTL_OK;
}

/* decisions_args - the options of decisions into a filter */
static int decisions_args(struct ctl *c, int argc, char **argv, struct cg_decision_filter *f,
                          char **cust_r, int *life_r, struct ctl_mta_opts *mo)
{
    const char *cmd = "decisions";
    const char *customer = NULL, *since_s = NULL, *until_s = NULL, *limit_s = NULL;
    const struct ctl_opt opts[] = {
        {"--verdict", &f->verdict, NULL},   {"--department", &f->department, NULL},
        {"--policy", &f->policy, NULL},     {"--queue-id", &f->queue_id, NULL},
        {"--customer", &customer, NULL},    {"--since", &since_s, NULL},
        {"--until", &until_s, NULL},        {"--limit", &limit_s, NULL},
        {"--lifecycle", NULL, life_r},      {"--relay", &f->relay, NULL},
        {"--mta", &mo->mta, NULL},
        {"--postfix-config", &mo->postfix_config, NULL},
        {"--sendmail-config", &mo->sendmail_config, NULL},
        {"--command-dir", &mo->command_dir, NULL},
        {NULL, NULL, NULL},
    };
    if (ctl_args(cmd, argc, argv, opts, NULL, 0, NULL) != CTL_OK)
        return CTL_USAGE;
    static const char *const verdicts[] = {"tag",    "defer",    "reject",  "hold", "tempfail",
                                           "accept", "released", "dropped", NULL};
    int good = !f->verdict;
    for (int k = 0; verdicts[k] && !good; k++)
        good = !strcmp(verdicts[k], f->verdict);
    if (!good)
        return ctl_err(CTL_USAGE, cmd, "--verdict \"%s\" is not one of tag, defer, reject, hold, "
                       "tempfail, accept, released, dropped", f->verdict);
    if ((since_s && ctl_since_arg(c, cmd, "--since", since_s, &f->since) != CTL_OK) ||
        (until_s && ctl_since_arg(c, cmd, "--until", until_s, &f->until) != CTL_OK))
        return CTL_USAGE;
    if (limit_s) {
        char *end;
        f->limit = strtol(limit_s, &end, 10);
        if (end == limit_s || *end || f->limit <= 0)
            return ctl_err(CTL_USAGE, cmd, "--limit \"%s\" is not a positive number", limit_s);
    }
    if (*life_r && f->verdict && strcmp(f->verdict, "defer"))
        return ctl_err(CTL_USAGE, cmd, "--lifecycle lists deferred messages: --verdict can only "
                       "be defer with it");
    if (*life_r && f->relay) /* a message's attempts may come through several relays */
        return ctl_err(CTL_USAGE, cmd, "--relay is for the decision log, not --lifecycle");
    int rc = CTL_OK;
    if (customer && !(*cust_r = ctl_customer(c, customer, &rc)))
        return rc;
    f->customer = *cust_r;
    return CTL_OK;
}

/* decisions_run - the decision log, filtered */
static int decisions_run(struct ctl *c, int argc, char **argv)
{
    const char *cmd = "decisions";
    struct cg_decision_filter f = {0};
    struct ctl_mta_opts mo = {0};
    char *cust = NULL;
    int life = 0;
    int rc = decisions_args(c, argc, argv, &f, &cust, &life, &mo);
    if (rc != CTL_OK)
        return rc;
    int explicit_mta = mo.mta || mo.postfix_config || mo.sendmail_config;
    /* a queue ID alone: the MTA is asked now, while root may still be
     * needed for it, in case the log does not have the ID */
    struct ctl_queued *queued = NULL;
    if (f.queue_id && !life && !f.verdict && !f.department && !f.policy && !cust && !f.since &&
        !f.until)
        queued = ctl_queued_find(f.queue_id, &mo, explicit_mta);
    if (life) {
        rc = lifecycle(c, &f);
        free(cust);
        return rc;
    }
    cg_store *st = ctl_store(c);
    if (!st) {
        ctl_queued_free(&queued);
        free(cust);
        return CTL_STORE;
    }
    json_t *rows = json_array();
    if (cg_store_decisions(st, &f, ctl_collect_decision, rows) < 0) {
        rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
        json_decref(rows);
        ctl_queued_free(&queued);
        free(cust);
        return rc;
    }
    if (!json_array_size(rows) && queued) {
        /* not in the log under that ID: perhaps the MTA still has it under
         * an ID contactgate never saw (a sendmail(1) submission it defers) */
        json_decref(rows);
        rc = ctl_queued_show(c, queued);
        ctl_queued_free(&queued);
        return rc;
    }
    ctl_queued_free(&queued);
    if (c->json) {
        ctl_json_print(rows);
    } else {
        ctl_decisions_table(rows);
        if (!json_array_size(rows))
            printf("no decisions match\n");
        json_decref(rows);
    }
    free(cust);
    return rc;
}

/* ctl_decisions_table - see ctl.h */
void ctl_decisions_table(json_t *rows)
{
    size_t n = json_array_size(rows);
    static const char *const head[] = {"TIME",   "VERDICT",   "REF",   "DEPT",
                                       "POLICY", "RECIPIENT", "REASON"};
    struct ctl_table t = {.ncols = 7, .head = head};
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(rows, i);
        char *policy = policy_of(o);
        const char *cells[] = {str_of(o, "time"),       str_of(o, "verdict"),
                               str_of(o, "ref"),        str_of(o, "department"),
                               policy,                  str_of(o, "recipient"),
                               reason_of(o)};
        ctl_table_row(&t, cells);
        free(policy);
    }
    ctl_table_print(&t);
}

const struct ctl_cmd ctl_cmd_history = {
    .name = "history",
    .synopsis = "every contact and decision for one customer, newest first",
    .help = "SYNOPSIS\n  contactgatectl history CUSTOMER|ADDRESS [--json]\n\n"
            "DESCRIPTION\n  Lists the recorded contacts (mail let through, other channels) and\n"
            "  the decisions (tag, defer, reject, hold, and accepts with a note such\n"
            "  as a refused category claim) for one customer. An address is mapped\n"
            "  to its customer through the customer map.\n\n"
            "  Columns: TIME; EVENT (contact, or a decision's verdict); DEPT;\n"
            "  CATEGORY; VIA (a contact's channel, or the stage a decision was\n"
            "  made at: rcpt, eom, admin); ADDRESS; POLICY (the deciding policy,\n"
            "  \"(monitor)\" when it only monitors); REASON (the reason given, else\n"
            "  the decision log's note, e.g. claimed category X not allowed for\n"
            "  department Y). \"-\": none.\n\n"
            "EXIT STATUS\n  0 ok, 1 usage or input error, 2 store error\n",
    .run = history_run,
};

const struct ctl_cmd ctl_cmd_decisions = {
    .name = "decisions",
    .synopsis = "the decision log, filtered by verdict, department, policy, time",
    .help = "SYNOPSIS\n  contactgatectl decisions [--verdict V] [--department D] [--policy P]\n"
            "                          [--customer C] [--queue-id Q] [--relay R]\n"
            "                          [--since TIME] [--until TIME] [--limit N] [--json]\n"
            "                          [--mta postfix|sendmail] [--postfix-config DIR]\n"
            "                          [--sendmail-config FILE] [--command-dir DIR]\n"
            "  contactgatectl decisions --lifecycle [--department D] [--policy P]\n"
            "                          [--customer C] [--queue-id Q] [--since TIME]\n"
            "                          [--until TIME] [--limit N] [--json]\n\n"
            "DESCRIPTION\n  Every non-accept decision (and every monitored violation) with\n"
            "  its reference, policy, reason, department, recipient, category,\n"
            "  message-id, queue ID and configuration version, newest first.\n"
            "  V is tag, defer, reject, hold, tempfail, or released and dropped\n"
            "  (what an admin did with a held message: contactgatectl held).\n"
            "  --relay R: the decisions of one relay (several share one database).\n\n"
            "  --lifecycle shows what became of each deferred message instead: its\n"
            "  enforced defer rows taken together (a retry keeps its envelope: the\n"
            "  deferrals of one sender to one recipient until the mail is let\n"
            "  through, refused or held are one message, linked at RCPT already),\n"
            "  with the first deferral, the number of deferred attempts, the last\n"
            "  attempt, and the outcome, decided from what ended the deferrals:\n"
            "    delivered later      an accept or tag decision let it through\n"
            "    rejected/held later  a reject or hold decision (e.g. max_defer\n"
            "                         expired); outcome_by names which, and\n"
            "                         after_hold what an admin did (released, dropped)\n"
            "    still deferred       nothing yet, and the retry-after given with the\n"
            "                         last attempt is in the future or passed less than\n"
            "                         1 hour ago: the sender may still retry\n"
            "    never retried        nothing, and that retry-after passed more than\n"
            "                         1 hour ago\n"
            "    untracked            a deferral at RCPT time recorded by a version\n"
            "                         before 3 (no Message-ID, no link to its retries)\n"
            "  Two different messages from one sender to one recipient deferred at\n"
            "  the same time are taken as one (the envelope is all a retry shares at\n"
            "  RCPT time).\n"
            "  --since and --until select by first deferral; --policy, --queue-id: any\n"
            "  attempt of the message. Newest first deferral first. A local\n"
            "  submission's retries have rows for attempts 1-10 and the powers of\n"
            "  two only; its attempts are counted from its episode, exactly.\n\n"
            "  --queue-id Q alone, when no decision has Q: the MTA is asked for the\n"
            "  message it still has under Q (postqueue -j, sendmail -bp; --mta,\n"
            "  --postfix-config, --sendmail-config, --command-dir as for held). A\n"
            "  sendmail(1) submission contactgate defers waits in Postfix's maildrop\n"
            "  (or Sendmail's submission queue, mailq -Ac) under an ID contactgate\n"
            "  never sees, each attempt under an ID of its own; what is shown is each\n"
            "  recipient's deferral episode (attempts, policy, retry-after, when\n"
            "  max_defer or local_submission.max_defer ends it), its rows, and the\n"
            "  command that removes the message.\n\n"
            "EXIT STATUS\n  0 ok, 1 usage or input error, 2 store error\n\n"
            "EXAMPLES\n  contactgatectl decisions --verdict hold --since -7d\n"
            "  contactgatectl decisions --lifecycle --department marketing --json\n"
            "  contactgatectl decisions --queue-id 3F2A41C07B1\n",
    .run = decisions_run,
};
CTL_REGISTER(ctl_cmd_history)
CTL_REGISTER(ctl_cmd_decisions)
