/*
 * cg_config.c - load, validate and print the configuration (cg_config.h).
 *
 * The file is JSON (jansson, which reports line and column of syntax
 * errors). Every key of every object is one row of a key table below:
 * its name, type, default, the field it goes to, its validator and one
 * line of documentation. Loading, defaults, the -n printout, freeing and
 * `contactgatectl config keys` all walk the same rows, and a unit test
 * checks that man/contactgate.json.5 lists the same keys with the same
 * defaults; adding a key is adding its field and its row.
 *
 * Validation walks the document with a key path ("policies[2].
 * params.window") so every error names where it is; an unknown key is an
 * error. `include` pulls in further files (policy sets from policies/):
 * they are read first, so their departments and policies come first, in
 * include order, then the including file's own; a scalar key set in two
 * files is an error, so no setting is silently overridden.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg_addr.h"
#include "cg_category.h"
#include "cg_config.h"
#include "cg_database.h"
#include "cg_keytab.h"
#include "cg_plugin.h"
#include "cg_tz.h"
#include "contactgate/plugin.h"

#ifndef CG_PLUGIN_DIR
#define CG_PLUGIN_DIR "/usr/local/lib/contactgate/plugins"
#endif
#define CG_MAX_INCLUDE_DEPTH 4
#define CG_MAX_CONFIG_BYTES (16 * 1024 * 1024) /* per file */
#define CG_RELAY_MAX 64
#define CG_RELAY_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

/* The state of one load: the key table's, and the configuration's own. */
struct cfg_load {
    struct cg_kt_loader kt;
    struct cg_config *c;
    uint64_t hash;          /* FNV-1a of every file read: the version */
    json_t *docs;           /* [path, document] of every file read */
    json_t *policy_params;  /* params objects, parallel to c->policies */
    json_t *policy_paths;   /* "FILE: policies[N]", parallel to c->policies */
    int depth;              /* of includes */
};
#define CFG_LOAD(L) ((struct cfg_load *)(L)->arg)

static const char *const action_names[] = {"accept", "tag", "hold", "defer", "reject"};

/* cg_action_name - "tag", "defer", ... */
const char *cg_action_name(int action)
{
    if (action < 0 || action > CG_ACT_REJECT)
        return "?";
    return action_names[action];
}

/* cg_action_parse - the action named s, or -1 */
int cg_action_parse(const char *s)
{
    for (int i = 0; i <= CG_ACT_REJECT; i++)
        if (s && strcmp(s, action_names[i]) == 0)
            return i;
    return -1;
}

/* --- validators and conversions --------------------------------------------- */

/* check_socket - unix:/path or inet:PORT@HOST (libmilter's forms) */
static const char *check_socket(const char *s, char *buf, size_t len)
{
    const char *why = NULL;
    if (!strncmp(s, "unix:", 5) || !strncmp(s, "local:", 6)) {
        const char *p = strchr(s, ':') + 1;
        if (p[0] != '/')
            why = "a unix socket needs an absolute path";
        else if (strlen(p) >= 108)
            why = "path longer than a unix socket allows";
    } else if (!strncmp(s, "inet:", 5) || !strncmp(s, "inet6:", 6)) {
        const char *p = strchr(s, ':') + 1;
        char *end;
        long port = strtol(p, &end, 10);
        if (end == p || port < 1 || port > 65535 || (*end && *end != '@'))
            why = "expected inet:PORT@HOST with PORT 1-65535";
        else if (*end == '@' && !end[1])
            why = "empty host after '@'";
    } else {
        why = "expected unix:/path or inet:PORT@HOST";
    }
    if (!why)
        return NULL;
    snprintf(buf, len, "\"%s\": %s", s, why);
    return buf;
}

/* check_control_socket - a path a unix socket can have */
static const char *check_control_socket(const char *s, char *buf, size_t len)
{
    if (strlen(s) >= 100)
        return cg_kt_quoted(buf, len, s, "is longer than a unix socket's path may be (99)");
    return NULL;
}

/* conv_socket - "inet:PORT" without a host listens on loopback only
 * (libmilter's own default would be every address): inet:PORT@127.0.0.1,
 * inet6:PORT@::1 */
static char *conv_socket(const char *file, const char *s)
{
    (void)file;
    int v6 = !strncmp(s, "inet6:", 6);
    if ((!v6 && strncmp(s, "inet:", 5)) || strchr(s, '@'))
        return cg_xstrdup(s);
    return cg_xasprintf("%s@%s", s, v6 ? "::1" : "127.0.0.1");
}

