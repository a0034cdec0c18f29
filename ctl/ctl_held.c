/*
 * ctl_held.c - contactgatectl held list|release|drop: the messages that
 * contactgate held (verdict hold) in the MTA's hold queue (Postfix) or
 * quarantine (Sendmail), for compliance review. The MTA is behind
 * ctl_mta.h; this file decides what to list, which decision rows belong
 * to a held message, and records what became of it.
 *
 * A held message is contactgate's when its queue ID has enforced hold
 * decisions not older than its arrival (less the MTA's slack: Postfix
 * reuses queue IDs); those rows (one per recipient, one reference) say
 * who the customers are and under which department and category the
 * message was decided.
 *
 * Release and drop, in this order:
 *   1. the MTA acts (postsuper -H / sendmail -Q; postsuper -d / removing
 *      the quarantined files), through the root helper, with no store
 *      transaction open: the daemon goes on deciding mail meanwhile;
 *   2. only if the MTA did it: one short write transaction (BEGIN
 *      IMMEDIATE) with the outcome rows: for a release one contact per
 *      customer (cg_contact_from_decision, cg_store_contact_add, as the
 *      engine records one) and a "released" decision row per recipient;
 *      for a drop a "dropped" row per recipient and no contact;
 *   3. a release then asks the MTA to deliver now (postqueue -i /
 *      sendmail -qI), after the contact is recorded.
 * Failure orders:
 *   - the MTA fails or refuses (not root, no longer held, busy): nothing
 *     is written, so no contact is ever recorded for mail that stayed
 *     held; exit 1 with the MTA's words.
 *   - the MTA acted but the write fails (store busy past its timeout, disk
 *     full): the transaction is retried (RECORD_TRIES times, waiting 1, 2,
 *     4 s between); if it still fails, exit 2 with the error and, for a
 *     release, the `contactgatectl record` commands that record the
 *     contacts by hand. The message stays released (the MTA cannot take it
 *     back) and is still flushed.
 *   - a second run for the same message (two admins at once): only one MTA
 *     release succeeds on Postfix; on Sendmail both may see it done, so
 *     the write transaction checks again for an outcome row of the hold's
 *     reference and writes nothing if one is there: one contact per hold.
 *   - contactgatectl killed between 1 and 2: the message is out and nothing
 *     recorded; the hold row stays without outcome (decisions shows it).
 * Between 1 and 2 the message is released but not yet counted: a decision
 * for the same customer in those milliseconds does not see it. Delivering
 * only in step 3 keeps the message itself out until it counts (unless the
 * MTA's own queue run comes first).
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cg_contact.h"
#include "cg_store_held.h"
#include "cg_util.h"
#include "ctl.h"
#include "ctl_mta.h"

#define RECORD_TRIES 4 /* write attempts after the MTA acted */

static const char *const cmd = "held";

/* --- the hold decisions of one message --------------------------------------- */

struct hrows {
    struct cg_decision_row *v; /* copies: every string owned */
    size_t n;
};

static int hrow_cb(const struct cg_decision_row *d, void *arg)
{
    struct hrows *h = arg;
    h->v = cg_xrealloc(h->v, (h->n + 1) * sizeof *h->v);
    struct cg_decision_row *r = &h->v[h->n++];
    *r = *d;
    const char **s[] = {&r->ref, &r->stage, &r->verdict, &r->policy, &r->reason, &r->detail,
                        &r->department, &r->sender, &r->recipient, &r->customer, &r->category,
                        &r->message_id, &r->queue_id, &r->config_version};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        *s[i] = cg_xstrdup(*s[i]);
    return 0;
}

static void hrows_free(struct hrows *h)
{
    for (size_t i = 0; i < h->n; i++) {
        struct cg_decision_row *r = &h->v[i];
        const char *s[] = {r->ref, r->stage, r->verdict, r->policy, r->reason, r->detail,
                           r->department, r->sender, r->recipient, r->customer, r->category,
                           r->message_id, r->queue_id, r->config_version};
        for (size_t k = 0; k < sizeof s / sizeof s[0]; k++)
            free((char *)s[k]);
    }
    free(h->v);
    h->v = NULL;
    h->n = 0;
}

