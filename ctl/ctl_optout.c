/*
 * ctl_optout.c - contactgatectl optout add|remove|import|list: opt-outs per
 * category pattern, read by the consent policy. No category is the global
 * suppression list ("*": nothing at all is sent).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_category.h"
#include "cg_csv.h"
#include "cg_store_admin.h"
#include "cg_addr.h"
#include "cg_ident.h"
#include "cg_util.h"
#include "ctl.h"

#define MAX_NOTE 500

/* check_row - the checks add and import share; NULL or what is wrong,
 * with *field the name of the wrong one */
static const char *check_row(const char *category, const char *note, const char **field)
{
    if (!cg_category_valid(category, 1)) {
        *field = "category";
        return "is not a category pattern (lower-case dotted words, optionally ending in "
               ".*, or *)";
    }
    if (note && strlen(note) > MAX_NOTE) {
        *field = "note";
        return "is longer than 500 characters";
    }
    return NULL;
}

static int optout_add(struct ctl *c, const char *cmd, char **pos, int npos, const char *category,
                      const char *until_s, const char *note)
{
    if (npos != 1)
        return ctl_err(CTL_USAGE, cmd, "usage: optout add CUSTOMER|ADDRESS [--category PATTERN] "
                       "[--until TIME] [--note TEXT]");
    const char *field = NULL, *why = check_row(category, note, &field);
    if (why)
        return ctl_err(CTL_USAGE, cmd, "--%s \"%s\" %s", field,
                       field[0] == 'c' ? category : "...", why);
    struct cg_optout_row row = {.category = category, .since = c->now, .note = note};
    if (until_s && ctl_time_arg(c, cmd, "--until", until_s, &row.until))
        return CTL_USAGE;
    if (until_s && row.until <= c->now)
        return ctl_err(CTL_USAGE, cmd, "--until \"%s\" is not in the future", until_s);
    char *cust;
    cg_store *st;
    int rc = ctl_customer_store(c, pos[0], &cust, &st);
    if (rc != CTL_OK)
        return rc;
    row.customer = cust;
    if (cg_store_optout_set(st, &row) < 0) {
        rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
    } else if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "customer", json_string(cust));
        json_object_set_new(o, "category", json_string(category));
        json_object_set_new(o, "result", json_string("added"));
        ctl_json_print(o);
    } else {
        char until[32];
        if (row.until)
            cg_format_time(row.until, until, sizeof until);
        printf("%s opted out of %s%s%s\n", cust,
               strcmp(category, "*") ? category : "everything (global suppression)",
               row.until ? " until " : "", row.until ? until : "");
    }
    free(cust);
    return rc;
}

static int optout_remove(struct ctl *c, const char *cmd, char **pos, int npos,
                         const char *category)
{
    if (npos != 1)
        return ctl_err(CTL_USAGE, cmd, "usage: optout remove CUSTOMER|ADDRESS [--category PATTERN]");
    if (!cg_category_valid(category, 1))
        return ctl_err(CTL_USAGE, cmd, "--category \"%s\" is not a category pattern", category);
    char *cust;
    cg_store *st;
    int rc = ctl_customer_store(c, pos[0], &cust, &st);
    if (rc != CTL_OK)
        return rc;
    int r = cg_store_optout_remove(st, cust, category);
    if (r < 0)
        rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
    else if (r == 0)
        rc = ctl_err(CTL_USAGE, cmd, "%s has no opt-out for %s", cust, category);
    else if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "customer", json_string(cust));
        json_object_set_new(o, "category", json_string(category));
        json_object_set_new(o, "result", json_string("removed"));
        ctl_json_print(o);
    } else {
        printf("opt-out %s removed for %s\n", category, cust);
    }
    free(cust);
    return rc;
}

