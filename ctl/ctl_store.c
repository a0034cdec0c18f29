/*
 * ctl_store.c - contactgatectl store copy|check and contactgatectl relays:
 * moving a history to another store (SQLite to PostgreSQL), checking a
 * store, and the relays that share it with the configuration each last
 * ran.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg_database.h"
#include "cg_store_admin.h"
#include "cg_store_sim.h"
#include "cg_util.h"
#include "ctl.h"
#include "ctl_progress.h"

/* --- store check ----------------------------------------------------------------- */

/* problem_cb - one problem line (text) or JSON array element */
static int problem_cb(const char *problem, void *arg)
{
    if (arg)
        json_array_append_new(arg, json_string(problem));
    else
        printf("problem: %s\n", problem);
    return 0;
}

/* counts_json - the counts of a check */
static json_t *counts_json(const struct cg_check_counts *n)
{
    json_t *o = json_object();
    json_object_set_new(o, "schema_version", json_integer(n->schema_version));
    json_object_set_new(o, "contacts", json_integer(n->contacts));
    json_object_set_new(o, "decisions", json_integer(n->decisions));
    json_object_set_new(o, "addresses", json_integer(n->addresses));
    json_object_set_new(o, "customers", json_integer(n->customers));
    json_object_set_new(o, "states", json_integer(n->states));
    json_object_set_new(o, "optouts", json_integer(n->optouts));
    json_object_set_new(o, "erasures", json_integer(n->erasures));
    json_object_set_new(o, "episodes", json_integer(n->episodes));
    json_object_set_new(o, "counter_rows", json_integer(n->counter_rows));
    json_object_set_new(o, "counter_mismatches", json_integer(n->counter_mismatches));
    return o;
}

static int check_run(struct ctl *c, cg_store *st)
{
    struct cg_check_counts n;
    json_t *problems = c->json ? json_array() : NULL;
    int rc = cg_admin_check(st, &n, problem_cb, problems);
    if (rc < 0) {
        json_decref(problems);
        return ctl_err(CTL_STORE, "store check", "%s", cg_store_errmsg(st));
    }
    if (c->json) {
        json_t *o = counts_json(&n);
        json_object_set_new(o, "backend", json_string(cg_store_backend(st)));
        json_object_set_new(o, "ok", json_boolean(rc == 0));
        json_object_set_new(o, "problems", problems);
        ctl_json_print(o);
    } else {
        printf("backend %s, schema version %d\n"
               "contacts %lld, decisions %lld, addresses %lld (customers %lld), states %lld, "
               "opt-outs %lld, erasures %lld, open deferral episodes %lld\n"
               "department counters: %lld rows, %lld disagree with a recount\n%s\n",
               cg_store_backend(st), n.schema_version, (long long)n.contacts,
               (long long)n.decisions, (long long)n.addresses, (long long)n.customers,
               (long long)n.states, (long long)n.optouts, (long long)n.erasures,
               (long long)n.episodes, (long long)n.counter_rows,
               (long long)n.counter_mismatches, rc == 0 ? "ok" : "PROBLEMS FOUND");
    }
    return rc == 0 ? CTL_OK : 1;
}

/* --- store copy ------------------------------------------------------------------ */

/* the progress of a copy: rows copied of the rows the source holds */
struct copy_progress {
    struct ctl_progress *p;
    int64_t total;
};

/* progress_cb - what was copied so far (ctl_progress: a terminal only) */
static void progress_cb(const struct cg_copy_counts *n, void *arg)
{
    struct copy_progress *cp = arg;
    ctl_progress(cp->p, n->addresses + n->contacts + n->states + n->optouts + n->decisions +
                            n->erasures + n->relays,
                 cp->total);
}

/* same - one count of the source and the destination agree, else say so */
static int same(const char *what, int64_t src, int64_t dst)
{
    if (src == dst)
        return 1;
    ctl_err(0, "store copy", "%s: %lld in the source, %lld in the copy", what, (long long)src,
            (long long)dst);
    return 0;
}

