/*
 * ctl_state.c - contactgatectl state set|clear|list: customer states
 * (complaint, debt_collection, bereavement, any name) with optional end
 * dates and a note for compliance.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_util.h"
#include "ctl.h"

/* list_cb - one state row */
static int list_cb(const struct cg_state_row *s, void *arg)
{
    ctl_span_row(arg, s->customer, s->state, s->since, s->until, s->note);
    return 0;
}

/* state_run - dispatch set/clear/list */
static int state_run(struct ctl *c, int argc, char **argv)
{
    const char *cmd = "state";
    if (argc < 1)
        return ctl_err(CTL_USAGE, cmd, "needs set, clear or list (see --help)");
    const char *sub = argv[0];
    const char *until_s = NULL, *note = NULL, *since_s = NULL;
    int all = 0;
    char *pos[3] = {0};
    int npos = 0;
    const struct ctl_opt opts[] = {
        {"--until", &until_s, NULL},
        {"--since", &since_s, NULL},
        {"--note", &note, NULL},
        {"--all", NULL, &all},
        {NULL, NULL, NULL},
    };
    if (ctl_args(cmd, argc - 1, argv + 1, opts, pos, 3, &npos) != CTL_OK)
        return CTL_USAGE;
    int rc;
    if (!strcmp(sub, "set") || !strcmp(sub, "clear")) {
        int set = sub[0] == 's';
        if (npos != 2)
            return ctl_err(CTL_USAGE, cmd, "usage: state %s CUSTOMER|ADDRESS STATE%s", sub,
                           set ? " [--until TIME] [--since TIME] [--note TEXT]" : "");
        if (!ctl_name_ok(pos[1], 64))
            return ctl_err(CTL_USAGE, cmd, "state \"%s\" is not a name of [a-z0-9_-] (at most 64)",
                           pos[1]);
        struct cg_state_row row = {.since = c->now};
        if (until_s && ctl_time_arg(c, cmd, "--until", until_s, &row.until))
            return CTL_USAGE;
        if (since_s && ctl_time_arg(c, cmd, "--since", since_s, &row.since))
            return CTL_USAGE;
        if (row.until && row.until <= row.since)
            return ctl_err(CTL_USAGE, cmd, "--until must be after the start (%s)",
                           since_s ? since_s : "now");
        if (note && strlen(note) > 500)
            return ctl_err(CTL_USAGE, cmd, "--note is longer than 500 characters");
        char *cust;
        cg_store *st;
        if ((rc = ctl_customer_store(c, pos[0], &cust, &st)) != CTL_OK)
            return rc;
        row.customer = cust;
        row.state = pos[1];
        row.note = note;
        if (set) {
            if (cg_store_state_set(st, &row) < 0)
                rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
            else if (!c->json)
                printf("state %s set for %s%s%s\n", pos[1], cust, until_s ? " until " : "",
                       until_s ? until_s : "");
        } else {
            int r = cg_store_state_clear(st, cust, pos[1]);
            if (r < 0)
                rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
            else if (r == 0)
                rc = ctl_err(CTL_USAGE, cmd, "%s has no state %s", cust, pos[1]);
            else if (!c->json)
                printf("state %s cleared for %s\n", pos[1], cust);
        }
        if (rc == CTL_OK && c->json) {
            json_t *o = json_object();
            json_object_set_new(o, "customer", json_string(cust));
            json_object_set_new(o, "state", json_string(pos[1]));
            json_object_set_new(o, "result", json_string(set ? "set" : "cleared"));
            ctl_json_print(o);
        }
        free(cust);
        return rc;
    }
    if (!strcmp(sub, "list")) {
        if (npos > 1)
            return ctl_err(CTL_USAGE, cmd, "usage: state list [CUSTOMER|ADDRESS] [--all]");
        char *cust;
        cg_store *st;
        if ((rc = ctl_customer_store(c, npos == 1 ? pos[0] : NULL, &cust, &st)) != CTL_OK)
            return rc;
        struct ctl_span_list la = {.c = c, .arr = c->json ? json_array() : NULL, .key = "state",
                                   .head = "STATE", .key_w = 18, .open_w = 6};
        if (cg_store_states(st, cust, all ? 0 : c->now, list_cb, &la) < 0)
            rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
        if (ctl_span_end(&la, rc))
            printf("no %sstates%s%s\n", all ? "" : "open ", cust ? " for " : "", cust ? cust : "");
        free(cust);
        return rc;
    }
    return ctl_err(CTL_USAGE, cmd, "unknown subcommand \"%s\" (set, clear, list)", sub);
}

const struct ctl_cmd ctl_cmd_state = {
    .name = "state",
    .synopsis = "set, clear or list customer states (complaint, debt_collection, ...)",
    .help =
        "SYNOPSIS\n"
        "  contactgatectl state set CUSTOMER|ADDRESS STATE [--until TIME] [--since TIME]\n"
        "                       [--note TEXT]\n"
        "  contactgatectl state clear CUSTOMER|ADDRESS STATE\n"
        "  contactgatectl state list [CUSTOMER|ADDRESS] [--all] [--json]\n\n"
        "DESCRIPTION\n"
        "  A state is any name ([a-z0-9_-]); the customer_state policy blocks\n"
        "  categories while a listed state is open. A state is open from --since\n"
        "  (default now) until --until (exclusive; default: until cleared).\n"
        "  An argument with '@' is an address: it is normalised and mapped to\n"
        "  its customer through the customer map. list shows open states, or\n"
        "  every state with --all.\n\n"
        "  TIME is 2026-11-22, 2026-11-22T10:00:00Z (UTC), @UNIXTIME, or\n"
        "  relative to now: +30d, -2h.\n\n"
        "EXIT STATUS\n  0 ok, 1 usage or input error, 2 store error\n",
    .run = state_run,
};
CTL_REGISTER(ctl_cmd_state)
