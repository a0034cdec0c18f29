/*
 * ctl_main.c - contactgatectl: the admin and compliance CLI.
 *
 *   contactgatectl [-c config] [--json] COMMAND [args]
 *
 * This file holds option parsing, the command table and the helpers every
 * command shares; each command lives in its own ctl_*.c file.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_addr.h"
#include "cg_ident.h"
#include "cg_log.h"
#include "cg_util.h"
#include "cg_priv.h"
#include "ctl.h"

#define CG_DEFAULT_CONFIG "/etc/contactgate/contactgate.json"

#define CTL_MAX_COMMANDS 64
static const struct ctl_cmd *commands[CTL_MAX_COMMANDS + 1];
static size_t n_commands;

/* ctl_register - add a command, keeping the table in name order */
void ctl_register(const struct ctl_cmd *cmd)
{
    if (n_commands >= CTL_MAX_COMMANDS)
        abort(); /* a build-time mistake, not a runtime condition */
    size_t i = n_commands++;
    while (i > 0 && strcmp(commands[i - 1]->name, cmd->name) > 0) {
        commands[i] = commands[i - 1];
        i--;
    }
    commands[i] = cmd;
}

/* usage - the command list */
static int usage(FILE *fp, int rc)
{
    fprintf(fp, "usage: contactgatectl [-c config] [--json] COMMAND [args]\n\ncommands:\n");
    for (size_t i = 0; commands[i]; i++)
        fprintf(fp, "  %-10s %s\n", commands[i]->name, commands[i]->synopsis);
    fprintf(fp, "\n'contactgatectl COMMAND --help' describes one command.\n"
                "exit status: 0 ok, 1 usage or input error, 2 store error\n");
    return rc;
}

/* ctl_err - one error line on stderr */
int ctl_err(int rc, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "contactgatectl: %s%s", cmd ? cmd : "", cmd ? ": " : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return rc;
}

/* ctl_config - load the configuration (no plugins needed here) */
struct cg_config *ctl_config(struct ctl *c)
{
    if (!c->cfg) {
        char err[1024];
        c->cfg = cg_config_load(c->config_path, CG_CONFIG_NO_PLUGINS, err, sizeof err);
        if (!c->cfg)
            ctl_err(CTL_USAGE, NULL, "%s", err);
    }
    return c->cfg;
}

/* ctl_store - open the store named by the configuration */
cg_store *ctl_store(struct ctl *c)
{
    if (!c->st && ctl_config(c)) {
        char err[1024];
        /* as root, act as the database's owner, so that the files SQLite
         * creates (-wal, -shm) stay writable by the daemon */
        if (!cg_store_is_pg(c->cfg->database) &&
            cg_priv_become_owner(c->cfg->database, err, sizeof err) < 0) {
            ctl_err(CTL_STORE, NULL, "%s", err);
            return NULL;
        }
        c->st = cg_store_open(c->cfg->database, 0, err, sizeof err);
        if (!c->st)
            ctl_err(CTL_STORE, NULL, "%s", err);
    }
    return c->st;
}

/* seen_contact / seen_decision - there is a row: note it and stop */
static int seen_contact(const struct cg_contact_row *r, void *arg)
{
    (void)r;
    *(int *)arg = 1;
    return 1;
}

static int seen_decision(const struct cg_decision_row *r, void *arg)
{
    (void)r;
    *(int *)arg = 1;
    return 1;
}

/* known_customer - does the history hold contacts or decisions of cust?
 * 1 yes, 0 no, -1 store error */
static int known_customer(cg_store *st, const char *cust)
{
    int seen = 0;
    struct cg_decision_filter f = {.customer = cust, .limit = 1};
    if (cg_store_contacts(st, cust, 0, INT64_MAX, seen_contact, &seen) < 0 ||
        (!seen && cg_store_decisions(st, &f, seen_decision, &seen) < 0))
        return -1;
    return seen;
}