static int copy_run(struct ctl *c, cg_store *src, const char *to)
{
    const char *cmd = "store copy";
    char err[1024];
    char *shown = cg_database_masked(to);
    cg_store *dst = cg_store_open(to, 0, err, sizeof err);
    if (!dst) {
        free(shown);
        return ctl_err(CTL_STORE, cmd, "%s", err);
    }
    struct cg_check_counts before, s, d;
    int rc = CTL_STORE;
    if (cg_admin_check(dst, &before, NULL, NULL) < 0) {
        ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(dst));
        goto out;
    }
    if (cg_admin_check(src, &s, NULL, NULL) < 0) {
        ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(src));
        goto out;
    }
    if (before.contacts || before.decisions || before.addresses || before.states ||
        before.optouts || before.erasures) {
        rc = ctl_err(CTL_USAGE, cmd, "%s is not empty (%lld contacts, %lld decisions, %lld "
                     "addresses): copy into an empty database only", shown,
                     (long long)before.contacts, (long long)before.decisions,
                     (long long)before.addresses);
        goto out;
    }
    struct cg_copy_counts n;
    struct copy_progress cp = {
        .p = c->json ? NULL : ctl_progress_start(cmd, "rows"),
        .total = s.addresses + s.contacts + s.states + s.optouts + s.decisions + s.erasures,
    };
    int copied = cg_store_copy(dst, src, &n, progress_cb, &cp, err, sizeof err);
    ctl_progress_end(&cp.p);
    if (copied < 0) {
        ctl_err(CTL_STORE, cmd, "%s (nothing was copied)", err);
        goto out;
    }
    /* what arrived is what was there: counted again on both sides */
    if (cg_admin_check(dst, &d, NULL, NULL) < 0) {
        ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(dst));
        goto out;
    }
    int ok = same("contacts", s.contacts, d.contacts) & same("decisions", s.decisions, d.decisions) &
             same("addresses", s.addresses, d.addresses) & same("states", s.states, d.states) &
             same("opt-outs", s.optouts, d.optouts) & same("erasures", s.erasures, d.erasures) &
             same("department counter disagreements", 0, d.counter_mismatches);
    rc = ok ? CTL_OK : CTL_STORE;
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "to", json_string(shown));
        json_object_set_new(o, "verified", json_boolean(ok));
        json_object_set_new(o, "copied", counts_json(&d));
        json_object_set_new(o, "relays", json_integer(n.relays));
        ctl_json_print(o);
    } else {
        printf("copied to %s: %lld addresses, %lld contacts, %lld states, %lld opt-outs, %lld "
               "decisions, %lld erasures, %lld relays; counts %s\n", shown,
               (long long)n.addresses, (long long)n.contacts, (long long)n.states,
               (long long)n.optouts, (long long)n.decisions, (long long)n.erasures,
               (long long)n.relays, ok ? "verified" : "DIFFER");
    }
out:
    cg_store_free(&dst);
    free(shown);
    return rc;
}

static int store_run(struct ctl *c, int argc, char **argv)
{
    const char *cmd = "store";
    if (argc < 1)
        return ctl_err(CTL_USAGE, cmd, "needs copy or check (see --help)");
    const char *to = NULL, *from = NULL;
    const struct ctl_opt opts[] = {
        {"--to", &to, NULL},
        {"--from", &from, NULL},
        {NULL, NULL, NULL},
    };
    if (ctl_args(cmd, argc - 1, argv + 1, opts, NULL, 0, NULL) != CTL_OK)
        return CTL_USAGE;
    int copy = !strcmp(argv[0], "copy");
    if (!copy && strcmp(argv[0], "check"))
        return ctl_err(CTL_USAGE, cmd, "unknown subcommand \"%s\" (copy or check)", argv[0]);
    if (copy && !to)
        return ctl_err(CTL_USAGE, cmd, "usage: store copy --to DATABASE [--from DATABASE]");
    if (!copy && to)
        return ctl_err(CTL_USAGE, cmd, "--to is for store copy");
    cg_store *st;
    cg_store *own = NULL;
    if (from) {
        char err[1024];
        own = cg_store_open(from, CG_STORE_READONLY, err, sizeof err);
        if (!own)
            return ctl_err(CTL_STORE, cmd, "%s", err);
        st = own;
    } else if (!(st = ctl_store(c))) {
        return CTL_STORE;
    }
    int rc = copy ? copy_run(c, st, to) : check_run(c, st);
    cg_store_free(&own);
    return rc;
}

const struct ctl_cmd ctl_cmd_store = {
    .name = "store",
    .synopsis = "copy the history to another database, or check a store",
    .help =
        "NAME\n"
        "  contactgatectl store - move the history, check its integrity\n\n"
        "SYNOPSIS\n"
        "  contactgatectl store copy --to DATABASE [--from DATABASE] [--json]\n"
        "  contactgatectl store check [--from DATABASE] [--json]\n\n"
        "DESCRIPTION\n"
        "  copy copies the configured history (or --from) into the empty\n"
        "  database DATABASE: a SQLite file, or a PostgreSQL URI or conninfo\n"
        "  (postgresql://user@host1,host2/db?target_session_attrs=read-write).\n"
        "  Customer map, contacts (the department counters are rebuilt from\n"
        "  them), states, opt-outs, decision log, erasure audit and relays go\n"
        "  in one transaction: a copy that fails leaves DATABASE as it was.\n"
        "  Open deferral episodes are not copied (a retry starts a new one).\n"
        "  Afterwards the rows are counted again on both sides. Stop the\n"
        "  daemons (or let them tempfail) while copying, then point their\n"
        "  `database` at the copy. Progress is shown on a terminal only.\n\n"
        "  check runs the store's integrity check (SQLite: integrity_check;\n"
        "  PostgreSQL: invalid indexes), the schema version, row counts, and\n"
        "  recounts the department counters from the contacts.\n\n"
        "EXIT STATUS\n"
        "  0 ok (copy: counts verified), 1 problems found or usage error,\n"
        "  2 store error\n\n"
        "EXAMPLES\n"
        "  contactgatectl store copy --to 'postgresql://contactgate@db1,db2/contactgate"
        "?target_session_attrs=read-write'\n"
        "  contactgatectl store check\n",
    .run = store_run,
};
CTL_REGISTER(ctl_cmd_store)

