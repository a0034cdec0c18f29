/*
 * ctl_record.c - contactgatectl record: a contact made on another channel
 * (SMS, call, letter, a mail sent outside this MTA) goes into the shared
 * history, so that caps and spacing rules count it like a mail.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_addr.h"
#include "cg_category.h"
#include "cg_contact.h"
#include "cg_ident.h"
#include "cg_util.h"
#include "ctl.h"

#define FUTURE_SLACK 300 /* seconds of clock skew tolerated for --time */

static int record_run(struct ctl *c, int argc, char **argv)
{
    const char *cmd = "record";
    const char *dept = NULL, *cat = NULL, *channel = "email", *time_s = NULL, *weight_s = NULL;
    const struct ctl_opt opts[] = {
        {"--department", &dept, NULL},
        {"--category", &cat, NULL},
        {"--channel", &channel, NULL},
        {"--time", &time_s, NULL},
        {"--weight", &weight_s, NULL},
        {NULL, NULL, NULL},
    };
    char *pos[1] = {NULL};
    if (ctl_args(cmd, argc, argv, opts, pos, 1, NULL) != CTL_OK)
        return CTL_USAGE;
    const char *who = pos[0];
    if (!who || !dept || !cat)
        return ctl_err(CTL_USAGE, cmd, "usage: record CUSTOMER|ADDRESS --department D "
                       "--category C [--channel CH] [--time TIME] [--weight W]%s",
                       !who ? "" : !dept ? " (--department is missing)" : " (--category is missing)");
    struct cg_config *cfg = ctl_config(c);
    if (!cfg)
        return CTL_USAGE;
    int known = 0;
    for (size_t i = 0; i < cfg->n_departments && !known; i++)
        known = !strcmp(cfg->departments[i].name, dept);
    if (!known) {
        struct cg_buf names = {0};
        for (size_t i = 0; i < cfg->n_departments; i++)
            cg_buf_printf(&names, "%s%s", i ? ", " : "", cfg->departments[i].name);
        ctl_err(CTL_USAGE, cmd, "--department \"%s\" is not a department of %s (%s)", dept,
                c->config_path, names.s ? names.s : "none configured");
        cg_buf_free(&names);
        return CTL_USAGE;
    }
    if (!cg_category_valid(cat, 0))
        return ctl_err(CTL_USAGE, cmd, "--category \"%s\" is not a category (lower-case dotted "
                       "words such as functional.bill or promotional.offer)", cat);
    if (!ctl_name_ok(channel, 32))
        return ctl_err(CTL_USAGE, cmd, "--channel \"%s\" is not a channel name ([a-z0-9_-], "
                       "e.g. sms, call, letter, email)", channel);
    int64_t ts = c->now;
    double weight = 1.0;
    if (time_s && ctl_time_arg(c, cmd, "--time", time_s, &ts))
        return CTL_USAGE;
    if (ts > c->now + FUTURE_SLACK)
        return ctl_err(CTL_USAGE, cmd, "--time \"%s\" is in the future", time_s);
    if (weight_s) {
        char *end = NULL;
        weight = strtod(weight_s, &end);
        if (end == weight_s || *end || !isfinite(weight) || weight <= 0 || weight > 1000)
            return ctl_err(CTL_USAGE, cmd, "--weight \"%s\" is not a number above 0 "
                           "(at most 1000)", weight_s);
    }
    int rc = CTL_OK;
    char *addr = NULL;
    if (strchr(who, '@')) {
        const char *why = NULL;
        /* the key ctl_customer uses for a customer the milter decided
         * under an unparseable address (it refuses any other) */
        addr = cg_addr_key(who, cg_ident_addr_flags(cfg), &why);
        if (!addr)
            return ctl_err(CTL_USAGE, cmd, "\"%s\": %s", who, why ? why : "malformed address");
    }
    char *cust;
    cg_store *st;
    if ((rc = ctl_customer_store(c, who, &cust, &st)) != CTL_OK) {
        free(addr);
        return rc;
    }
    struct cg_contact_row row;
    cg_contact_other(&row, ts, cust, addr, dept, cat, channel, weight);
    char when[32];
    cg_format_time(row.ts, when, sizeof when);
    if (cg_store_contact_add(st, &row) < 0) {
        rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
    } else if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "customer", json_string(cust));
        json_object_set_new(o, "address", addr ? json_string(addr) : json_null());
        json_object_set_new(o, "department", json_string(dept));
        json_object_set_new(o, "category", json_string(cat));
        json_object_set_new(o, "channel", json_string(channel));
        json_object_set_new(o, "time", json_string(when));
        json_object_set_new(o, "weight", json_real(row.weight));
        ctl_json_print(o);
    } else {
        printf("recorded %s %s contact for %s from %s at %s\n", channel, cat, cust, dept, when);
    }
    free(addr);
    free(cust);
    return rc;
}

const struct ctl_cmd ctl_cmd_record = {
    .name = "record",
    .synopsis = "record a contact made on another channel (SMS, call, letter)",
    .help =
        "NAME\n"
        "  contactgatectl record - add another channel's contact to the history\n\n"
        "SYNOPSIS\n"
        "  contactgatectl record CUSTOMER|ADDRESS --department D --category C\n"
        "                 [--channel CH] [--time TIME] [--weight W] [--json]\n\n"
        "DESCRIPTION\n"
        "  Caps, spacing and budgets count every contact in the shared history.\n"
        "  record adds one that did not pass through the MTA, so that, e.g., an\n"
        "  SMS reminder counts against the weekly cap like a mail. An argument\n"
        "  with '@' is an address, normalised and mapped to its customer.\n\n"
        "OPTIONS\n"
        "  --department D  a department of the configuration (required)\n"
        "  --category C    a category: lower-case dotted words (required)\n"
        "  --channel CH    sms, call, letter, email, ... ([a-z0-9_-]; default email)\n"
        "  --time TIME     when it happened (default now; not in the future):\n"
        "                  2026-11-22T10:00:00Z, @UNIXTIME, -2h\n"
        "  --weight W      how much it counts (default 1; above 0, at most 1000)\n"
        "  --json          machine-readable output\n\n"
        "EXIT STATUS\n"
        "  0 ok, 1 usage or input error (the message names the option),\n"
        "  2 store error\n\n"
        "EXAMPLES\n"
        "  contactgatectl record ann@example.com --department collections \\\n"
        "      --category functional.debt.reminder --channel sms\n"
        "  contactgatectl record C1001 --department marketing --category promotional.offer \\\n"
        "      --channel call --time -2h\n",
    .run = record_run,
};
CTL_REGISTER(ctl_cmd_record)