/* load_rows - the hold rows of held message `msg`; -1 store error */
static int load_rows(cg_store *st, const struct ctl_mta_msg *msg, struct hrows *h)
{
    return cg_held_rows(st, msg->queue_id, msg->rows_since > 0 ? msg->rows_since : 0, hrow_cb,
                        h);
}

/* first_of_customer - row i is the first row of its customer */
static int first_of_customer(const struct hrows *h, size_t i)
{
    if (!h->v[i].customer)
        return 0;
    for (size_t k = 0; k < i; k++)
        if (h->v[k].customer && !strcmp(h->v[k].customer, h->v[i].customer))
            return 0;
    return 1;
}

/* full_rcpt - an MTA's recipient, completed from the decision rows where
 * the MTA's listing cut it (Sendmail's) */
static const char *full_rcpt(const struct hrows *h, const char *a)
{
    const char *only = NULL;
    size_t n = strlen(a), hits = 0;
    for (size_t i = 0; i < h->n; i++) {
        const char *r = h->v[i].recipient;
        if (!r)
            continue;
        if (!strcasecmp(r, a))
            return a;
        if (n >= 20 && !strncasecmp(r, a, n) && (!only || strcmp(only, r)))
            only = r, hits++;
    }
    return hits == 1 ? only : a;
}

/* --- held list ------------------------------------------------------------------ */

/* list_entry - one held message of contactgate's as JSON */
static json_t *list_entry(const struct ctl_mta *m, const struct ctl_mta_msg *e,
                          const struct hrows *h)
{
    char when[32];
    json_t *o = json_object(), *rcpts = json_array(), *custs = json_array();
    for (size_t k = 0; k < e->n_rcpts; k++)
        json_array_append_new(rcpts, json_string(full_rcpt(h, e->rcpts[k])));
    if (e->n_rcpts == 0) /* the MTA listed none: the decision rows' */
        for (size_t k = 0; k < h->n; k++)
            if (h->v[k].recipient)
                json_array_append_new(rcpts, json_string(h->v[k].recipient));
    for (size_t k = 0; k < h->n; k++)
        if (first_of_customer(h, k))
            json_array_append_new(custs, json_string(h->v[k].customer));
    const struct cg_decision_row *d = &h->v[0];
    json_object_set_new(o, "queue_id", json_string(e->queue_id));
    json_object_set_new(o, "mta", json_string(m->ops->name));
    json_object_set_new(o, "arrival", e->arrival ? json_string(cg_format_time(e->arrival, when,
                                                                             sizeof when))
                                                 : json_null());
    json_object_set_new(o, "arrival_ts", json_integer(e->arrival));
    json_object_set_new(o, "sender", ctl_jstr(e->sender ? e->sender : d->sender));
    json_object_set_new(o, "recipients", rcpts);
    json_object_set_new(o, "customers", custs);
    json_object_set_new(o, "department", ctl_jstr(d->department));
    json_object_set_new(o, "category", ctl_jstr(d->category));
    json_object_set_new(o, "policy", ctl_jstr(d->policy));
    json_object_set_new(o, "reason", ctl_jstr(d->reason));
    json_object_set_new(o, "ref", ctl_jstr(d->ref));
    json_object_set_new(o, "message_id", ctl_jstr(d->message_id));
    json_object_set_new(o, "size", json_integer(e->size));
    json_object_set_new(o, "hold_reason", ctl_jstr(e->hold_reason));
    return o;
}

/* list_print - the text table; the MTA's own hold reason on a line below */
static void list_print(json_t *out)
{
    size_t i;
    json_t *e;
    if (json_array_size(out))
        printf("%-14s %-20s %-26s %-26s %-12s %-28s %-18s %s\n", "QUEUE ID", "ARRIVAL", "SENDER",
               "RECIPIENTS", "DEPT", "POLICY", "REF", "REASON");
    json_array_foreach(out, i, e)
    {
        struct cg_buf r = {0};
        size_t k;
        json_t *a;
        json_array_foreach(json_object_get(e, "recipients"), k, a)
            cg_buf_printf(&r, "%s%s", k ? "," : "", json_string_value(a));
#define S(k) (json_string_value(json_object_get(e, k)) ? json_string_value(json_object_get(e, k)) : "-")
        printf("%-14s %-20s %-26s %-26s %-12s %-28s %-18s %s\n", S("queue_id"), S("arrival"),
               S("sender"), r.s ? r.s : "-", S("department"), S("policy"), S("ref"), S("reason"));
        if (json_string_value(json_object_get(e, "hold_reason")))
            printf("%14s QUARANTINE: %s\n", "", S("hold_reason"));
#undef S
        cg_buf_free(&r);
    }
}