/* ctl_customer - an address or a customer id to a customer id */
char *ctl_customer(struct ctl *c, const char *arg, int *rc_r)
{
    if (!strchr(arg, '@')) {
        if (!*arg) {
            *rc_r = ctl_err(CTL_USAGE, NULL, "empty customer id");
            return NULL;
        }
        return cg_xstrdup(arg);
    }
    struct cg_config *cfg = ctl_config(c);
    if (!cfg) {
        *rc_r = CTL_USAGE;
        return NULL;
    }
    unsigned flags = cg_ident_addr_flags(cfg);
    const char *why = NULL;
    char *addr = cg_addr_normalise(arg, flags, &why);
    cg_store *st = ctl_store(c);
    if (!st) {
        free(addr);
        *rc_r = CTL_STORE;
        return NULL;
    }
    if (!addr) {
        /* not an address; but if the milter met such a recipient, it
         * decided it as its own customer under this key: that one */
        char *key = cg_addr_key(arg, flags, NULL);
        int known = key ? known_customer(st, key) : 0;
        if (known < 0) {
            free(key);
            *rc_r = ctl_err(CTL_STORE, NULL, "%s", cg_store_errmsg(st));
            return NULL;
        }
        if (!known) {
            free(key);
            *rc_r = ctl_err(CTL_USAGE, NULL, "\"%s\": %s", arg, why);
            return NULL;
        }
        ctl_err(CTL_OK, NULL, "warning: \"%s\" is not an address (%s), but the milter "
                "decided such a recipient as the customer <%s>: that customer", arg, why, key);
        return key;
    }
    char *cust = NULL;
    int found = cg_ident_customer(st, addr, &cust, NULL);
    free(addr);
    if (found < 0) {
        *rc_r = ctl_err(CTL_STORE, NULL, "%s", cg_store_errmsg(st));
        return NULL;
    }
    return cust;
}

/* ctl_customer_store - the customer (if any) and the store */
int ctl_customer_store(struct ctl *c, const char *arg, char **cust_r, cg_store **st_r)
{
    int rc = CTL_OK;
    char *cust = NULL;
    if (arg && !(cust = ctl_customer(c, arg, &rc)))
        return rc;
    cg_store *st = ctl_store(c);
    if (!st) {
        free(cust);
        return CTL_STORE;
    }
    *cust_r = cust;
    *st_r = st;
    return CTL_OK;
}

/* ctl_name_ok - [a-z0-9_-]{1,max} */
int ctl_name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return 0;
    return 1;
}

/* ctl_args - options and arguments of a command */
int ctl_args(const char *cmd, int argc, char **argv, const struct ctl_opt *opts, char **pos,
             int max_pos, int *npos_r)
{
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        const struct ctl_opt *o = opts;
        while (o->name && (strcmp(argv[i], o->name) || (o->val && i + 1 >= argc)))
            o++;
        if (o->name && o->val)
            *o->val = argv[++i];
        else if (o->name)
            *o->flag = 1;
        else if (argv[i][0] == '-' && argv[i][1])
            return ctl_err(CTL_USAGE, cmd, "unknown option \"%s\" or missing value", argv[i]);
        else if (npos < max_pos)
            pos[npos++] = argv[i];
        else if (max_pos == 0)
            return ctl_err(CTL_USAGE, cmd, "unexpected argument \"%s\"", argv[i]);
        else
            return ctl_err(CTL_USAGE, cmd, "too many arguments at \"%s\"", argv[i]);
    }
    if (npos_r)
        *npos_r = npos;
    return CTL_OK;
}

