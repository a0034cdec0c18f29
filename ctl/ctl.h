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
#include <stddef.h>
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

/* ctl_reload - `reload` and `config reload` (ctl_reload.c): signal the
 * daemon named by the pid file; cmd names the command in messages. */
int ctl_reload(struct ctl *c, const char *cmd, int argc, char **argv);

/* ctl_config / ctl_store - load on demand; print the error and return NULL */
struct cg_config *ctl_config(struct ctl *c);
cg_store *ctl_store(struct ctl *c);
/* ctl_customer - CUSTOMER or ADDRESS to a customer id (malloc'ed): an
 * address is normalised as the milter does (cg_addr_normalise) and mapped
 * through the customer map. NULL with a message on a malformed address or
 * a store error (*rc_r set); but a malformed address the milter has
 * decided as its own customer (it is in the history) is that customer,
 * with a warning. */
char *ctl_customer(struct ctl *c, const char *arg, int *rc_r);
/* ctl_customer_store - ctl_customer on arg (NULL: no customer, *cust_r
 * NULL), then the store: CTL_OK with *cust_r (malloc'ed; the caller frees
 * it) and *st_r, or the exit status with the message printed and nothing
 * to free. */
int ctl_customer_store(struct ctl *c, const char *arg, char **cust_r, cg_store **st_r);
/* ctl_name_ok - a name of [a-z0-9_-], 1 to max characters (states,
 * channels) */
int ctl_name_ok(const char *s, size_t max);

/* One option of a command for ctl_args: "--name VALUE" sets *val to
 * VALUE (given twice, the last counts); a flag (val NULL) sets *flag to 1. */
struct ctl_opt {
    const char *name;
    const char **val;
    int *flag;
};
/* ctl_args - parse argv against opts (ended by an entry with a NULL
 * name); the other arguments, at most max_pos of them, go to pos[] and
 * their number to *npos_r (may be NULL with max_pos 0). An unknown option,
 * an option without its value or one argument too many: the error is
 * printed for cmd ("unexpected argument" where max_pos is 0) and
 * CTL_USAGE returned; else CTL_OK. */
int ctl_args(const char *cmd, int argc, char **argv, const struct ctl_opt *opts, char **pos,
             int max_pos, int *npos_r);

/* A repeatable option ("--to A --to B"): its values, in command-line
 * order (pointers into argv); ctl_multi_free releases the array. */
struct ctl_multi {
    const char *name;
    const char **v;
    size_t n;
};
void ctl_multi_free(struct ctl_multi *m);
/* ctl_args_multi - ctl_args, and the repeatable options multi[] (ended by
 * a NULL name; may be NULL). On an error their values are freed. */
int ctl_args_multi(const char *cmd, int argc, char **argv, const struct ctl_opt *opts,
                   struct ctl_multi *multi, char **pos, int max_pos, int *npos_r);

/* A listing of per-customer entries that hold from `since` until `until`
 * (0: open-ended), with a note: customer states, opt-outs. With --json
 * the rows are gathered as {customer, KEY, since, until, open, note};
 * else a table with a heading, printed as the rows come. */
struct ctl_span_list {
    struct ctl *c;
    json_t *arr;        /* the JSON rows; NULL: a text table */
    int n;              /* rows so far */
    const char *key;    /* the entry's JSON member: "state", "category" */
    const char *head;   /* its column heading: "STATE", "CATEGORY" */
    int key_w, open_w;  /* the widths of its column and of OPEN */
};
void ctl_span_row(struct ctl_span_list *l, const char *customer, const char *name, int64_t since,
                  int64_t until, const char *note);
/* ctl_span_end - after the listing, whose status is rc: print the JSON
 * (rc CTL_OK) or free it; 1 if the text table stayed empty and rc is
 * CTL_OK (the caller says that nothing matched) */
int ctl_span_end(struct ctl_span_list *l, int rc);

/* A text listing: a heading and rows, each column as wide as its widest
 * cell, so that nothing is cut and every row lines up whatever the data;
 * an empty cell shows as "-". Rows are kept (copied) until
 * ctl_table_print, which prints (heading only if there are rows) and
 * frees. */
struct ctl_table {
    size_t ncols;
    const char *const *head;
    char **cells;             /* nrows * ncols */
    size_t nrows;
};
void ctl_table_row(struct ctl_table *t, const char *const *cells);
void ctl_table_print(struct ctl_table *t);

/* The decision log as the listings show it (ctl_query.c):
 * ctl_collect_decision - a cg_store_decision_cb appending one row as JSON
 * to the json_t array arg; ctl_decisions_table - such rows as the
 * `decisions` table */
int ctl_collect_decision(const struct cg_decision_row *d, void *arg);
void ctl_decisions_table(json_t *rows);
/* `decisions --queue-id QID` when no decision has that ID (ctl_queued.c):
 * the message the MTA still has under it, what contactgate decided about
 * its recipients (their deferral episodes) and how to remove it.
 * ctl_queued_find asks the MTA (before the store is opened: the listing
 * may need root); mta: the MTA options; explicit: they were given (an MTA
 * that cannot be asked is then an error, else it is just not asked).
 * ctl_queued_show prints it (or that nothing matches) and returns the
 * exit status. */
struct ctl_mta_opts;
struct ctl_queued;
struct ctl_queued *ctl_queued_find(const char *qid, const struct ctl_mta_opts *mta, int explicit);
int ctl_queued_show(struct ctl *c, struct ctl_queued *q);
void ctl_queued_free(struct ctl_queued **q);

/* ctl_err - print "contactgatectl: CMD: message" to stderr, return rc */
int ctl_err(int rc, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Times and durations of options, with the one parser (cg_time.h) and its
 * one wording: `cmd: OPT "VALUE" is not a time (...)`, printed; CTL_OK or
 * CTL_USAGE. ctl_time_arg: a time (2026-11-22, @UNIXTIME, -7d, +2h);
 * ctl_since_arg: a time, or an age ("30d" is 30 days ago) where a range
 * in the past starts or ends; ctl_duration_arg: a duration of at least
 * min_secs. */
int ctl_time_arg(struct ctl *c, const char *cmd, const char *opt, const char *val, int64_t *r);
int ctl_since_arg(struct ctl *c, const char *cmd, const char *opt, const char *val, int64_t *r);
int ctl_duration_arg(const char *cmd, const char *opt, const char *val, int64_t min_secs,
                     int64_t *r);
/* ctl_jstr - a JSON string, or null for NULL */
json_t *ctl_jstr(const char *s);
/* ctl_json_print - dump and free */
void ctl_json_print(json_t *j);
/* ctl_wants_help - argv has -h or --help */
int ctl_wants_help(int argc, char **argv);
void ctl_print_help(const struct ctl_cmd *cmd);

#endif