static int held_list(struct ctl *c, struct ctl_mta *m)
{
    struct ctl_mta_queue q;
    struct cg_buf err = {0};
    if (ctl_mta_list(m, &q, &err) < 0) {
        int rc = ctl_err(CTL_USAGE, cmd, "%s", err.s ? err.s : "cannot list the queue");
        cg_buf_free(&err);
        return rc;
    }
    cg_store *st = ctl_store(c);
    if (!st) {
        ctl_mta_queue_free(&q);
        return CTL_STORE;
    }
    int rc = CTL_OK;
    json_t *out = json_array();
    size_t others = 0;
    for (size_t i = 0; i < q.n && rc == CTL_OK; i++) {
        struct hrows h = {0};
        if (load_rows(st, &q.v[i], &h) < 0)
            rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
        else if (h.n == 0)
            others++;
        else
            json_array_append_new(out, list_entry(m, &q.v[i], &h));
        hrows_free(&h);
    }
    ctl_mta_queue_free(&q);
    if (rc != CTL_OK) {
        json_decref(out);
        return rc;
    }
    if (c->json) {
        ctl_json_print(out);
        return rc;
    }
    list_print(out);
    if (!json_array_size(out))
        printf("no messages held by contactgate\n");
    if (others)
        printf("(%zu other message%s in the %s %s not held by contactgate)\n", others,
               others == 1 ? "" : "s", m->ops->queue_name, others == 1 ? "was" : "were");
    json_decref(out);
    return rc;
}

/* --- held release / drop ------------------------------------------------------- */

/* admin_name - who: $SUDO_USER, $USER, or the uid */
static void admin_name(char *buf, size_t len)
{
    const char *n = getenv("SUDO_USER");
    if (!n || !*n)
        n = getenv("USER");
    if (n && *n && strlen(n) < 64) {
        snprintf(buf, len, "%s", n);
        return;
    }
    struct passwd *pw = getpwuid(getuid());
    if (pw && pw->pw_name)
        snprintf(buf, len, "%s", pw->pw_name);
    else
        snprintf(buf, len, "uid %ld", (long)getuid());
}

/* What one release or drop wrote. */
struct outcome {
    size_t contacts;        /* contacts recorded */
    const char *earlier;    /* an outcome recorded before ("released",
                             * "dropped"): nothing written this time */
};

/* write_outcome - the rows of a release or drop the MTA has done, in one
 * transaction; -1 store error (rolled back) */
static int write_outcome(struct ctl *c, cg_store *st, const struct hrows *h, int release,
                         const char *reason, const char *detail, struct outcome *o)
{
    memset(o, 0, sizeof *o);
    const struct cg_decision_row *first = &h->v[0];
    if (cg_store_begin(st, 1) < 0)
        return -1;
    int had = cg_held_outcome(st, first->queue_id, first->ref, &o->earlier);
    if (had != 0) {
        cg_store_rollback(st);
        return had < 0 ? -1 : 0;
    }
    o->earlier = NULL;
    for (size_t i = 0; i < h->n; i++) {
        const struct cg_decision_row *r = &h->v[i];
        if (release && first_of_customer(h, i)) {
            struct cg_contact_row ct;
            cg_contact_from_decision(&ct, c->now, r);
            if (cg_store_contact_add(st, &ct) < 0)
                goto fail;
            o->contacts++;
        }
        struct cg_decision_row d = *r;
        d.id = 0;
        d.ts = c->now;
        d.stage = "admin";
        d.verdict = release ? "released" : "dropped";
        d.reason = reason;
        d.detail = detail;
        d.retry_after = 0;
        d.monitor = 0;
        if (cg_store_decision_add(st, &d) < 0)
            goto fail;
    }
    if (cg_store_commit(st) == 0)
        return 0;
fail:
    cg_store_rollback(st);
    o->contacts = 0;
    return -1;
}