/* import_rows - every record of the file, inside the caller's transaction */
static int import_rows(struct ctl *c, cg_store *st, const char *file, FILE *fp, long *n)
{
    const char *cmd = "optout import";
    struct cg_config *cfg = c->cfg;
    struct cg_csv csv;
    cg_csv_init(&csv, fp);
    const char *why = NULL;
    int r = 0, rc = CTL_OK;
    while (rc == CTL_OK && (r = cg_csv_next(&csv, &why)) > 0) {
        const char *who = csv.field[0];
        /* an optional header line */
        if (csv.line == 1 && (!strcasecmp(who, "customer_or_address") ||
                              !strcasecmp(who, "customer") || !strcasecmp(who, "address")))
            continue;
        if (csv.n > 4) {
            rc = ctl_err(CTL_USAGE, cmd, "%s:%ld: columns: %zu fields, at most 4 "
                         "(customer_or_address,category,until,note)", file, csv.line, csv.n);
            break;
        }
        const char *category = csv.n > 1 && *csv.field[1] ? csv.field[1] : "*";
        const char *until_s = csv.n > 2 && *csv.field[2] ? csv.field[2] : NULL;
        const char *note = csv.n > 3 && *csv.field[3] ? csv.field[3] : NULL;
        const char *field = NULL, *bad = check_row(category, note, &field);
        if (bad) {
            rc = ctl_err(CTL_USAGE, cmd, "%s:%ld: %s: \"%s\" %s", file, csv.line, field,
                         field[0] == 'c' ? category : "...", bad);
            break;
        }
        struct cg_optout_row row = {.category = category, .since = c->now, .note = note};
        if (until_s && (cg_parse_time(until_s, c->now, &row.until) < 0 || row.until <= c->now)) {
            rc = ctl_err(CTL_USAGE, cmd, "%s:%ld: until: \"%s\" is not a future time (use "
                         "2026-11-22, 2026-11-22T10:00:00Z, @UNIXTIME or +30d)", file, csv.line,
                         until_s);
            break;
        }
        char *cust = NULL;
        if (!*who) {
            rc = ctl_err(CTL_USAGE, cmd, "%s:%ld: customer_or_address: is empty", file, csv.line);
            break;
        }
        if (strchr(who, '@')) {
            char *addr = cg_addr_normalise(who, cg_ident_addr_flags(cfg), &why);
            if (!addr) {
                rc = ctl_err(CTL_USAGE, cmd, "%s:%ld: customer_or_address: \"%s\" is not an "
                             "address: %s", file, csv.line, who, why ? why : "malformed");
                break;
            }
            int found = cg_ident_customer(st, addr, &cust, NULL);
            free(addr);
            if (found < 0) {
                rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
                break;
            }
        } else {
            cust = cg_xstrdup(who);
        }
        row.customer = cust;
        if (cg_store_optout_set(st, &row) < 0)
            rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
        else
            (*n)++;
        free(cust);
    }
    if (rc == CTL_OK && r < 0)
        rc = ctl_err(CTL_USAGE, cmd, "%s:%ld: csv: %s", file, csv.line, why);
    cg_csv_free(&csv);
    return rc;
}

static int optout_import(struct ctl *c, const char *cmd, char **pos, int npos)
{
    if (npos != 1)
        return ctl_err(CTL_USAGE, cmd, "usage: optout import FILE");
    if (!ctl_config(c))
        return CTL_USAGE;
    const char *file = pos[0];
    FILE *fp = strcmp(file, "-") ? fopen(file, "r") : stdin; /* before the store: see customers */
    if (!fp)
        return ctl_err(CTL_USAGE, cmd, "%s: %s", file, strerror(errno));
    int rc = CTL_OK;
    long n = 0;
    cg_store *st = ctl_store(c);
    if (!st)
        rc = CTL_STORE;
    else if (cg_store_begin(st, 1) < 0)
        rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
    else if ((rc = import_rows(c, st, file, fp, &n)) == CTL_OK && cg_store_commit(st) < 0)
        rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
    if (st)
        cg_store_rollback(st); /* no-op after a commit */
    if (fp != stdin)
        fclose(fp);
    if (rc != CTL_OK) {
        if (rc == CTL_USAGE)
            fprintf(stderr, "contactgatectl: %s: nothing was imported\n", cmd);
        return rc;
    }
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "file", json_string(file));
        json_object_set_new(o, "imported", json_integer(n));
        ctl_json_print(o);
    } else {
        printf("imported %ld opt-out%s\n", n, n == 1 ? "" : "s");
    }
    return CTL_OK;
}

static int list_cb(const struct cg_optout_row *r, void *arg)
{
    ctl_span_row(arg, r->customer, r->category, r->since, r->until, r->note);
    return 0;
}

static int optout_list(struct ctl *c, const char *cmd, char **pos, int npos)
{
    if (npos > 1)
        return ctl_err(CTL_USAGE, cmd, "usage: optout list [CUSTOMER|ADDRESS] [--json]");
    char *cust;
    cg_store *st;
    int rc = ctl_customer_store(c, npos == 1 ? pos[0] : NULL, &cust, &st);
    if (rc != CTL_OK)
        return rc;
    struct ctl_span_list la = {.c = c, .arr = c->json ? json_array() : NULL, .key = "category",
                               .head = "CATEGORY", .key_w = 24, .open_w = 5};
    if (cg_admin_optouts(st, cust, list_cb, &la) < 0)
        rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
    if (ctl_span_end(&la, rc))
        printf("no opt-outs%s%s\n", cust ? " for " : "", cust ? cust : "");
    free(cust);
    return rc;
}

