/*
 * ctl_simulate.c - contactgatectl simulate: replay the recorded traffic
 * under a proposed policy set and show what would have changed, per
 * department and per policy, before the strategy goes live.
 *
 * The replay runs the real engine and plugins against an in-memory copy of
 * the customer map, states, opt-outs and the contact history before the
 * range; each recorded message (its first attempt) is decided again at
 * its original time, and what the proposed policies let through is
 * recorded in the copy, so caps and spacing see the proposed world, not
 * the recorded one. Nothing is written to the real database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_contact.h"
#include "cg_engine.h"
#include "cg_store_sim.h"
#include "cg_util.h"
#include "ctl.h"
#include "ctl_progress.h"

enum { O_SENT, O_DEFER, O_REJECT, O_HOLD, O_TEMPFAIL, N_OUT };
static const char *const out_names[N_OUT] = {"sent", "deferred", "rejected", "held",
                                             "tempfail"};

#define SAMPLE 5

struct dept {
    char *name;
    long cur[N_OUT], sim[N_OUT];
};

struct change {
    long n;
    struct {
        char *name;
        long n;
    } pol[16];
    size_t n_pol;
    char *customers[SAMPLE];
    size_t n_cust;
};

struct sim {
    struct ctl *c;
    const struct cg_config *cfg;
    cg_store *st;
    struct dept *depts;
    size_t n_depts;
    struct change chg[N_OUT][N_OUT];
    long messages, other_channels, errors;
    struct ctl_progress *progress; /* the replay's, on a terminal */
    int64_t since, until;
};

/* outcome_index - a recorded outcome */
static int outcome_index(const char *o)
{
    for (int i = 0; i < N_OUT; i++)
        if (strcmp(o, out_names[i]) == 0)
            return i;
    if (strcmp(o, "defer") == 0)
        return O_DEFER;
    if (strcmp(o, "reject") == 0)
        return O_REJECT;
    if (strcmp(o, "hold") == 0)
        return O_HOLD;
    return O_TEMPFAIL;
}

/* verdict_index - a simulated decision */
static int verdict_index(const struct cg_decision *d)
{
    if (d->error && d->verdict == CG_ACT_DEFER)
        return O_TEMPFAIL;
    switch (d->verdict) {
    case CG_ACT_DEFER:
        return O_DEFER;
    case CG_ACT_REJECT:
        return O_REJECT;
    case CG_ACT_HOLD:
        return O_HOLD;
    default:
        return O_SENT;
    }
}

static struct dept *dept_of(struct sim *s, const char *name)
{
    for (size_t i = 0; i < s->n_depts; i++)
        if (strcmp(s->depts[i].name, name) == 0)
            return &s->depts[i];
    s->depts = cg_xrealloc(s->depts, (s->n_depts + 1) * sizeof *s->depts);
    struct dept *d = &s->depts[s->n_depts++];
    memset(d, 0, sizeof *d);
    d->name = cg_xstrdup(name);
    return d;
}

/* note_change - count a changed outcome, by the deciding proposed policy */
static void note_change(struct change *ch, const char *policy, const char *customer)
{
    ch->n++;
    size_t i;
    for (i = 0; i < ch->n_pol; i++)
        if (strcmp(ch->pol[i].name, policy) == 0)
            break;
    if (i == ch->n_pol && i < sizeof ch->pol / sizeof ch->pol[0]) {
        ch->pol[i].name = cg_xstrdup(policy);
        ch->pol[i].n = 0;
        ch->n_pol++;
    }
    if (i < ch->n_pol)
        ch->pol[i].n++;
    for (size_t k = 0; k < ch->n_cust; k++)
        if (strcmp(ch->customers[k], customer) == 0)
            return;
    if (ch->n_cust < SAMPLE)
        ch->customers[ch->n_cust++] = cg_xstrdup(customer);
}