/* record_outcome - write_outcome, tried again while the store fails */
static int record_outcome(struct ctl *c, cg_store *st, const struct hrows *h, int release,
                          const char *reason, const char *detail, struct outcome *o)
{
    for (int t = 0; t < RECORD_TRIES; t++) {
        if (t > 0) {
            fprintf(stderr, "contactgatectl: held: %s: %s; trying again in %d s\n",
                    h->v[0].queue_id, cg_store_errmsg(st), 1 << (t - 1));
            sleep(1u << (t - 1));
        }
        if (write_outcome(c, st, h, release, reason, detail, o) == 0)
            return 0;
    }
    return -1;
}

/* by_hand - after a release whose record failed: how to record it */
static void by_hand(struct ctl *c, const struct hrows *h)
{
    char when[32];
    cg_format_time(c->now, when, sizeof when);
    fprintf(stderr, "contactgatectl: held: record the contact%s by hand:\n",
            h->n > 1 ? "s" : "");
    for (size_t i = 0; i < h->n; i++)
        if (first_of_customer(h, i))
            fprintf(stderr, "  contactgatectl record '%s' --department '%s' --category '%s' "
                    "--channel email --time %s\n", h->v[i].customer,
                    h->v[i].department ? h->v[i].department : "-",
                    h->v[i].category ? h->v[i].category : "-", when);
}

/* mta_failed - the exit status and message for an MTA that did not act */
static int mta_failed(const struct ctl_mta *m, enum ctl_mta_rc r, const char *qid, int release,
                      const char *text)
{
    const char *what = m->ops->command(release ? CTL_MTA_RELEASE : CTL_MTA_DROP);
    const char *sub = release ? "release" : "drop", *sep = *text ? ": " : "";
    switch (r) {
    case CTL_MTA_DENIED:
        return ctl_err(CTL_USAGE, cmd, "%s %s (%s): permission denied: must run as root (sudo "
                       "contactgatectl held ...)%s%s", sub, qid, what, sep, text);
    case CTL_MTA_GONE:
        return ctl_err(CTL_USAGE, cmd, "%s %s (%s): the message was not %s (no longer in the "
                       "%s?)%s%s", sub, qid, what, release ? "released" : "deleted",
                       m->ops->queue_name, sep, text);
    case CTL_MTA_BUSY:
        return ctl_err(CTL_USAGE, cmd, "%s %s (%s): busy, try again%s%s", sub, qid, what, sep,
                       text);
    default:
        return ctl_err(CTL_USAGE, cmd, "%s %s (%s) failed%s%s", sub, qid, what, sep, text);
    }
}

