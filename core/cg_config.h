/*
 * cg_config.h - the configuration snapshot: load, validate, print, free.
 *
 * A cg_config is immutable once loaded. The daemon keeps one current
 * snapshot and reference-counts it (cg_config_ref/unref): a reload builds
 * and validates a complete new snapshot, swaps it in, and the old one is
 * freed when the last message that uses it is done.
 *
 * Every key is defined once, as a row of the key table in cg_config.c
 * (name, type, default, the field below it fills, validator, one line of
 * documentation); loading, defaults, the -n printout, freeing and
 * cg_config_keys() all follow that table, and a test checks that the man
 * page contactgate.json(5) lists the same keys and defaults. Any error
 * names the key path, e.g.
 *   policies[2].params.window: "7x" is not a duration
 *   departments[0].match.client_addr[1]: "10.0.0.0/33" is not a CIDR
 * and an unknown key is an error, never silently ignored.
 */
#ifndef CG_CONFIG_H
#define CG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "cg_util.h"

/* Verdict actions, in order of severity. */
enum cg_action {
    CG_ACT_ACCEPT = 0,
    CG_ACT_TAG = 1,
    CG_ACT_HOLD = 2,
    CG_ACT_DEFER = 3,
    CG_ACT_REJECT = 4,
};
const char *cg_action_name(int action);
int cg_action_parse(const char *s);     /* -1 if unknown */

enum cg_mode { CG_MODE_ENFORCE = 0, CG_MODE_MONITOR = 1 };
enum cg_on_error { CG_ONERR_TEMPFAIL = 0, CG_ONERR_ACCEPT = 1 };

struct cg_plugin_so;                     /* cg_plugin.h */

struct cg_department {
    char *name;
    /* match: any listed criterion that matches selects the department */
    char **senders;          /* glob patterns on the envelope sender */
    size_t n_senders;
    char **auth_users;       /* exact SASL login names ({auth_authen}) */
    size_t n_auth_users;
    struct cg_cidr *clients; /* client_addr CIDRs */
    size_t n_clients;
    char **daemon_names;     /* {daemon_name} values */
    size_t n_daemon_names;
    char **header_values;    /* X-Department values, from trusted clients only */
    size_t n_header_values;
    char *default_category;  /* e.g. "functional.bill" */
    char **allowed;          /* allowed category patterns, NULL-terminated */
    size_t n_allowed;
};

struct cg_policy {
    char *name;
    char *plugin_name;
    char **departments;      /* NULL-terminated; NULL = every department */
    size_t n_departments;
    char **categories;       /* category patterns, NULL-terminated; NULL = all */
    size_t n_categories;
    int action;              /* enum cg_action (never ACCEPT) */
    int mode;                /* effective: policy "mode", else the global one */
    int64_t max_defer;       /* 0: no limit; else seconds from the first deferral */
    int on_expiry;           /* CG_ACT_REJECT or CG_ACT_HOLD */
    int fail_closed;         /* plugin is a legal suppression (CG_PLUGIN_FAIL_CLOSED) */
    int no_history;          /* plugin reads no history, may block: evaluated in the
                                session's thread first (CG_PLUGIN_NO_HISTORY) */
    struct cg_plugin_so *so; /* NULL when loaded without plugins */
    void *instance;          /* plugin instance from init() */
    char *params_text;       /* the params as compact JSON (for -n) */
};

struct cg_config {
    int refs;                /* managed by cg_config_ref/unref */
    char *path;
    char version[17];        /* FNV-1a of every file read, hex */
    char *socket;
    char *database;          /* a SQLite file, or a PostgreSQL URI or conninfo */
    int database_is_pg;      /* database is PostgreSQL (cg_database_is_pg) */
    int64_t database_timeout_secs; /* one call to a database server */
    char *plugin_dir;
    int mode;                /* enum cg_mode */
    int on_error;            /* enum cg_on_error */
    int durability_power;    /* 1: every commit fsynced (survives power loss);
                                0: survives a crash of the process (default) */
    char *timezone;          /* default recipient time zone, IANA */
    char *tag_header;        /* "X-Contact-Gate" */
    int tag_policy_names;    /* the tag header names the violated policies */
    char *relay;             /* this relay's name in the decision log */
    struct cg_cidr *trusted_clients; /* may send X-Department */
    size_t n_trusted_clients;
    struct cg_cidr *milter_clients;  /* who may connect to an inet socket */
    size_t n_milter_clients;
    int64_t milter_timeout_secs;     /* libmilter's read/write timeout */
    char *database_group;    /* NULL: history files 0600; else 0640 to it */
    char *pid_file;          /* where contactgate writes its pid, ctl reads it */
    char *metrics_file;      /* the Prometheus textfile, or NULL: none */
    int64_t metrics_interval_secs; /* how often it is written */
    char *control_socket;    /* the unix socket contactgatectl status asks */

    /* classify */
    char *category_header;   /* "X-Contact-Category" */
    char *department_header; /* "X-Department" */
    int heuristics;          /* List-Unsubscribe / Precedence: bulk */
    char *bulk_category;     /* what heuristics imply, "promotional.bulk" */
    char *unknown_category;  /* mail of no department: "promotional.unclassified" */

    /* local_submission: mail submitted on this host (Postfix's sendmail(1)
     * path; SMTP clients in local_clients, e.g. Sendmail's MSP) */
    int64_t local_max_defer_secs;    /* 0: no limit of its own */
    struct cg_cidr *local_clients;
    size_t n_local_clients;

    /* recipients */
    int fold_local;          /* lowercase the local part too */
    int strip_plus;          /* strip +tag */
    char **exempt;           /* glob patterns, NULL-terminated */
    size_t n_exempt;

    struct cg_department *departments;
    size_t n_departments;
    struct cg_policy *policies;
    size_t n_policies;
    char **included;         /* every file read through include, in order */
    size_t n_included;

    int needs_body;          /* some plugin wants the body (CG_PLUGIN_WANTS_BODY) */
    int has_fail_closed;     /* some policy is a legal suppression */
    int has_no_history;      /* some policy is evaluated outside the store */
    struct cg_plugin_so **sos; /* every plugin .so loaded for this snapshot */
    size_t n_sos;
};

/* load flags */
#define CG_CONFIG_NO_PLUGINS 0x01 /* validate without loading plugins */

/* cg_config_load - read, validate and build a snapshot (refs = 1).
 * On error returns NULL with a one-line message naming the file and key
 * path in err. */
struct cg_config *cg_config_load(const char *path, int flags, char *err, size_t errlen);
/* cg_config_ref / cg_config_unref - thread-safe reference counting;
 * unref frees at zero (destroying plugin instances, closing .so files). */
struct cg_config *cg_config_ref(struct cg_config *c);
void cg_config_unref(struct cg_config **c);
/* cg_config_print - the effective configuration and policy set, for -n:
 * one "KEY VALUE" line per setting (defaults included; a PostgreSQL
 * password masked), then the departments and the policies. */
void cg_config_print(const struct cg_config *c, FILE *fp);

struct cg_kt_info; /* cg_keytab.h */
/* cg_config_keys - fn for every key, in table order, depth first. */
void cg_config_keys(void (*fn)(const struct cg_kt_info *key, void *arg), void *arg);

#endif