/* replay_one - decide one recorded message again */
static int replay_one(const struct cg_sim_event *e, void *arg)
{
    struct sim *s = arg;
    ctl_progress_part(s->progress, s->messages + s->other_channels + 1,
                      (double)(e->ts - s->since) / (double)(s->until - s->since));
    if (strcmp(e->channel, "email") != 0) {
        /* another channel's contact is history, not a message to decide */
        struct cg_contact_row row;
        cg_contact_other(&row, e->ts, e->customer, e->address, e->department, e->category,
                         e->channel, 1.0);
        cg_store_contact_add(s->st, &row);
        s->other_channels++;
        return 0;
    }
    struct cg_msg m;
    cg_msg_init(&m);
    m.now = e->ts;
    m.quiet = 1;
    m.sender = cg_xstrdup(e->sender ? e->sender : "");
    cg_msg_set(&m.queue_id, "SIMULATE");
    cg_msg_set(&m.force_department, e->department);
    cg_msg_set(&m.force_category, e->category);
    if (e->digest)
        cg_msg_set(&m.force_digest, e->digest);
    if (e->message_id)
        cg_msg_set(&m.message_id, e->message_id);
    struct cg_rcpt *r = cg_msg_add_rcpt(&m, e->address ? e->address : e->customer);
    struct cg_decision d;
    int rc = cg_engine_rcpt(s->cfg, s->st, &m, r, &d);
    if (rc == 0 && d.verdict < CG_ACT_DEFER) {
        cg_store_begin(s->st, 1);
        rc = cg_engine_eom(s->cfg, s->st, &m, 1, &d);
        if (rc == 0)
            cg_store_commit(s->st);
        else
            cg_store_rollback(s->st);
    }
    if (rc < 0) {
        s->errors++;
        cg_msg_clear(&m);
        return 0;
    }
    int cur = outcome_index(e->outcome), sim = verdict_index(&d);
    struct dept *dp = dept_of(s, e->department);
    dp->cur[cur]++;
    dp->sim[sim]++;
    s->messages++;
    if (cur != sim)
        note_change(&s->chg[cur][sim], d.policy ? d.policy->name : "(no policy)", e->customer);
    cg_msg_clear(&m);
    return 0;
}

/* print_text - the comparison tables */
static void print_text(const struct sim *s, const char *file, int64_t since, int64_t until)
{
    char a[32], b[32];
    cg_format_time(since, a, sizeof a);
    cg_format_time(until, b, sizeof b);
    printf("simulation of %s over %s .. %s\n", file, a, b);
    printf("%ld messages replayed (first attempts), %ld contacts from other channels kept as "
           "history%s\n\n", s->messages, s->other_channels,
           s->errors ? "; some could not be decided (see below)" : "");
    printf("%-16s %-9s %8s %8s %8s %8s %8s\n", "DEPARTMENT", "", "sent", "deferred", "rejected",
           "held", "tempfail");
    for (size_t i = 0; i < s->n_depts; i++) {
        const struct dept *d = &s->depts[i];
        printf("%-16s %-9s", d->name, "current");
        for (int k = 0; k < N_OUT; k++)
            printf(" %8ld", d->cur[k]);
        printf("\n%-16s %-9s", "", "proposed");
        for (int k = 0; k < N_OUT; k++)
            printf(" %8ld", d->sim[k]);
        printf("\n%-16s %-9s", "", "change");
        for (int k = 0; k < N_OUT; k++)
            printf(" %+8ld", d->sim[k] - d->cur[k]);
        putchar('\n');
    }
    printf("\nwhat changes (current -> proposed), by the proposed policy that decided:\n");
    int any = 0;
    for (int f = 0; f < N_OUT; f++)
        for (int t = 0; t < N_OUT; t++) {
            const struct change *ch = &s->chg[f][t];
            if (!ch->n)
                continue;
            any = 1;
            printf("  %-8s -> %-8s %6ld  ", out_names[f], out_names[t], ch->n);
            for (size_t i = 0; i < ch->n_pol; i++)
                printf("%s%s: %ld", i ? ", " : "", ch->pol[i].name, ch->pol[i].n);
            printf("\n%31scustomers: ", "");
            for (size_t i = 0; i < ch->n_cust; i++)
                printf("%s%s", i ? ", " : "", ch->customers[i]);
            printf("%s\n", ch->n > (long)ch->n_cust ? ", ..." : "");
        }
    if (!any)
        printf("  nothing: the proposed policies decide every message as the current ones did\n");
    if (s->errors)
        printf("\n%ld messages could not be decided (store error); see the log\n", s->errors);
    printf("\nNote: deferred messages are not retried in the simulation, and a message's\n"
           "later attempts are not replayed; \"current\" is each message's final outcome.\n");
}

