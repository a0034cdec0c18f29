/*
 * ctl.h - shared parts of contactgatectl: options, the command table,
 * opening the configuration and the store, output helpers.
 *
 * Exit status (SPEC): 0 ok, 1 usage or input error (the message names the
 * argument, line or field), 2 store error.
 */
#ifndef CTL_H
#define CTL_H

#include <jansson.h>
#include <stdint.h>
#include "cg_config.h"
#include "cg_store.h"

#define CTL_OK 0
#define CTL_USAGE 1
#define CTL_STORE 2

struct ctl {
    const char *config_path;
    struct cg_config *cfg;    /* loaded on first use */
    cg_store *st;             /* opened on first use */
    int json;                 /* --json */
    int64_t now;
};

struct ctl_cmd {
    const char *name;         /* "state", "history", ... */
    const char *synopsis;     /* one line */
    const char *help;         /* the man-page-like text for --help */
    int (*run)(struct ctl *c, int argc, char **argv);
};

/* Each command file registers its commands at start-up, so adding a
 * command is adding a file:  CTL_REGISTER(ctl_cmd_prune)  after the
 * definition. `contactgatectl --help` lists them in name order. */
void ctl_register(const struct ctl_cmd *cmd);
#define CTL_REGISTER(var)                                                     \
    __attribute__((constructor)) static void ctl_register_##var(void)         \
    {                                                                         \
        ctl_register(&(var));                                                 \
    }

/* ctl_config / ctl_store - load on demand; print the error and return NULL */
struct cg_config *ctl_config(struct ctl *c);
cg_store *ctl_store(struct ctl *c);
/* ctl_customer - CUSTOMER or ADDRESS to a customer id (malloc'ed); NULL
 * with a message on a malformed address or a store error (*rc_r set). */
char *ctl_customer(struct ctl *c, const char *arg, int *rc_r);
/* ctl_err - print "contactgatectl: CMD: message" to stderr, return rc */
int ctl_err(int rc, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* ctl_time_arg - parse a time option value or fail naming the option */
int ctl_time_arg(struct ctl *c, const char *cmd, const char *opt, const char *val, int64_t *r);
/* ctl_json_print - dump and free */
void ctl_json_print(json_t *j);
/* ctl_wants_help - argv has -h or --help */
int ctl_wants_help(int argc, char **argv);
void ctl_print_help(const struct ctl_cmd *cmd);

#endif
