/*
 * ctl_main.c - contactgatectl: the admin and compliance CLI.
 *
 *   contactgatectl [-c config] [--json] COMMAND [args]
 *
 * This file holds option parsing, the command table and the helpers every
 * command shares; each command lives in its own ctl_*.c file.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        if (cg_priv_become_owner(c->cfg->database, err, sizeof err) < 0) {
            ctl_err(CTL_STORE, NULL, "%s", err);
            return NULL;
        }
        c->st = cg_store_open(c->cfg->database, 0, err, sizeof err);
        if (!c->st)
            ctl_err(CTL_STORE, NULL, "%s", err);
    }
    return c->st;
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
    const char *why = NULL;
    char *addr = cg_addr_normalise(arg, cfg->fold_local, cfg->strip_plus, 0, &why);
    if (!addr) {
        *rc_r = ctl_err(CTL_USAGE, NULL, "\"%s\": %s", arg, why);
        return NULL;
    }
    cg_store *st = ctl_store(c);
    if (!st) {
        free(addr);
        *rc_r = CTL_STORE;
        return NULL;
    }
    char *cust = NULL, *tz = NULL;
    int found = cg_store_customer_lookup(st, addr, &cust, &tz);
    free(tz);
    if (found < 0) {
        free(addr);
        *rc_r = ctl_err(CTL_STORE, NULL, "%s", cg_store_errmsg(st));
        return NULL;
    }
    if (found) {
        free(addr);
        return cust;
    }
    return addr;
}

/* ctl_time_arg - a time option */
int ctl_time_arg(struct ctl *c, const char *cmd, const char *opt, const char *val, int64_t *r)
{
    if (!val || cg_parse_time(val, c->now, r) < 0)
        return ctl_err(CTL_USAGE, cmd, "%s \"%s\" is not a time (use 2026-11-22, "
                       "2026-11-22T10:00:00Z, @UNIXTIME, -7d or +2h)", opt, val ? val : "");
    return CTL_OK;
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