/* print_json - the same as one document */
static void print_json(const struct sim *s, int64_t since, int64_t until)
{
    char a[32], b[32];
    cg_format_time(since, a, sizeof a);
    cg_format_time(until, b, sizeof b);
    json_t *o = json_object();
    json_object_set_new(o, "since", json_string(a));
    json_object_set_new(o, "until", json_string(b));
    json_object_set_new(o, "messages", json_integer(s->messages));
    json_object_set_new(o, "other_channel_contacts", json_integer(s->other_channels));
    json_object_set_new(o, "errors", json_integer(s->errors));
    json_t *deps = json_array();
    for (size_t i = 0; i < s->n_depts; i++) {
        json_t *d = json_object(), *cur = json_object(), *sim = json_object();
        for (int k = 0; k < N_OUT; k++) {
            json_object_set_new(cur, out_names[k], json_integer(s->depts[i].cur[k]));
            json_object_set_new(sim, out_names[k], json_integer(s->depts[i].sim[k]));
        }
        json_object_set_new(d, "department", json_string(s->depts[i].name));
        json_object_set_new(d, "current", cur);
        json_object_set_new(d, "proposed", sim);
        json_array_append_new(deps, d);
    }
    json_object_set_new(o, "departments", deps);
    json_t *chg = json_array();
    for (int f = 0; f < N_OUT; f++)
        for (int t = 0; t < N_OUT; t++) {
            const struct change *ch = &s->chg[f][t];
            if (!ch->n)
                continue;
            json_t *c = json_object(), *pol = json_object(), *cust = json_array();
            for (size_t i = 0; i < ch->n_pol; i++)
                json_object_set_new(pol, ch->pol[i].name, json_integer(ch->pol[i].n));
            for (size_t i = 0; i < ch->n_cust; i++)
                json_array_append_new(cust, json_string(ch->customers[i]));
            json_object_set_new(c, "from", json_string(out_names[f]));
            json_object_set_new(c, "to", json_string(out_names[t]));
            json_object_set_new(c, "messages", json_integer(ch->n));
            json_object_set_new(c, "policies", pol);
            json_object_set_new(c, "customers_sample", cust);
            json_array_append_new(chg, c);
        }
    json_object_set_new(o, "changes", chg);
    ctl_json_print(o);
}