static int optout_run(struct ctl *c, int argc, char **argv)
{
    if (argc < 1)
        return ctl_err(CTL_USAGE, "optout", "needs add, remove, import or list (see --help)");
    const char *sub = argv[0];
    char cmd[32];
    snprintf(cmd, sizeof cmd, "optout %s", strlen(sub) < 10 ? sub : "");
    const char *category = "*", *until_s = NULL, *note = NULL;
    char *pos[2] = {0};
    int npos = 0;
    const struct ctl_opt opts[] = {
        {"--category", &category, NULL},
        {"--until", &until_s, NULL},
        {"--note", &note, NULL},
        {NULL, NULL, NULL},
    };
    if (ctl_args(cmd, argc - 1, argv + 1, opts, pos, 2, &npos) != CTL_OK)
        return CTL_USAGE;
    int is_add = !strcmp(sub, "add"), is_remove = !strcmp(sub, "remove");
    if ((!is_add && (until_s || note)) || (!is_add && !is_remove && strcmp(category, "*")))
        return ctl_err(CTL_USAGE, cmd, "%s does not take %s", sub,
                       until_s ? "--until" : note ? "--note" : "--category");
    if (is_add)
        return optout_add(c, cmd, pos, npos, category, until_s, note);
    if (is_remove)
        return optout_remove(c, cmd, pos, npos, category);
    if (!strcmp(sub, "import"))
        return optout_import(c, cmd, pos, npos);
    if (!strcmp(sub, "list"))
        return optout_list(c, cmd, pos, npos);
    return ctl_err(CTL_USAGE, "optout", "unknown subcommand \"%s\" (add, remove, import, list)",
                   sub);
}

const struct ctl_cmd ctl_cmd_optout = {
    .name = "optout",
    .synopsis = "add, remove, import or list opt-outs (per category, or global)",
    .help =
        "NAME\n"
        "  contactgatectl optout - customers' opt-outs and the global suppression list\n\n"
        "SYNOPSIS\n"
        "  contactgatectl optout add CUSTOMER|ADDRESS [--category PATTERN] [--until TIME]\n"
        "                        [--note TEXT]\n"
        "  contactgatectl optout remove CUSTOMER|ADDRESS [--category PATTERN]\n"
        "  contactgatectl optout import FILE\n"
        "  contactgatectl optout list [CUSTOMER|ADDRESS] [--json]\n\n"
        "DESCRIPTION\n"
        "  An opt-out stops the categories matching PATTERN for one customer;\n"
        "  the consent policy enforces it. Without --category it is the global\n"
        "  suppression list (category \"*\"): nothing is sent at all. An argument\n"
        "  with '@' is an address, normalised and mapped to its customer.\n\n"
        "  import reads CSV lines customer_or_address,category,until,note (an\n"
        "  optional header line with these names is skipped; an empty category\n"
        "  is \"*\", an empty until is open-ended). It is one transaction: the\n"
        "  first bad line is reported as FILE:LINE: FIELD: ... and nothing is\n"
        "  written. list shows every opt-out, open or expired.\n\n"
        "OPTIONS\n"
        "  --category PATTERN  functional.bill, promotional.* or * (default *)\n"
        "  --until TIME        end of the opt-out (exclusive): 2026-11-22,\n"
        "                      2026-11-22T10:00:00Z, @UNIXTIME, +30d\n"
        "  --note TEXT         for compliance, at most 500 characters\n"
        "  --json              machine-readable output\n\n"
        "EXIT STATUS\n"
        "  0 ok, 1 usage or input error (also: remove finds no such opt-out),\n"
        "  2 store error\n\n"
        "EXAMPLES\n"
        "  contactgatectl optout add ann@example.com --category 'promotional.*'\n"
        "  contactgatectl optout add C1001 --note 'GDPR objection #812'\n"
        "  contactgatectl optout remove C1001\n"
        "  contactgatectl optout import suppressions.csv\n"
        "  contactgatectl optout list C1001 --json\n",
    .run = optout_run,
};
CTL_REGISTER(ctl_cmd_optout)