/* ctl_span_row - one state or opt-out */
void ctl_span_row(struct ctl_span_list *l, const char *customer, const char *name, int64_t since,
                  int64_t until, const char *note)
{
    char since_s[32], until_s[32] = "-";
    cg_format_time(since, since_s, sizeof since_s);
    if (until)
        cg_format_time(until, until_s, sizeof until_s);
    int open = since <= l->c->now && (until == 0 || until > l->c->now);
    if (l->arr) {
        json_t *o = json_object();
        json_object_set_new(o, "customer", json_string(customer));
        json_object_set_new(o, l->key, json_string(name));
        json_object_set_new(o, "since", json_string(since_s));
        json_object_set_new(o, "until", until ? json_string(until_s) : json_null());
        json_object_set_new(o, "open", json_boolean(open));
        json_object_set_new(o, "note", ctl_jstr(note));
        json_array_append_new(l->arr, o);
    } else {
        if (l->n == 0)
            printf("%-28s %-*s %-21s %-21s %-*s %s\n", "CUSTOMER", l->key_w, l->head, "SINCE",
                   "UNTIL", l->open_w, "OPEN", "NOTE");
        printf("%-28s %-*s %-21s %-21s %-*s %s\n", customer, l->key_w, name, since_s, until_s,
               l->open_w, open ? "yes" : "no", note ? note : "");
    }
    l->n++;
}

/* ctl_span_end - the JSON out, or whether the table is empty */
int ctl_span_end(struct ctl_span_list *l, int rc)
{
    if (l->arr) {
        if (rc == CTL_OK)
            ctl_json_print(l->arr);
        else
            json_decref(l->arr);
        l->arr = NULL;
        return 0;
    }
    return rc == CTL_OK && l->n == 0;
}

/* ctl_time_arg - a time option */
int ctl_time_arg(struct ctl *c, const char *cmd, const char *opt, const char *val, int64_t *r)
{
    if (!val || cg_parse_time(val, c->now, r) < 0)
        return ctl_err(CTL_USAGE, cmd, "%s \"%s\" is not a time (use 2026-11-22, "
                       "2026-11-22T10:00:00Z, @UNIXTIME, -7d or +2h)", opt, val ? val : "");
    return CTL_OK;
}

/* ctl_jstr - a JSON string or null */
json_t *ctl_jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* ctl_json_print - print a JSON document and free it */
void ctl_json_print(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(j);
}

/* ctl_wants_help - -h/--help anywhere */
int ctl_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    return 0;
}

/* ctl_print_help - one command's help */
void ctl_print_help(const struct ctl_cmd *cmd)
{
    if (strncmp(cmd->help, "NAME\n", 5) == 0)
        fputs(cmd->help, stdout); /* the text has its own NAME section */
    else
        printf("NAME\n  contactgatectl %s - %s\n\n%s", cmd->name, cmd->synopsis, cmd->help);
}

int main(int argc, char **argv)
{
    struct ctl c = {.config_path = CG_DEFAULT_CONFIG, .now = cg_now()};
    cg_log_open("contactgatectl", 0, 1, LOG_WARNING);
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-c") && i + 1 < argc)
            c.config_path = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            c.json = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return usage(stdout, CTL_OK);
        else
            return ctl_err(CTL_USAGE, NULL, "unknown option \"%s\" (see --help)", argv[i]);
    }
    if (i >= argc)
        return usage(stderr, CTL_USAGE);
    const struct ctl_cmd *cmd = NULL;
    for (size_t k = 0; commands[k]; k++)
        if (!strcmp(commands[k]->name, argv[i]))
            cmd = commands[k];
    if (!cmd)
        return ctl_err(CTL_USAGE, NULL, "unknown command \"%s\" (see --help)", argv[i]);
    int rc;
    if (ctl_wants_help(argc - i - 1, argv + i + 1)) {
        ctl_print_help(cmd);
        rc = CTL_OK;
    } else {
        /* --json may also follow the command */
        int n = 0;
        char **args = cg_xcalloc((size_t)(argc - i) + 1, sizeof *args);
        for (int k = i + 1; k < argc; k++) {
            if (!strcmp(argv[k], "--json"))
                c.json = 1;
            else
                args[n++] = argv[k];
        }
        rc = cmd->run(&c, n, args);
        free(args);
    }
    cg_store_free(&c.st);
    cg_config_unref(&c.cfg);
    return rc;
}