/* act_one - release or drop one held message; the result goes to `res` */
static int act_one(struct ctl *c, struct ctl_mta *m, cg_store *st, const struct ctl_mta_msg *e,
                   int release, const char *admin, const char *why, json_t *res)
{
    const char *qid = e->queue_id;
    struct hrows h = {0};
    if (load_rows(st, e, &h) < 0)
        return hrows_free(&h), ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
    if (h.n == 0)
        return ctl_err(CTL_USAGE, cmd, "%s is in the %s but was not held by contactgate (no "
                       "hold decision for it); use the MTA's own commands for it", qid,
                       m->ops->queue_name);
    char reason[700];
    if (release)
        snprintf(reason, sizeof reason, "released by %s", admin);
    else
        snprintf(reason, sizeof reason, "dropped by %s%s%s", admin, why ? ": " : "",
                 why ? why : "");
    /* 1. the MTA, with no transaction open */
    struct cg_buf text = {0};
    enum ctl_mta_rc r = ctl_mta_act(m, release ? CTL_MTA_RELEASE : CTL_MTA_DROP, qid, &text);
    char *said = ctl_mta_oneline(text.s);
    cg_buf_free(&text);
    if (r != CTL_MTA_DONE) {
        int rc = mta_failed(m, r, qid, release, said);
        free(said);
        hrows_free(&h);
        return rc;
    }
    free(said);
    /* 2. its record, in a short transaction of its own */
    int rc = CTL_OK;
    struct outcome o;
    const char *detail = m->ops->command(release ? CTL_MTA_RELEASE : CTL_MTA_DROP);
    if (record_outcome(c, st, &h, release, reason, detail, &o) < 0) {
        rc = ctl_err(CTL_STORE, cmd, "%s was %s by %s but the record of it could not be written "
                     "(%d tries): %s", qid, release ? "released" : "deleted", m->ops->name,
                     RECORD_TRIES, cg_store_errmsg(st));
        if (release)
            by_hand(c, &h);
    }
    /* 3. deliver now rather than at the MTA's next queue run */
    if (release) {
        r = ctl_mta_act(m, CTL_MTA_FLUSH, qid, &text);
        if (r != CTL_MTA_DONE) {
            said = ctl_mta_oneline(text.s);
            fprintf(stderr, "contactgatectl: held: warning: %s %s: %s (the message is released "
                    "and goes out at the next queue run)\n", m->ops->command(CTL_MTA_FLUSH), qid,
                    *said ? said : "failed");
            free(said);
        }
        cg_buf_free(&text);
    }
    if (rc != CTL_OK) {
        hrows_free(&h);
        return rc;
    }
    const struct cg_decision_row *d = &h.v[0];
    json_t *j = json_object();
    json_object_set_new(j, "queue_id", json_string(qid));
    json_object_set_new(j, "mta", json_string(m->ops->name));
    json_object_set_new(j, "ref", ctl_jstr(d->ref));
    json_object_set_new(j, "result", json_string(release ? "released" : "dropped"));
    json_object_set_new(j, "policy", ctl_jstr(d->policy));
    json_object_set_new(j, "reason", json_string(reason));
    json_object_set_new(j, "contacts_recorded", json_integer((json_int_t)o.contacts));
    json_object_set_new(j, "recorded_before", ctl_jstr(o.earlier));
    json_array_append_new(res, j);
    if (!c->json) {
        if (release)
            printf("released %s (ref %s, %s): %zu contact%s recorded%s\n", qid, d->ref,
                   d->policy ? d->policy : "-", o.contacts, o.contacts == 1 ? "" : "s",
                   o.earlier ? " (its outcome was recorded before)" : "");
        else
            printf("dropped %s (ref %s, %s)%s\n", qid, d->ref, d->policy ? d->policy : "-",
                   o.earlier ? " (its outcome was recorded before)" : "");
    }
    hrows_free(&h);
    return rc;
}

/* targets - the held messages named (all: every one); exit status */
static int targets(const struct ctl_mta *m, const struct ctl_mta_queue *q, int all, char **ids,
                   int n_ids, const struct ctl_mta_msg ***t_r, size_t *n_r)
{
    int rc = CTL_OK;
    *t_r = cg_xcalloc(all ? q->n + 1 : (size_t)n_ids + 1, sizeof **t_r);
    *n_r = 0;
    for (size_t i = 0; all && i < q->n; i++)
        (*t_r)[(*n_r)++] = &q->v[i];
    for (int i = 0; i < n_ids; i++) {
        const struct ctl_mta_msg *e = ctl_mta_find(q, ids[i]);
        if (e)
            (*t_r)[(*n_r)++] = e;
        else
            rc = ctl_err(CTL_USAGE, cmd, "%s is not in the %s of %s", ids[i], m->ops->queue_name,
                         m->config);
    }
    return rc;
}