/* check_group - a group that exists (the history's readers) */
static const char *check_group(const char *s, char *buf, size_t len)
{
    if (getgrnam(s))
        return NULL;
    snprintf(buf, len, "\"%s\": no such group", s);
    return buf;
}

/* show_database - the printout of `database`: no password */
static void show_database(struct cg_buf *b, const char *s)
{
    char *t = cg_database_text(s);
    cg_buf_add(b, t);
    free(t);
}

/* conv_address_pattern - an address glob in the form addresses are compared
 * in (cg_addr_pattern: domain lower-cased, no trailing dot, IDN as A-labels),
 * so that "*@Offers.Corp.Example." still matches */
static char *conv_address_pattern(const char *file, const char *s)
{
    (void)file;
    return cg_addr_pattern(s);
}

/* conv_database - a SQLite path is relative to the file; a PostgreSQL
 * URI or conninfo and ":memory:" are kept as written */
static char *conv_database(const char *file, const char *s)
{
    if (!strcmp(s, ":memory:") || cg_database_is_pg(s))
        return cg_xstrdup(s);
    return cg_kt_path_in(file, s);
}

/* check_tz - a time zone ICU knows */
static const char *check_tz(const char *s, char *buf, size_t len)
{
    if (cg_tz_valid(s))
        return NULL;
    return cg_kt_quoted(buf, len, s, "is not a time zone (IANA id such as \"Europe/Berlin\")");
}

/* check_header - a header field name (RFC 5322: printable, no ':') */
static const char *check_header(const char *s, char *buf, size_t len)
{
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p > '~' || *p == ':')
            return cg_kt_quoted(buf, len, s, "is not a header name (printable characters, "
                          "no blank or ':')");
    return NULL;
}

/* check_relay - [A-Za-z0-9._-], 1 to 64 characters */
static const char *check_relay(const char *s, char *buf, size_t len)
{
    size_t n = strspn(s, CG_RELAY_CHARS);
    if (s[n] || n > CG_RELAY_MAX)
        return cg_kt_quoted(buf, len, s,
                            "is not a relay name (1 to 64 characters of A-Z a-z 0-9 . _ -)");
    return NULL;
}

/* default_relay - the host name, cut before the first character a relay
 * name may not hold (a per-thread buffer: loads may run on two threads) */
static const char *default_relay(void)
{
    static _Thread_local char name[CG_RELAY_MAX + 1];
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) < 0)
        host[0] = 0;
    size_t n = strspn(host, CG_RELAY_CHARS);
    if (n == 0)
        cg_strlcpy(host, "localhost", sizeof host), n = 9;
    if (n > CG_RELAY_MAX)
        n = CG_RELAY_MAX;
    memcpy(name, host, n);
    name[n] = 0;
    return name;
}

/* default_plugin_dir - CONTACTGATE_PLUGIN_DIR (checking a policy set from
 * the source tree, tests), else the compiled-in directory */
static const char *default_plugin_dir(void)
{
    const char *env = getenv("CONTACTGATE_PLUGIN_DIR");
    return env && *env ? env : CG_PLUGIN_DIR;
}

/* check_category - a dotted name of [a-z0-9_-] labels */
static const char *check_category(const char *s, char *buf, size_t len)
{
    if (cg_category_valid(s, 0))
        return NULL;
    return cg_kt_quoted(buf, len, s,
                        "is not a category (dotted lower-case labels, e.g. promotional.offer)");
}

/* check_category_pattern - a category, a.b.* or * */
static const char *check_category_pattern(const char *s, char *buf, size_t len)
{
    if (cg_category_valid(s, 1))
        return NULL;
    return cg_kt_quoted(buf, len, s,
                        "is not a category pattern (e.g. promotional.* or functional.bill)");
}

/* check_pattern - an address glob */
static const char *check_pattern(const char *s, char *buf, size_t len)
{
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>')
            return cg_kt_quoted(buf, len, s,
                                "contains a blank, control character or angle bracket");
    return NULL;
}

/* check_dept_name - [a-z0-9_-]; "unknown" is taken */
static const char *check_dept_name(const char *s, char *buf, size_t len)
{
    if (!cg_category_valid(s, 0) || strchr(s, '.'))
        return cg_kt_quoted(buf, len, s, "is not a name of [a-z0-9_-]");
    if (!strcmp(s, "unknown"))
        return "\"unknown\" is reserved for mail no department matches";
    return NULL;
}