/* --- relays ------------------------------------------------------------------------ */

/* Relays seen this recently are running. */
#define RELAY_ACTIVE_SECS 600

struct relays {
    json_t *arr;
    int n;
    int versions;             /* distinct configuration versions of running relays */
    char seen_versions[16][24];
    int64_t now;
};

static int relay_cb(const struct cg_relay_row *r, void *arg)
{
    struct relays *l = arg;
    int active = l->now - r->last_seen <= RELAY_ACTIVE_SECS;
    const char *v = r->config_version ? r->config_version : "";
    int known = 0;
    for (int i = 0; active && i < l->versions && i < 16; i++)
        known |= !strcmp(l->seen_versions[i], v);
    if (active && !known) {
        if (l->versions < 16)
            cg_strlcpy(l->seen_versions[l->versions], v, sizeof l->seen_versions[0]);
        l->versions++;
    }
    char seen[32], started[32];
    cg_format_time(r->last_seen, seen, sizeof seen);
    cg_format_time(r->started, started, sizeof started);
    if (l->arr) {
        json_t *o = json_object();
        json_object_set_new(o, "name", ctl_jstr(r->name));
        json_object_set_new(o, "config_version", ctl_jstr(r->config_version));
        json_object_set_new(o, "software", ctl_jstr(r->software));
        json_object_set_new(o, "started", json_string(started));
        json_object_set_new(o, "last_seen", json_string(seen));
        json_object_set_new(o, "active", json_boolean(active));
        json_array_append_new(l->arr, o);
    } else {
        if (!l->n)
            printf("%-24s %-16s %-8s %-20s %-20s %s\n", "RELAY", "CONFIG", "VERSION", "STARTED",
                   "LAST SEEN", "");
        printf("%-24s %-16s %-8s %-20s %-20s %s\n", r->name, v, r->software ? r->software : "-",
               started, seen, active ? "" : "(not seen for 10 minutes)");
    }
    l->n++;
    return 0;
}

static int relays_run(struct ctl *c, int argc, char **argv)
{
    const char *cmd = "relays";
    const struct ctl_opt opts[] = {{NULL, NULL, NULL}};
    if (ctl_args(cmd, argc, argv, opts, NULL, 0, NULL) != CTL_OK)
        return CTL_USAGE;
    cg_store *st = ctl_store(c);
    if (!st)
        return CTL_STORE;
    struct relays l = {.arr = c->json ? json_array() : NULL, .now = c->now};
    if (cg_store_relays(st, relay_cb, &l) < 0) {
        json_decref(l.arr);
        return ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
    }
    if (l.arr) {
        json_t *o = json_object();
        json_object_set_new(o, "relays", l.arr);
        json_object_set_new(o, "config_versions", json_integer(l.versions));
        ctl_json_print(o);
    } else if (!l.n) {
        printf("no relay has run on this database yet\n");
    } else if (l.versions > 1) {
        printf("the running relays run %d different configuration versions\n", l.versions);
    }
    return CTL_OK;
}

const struct ctl_cmd ctl_cmd_relays = {
    .name = "relays",
    .synopsis = "the relays sharing this history and the configuration each runs",
    .help =
        "NAME\n"
        "  contactgatectl relays - which relays decide on this history\n\n"
        "SYNOPSIS\n"
        "  contactgatectl relays [--json]\n\n"
        "DESCRIPTION\n"
        "  Every contactgate notes in the store, at start, at each reload and\n"
        "  every minute, its name (`relay`, the host name by default), the\n"
        "  version of the configuration it runs (a hash of every file read)\n"
        "  and its software version. This lists them, and how many different\n"
        "  configuration versions the relays seen in the last 10 minutes run.\n"
        "  The version covers every file read, a relay's own name and socket\n"
        "  included: keep the policies in shared include files and compare\n"
        "  with `contactgate -n` where versions differ.\n\n"
        "EXIT STATUS\n"
        "  0 ok, 1 usage error, 2 store error\n",
    .run = relays_run,
};
CTL_REGISTER(ctl_cmd_relays)