static int held_act(struct ctl *c, struct ctl_mta *m, int release, int all, char **ids,
                    int n_ids, const char *why)
{
    const char *sub = release ? "release" : "drop";
    if (all == (n_ids > 0))
        return ctl_err(CTL_USAGE, cmd, "usage: held %s QUEUEID...|--all%s", sub,
                       release ? "" : " [--reason TEXT]");
    for (int i = 0; i < n_ids; i++)
        if (!ctl_mta_qid_ok(ids[i]))
            return ctl_err(CTL_USAGE, cmd, "\"%s\" is not a queue ID (letters and digits only)",
                           ids[i]);
    if (why && strlen(why) > 500)
        return ctl_err(CTL_USAGE, cmd, "--reason is longer than 500 characters");
    if (geteuid() != 0)
        return ctl_err(CTL_USAGE, cmd, "%s needs root: changing the %s's %s is for the "
                       "superuser (try sudo)", sub, m->ops->name, m->ops->queue_name);
    char admin[80];
    admin_name(admin, sizeof admin);
    struct ctl_mta_queue q;
    struct cg_buf err = {0};
    if (ctl_mta_list(m, &q, &err) < 0) {
        int rc = ctl_err(CTL_USAGE, cmd, "%s", err.s ? err.s : "cannot list the queue");
        cg_buf_free(&err);
        return rc;
    }
    const struct ctl_mta_msg **t;
    size_t n_t;
    int rc = targets(m, &q, all, ids, n_ids, &t, &n_t);
    if (rc == CTL_OK && n_t && ctl_mta_helper_start(m, &err) < 0)
        rc = ctl_err(CTL_USAGE, cmd, "cannot start the privileged helper: %s", err.s);
    cg_buf_free(&err);
    cg_store *st = rc == CTL_OK ? ctl_store(c) : NULL;
    if (rc == CTL_OK && !st)
        rc = CTL_STORE;
    json_t *res = json_array();
    size_t skipped = 0;
    for (size_t i = 0; i < n_t && rc != CTL_STORE && st; i++) {
        if (all) {
            struct hrows h = {0};
            int lr = load_rows(st, t[i], &h);
            size_t n = h.n;
            hrows_free(&h);
            if (lr < 0) {
                rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
                break;
            }
            if (n == 0) {
                skipped++;
                continue;
            }
        }
        int r = act_one(c, m, st, t[i], release, admin, why, res);
        if (r > rc)
            rc = r;
    }
    free(t);
    ctl_mta_queue_free(&q);
    if (c->json && st) {
        ctl_json_print(res);
        return rc;
    }
    if (all && json_array_size(res) == 0 && rc == CTL_OK)
        printf("no messages held by contactgate\n");
    if (skipped)
        printf("(%zu other message%s in the %s left alone: not held by contactgate)\n", skipped,
               skipped == 1 ? "" : "s", m->ops->queue_name);
    json_decref(res);
    return rc;
}

static int held_run(struct ctl *c, int argc, char **argv)
{
    if (argc < 1)
        return ctl_err(CTL_USAGE, cmd, "needs list, release or drop (see --help)");
    const char *sub = argv[0], *why = NULL;
    struct ctl_mta_opts mo = {0};
    int all = 0, n_ids = 0;
    char **ids = cg_xcalloc((size_t)argc, sizeof *ids);
    const struct ctl_opt opts[] = {
        {"--mta", &mo.mta, NULL},
        {"--postfix-config", &mo.postfix_config, NULL},
        {"--sendmail-config", &mo.sendmail_config, NULL},
        {"--command-dir", &mo.command_dir, NULL},
        {"--all", NULL, &all},
        {strcmp(sub, "drop") ? NULL : "--reason", &why, NULL}, /* drop only; stays last */
        {NULL, NULL, NULL},
    };
    int rc = ctl_args(cmd, argc - 1, argv + 1, opts, ids, argc, &n_ids);
    struct ctl_mta *m = NULL;
    if (rc == CTL_OK && strcmp(sub, "list") && strcmp(sub, "release") && strcmp(sub, "drop"))
        rc = ctl_err(CTL_USAGE, cmd, "unknown subcommand \"%s\" (list, release, drop)", sub);
    if (rc == CTL_OK && !strcmp(sub, "list") && (n_ids || all))
        rc = ctl_err(CTL_USAGE, cmd, "usage: held list [--mta postfix|sendmail] "
                     "[--postfix-config DIR|--sendmail-config FILE] [--json]");
    if (rc == CTL_OK) {
        struct cg_buf err = {0};
        m = ctl_mta_open(&mo, &err);
        if (!m)
            rc = ctl_err(CTL_USAGE, cmd, "%s", err.s ? err.s : "no MTA");
        cg_buf_free(&err);
    }
    if (rc == CTL_OK && !strcmp(sub, "list"))
        rc = held_list(c, m);
    else if (rc == CTL_OK)
        rc = held_act(c, m, sub[0] == 'r', all, ids, n_ids, why);
    ctl_mta_free(&m);
    free(ids);
    return rc;
}

