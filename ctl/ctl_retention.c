/*
 * ctl_retention.c - contactgatectl prune and forget: retention of the
 * history, and erasure of one customer everywhere (GDPR art. 17).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg_store_admin.h"
#include "cg_tz.h"
#include "cg_util.h"
#include "ctl.h"
#include "ctl_progress.h"

#define PRUNE_BATCH 1000
/* a prune shown on a terminal goes in slices of about this many batches */
#define PRUNE_SLICE_BATCHES 10
#define PRUNE_MAX_SLICES 1000

/* oldest_cb - the first (oldest) contact's time; stop */
static int oldest_cb(const struct cg_contact_row *r, void *arg)
{
    *(int64_t *)arg = r->ts;
    return 1;
}

/* prune_shown - the prune with its progress: the dry run's counts are the
 * total, then the time from the oldest contact to `before` is cut into
 * slices, each pruned (in batches) on its own, oldest first, so the line
 * moves as rows go. Rows older than the oldest contact (decisions) go
 * with the first slice. The counts add up in n, also on an error. */
static int prune_shown(cg_store *st, int64_t before, int batch, struct cg_prune_counts *n)
{
    memset(n, 0, sizeof *n);
    struct cg_prune_counts all;
    int64_t start = before;
    if (cg_admin_prune(st, before, batch, 1, &all) < 0 ||
        cg_store_contacts_all(st, 0, before, oldest_cb, &start) < 0)
        return -1;
    int64_t total = all.contacts + all.decisions;
    int64_t slices = total / ((int64_t)batch * PRUNE_SLICE_BATCHES);
    if (slices < 1 || start >= before)
        slices = 1;
    if (slices > PRUNE_MAX_SLICES)
        slices = PRUNE_MAX_SLICES;
    struct ctl_progress *p = ctl_progress_start("prune", "rows");
    int rc = 0;
    for (int64_t i = 1; i <= slices && rc == 0; i++) {
        int64_t cut = i == slices ? before : start + (before - start) / slices * i;
        struct cg_prune_counts s = {0};
        rc = cg_admin_prune(st, cut, batch, 0, &s);
        n->contacts += s.contacts;
        n->decisions += s.decisions;
        n->batches += s.batches;
        ctl_progress(p, n->contacts + n->decisions, total);
    }
    ctl_progress_end(&p);
    return rc;
}

static int prune_run(struct ctl *c, int argc, char **argv)
{
    const char *cmd = "prune";
    const char *older = NULL, *batch_s = NULL;
    int dry = 0;
    const struct ctl_opt opts[] = {
        {"--older-than", &older, NULL},
        {"--batch", &batch_s, NULL},
        {"--dry-run", NULL, &dry},
        {NULL, NULL, NULL},
    };
    if (ctl_args(cmd, argc, argv, opts, NULL, 0, NULL) != CTL_OK)
        return CTL_USAGE;
    if (!older)
        return ctl_err(CTL_USAGE, cmd, "usage: prune --older-than DURATION [--dry-run] "
                       "(--older-than is missing)");
    int64_t age;
    if (ctl_duration_arg(cmd, "--older-than", older, 1, &age) != CTL_OK)
        return CTL_USAGE;
    int batch = PRUNE_BATCH;
    if (batch_s) {
        char *end = NULL;
        long b = strtol(batch_s, &end, 10);
        if (end == batch_s || *end || b < 1 || b > 1000000)
            return ctl_err(CTL_USAGE, cmd, "--batch \"%s\" is not a number from 1 to 1000000",
                           batch_s);
        batch = (int)b;
    }
    cg_store *st = ctl_store(c);
    if (!st)
        return CTL_STORE;
    int64_t before = c->now - age;
    struct cg_prune_counts n;
    /* on a terminal, in slices that show how far it is; else in one go */
    int shown = !dry && isatty(STDERR_FILENO);
    if ((shown ? prune_shown(st, before, batch, &n) : cg_admin_prune(st, before, batch, dry, &n)) < 0)
        /* whole batches already committed stay deleted: say how far it got */
        return ctl_err(CTL_STORE, cmd, "%s (deleted before the error: %lld contacts, "
                       "%lld decisions)", cg_store_errmsg(st), (long long)n.contacts,
                       (long long)n.decisions);
    char ts[32];
    cg_format_time(before, ts, sizeof ts);
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "before", json_string(ts));
        json_object_set_new(o, "dry_run", json_boolean(dry));
        json_object_set_new(o, "contacts", json_integer(n.contacts));
        json_object_set_new(o, "decisions", json_integer(n.decisions));
        ctl_json_print(o);
    } else {
        printf("%s %lld contacts and %lld decisions older than %s\n",
               dry ? "would delete" : "deleted", (long long)n.contacts,
               (long long)n.decisions, ts);
    }
    return CTL_OK;
}