static int simulate_run(struct ctl *c, int argc, char **argv)
{
    const char *cmd = "simulate";
    const char *file = NULL, *since_s = NULL, *until_s = NULL, *history_s = NULL;
    int64_t since = c->now - 30 * 86400, until = c->now, history = 90 * 86400;
    const struct ctl_opt opts[] = {
        {"--policies", &file, NULL},    {"--since", &since_s, NULL},
        {"--until", &until_s, NULL},    {"--history", &history_s, NULL},
        {NULL, NULL, NULL},
    };
    if (ctl_args(cmd, argc, argv, opts, NULL, 0, NULL) != CTL_OK ||
        (since_s && ctl_since_arg(c, cmd, "--since", since_s, &since) != CTL_OK) ||
        (until_s && ctl_since_arg(c, cmd, "--until", until_s, &until) != CTL_OK) ||
        (history_s && ctl_duration_arg(cmd, "--history", history_s, 0, &history) != CTL_OK))
        return CTL_USAGE;
    if (!file)
        return ctl_err(CTL_USAGE, cmd, "needs --policies FILE (the proposed configuration)");
    if (since >= until)
        return ctl_err(CTL_USAGE, cmd, "--since must be before --until");
    struct cg_config *cur = ctl_config(c);
    if (!cur)
        return CTL_USAGE;
    cg_store *st = ctl_store(c);
    if (!st)
        return CTL_STORE;
    /* the proposed set finds the installed plugins unless it names its own */
    setenv("CONTACTGATE_PLUGIN_DIR", cur->plugin_dir, 0);
    char err[1024] = "";
    struct cg_config *cfg = cg_config_load(file, 0, err, sizeof err);
    if (!cfg)
        return ctl_err(CTL_USAGE, cmd, "%s", err);
    char serr[256];
    cg_store *sim = cg_store_open(":memory:", 0, serr, sizeof serr);
    int rc = CTL_OK;
    if (!sim) {
        rc = ctl_err(CTL_STORE, cmd, "in-memory store: %s", serr);
    } else if (cg_store_sim_seed(sim, st, since - history, since) < 0) {
        rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(sim));
    } else {
        struct sim s = {.c = c, .cfg = cfg, .st = sim, .since = since, .until = until};
        s.progress = ctl_progress_start(cmd, "messages");
        int src = cg_store_sim_events(st, since, until, replay_one, &s);
        ctl_progress_end(&s.progress);
        if (src < 0)
            rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
        else if (c->json)
            print_json(&s, since, until);
        else
            print_text(&s, file, since, until);
        for (size_t i = 0; i < s.n_depts; i++)
            free(s.depts[i].name);
        free(s.depts);
        for (int f = 0; f < N_OUT; f++)
            for (int t = 0; t < N_OUT; t++) {
                struct change *ch = &s.chg[f][t];
                for (size_t i = 0; i < ch->n_pol; i++)
                    free(ch->pol[i].name);
                for (size_t i = 0; i < ch->n_cust; i++)
                    free(ch->customers[i]);
            }
    }
    cg_store_free(&sim);
    cg_config_unref(&cfg);
    return rc;
}

const struct ctl_cmd ctl_cmd_simulate = {
    .name = "simulate",
    .synopsis = "replay recorded traffic under a proposed policy set",
    .help =
        "SYNOPSIS\n"
        "  contactgatectl simulate --policies NEW.json [--since 30d] [--until TIME]\n"
        "                          [--history 90d] [--json]\n\n"
        "DESCRIPTION\n"
        "  Judges a strategy change before it goes live. Every message recorded\n"
        "  in the range (sent, deferred, rejected, held; one per Message-ID and\n"
        "  customer, at its first attempt) is decided again, at its original\n"
        "  time, by the real engine and plugins under NEW.json (a complete\n"
        "  configuration, e.g. an edited copy of the running one). The replay\n"
        "  works on an in-memory copy of the customer map, states, opt-outs and\n"
        "  the contacts of --history before the range, and records what the\n"
        "  proposed policies let through in that copy, so caps see the proposed\n"
        "  world. Nothing is written to the real database.\n\n"
        "  The output compares, per department, the current final outcome with\n"
        "  the proposed one, and lists every change (e.g. sent -> deferred) with\n"
        "  the proposed policy that decided it and a sample of the customers.\n"
        "  Deferred messages are not retried in the simulation.\n\n"
        "  --since/--until take a time (2026-11-22, 2026-11-22T10:00:00Z,\n"
        "  @UNIXTIME, -30d) or an age (30d = 30 days ago); --history a duration.\n"
        "  Both at most 10 years.\n\n"
        "EXAMPLES\n"
        "  contactgatectl simulate --policies /etc/contactgate/proposed.json --since 30d\n\n"
        "EXIT STATUS\n  0 ok, 1 usage or input error (a bad NEW.json names the key), 2 store error\n",
    .run = simulate_run,
};
CTL_REGISTER(ctl_cmd_simulate)