/* check_policy_name - [a-z0-9._-], 1 to 64 characters */
static const char *check_policy_name(const char *s, char *buf, size_t len)
{
    if (s[strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-_.")])
        return cg_kt_quoted(buf, len, s, "is not a name of [a-z0-9._-]");
    if (strlen(s) > 64)
        return "must be 1 to 64 characters";
    return NULL;
}

/* check_plugin_name - [a-z0-9_-]: a file name in plugin_dir, no path */
static const char *check_plugin_name(const char *s, char *buf, size_t len)
{
    if (s[strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-_")])
        return cg_kt_quoted(buf, len, s, "is not a plugin name of [a-z0-9_-]");
    return NULL;
}

/* --- the tables ------------------------------------------------------------ */

/* where a row's value goes: a field (and its count) of the table's struct */
#define CFG(f) .off = offsetof(struct cg_config, f)
#define CFGN(f, n) CFG(f), .n_off = offsetof(struct cg_config, n)
#define DEP(f) .off = offsetof(struct cg_department, f)
#define DEPN(f, n) DEP(f), .n_off = offsetof(struct cg_department, n)
#define POL(f) .off = offsetof(struct cg_policy, f)
#define POLN(f, n) POL(f), .n_off = offsetof(struct cg_policy, n)

static const struct cg_kt_choice modes[] = {
    {"enforce", CG_MODE_ENFORCE}, {"monitor", CG_MODE_MONITOR}, {NULL, 0}};
static const struct cg_kt_choice on_errors[] = {
    {"tempfail", CG_ONERR_TEMPFAIL}, {"accept", CG_ONERR_ACCEPT}, {NULL, 0}};
static const struct cg_kt_choice durabilities[] = {{"process", 0}, {"power", 1}, {NULL, 0}};
static const struct cg_kt_choice actions[] = {
    {"tag", CG_ACT_TAG}, {"hold", CG_ACT_HOLD}, {"defer", CG_ACT_DEFER},
    {"reject", CG_ACT_REJECT}, {NULL, 0}};
static const struct cg_kt_choice expiries[] = {
    {"reject", CG_ACT_REJECT}, {"hold", CG_ACT_HOLD}, {NULL, 0}};

static const struct cg_kt_key classify_keys[] = {
    {"category_header", CG_KT_STRING, CFG(category_header), .def = "X-Contact-Category",
     .check = check_header, .doc = "control header with the category a department claims"},
    {"department_header", CG_KT_STRING, CFG(department_header), .def = "X-Department",
     .check = check_header, .doc = "control header naming the department (trusted clients only)"},
    {"heuristics", CG_KT_BOOL, CFG(heuristics), .def = "true",
     .doc = "List-Unsubscribe, List-Id, Precedence: bulk/list imply promotional"},
    {"bulk_category", CG_KT_STRING, CFG(bulk_category), .def = "promotional.bulk",
     .check = check_category,
     .doc = "category the heuristics give when the department's default is not promotional"},
    {"unknown_category", CG_KT_STRING, CFG(unknown_category), .def = "promotional.unclassified",
     .check = check_category,
     .doc = "category of mail from a sender that matches no department"},
    {.name = NULL},
};
static const struct cg_kt_table classify_table = {.keys = classify_keys, .once = 1, .indent = 2};

static const struct cg_kt_key local_keys[] = {
    {"max_defer", CG_KT_DURATION, CFG(local_max_defer_secs), .flags = CG_KT_POSITIVE,
     .none = "none",
     .doc = "longest a local submission stays deferred, whatever the policy; then on_expiry"},
    {"clients", CG_KT_CIDRS, CFGN(local_clients, n_local_clients), .none = "none",
     .doc = "SMTP clients whose mail is local submission too (Sendmail's MSP: 127.0.0.1)"},
    {.name = NULL},
};
static const struct cg_kt_table local_table = {.keys = local_keys, .once = 1, .indent = 2};

static const struct cg_kt_key recipients_keys[] = {
    {"lowercase", CG_KT_BOOL, CFG(fold_local), .def = "true",
     .doc = "fold the local part to lower case (domains always are)"},
    {"strip_plus", CG_KT_BOOL, CFG(strip_plus), .def = "false",
     .doc = "strip +tag from the local part (ann+promo@x is ann@x)"},
    {"exempt", CG_KT_STRLIST, CFGN(exempt, n_exempt), .check = check_pattern,
     .convert = conv_address_pattern, .doc = "address globs that are not customers (never limited, never counted)"},
    {.name = NULL},
};
static const struct cg_kt_table recipients_table = {
    .keys = recipients_keys, .once = 1, .indent = 2};

static const struct cg_kt_key match_keys[] = {
    {"sender", CG_KT_STRLIST, DEPN(senders, n_senders), .check = check_pattern,
     .convert = conv_address_pattern, .flags = CG_KT_QUIET,
     .doc = "envelope sender globs (billing@corp.example, *@offers.corp.example)"},
    {"auth_user", CG_KT_STRLIST, DEPN(auth_users, n_auth_users), .flags = CG_KT_QUIET,
     .doc = "SASL login names"},
    {"client_addr", CG_KT_CIDRS, DEPN(clients, n_clients), .flags = CG_KT_QUIET,
     .doc = "SMTP client address CIDRs"},
    {"daemon_name", CG_KT_STRLIST, DEPN(daemon_names, n_daemon_names), .flags = CG_KT_QUIET,
     .doc = "the MTA's {daemon_name} values"},
    {"header", CG_KT_STRLIST, DEPN(header_values, n_header_values), .flags = CG_KT_QUIET,
     .doc = "X-Department values, believed from trusted_clients only"},
    {.name = NULL},
};
static const struct cg_kt_table match_table = {.keys = match_keys, .indent = 4};

static int department_done(struct cg_kt_loader *L, json_t *obj, void *item, const char *path);
static void department_heading(FILE *fp, size_t i, const void *item);

static const struct cg_kt_key department_keys[] = {
    {"name", CG_KT_STRING, DEP(name), .check = check_dept_name, .missing = "is missing",
     .flags = CG_KT_IN_HEADING, .doc = "department name, [a-z0-9_-] (\"unknown\" is taken)"},
    {"match", CG_KT_OBJECT, .sub = &match_table, .flags = CG_KT_NONEMPTY,
     .missing = "is missing or empty: say how this department's mail is recognised",
     .doc = "how its mail is recognised: any criterion that matches selects it"},
    {"default_category", CG_KT_STRING, DEP(default_category), .check = check_category,
     .missing = "is missing (every department needs a default category)",
     .doc = "category of its mail when none is claimed"},
    {"allowed_categories", CG_KT_STRLIST, DEPN(allowed, n_allowed), .check = check_category_pattern,
     .none = "any", .doc = "category patterns it may claim (absent: any)"},
    {.name = NULL},
};
static const struct cg_kt_table department_table = {
    .note = ", first match wins; otherwise \"unknown\"",
    .keys = department_keys,
    .size = sizeof(struct cg_department),
    .indent = 4,
    .done = department_done,
    .heading = department_heading,
};

static const struct cg_kt_key applies_keys[] = {
    {"departments", CG_KT_STRLIST, POLN(departments, n_departments), .none = "all",
     .doc = "department names, or unknown (absent: every department)"},
    {"categories", CG_KT_STRLIST, POLN(categories, n_categories), .check = check_category_pattern,
     .none = "all", .doc = "category patterns (absent: every category)"},
    {.name = NULL},
};
static const struct cg_kt_table applies_table = {.keys = applies_keys, .indent = 5};

static void policy_init(void *item);
static int policy_done(struct cg_kt_loader *L, json_t *obj, void *item, const char *path);
static void policy_heading(FILE *fp, size_t i, const void *item);

static const struct cg_kt_key policy_keys[] = {
    {"name", CG_KT_STRING, POL(name), .check = check_policy_name, .missing = "is missing",
     .flags = CG_KT_IN_HEADING, .doc = "policy name, [a-z0-9._-], shown in replies and logs"},
    {"plugin", CG_KT_STRING, POL(plugin_name), .check = check_plugin_name, .missing = "is missing",
     .flags = CG_KT_IN_HEADING, .doc = "plugin NAME: plugin_dir/NAME.so"},
    {"applies_to", CG_KT_OBJECT, .sub = &applies_table,
     .doc = "the departments and categories the policy applies to"},
    {"action", CG_KT_ENUM, POL(action), .choices = actions, .flags = CG_KT_IN_HEADING,
     .missing = "is missing (tag, hold, defer or reject)", .doc = "what a violation does"},
    {"mode", CG_KT_ENUM, POL(mode), .choices = modes, .def = "the global mode",
     .flags = CG_KT_IN_HEADING, .doc = "enforce or monitor, for this policy alone"},
    {"params", CG_KT_JSON, POL(params_text), .none = "{}",
     .doc = "the plugin's parameters (validated by the plugin)"},
    {"max_defer", CG_KT_DURATION, POL(max_defer), .flags = CG_KT_POSITIVE | CG_KT_QUIET,
     .doc = "a deferring policy: longest a message stays deferred (from its first deferral)"},
    {"on_expiry", CG_KT_ENUM, POL(on_expiry), .choices = expiries, .def = "reject",
     .flags = CG_KT_QUIET, .doc = "the verdict once max_defer is over"},
    {.name = NULL},
};
static const struct cg_kt_table policy_table = {
    .note = ", in order",
    .keys = policy_keys,
    .size = sizeof(struct cg_policy),
    .indent = 5,
    .init = policy_init,
    .done = policy_done,
    .heading = policy_heading,
};

static const struct cg_kt_key top_keys[] = {
    {"socket", CG_KT_STRING, CFG(socket), .def = "unix:/run/contactgate/contactgate.sock",
     .check = check_socket, .convert = conv_socket,
     .doc = "milter socket: unix:/path or inet:PORT@HOST (no HOST: loopback only)"},
    {"milter_clients", CG_KT_CIDRS, CFGN(milter_clients, n_milter_clients),
     .none = "127.0.0.1/32, ::1/128",
     .doc = "CIDRs that may connect to an inet socket (the MTA); default loopback only"},
    {"milter_timeout", CG_KT_DURATION, CFG(milter_timeout_secs), .def = "600s",
     .flags = CG_KT_POSITIVE, .max_secs = 86400,
     .doc = "how long a milter connection may stall, 1s to 1d (longer than smtpd_timeout)"},
    {"database", CG_KT_STRING, CFG(database), .def = "/var/lib/contactgate/history.db",
     .check = cg_database_check, .convert = conv_database, .show = show_database,
     .doc = "SQLite file (relative to this file), or PostgreSQL URI or conninfo"},
    {"database_timeout", CG_KT_DURATION, CFG(database_timeout_secs), .def = "5s",
     .flags = CG_KT_POSITIVE, .max_secs = 600,
     .doc = "PostgreSQL: the deadline of one call to the server, connecting included, 1s to 10m"},
    {"database_group", CG_KT_STRING, CFG(database_group), .check = check_group,
     .none = "none (history files 0600)",
     .doc = "a group that may read the history (files 0640); default the daemon's user only"},
    {"pid_file", CG_KT_STRING, CFG(pid_file), .def = "/run/contactgate/contactgate.pid",
     .convert = cg_kt_path_in, .doc = "the daemon's pid file, which contactgatectl reload reads"},
    {"metrics_file", CG_KT_STRING, CFG(metrics_file), .convert = cg_kt_path_in,
     .none = "none (no metrics)",
     .doc = "Prometheus textfile for node_exporter, rewritten every metrics_interval"},
    {"metrics_interval", CG_KT_DURATION, CFG(metrics_interval_secs), .def = "15s",
     .flags = CG_KT_POSITIVE, .doc = "how often metrics_file is written"},
    {"control_socket", CG_KT_STRING, CFG(control_socket),
     .def = "/run/contactgate/control/control.sock", .check = check_control_socket,
     .convert = cg_kt_path_in,
     .doc = "unix socket contactgatectl status asks (its directory is made 0700)"},
    {"plugin_dir", CG_KT_STRING, CFG(plugin_dir), .def = "PREFIX/lib/contactgate/plugins",
     .def_fn = default_plugin_dir, .convert = cg_kt_path_in,
     .doc = "directory of the policy plugins NAME.so"},
    {"mode", CG_KT_ENUM, CFG(mode), .def = "enforce", .choices = modes,
     .doc = "enforce, or monitor: decide and log everything, only tag"},
    {"on_error", CG_KT_ENUM, CFG(on_error), .def = "tempfail", .choices = on_errors,
     .hint = "(mail is never rejected because of an internal error)",
     .doc = "what the MTA is told when contactgate cannot decide"},
    {"durability", CG_KT_ENUM, CFG(durability_power), .def = "process", .choices = durabilities,
     .doc = "process: a decision survives a crash of contactgate; power: also power loss"},
    {"timezone", CG_KT_STRING, CFG(timezone), .def = "UTC", .check = check_tz,
     .doc = "default recipient time zone (IANA id)"},
    {"tag_header", CG_KT_STRING, CFG(tag_header), .def = "X-Contact-Gate", .check = check_header,
     .doc = "header added to tagged mail"},
    {"tag_policy_names", CG_KT_BOOL, CFG(tag_policy_names), .def = "false",
     .doc = "name the violated policies in the tag header (a name can disclose customer data)"},
    {"relay", CG_KT_STRING, CFG(relay), .def = "the host name", .def_fn = default_relay,
     .check = check_relay, .doc = "this relay's name in the decision log"},
    {"trusted_clients", CG_KT_CIDRS, CFGN(trusted_clients, n_trusted_clients),
     .doc = "CIDRs whose X-Department header is believed"},
    {"include", CG_KT_INCLUDE, CFGN(included, n_included),
     .doc = "further files, read first: their departments and policies come first"},
    {"classify", CG_KT_OBJECT, .sub = &classify_table, .doc = "how a message's category is found"},
    {"local_submission", CG_KT_OBJECT, .sub = &local_table,
     .doc = "mail submitted on this host: how long its deferral may last"},
    {"recipients", CG_KT_OBJECT, .sub = &recipients_table,
     .doc = "recipient normalisation and exemptions"},
    {"departments", CG_KT_ITEMS, CFGN(departments, n_departments), .sub = &department_table,
     .doc = "the sending departments and how their mail is recognised"},
    {"policies", CG_KT_ITEMS, CFGN(policies, n_policies), .sub = &policy_table,
     .doc = "the contact strategy: policies, in order"},
    {.name = NULL},
};
static const struct cg_kt_table top_table = {.keys = top_keys, .once = 1, .indent = 2};

/* --- departments and policies: what one key cannot check alone --------------- */

/* item_error - "FILE: PATH.key: message" */
static int item_error(struct cg_kt_loader *L, const char *path, const char *key, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
static int item_error(struct cg_kt_loader *L, const char *path, const char *key, const char *fmt,
                      ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *kp = cg_kt_path(path, key);
    cg_kt_error(L, kp, "%s", msg);
    free(kp);
    return -1;
}

/* department_done - a name used once; the default within what it may claim */
static int department_done(struct cg_kt_loader *L, json_t *obj, void *item, const char *path)
{
    (void)obj;
    const struct cg_config *c = CFG_LOAD(L)->c;
    const struct cg_department *dp = item;
    for (size_t i = 0; i + 1 < c->n_departments; i++)
        if (!strcmp(c->departments[i].name, dp->name))
            return item_error(L, path, "name", "department \"%s\" is defined twice", dp->name);
    size_t i = 0;
    while (dp->allowed && i < dp->n_allowed &&
           !cg_category_match(dp->allowed[i], dp->default_category))
        i++;
    if (dp->allowed && i == dp->n_allowed)
        return item_error(L, path, "default_category", "\"%s\" is not within allowed_categories",
                          dp->default_category);
    return 0;
}

/* department_heading - its name */
static void department_heading(FILE *fp, size_t i, const void *item)
{
    (void)i;
    fprintf(fp, "  %s\n", ((const struct cg_department *)item)->name);
}

/* policy_init - mode -1: the global mode, settled once every file is read */
static void policy_init(void *item)
{
    ((struct cg_policy *)item)->mode = -1;
}

/* policy_done - a name used once; max_defer and on_expiry only with a
 * deferral; the params kept for the plugin, with their key path */
static int policy_done(struct cg_kt_loader *L, json_t *obj, void *item, const char *path)
{
    struct cfg_load *cl = CFG_LOAD(L);
    const struct cg_policy *po = item;
    for (size_t i = 0; i + 1 < cl->c->n_policies; i++)
        if (!strcmp(cl->c->policies[i].name, po->name))
            return item_error(L, path, "name", "policy \"%s\" is defined twice", po->name);
    if (po->max_defer && po->action != CG_ACT_DEFER)
        return item_error(L, path, "max_defer", "%s",
                          "only a policy whose action is defer can have max_defer");
    if (json_object_get(obj, "on_expiry") && !po->max_defer)
        return item_error(L, path, "on_expiry", "%s", "needs max_defer");
    json_t *params = json_object_get(obj, "params");
    json_array_append_new(cl->policy_params, params ? json_incref(params) : json_object());
    char *where = cg_xasprintf("%s: %s", L->file, path);
    json_array_append_new(cl->policy_paths, json_string(where));
    free(where);
    return 0;
}

/* policy_heading - "N. name: plugin version, action A, mode" */
static void policy_heading(FILE *fp, size_t i, const void *item)
{
    const struct cg_policy *p = item;
    fprintf(fp, "  %zu. %s: %s%s%s, action %s, %s%s\n", i + 1, p->name, p->plugin_name,
            p->so ? " " : "", p->so ? p->so->desc->version : "", cg_action_name(p->action),
            p->mode == CG_MODE_MONITOR ? "monitor (logs and tags only)" : "enforce",
            p->fail_closed ? ", legal suppression (first, fails closed)" : "");
}

/* --- loading --------------------------------------------------------------- */

/* read_all - the bytes of one configuration file into b. Only a regular
 * file of at most CG_MAX_CONFIG_BYTES is read: a path naming /dev/zero or
 * a FIFO (an include, or -c) used to exhaust memory and abort, or block the
 * start or a reload forever (found by tests/fuzz/fuzz_config.c). O_NONBLOCK
 * keeps the open of a FIFO from waiting for a writer. */
static int read_all(const char *path, struct cg_buf *b, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return cg_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    const char *why = NULL;
    if (fstat(fd, &st) < 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    for (char chunk[8192]; !why;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            why = "read error";
        else if (n == 0)
            break;
        else if (b->len + (size_t)n > CG_MAX_CONFIG_BYTES)
            why = "larger than 16 MiB: not a configuration file";
        else
            cg_buf_addn(b, chunk, (size_t)n);
    }
    close(fd);
    if (why) {
        cg_buf_free(b);
        return cg_errf(err, errlen, "%s: %s", path, why);
    }
    return 0;
}

/* load_file - read, hash and merge one file (also the include hook) */
static int load_file(struct cg_kt_loader *L, const char *path)
{
    struct cfg_load *cl = CFG_LOAD(L);
    if (cl->depth >= CG_MAX_INCLUDE_DEPTH)
        return cg_kt_error(L, "include", "includes nested deeper than %d", CG_MAX_INCLUDE_DEPTH);
    for (size_t i = 0; i < json_array_size(cl->docs); i++) {
        /* docs holds [path, doc] pairs; an include cycle is an error */
        json_t *pair = json_array_get(cl->docs, i);
        if (!strcmp(json_string_value(json_array_get(pair, 0)), path))
            return cg_kt_error(L, "include", "\"%s\" is included twice (or in a cycle)", path);
    }
    struct cg_buf b = {0};
    if (read_all(path, &b, L->err, L->errlen) < 0)
        return -1;
    cl->hash = cg_fnv64(b.s ? b.s : "", b.len, cl->hash);
    json_error_t je;
    json_t *doc = json_loadb(b.s ? b.s : "", b.len, JSON_REJECT_DUPLICATES, &je);
    cg_buf_free(&b);
    if (!doc)
        return cg_errf(L->err, L->errlen, "%s: line %d column %d: %s", path, je.line, je.column,
                       je.text);
    json_t *pair = json_pack("[so]", path, doc);
    json_array_append_new(cl->docs, pair);
    /* L->file must outlive this call: point it at the copy in docs */
    L->file = json_string_value(json_array_get(pair, 0));
    if (!json_is_object(doc))
        return cg_kt_error(L, NULL, "the configuration must be a JSON object");
    cl->depth++;
    int rc = cg_kt_load(L, &top_table, doc, cl->c, "");
    cl->depth--;
    return rc;
}

/* check_references - what can only be checked once every file is read */
static int check_references(struct cfg_load *cl)
{
    struct cg_config *c = cl->c;
    c->database_is_pg = cg_database_is_pg(c->database);
    for (size_t i = 0; i < c->n_policies; i++) {
        struct cg_policy *p = &c->policies[i];
        if (p->mode < 0)
            p->mode = c->mode;
        for (size_t d = 0; d < p->n_departments; d++) {
            const char *name = p->departments[d];
            size_t k = 0;
            while (k < c->n_departments && strcmp(c->departments[k].name, name))
                k++;
            if (k == c->n_departments && strcmp(name, "unknown"))
                return cg_errf(cl->kt.err, cl->kt.errlen, "%s.applies_to.departments[%zu]: no "
                               "department \"%s\" is defined",
                               json_string_value(json_array_get(cl->policy_paths, i)), d, name);
        }
    }
    return 0;
}

/* load_plugins - open each plugin once and build every policy's instance */
static int load_plugins(struct cfg_load *cl)
{
    struct cg_config *c = cl->c;
    for (size_t i = 0; i < c->n_policies; i++) {
        struct cg_policy *p = &c->policies[i];
        struct cg_plugin_so *so = NULL;
        for (size_t k = 0; k < c->n_sos && !so; k++)
            if (!strcmp(c->sos[k]->name, p->plugin_name))
                so = c->sos[k];
        const char *where = json_string_value(json_array_get(cl->policy_paths, i));
        if (!so) {
            char e[768];
            so = cg_plugin_open(c->plugin_dir, p->plugin_name, e, sizeof e);
            if (!so)
                return cg_errf(cl->kt.err, cl->kt.errlen, "%s.plugin: %s", where, e);
            c->sos = cg_xrealloc(c->sos, (c->n_sos + 1) * sizeof *c->sos);
            c->sos[c->n_sos++] = so;
        }
        p->so = so;
        if (cg_plugin_flags(so) & CG_PLUGIN_WANTS_BODY)
            c->needs_body = 1;
        p->fail_closed = (cg_plugin_flags(so) & CG_PLUGIN_FAIL_CLOSED) != 0;
        c->has_fail_closed |= p->fail_closed;
        p->no_history = (cg_plugin_flags(so) & CG_PLUGIN_NO_HISTORY) != 0;
        c->has_no_history |= p->no_history;
        char *params_path = cg_xasprintf("%s.params", where);
        int rc = cg_plugin_instance(so, json_array_get(cl->policy_params, i), params_path,
                                    &p->instance, cl->kt.err, cl->kt.errlen);
        free(params_path);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* legal_first - legal suppressions run before every other policy (a
 * stable partition: each group keeps the order of the file) */
static void legal_first(struct cg_config *c)
{
    struct cg_policy *sorted = cg_xcalloc(c->n_policies ? c->n_policies : 1, sizeof *sorted);
    size_t k = 0;
    for (int pass = 1; pass >= 0; pass--)
        for (size_t i = 0; i < c->n_policies; i++)
            if (c->policies[i].fail_closed == pass)
                sorted[k++] = c->policies[i];
    free(c->policies);
    c->policies = sorted;
}

/* finish - what no single row decides: the milter clients' default (two
 * networks) */
static int finish(struct cfg_load *cl)
{
    struct cg_config *c = cl->c;
    if (!c->milter_clients) {
        c->n_milter_clients = 2;
        c->milter_clients = cg_xcalloc(2, sizeof *c->milter_clients);
        cg_cidr_parse("127.0.0.1/32", &c->milter_clients[0]);
        cg_cidr_parse("::1/128", &c->milter_clients[1]);
    }
    return 0;
}

/* cg_config_load - read every file, then the defaults, the references
 * between keys, and the plugins */
struct cg_config *cg_config_load(const char *path, int flags, char *err, size_t errlen)
{
    struct cg_config *c = cg_xcalloc(1, sizeof *c);
    c->refs = 1;
    c->path = cg_xstrdup(path);
    struct cfg_load cl = {
        .kt = {.err = err, .errlen = errlen, .file = c->path, .seen = json_object(),
               .include = load_file},
        .c = c,
        .hash = CG_FNV64_SEED,
        .docs = json_array(),
        .policy_params = json_array(),
        .policy_paths = json_array(),
    };
    cl.kt.arg = &cl;
    int rc = load_file(&cl.kt, c->path);
    cl.kt.file = c->path;
    if (rc == 0)
        rc = cg_kt_defaults(&cl.kt, &top_table, c, "");
    if (rc == 0)
        rc = finish(&cl);
    if (rc == 0) {
        snprintf(c->version, sizeof c->version, "%016llx", (unsigned long long)cl.hash);
        rc = check_references(&cl);
    }
    if (rc == 0 && !(flags & CG_CONFIG_NO_PLUGINS)) {
        rc = load_plugins(&cl);
        if (rc == 0)
            legal_first(c);
    }
    json_decref(cl.kt.seen);
    json_decref(cl.docs);
    json_decref(cl.policy_params);
    json_decref(cl.policy_paths);
    if (rc < 0) {
        cg_config_unref(&c);
        return NULL;
    }
    return c;
}

/* cg_config_ref - one more user */
struct cg_config *cg_config_ref(struct cg_config *c)
{
    __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
    return c;
}

/* cg_config_unref - one user less; the last frees (plugin instances first) */
void cg_config_unref(struct cg_config **cp)
{
    struct cg_config *c = *cp;
    *cp = NULL;
    if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (size_t i = 0; i < c->n_policies; i++) {
        struct cg_policy *p = &c->policies[i];
        if (p->so && p->instance && p->so->desc->destroy)
            p->so->desc->destroy(p->instance);
    }
    for (size_t i = 0; i < c->n_sos; i++)
        cg_plugin_close(&c->sos[i]);
    free(c->sos);
    cg_kt_free(&top_table, c);
    free(c->path);
    free(c);
}

/* cg_config_print - every setting (defaults included), then the
 * departments and the policies (contactgate -n) */
void cg_config_print(const struct cg_config *c, FILE *fp)
{
    fprintf(fp, "config %s (version %s)\n", c->path, c->version);
    cg_kt_print(fp, &top_table, c);
}

/* cg_config_keys - every key of the table */
void cg_config_keys(void (*fn)(const struct cg_kt_info *key, void *arg), void *arg)
{
    cg_kt_walk(&top_table, fn, arg);
}