const struct ctl_cmd ctl_cmd_prune = {
    .name = "prune",
    .synopsis = "delete contacts and decisions older than a retention period",
    .help =
        "NAME\n"
        "  contactgatectl prune - apply the retention period to the history\n\n"
        "SYNOPSIS\n"
        "  contactgatectl prune --older-than DURATION [--dry-run] [--batch N] [--json]\n\n"
        "DESCRIPTION\n"
        "  Deletes contacts and decisions whose time is before now - DURATION.\n"
        "  It deletes in batches of N rows, each its own short transaction, so\n"
        "  the daemon's writers are never held up for long and prune can run\n"
        "  while mail flows. Keep DURATION longer than the longest window of\n"
        "  any policy (caps count the history) and than max_defer. Customer\n"
        "  states, opt-outs and the customer map are not touched.\n\n"
        "OPTIONS\n"
        "  --older-than DURATION  e.g. 400d, 52w, 9600h (required)\n"
        "  --dry-run              count what would be deleted; delete nothing\n"
        "  --batch N              rows per transaction (default 1000)\n"
        "  --json                 machine-readable output\n\n"
        "EXIT STATUS\n"
        "  0 ok, 1 usage error, 2 store error (batches done before it stay done)\n\n"
        "EXAMPLES\n"
        "  contactgatectl prune --older-than 400d --dry-run\n"
        "  contactgatectl prune --older-than 400d\n",
    .run = prune_run,
};
CTL_REGISTER(ctl_cmd_prune)

static int forget_run(struct ctl *c, int argc, char **argv)
{
    const char *cmd = "forget";
    if (argc != 1 || (argv[0][0] == '-' && argv[0][1]))
        return ctl_err(CTL_USAGE, cmd, "usage: forget CUSTOMER|ADDRESS");
    char *cust;
    cg_store *st;
    int rc = ctl_customer_store(c, argv[0], &cust, &st);
    if (rc != CTL_OK)
        return rc;
    struct cg_forget_counts n;
    char ref[32];
    if (cg_admin_forget(st, cust, c->now, ref, sizeof ref, &n) < 0) {
        rc = ctl_err(CTL_STORE, cmd, "%s (nothing was erased unless the counts were printed)",
                     cg_store_errmsg(st));
        free(cust);
        return rc;
    }
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "customer", json_string(cust));
        json_object_set_new(o, "erasure_ref", json_string(ref));
        json_object_set_new(o, "contacts", json_integer(n.contacts));
        json_object_set_new(o, "decisions", json_integer(n.decisions));
        json_object_set_new(o, "states", json_integer(n.states));
        json_object_set_new(o, "optouts", json_integer(n.optouts));
        json_object_set_new(o, "addresses", json_integer(n.addresses));
        json_object_set_new(o, "vacuumed", json_boolean(n.vacuumed));
        json_object_set_new(o, "wal_truncated", json_boolean(!n.wal_busy));
        ctl_json_print(o);
    } else {
        printf("erased %s: %lld contacts, %lld decisions, %lld states, %lld opt-outs, "
               "%lld mapped addresses (erasure ref %s)\n", cust, (long long)n.contacts,
               (long long)n.decisions, (long long)n.states, (long long)n.optouts,
               (long long)n.addresses, ref);
        if (n.vacuumed)
            printf("an older copy was left in free space by earlier updates: the database "
                   "was rebuilt (VACUUM)\n");
    }
    if (n.wal_busy)
        rc = ctl_err(CTL_STORE, cmd, "the rows are deleted, but a reader kept the write-ahead "
                     "log from being truncated, so old copies may stay in %s-wal until the "
                     "next checkpoint: run 'contactgatectl forget %s' again", c->cfg->database,
                     argv[0]);
    else if (n.residue)
        rc = ctl_err(CTL_STORE, cmd, "the rows are deleted, but an erased address still "
                     "occurs in %s, inside another value (e.g. a longer address or a note): "
                     "check it", c->cfg->database);
    free(cust);
    return rc;
}

const struct ctl_cmd ctl_cmd_forget = {
    .name = "forget",
    .synopsis = "erase one customer everywhere (right to erasure)",
    .help =
        "NAME\n"
        "  contactgatectl forget - erase a customer from every table and file\n\n"
        "SYNOPSIS\n"
        "  contactgatectl forget CUSTOMER|ADDRESS [--json]\n\n"
        "DESCRIPTION\n"
        "  Deletes, in one transaction, the customer's contacts, decisions\n"
        "  (where the customer, recipient or sender is the customer or one of\n"
        "  its addresses), states, opt-outs, and every address mapped to it\n"
        "  in the customer map. An ADDRESS stands for the customer it is\n"
        "  mapped to, and so erases all of that customer's addresses.\n\n"
        "  Then it records one row in the erasures table: a random reference,\n"
        "  the time and the counts, nothing that identifies the customer\n"
        "  (keep the reference in the request's file). Deleted content is\n"
        "  overwritten (secure_delete), the write-ahead log is checkpointed\n"
        "  and truncated, and the database file is searched for any of the\n"
        "  addresses: a copy left in free space by earlier updates makes it\n"
        "  rebuild the file (VACUUM, which holds the daemon's writers back\n"
        "  while it runs; mail is deferred, never lost).\n\n"
        "  Note: an erased customer is no longer suppressed; if the customer\n"
        "  objected to contact, keep the opt-out in your CRM.\n\n"
        "OPTIONS\n"
        "  --json  machine-readable output\n\n"
        "EXIT STATUS\n"
        "  0 ok, 1 usage error, 2 store error, or the rows are deleted but a\n"
        "  copy may remain in a file (the message says which and what to do)\n\n"
        "EXAMPLES\n"
        "  contactgatectl forget ann@example.com\n"
        "  contactgatectl --json forget C1001\n",
    .run = forget_run,
};
CTL_REGISTER(ctl_cmd_forget)