const struct ctl_cmd ctl_cmd_held = {
    .name = "held",
    .synopsis = "list, release or drop the messages contactgate held (Postfix, Sendmail)",
    .help =
        "NAME\n"
        "  contactgatectl held - list, release or drop the messages contactgate held\n\n"
        "SYNOPSIS\n"
        "  contactgatectl held list [MTA] [--json]\n"
        "  contactgatectl held release QUEUEID...|--all [MTA] [--json]\n"
        "  contactgatectl held drop QUEUEID...|--all [--reason TEXT] [MTA] [--json]\n"
        "  MTA: [--mta postfix|sendmail] [--postfix-config DIR | --sendmail-config FILE]\n"
        "       [--command-dir DIR]\n\n"
        "DESCRIPTION\n"
        "  A message whose verdict is hold is accepted into the MTA's hold queue\n"
        "  (Postfix) or quarantine (Sendmail) for compliance review. These\n"
        "  commands work on the messages contactgate held: a held message whose\n"
        "  queue ID has a hold decision in the decision log (recorded at or after\n"
        "  its arrival, as Postfix reuses queue IDs). Others are left alone.\n\n"
        "  list shows each one: queue ID, arrival, sender, recipients, department,\n"
        "  policy, reference and reason from the decision log, and on Sendmail the\n"
        "  quarantine reason the MTA keeps (QUARANTINE: contactgate ref=... policy=...;\n"
        "  Postfix keeps none for a milter hold).\n"
        "  Postfix: postqueue -c DIR -j. Sendmail: sendmail -C FILE -bp -qQ -v.\n\n"
        "  release takes the message out of hold, then records it, then has it\n"
        "  delivered now: Postfix postsuper -c DIR -H QUEUEID, postqueue -c DIR -i\n"
        "  QUEUEID; Sendmail sendmail -C FILE -qIQUEUEID -qQREASON -Q (an empty -Q\n"
        "  removes the quarantine), sendmail -C FILE -qIQUEUEID. What it records,\n"
        "  only once the MTA released the message, in one short transaction: one\n"
        "  contact per customer of the message (department and category of the\n"
        "  hold decision, channel email, time now, Message-ID, queue ID), so caps\n"
        "  and reports count it like mail let through at once; and one decision\n"
        "  row per recipient with verdict \"released\", stage \"admin\", the hold's\n"
        "  reference and reason \"released by ADMIN\" (ADMIN is $SUDO_USER, else\n"
        "  $USER, else the user of the uid). A message whose outcome was recorded\n"
        "  before gets no second contact.\n\n"
        "  drop deletes the message, never delivered: Postfix postsuper -c DIR -d\n"
        "  QUEUEID hold; Sendmail has no command for it, so its quarantined queue\n"
        "  files (hfQUEUEID, dfQUEUEID, xfQUEUEID) are removed under Sendmail's\n"
        "  lock. Then \"dropped\" decision rows are written, with reason\n"
        "  \"dropped by ADMIN[: TEXT]\". No contact is recorded.\n\n"
        "  If the MTA fails, nothing is recorded. If the record fails after the\n"
        "  MTA acted, it is tried 4 times (1, 2 and 4 s apart, each waiting for\n"
        "  the store's lock), then the command exits 2 and prints the\n"
        "  `contactgatectl record` commands for the contacts.\n\n"
        "  Which MTA: --mta; else --postfix-config or --sendmail-config; else\n"
        "  $MAIL_CONFIG means Postfix; else Postfix when postqueue and\n"
        "  /etc/postfix/main.cf exist, else Sendmail when /etc/mail/sendmail.cf\n"
        "  exists. DIR defaults to $MAIL_CONFIG, else /etc/postfix; FILE to\n"
        "  /etc/mail/sendmail.cf. The MTA's programs are taken from --command-dir,\n"
        "  else /usr/sbin and the other usual places, and run directly (no shell)\n"
        "  with a minimal environment; a QUEUEID is letters and digits only.\n"
        "  release and drop need root.\n\n"
        "EXIT STATUS\n"
        "  0 ok; 1 usage error, a QUEUEID that is not held or was not held by\n"
        "  contactgate, not root, or a failing MTA command (its message is shown);\n"
        "  2 store error\n\n"
        "EXAMPLES\n"
        "  contactgatectl held list\n"
        "  sudo contactgatectl held release 4XbQ2V1kz3\n"
        "  sudo contactgatectl held drop 4XbQ2V1kz3 --reason \"customer deceased, "
        "letter sent\"\n"
        "  sudo contactgatectl held release --all --postfix-config /etc/postfix-out\n"
        "  sudo contactgatectl held release 6AUF6LY3008130 --mta sendmail\n",
    .run = held_run,
};
CTL_REGISTER(ctl_cmd_held)
