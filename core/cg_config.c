/*
 * cg_config.c - load, validate and print the configuration (cg_config.h).
 *
 * The file is JSON (jansson, which reports line and column of syntax
 * errors). Validation walks the document with a key path ("policies[2].
 * params.window") so every error names where it is; an unknown key is an
 * error. `include` pulls in further files (policy sets from policies/):
 * their departments and policies come first, in include order, then the
 * including file's own; a scalar key set in two files is an error, so no
 * setting is silently overridden.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg_config.h"
#include "cg_plugin.h"
#include "cg_tz.h"
#include "contactgate/plugin.h"

#ifndef CG_PLUGIN_DIR
#define CG_PLUGIN_DIR "/usr/local/lib/contactgate/plugins"
#endif
#define CG_DEFAULT_SOCKET "unix:/run/contactgate/contactgate.sock"
#define CG_DEFAULT_DATABASE "/var/lib/contactgate/history.db"
#define CG_MAX_INCLUDE_DEPTH 4
#define CG_MAX_CONFIG_BYTES (16 * 1024 * 1024) /* per file */

static const char *const action_names[] = {"accept", "tag", "hold", "defer", "reject"};

const char *cg_action_name(int action)
{
    if (action < 0 || action > CG_ACT_REJECT)
        return "?";
    return action_names[action];
}

int cg_action_parse(const char *s)
{
    for (int i = 0; i <= CG_ACT_REJECT; i++)
        if (s && strcmp(s, action_names[i]) == 0)
            return i;
    return -1;
}

/*
 * The key table: every key of every object, its JSON type and meaning.
 * The validator rejects keys not listed here; `contactgate -n` and the
 * README follow the same list.
 */
struct key {
    const char *name;
    json_type type;         /* JSON_TRUE means boolean */
    const char *doc;
};

static const struct key top_keys[] = {
    {"socket", JSON_STRING, "milter socket: unix:/path or inet:PORT@HOST"},
    {"database", JSON_STRING, "SQLite contact history (created if missing)"},
    {"plugin_dir", JSON_STRING, "directory of policy plugins NAME.so"},
    {"mode", JSON_STRING, "enforce (default) or monitor"},
    {"on_error", JSON_STRING, "tempfail (default) or accept when contactgate cannot decide"},
    {"durability", JSON_STRING, "process (default) or power: what a recorded decision survives"},
    {"timezone", JSON_STRING, "default recipient time zone (IANA)"},
    {"tag_header", JSON_STRING, "header added to tagged mail (X-Contact-Gate)"},
    {"trusted_clients", JSON_ARRAY, "CIDRs whose X-Department header is believed"},
    {"include", JSON_ARRAY, "further files: departments and policies are appended"},
    {"classify", JSON_OBJECT, "how the category is found"},
    {"recipients", JSON_OBJECT, "recipient normalisation and exemptions"},
    {"departments", JSON_ARRAY, "sending departments and how to recognise them"},
    {"policies", JSON_ARRAY, "the contact strategy: ordered policies"},
    {NULL, 0, NULL},
};
static const struct key classify_keys[] = {
    {"category_header", JSON_STRING, "control header naming the category (X-Contact-Category)"},
    {"department_header", JSON_STRING, "control header naming the department (X-Department)"},
    {"heuristics", JSON_TRUE, "List-Unsubscribe, List-Id, Precedence: bulk imply promotional"},
    {"bulk_category", JSON_STRING, "category the heuristics imply (promotional.bulk)"},
    {NULL, 0, NULL},
};
static const struct key recipients_keys[] = {
    {"lowercase", JSON_TRUE, "fold the local part to lower case (domains always are)"},
    {"strip_plus", JSON_TRUE, "strip +tag from the local part"},
    {"exempt", JSON_ARRAY, "address patterns that are not customers"},
    {NULL, 0, NULL},
};
static const struct key department_keys[] = {
    {"name", JSON_STRING, "department name"},
    {"match", JSON_OBJECT, "how mail of this department is recognised"},
    {"default_category", JSON_STRING, "category when none is claimed"},
    {"allowed_categories", JSON_ARRAY, "category patterns this department may claim"},
    {NULL, 0, NULL},
};
static const struct key match_keys[] = {
    {"sender", JSON_ARRAY, "envelope sender patterns"},
    {"auth_user", JSON_ARRAY, "SASL login names"},
    {"client_addr", JSON_ARRAY, "client address CIDRs"},
    {"daemon_name", JSON_ARRAY, "MTA {daemon_name} values"},
    {"header", JSON_ARRAY, "X-Department values, from trusted clients"},
    {NULL, 0, NULL},
};
static const struct key policy_keys[] = {
    {"name", JSON_STRING, "policy name, shown in replies and logs"},
    {"plugin", JSON_STRING, "plugin NAME (plugin_dir/NAME.so)"},
    {"applies_to", JSON_OBJECT, "departments and categories the policy applies to"},
    {"action", JSON_STRING, "tag, hold, defer or reject"},
    {"mode", JSON_STRING, "enforce or monitor (overrides the global mode)"},
    {"params", JSON_OBJECT, "plugin parameters"},
    {"max_defer", JSON_STRING, "longest a message may stay deferred (from its first deferral)"},
    {"on_expiry", JSON_STRING, "reject (default) or hold once max_defer is over"},
    {NULL, 0, NULL},
};
static const struct key applies_keys[] = {
    {"departments", JSON_ARRAY, "department names (absent: all)"},
    {"categories", JSON_ARRAY, "category patterns (absent: all)"},
    {NULL, 0, NULL},
};

/* The loader's state while reading one configuration. */
struct loader {
    struct cg_config *c;
    int flags;
    char *err;
    size_t errlen;
    const char *file;       /* file being validated, for messages */
    uint64_t hash;
    json_t *seen;           /* scalar keys already set: key -> file */
    json_t *docs;           /* loaded documents, freed at the end */
    json_t *policy_params;  /* params objects, parallel to c->policies */
    json_t *policy_paths;   /* their key paths */
    int depth;
};

/* lerr - "FILE: PATH: message" */
static int lerr(struct loader *L, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int lerr(struct loader *L, const char *path, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (path && *path)
        cg_errf(L->err, L->errlen, "%s: %s: %s", L->file, path, msg);
    else
        cg_errf(L->err, L->errlen, "%s: %s", L->file, msg);
    return -1;
}

static const char *type_name(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static const char *want_name(json_type t)
{
    switch (t) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_TRUE: return "true or false";
    default: return "a value";
    }
}

/* check_keys - every key of obj is in the table with the right type */
static int check_keys(struct loader *L, json_t *obj, const char *path, const struct key *tab)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        const struct key *e = tab;
        while (e->name && strcmp(e->name, k) != 0)
            e++;
        char sub[512];
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", k);
        if (!e->name) {
            struct cg_buf b = {0};
            for (e = tab; e->name; e++)
                cg_buf_printf(&b, "%s%s", e == tab ? "" : ", ", e->name);
            lerr(L, sub, "unknown key (known here: %s)", b.s);
            cg_buf_free(&b);
            return -1;
        }
        int ok = e->type == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == e->type;
        /* a single string is accepted where a list of strings is expected */
        if (!ok && e->type == JSON_ARRAY && json_is_string(v))
            ok = 1;
        if (!ok)
            return lerr(L, sub, "is %s, expected %s", type_name(v), want_name(e->type));
    }
    return 0;
}

/* str_list - a string or list of non-empty strings -> NULL-terminated
 * array; check(s) may validate each item (returns a message or NULL) */
static int str_list(struct loader *L, json_t *v, const char *path, char ***out, size_t *n_out,
                    const char *(*check)(const char *))
{
    json_t *arr = v;
    if (json_is_string(v)) {
        arr = json_array();
        json_array_append(arr, v);
    } else if (!json_is_array(v)) {
        return lerr(L, path, "is %s, expected a list of strings", type_name(v));
    }
    size_t n = json_array_size(arr);
    char **list = cg_xcalloc(n + 1, sizeof *list);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *it = json_array_get(arr, i);
        char sub[512];
        snprintf(sub, sizeof sub, "%s[%zu]", path, i);
        const char *s = json_string_value(it);
        const char *why = NULL;
        if (!s)
            rc = lerr(L, sub, "is %s, expected a string", type_name(it));
        else if (!*s)
            rc = lerr(L, sub, "is empty");
        else if (check && (why = check(s)))
            rc = lerr(L, sub, "\"%s\" %s", s, why);
        else
            list[i] = cg_xstrdup(s);
    }
    if (arr != v)
        json_decref(arr);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            free(list[i]);
        free(list);
        return -1;
    }
    *out = list;
    *n_out = n;
    return 0;
}

static const char *check_category(const char *s)
{
    return cg_category_valid(s, 0) ? NULL
                                   : "is not a category (dotted lower-case labels, e.g. "
                                     "promotional.offer)";
}
static const char *check_category_pattern(const char *s)
{
    return cg_category_valid(s, 1) ? NULL
                                   : "is not a category pattern (e.g. promotional.* or "
                                     "functional.bill)";
}
static const char *check_cidr(const char *s)
{
    struct cg_cidr c;
    return cg_cidr_parse(s, &c) == 0 ? NULL : "is not an IP address or CIDR";
}
static const char *check_pattern(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == '<' || *s == '>')
            return "contains a blank, control character or angle bracket";
    return NULL;
}

static int cidr_list(struct loader *L, json_t *v, const char *path, struct cg_cidr **out,
                     size_t *n_out)
{
    char **s;
    size_t n;
    if (str_list(L, v, path, &s, &n, check_cidr) < 0)
        return -1;
    *out = cg_xcalloc(n ? n : 1, sizeof **out);
    for (size_t i = 0; i < n; i++) {
        cg_cidr_parse(s[i], &(*out)[i]);
        free(s[i]);
    }
    free(s);
    *n_out = n;
    return 0;
}

static void free_list(char **l)
{
    if (!l)
        return;
    for (char **p = l; *p; p++)
        free(*p);
    free(l);
}

/* set_scalar - remember that `key` was set in this file; error if an
 * earlier file set it already */
static int set_scalar(struct loader *L, const char *key)
{
    json_t *prev = json_object_get(L->seen, key);
    if (prev)
        return lerr(L, key, "already set in %s (a setting is made in one file only)",
                    json_string_value(prev));
    json_object_set_new(L->seen, key, json_string(L->file));
    return 0;
}

/* path_in - a path relative to the directory of `file` */
static char *path_in(const char *file, const char *p)
{
    if (p[0] == '/')
        return cg_xstrdup(p);
    const char *slash = strrchr(file, '/');
    if (!slash)
        return cg_xstrdup(p);
    return cg_xasprintf("%.*s/%s", (int)(slash - file), file, p);
}

static int parse_socket(struct loader *L, const char *s)
{
    if (!strncmp(s, "unix:", 5) || !strncmp(s, "local:", 6)) {
        const char *p = strchr(s, ':') + 1;
        if (p[0] != '/')
            return lerr(L, "socket", "\"%s\": a unix socket needs an absolute path", s);
        if (strlen(p) >= 108)
            return lerr(L, "socket", "\"%s\": path longer than a unix socket allows", s);
        return 0;
    }
    if (!strncmp(s, "inet:", 5) || !strncmp(s, "inet6:", 6)) {
        const char *p = strchr(s, ':') + 1;
        char *end;
        long port = strtol(p, &end, 10);
        if (end == p || port < 1 || port > 65535 || (*end && *end != '@'))
            return lerr(L, "socket", "\"%s\": expected inet:PORT@HOST with PORT 1-65535", s);
        if (*end == '@' && !end[1])
            return lerr(L, "socket", "\"%s\": empty host after '@'", s);
        return 0;
    }
    return lerr(L, "socket", "\"%s\": expected unix:/path or inet:PORT@HOST", s);
}

static int load_file(struct loader *L, const char *path);

/* take_string - a scalar string key, copied into *dst (once per config) */
static int take_string(struct loader *L, json_t *doc, const char *key, char **dst)
{
    json_t *v = json_object_get(doc, key);
    if (!v)
        return 0;
    if (set_scalar(L, key) < 0)
        return -1;
    const char *s = json_string_value(v);
    if (!*s)
        return lerr(L, key, "is empty");
    free(*dst);
    *dst = cg_xstrdup(s);
    return 0;
}

static int take_bool(struct loader *L, json_t *obj, const char *key, const char *path, int *dst)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (set_scalar(L, path) < 0)
        return -1;
    *dst = json_is_true(v);
    return 0;
}

static int load_department(struct loader *L, json_t *d, const char *path)
{
    if (!json_is_object(d))
        return lerr(L, path, "is %s, expected an object", type_name(d));
    if (check_keys(L, d, path, department_keys) < 0)
        return -1;
    struct cg_config *c = L->c;
    char sub[512];
    const char *name = json_string_value(json_object_get(d, "name"));
    if (!name) {
        snprintf(sub, sizeof sub, "%s.name", path);
        return lerr(L, sub, "is missing");
    }
    snprintf(sub, sizeof sub, "%s.name", path);
    if (!cg_category_valid(name, 0) || strchr(name, '.'))
        return lerr(L, sub, "\"%s\" is not a name of [a-z0-9_-]", name);
    if (!strcmp(name, "unknown"))
        return lerr(L, sub, "\"unknown\" is reserved for mail no department matches");
    for (size_t i = 0; i < c->n_departments; i++)
        if (!strcmp(c->departments[i].name, name))
            return lerr(L, sub, "department \"%s\" is defined twice", name);
    c->departments = cg_xrealloc(c->departments, (c->n_departments + 1) * sizeof *c->departments);
    struct cg_department *dp = &c->departments[c->n_departments++];
    memset(dp, 0, sizeof *dp);
    dp->name = cg_xstrdup(name);

    json_t *m = json_object_get(d, "match");
    snprintf(sub, sizeof sub, "%s.match", path);
    if (!m || json_object_size(m) == 0)
        return lerr(L, sub, "is missing or empty: say how this department's mail is recognised");
    if (check_keys(L, m, sub, match_keys) < 0)
        return -1;
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) {
        char kp[560];
        snprintf(kp, sizeof kp, "%s.%s", sub, k);
        int rc = 0;
        if (!strcmp(k, "sender"))
            rc = str_list(L, v, kp, &dp->senders, &dp->n_senders, check_pattern);
        else if (!strcmp(k, "auth_user"))
            rc = str_list(L, v, kp, &dp->auth_users, &dp->n_auth_users, NULL);
        else if (!strcmp(k, "client_addr"))
            rc = cidr_list(L, v, kp, &dp->clients, &dp->n_clients);
        else if (!strcmp(k, "daemon_name"))
            rc = str_list(L, v, kp, &dp->daemon_names, &dp->n_daemon_names, NULL);
        else if (!strcmp(k, "header"))
            rc = str_list(L, v, kp, &dp->header_values, &dp->n_header_values, NULL);
        if (rc < 0)
            return -1;
    }
    json_t *al = json_object_get(d, "allowed_categories");
    if (al) {
        snprintf(sub, sizeof sub, "%s.allowed_categories", path);
        if (str_list(L, al, sub, &dp->allowed, &dp->n_allowed, check_category_pattern) < 0)
            return -1;
    }
    const char *def = json_string_value(json_object_get(d, "default_category"));
    snprintf(sub, sizeof sub, "%s.default_category", path);
    if (!def)
        return lerr(L, sub, "is missing (every department needs a default category)");
    if (check_category(def))
        return lerr(L, sub, "\"%s\" %s", def, check_category(def));
    if (dp->allowed) {
        size_t i = 0;
        while (i < dp->n_allowed && !cg_category_match(dp->allowed[i], def))
            i++;
        if (i == dp->n_allowed)
            return lerr(L, sub, "\"%s\" is not within allowed_categories", def);
    }
    dp->default_category = cg_xstrdup(def);
    return 0;
}

static int load_policy(struct loader *L, json_t *p, const char *path)
{
    if (!json_is_object(p))
        return lerr(L, path, "is %s, expected an object", type_name(p));
    if (check_keys(L, p, path, policy_keys) < 0)
        return -1;
    struct cg_config *c = L->c;
    char sub[512];
    const char *name = json_string_value(json_object_get(p, "name"));
    snprintf(sub, sizeof sub, "%s.name", path);
    if (!name)
        return lerr(L, sub, "is missing");
    for (const char *s = name; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
              *s == '.'))
            return lerr(L, sub, "\"%s\" is not a name of [a-z0-9._-]", name);
    if (!*name || strlen(name) > 64)
        return lerr(L, sub, "must be 1 to 64 characters");
    for (size_t i = 0; i < c->n_policies; i++)
        if (!strcmp(c->policies[i].name, name))
            return lerr(L, sub, "policy \"%s\" is defined twice", name);
    const char *plugin = json_string_value(json_object_get(p, "plugin"));
    snprintf(sub, sizeof sub, "%s.plugin", path);
    if (!plugin)
        return lerr(L, sub, "is missing");
    for (const char *s = plugin; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return lerr(L, sub, "\"%s\" is not a plugin name of [a-z0-9_-]", plugin);
    const char *act = json_string_value(json_object_get(p, "action"));
    snprintf(sub, sizeof sub, "%s.action", path);
    if (!act)
        return lerr(L, sub, "is missing (tag, hold, defer or reject)");
    int action = cg_action_parse(act);
    if (action <= CG_ACT_ACCEPT)
        return lerr(L, sub, "\"%s\" is not one of tag, hold, defer, reject", act);
    int mode = -1;
    const char *ms = json_string_value(json_object_get(p, "mode"));
    if (ms) {
        snprintf(sub, sizeof sub, "%s.mode", path);
        if (!strcmp(ms, "enforce"))
            mode = CG_MODE_ENFORCE;
        else if (!strcmp(ms, "monitor"))
            mode = CG_MODE_MONITOR;
        else
            return lerr(L, sub, "\"%s\" is not enforce or monitor", ms);
    }
    int64_t max_defer = 0;
    int on_expiry = CG_ACT_REJECT;
    const char *md = json_string_value(json_object_get(p, "max_defer"));
    if (md) {
        snprintf(sub, sizeof sub, "%s.max_defer", path);
        if (cg_parse_duration(md, &max_defer) < 0 || max_defer <= 0)
            return lerr(L, sub, "\"%s\" is not a duration (e.g. \"3d\")", md);
        if (action != CG_ACT_DEFER)
            return lerr(L, sub, "only a policy whose action is defer can have max_defer");
    }
    const char *oe = json_string_value(json_object_get(p, "on_expiry"));
    if (oe) {
        snprintf(sub, sizeof sub, "%s.on_expiry", path);
        on_expiry = cg_action_parse(oe);
        if (on_expiry != CG_ACT_REJECT && on_expiry != CG_ACT_HOLD)
            return lerr(L, sub, "\"%s\" is not reject or hold", oe);
        if (!md)
            return lerr(L, sub, "needs max_defer");
    }
    c->policies = cg_xrealloc(c->policies, (c->n_policies + 1) * sizeof *c->policies);
    struct cg_policy *po = &c->policies[c->n_policies++];
    memset(po, 0, sizeof *po);
    po->max_defer = max_defer;
    po->on_expiry = on_expiry;
    po->name = cg_xstrdup(name);
    po->plugin_name = cg_xstrdup(plugin);
    po->action = action;
    po->mode = mode; /* -1: the global mode, settled once every file is read */

    json_t *ap = json_object_get(p, "applies_to");
    if (ap) {
        snprintf(sub, sizeof sub, "%s.applies_to", path);
        if (check_keys(L, ap, sub, applies_keys) < 0)
            return -1;
        json_t *v = json_object_get(ap, "departments");
        char kp[560];
        if (v) {
            snprintf(kp, sizeof kp, "%s.departments", sub);
            if (str_list(L, v, kp, &po->departments, &po->n_departments, NULL) < 0)
                return -1;
        }
        v = json_object_get(ap, "categories");
        if (v) {
            snprintf(kp, sizeof kp, "%s.categories", sub);
            if (str_list(L, v, kp, &po->categories, &po->n_categories, check_category_pattern) < 0)
                return -1;
        }
    }
    json_t *params = json_object_get(p, "params");
    po->params_text = params ? json_dumps(params, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_array_append_new(L->policy_params, params ? json_incref(params) : json_object());
    char *pp = cg_xasprintf("%s: %s.params", L->file, path);
    json_array_append_new(L->policy_paths, json_string(pp));
    free(pp);
    return 0;
}

/* load_doc - validate one file's document and merge it into the config */
static int load_doc(struct loader *L, json_t *doc)
{
    struct cg_config *c = L->c;
    if (!json_is_object(doc))
        return lerr(L, NULL, "the configuration must be a JSON object");
    if (check_keys(L, doc, "", top_keys) < 0)
        return -1;

    json_t *inc = json_object_get(doc, "include");
    if (inc) {
        char **files;
        size_t n;
        if (str_list(L, inc, "include", &files, &n, NULL) < 0)
            return -1;
        const char *me = L->file;
        int rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            char *p = path_in(me, files[i]);
            if (L->depth >= CG_MAX_INCLUDE_DEPTH)
                rc = lerr(L, "include", "includes nested deeper than %d", CG_MAX_INCLUDE_DEPTH);
            else
                rc = load_file(L, p);
            L->file = me;
            free(p);
        }
        free_list(files);
        if (rc < 0)
            return -1;
    }

    if (take_string(L, doc, "socket", &c->socket) < 0 ||
        (c->socket && json_object_get(doc, "socket") && parse_socket(L, c->socket) < 0))
        return -1;
    json_t *v;
    if ((v = json_object_get(doc, "database"))) {
        if (take_string(L, doc, "database", &c->database) < 0)
            return -1;
        if (strcmp(c->database, ":memory:")) {
            char *p = path_in(L->file, c->database);
            free(c->database);
            c->database = p;
        }
    }
    if ((v = json_object_get(doc, "plugin_dir"))) {
        if (take_string(L, doc, "plugin_dir", &c->plugin_dir) < 0)
            return -1;
        char *p = path_in(L->file, c->plugin_dir);
        free(c->plugin_dir);
        c->plugin_dir = p;
    }
    if ((v = json_object_get(doc, "mode"))) {
        if (set_scalar(L, "mode") < 0)
            return -1;
        const char *s = json_string_value(v);
        if (!strcmp(s, "enforce"))
            c->mode = CG_MODE_ENFORCE;
        else if (!strcmp(s, "monitor"))
            c->mode = CG_MODE_MONITOR;
        else
            return lerr(L, "mode", "\"%s\" is not enforce or monitor", s);
    }
    if ((v = json_object_get(doc, "on_error"))) {
        if (set_scalar(L, "on_error") < 0)
            return -1;
        const char *s = json_string_value(v);
        if (!strcmp(s, "tempfail"))
            c->on_error = CG_ONERR_TEMPFAIL;
        else if (!strcmp(s, "accept"))
            c->on_error = CG_ONERR_ACCEPT;
        else
            return lerr(L, "on_error", "\"%s\" is not tempfail or accept (mail is never "
                                       "rejected because of an internal error)", s);
    }
    if ((v = json_object_get(doc, "durability"))) {
        if (set_scalar(L, "durability") < 0)
            return -1;
        const char *s = json_string_value(v);
        if (!strcmp(s, "process") || !strcmp(s, "power"))
            c->durability_power = !strcmp(s, "power");
        else
            return lerr(L, "durability", "\"%s\" is not process or power", s);
    }
    if (json_object_get(doc, "timezone")) {
        if (take_string(L, doc, "timezone", &c->timezone) < 0)
            return -1;
        if (!cg_tz_valid(c->timezone))
            return lerr(L, "timezone", "\"%s\" is not a time zone (IANA id such as \"Europe/Berlin\")",
                        c->timezone);
    }
    if (take_string(L, doc, "tag_header", &c->tag_header) < 0)
        return -1;
    if ((v = json_object_get(doc, "trusted_clients"))) {
        if (set_scalar(L, "trusted_clients") < 0)
            return -1;
        free(c->trusted_clients);
        c->trusted_clients = NULL;
        if (cidr_list(L, v, "trusted_clients", &c->trusted_clients, &c->n_trusted_clients) < 0)
            return -1;
    }
    if ((v = json_object_get(doc, "classify"))) {
        if (check_keys(L, v, "classify", classify_keys) < 0)
            return -1;
        json_t *cv;
        if ((cv = json_object_get(v, "category_header"))) {
            if (set_scalar(L, "classify.category_header") < 0)
                return -1;
            free(c->category_header);
            c->category_header = cg_xstrdup(json_string_value(cv));
        }
        if ((cv = json_object_get(v, "department_header"))) {
            if (set_scalar(L, "classify.department_header") < 0)
                return -1;
            free(c->department_header);
            c->department_header = cg_xstrdup(json_string_value(cv));
        }
        if (take_bool(L, v, "heuristics", "classify.heuristics", &c->heuristics) < 0)
            return -1;
        if ((cv = json_object_get(v, "bulk_category"))) {
            if (set_scalar(L, "classify.bulk_category") < 0)
                return -1;
            const char *s = json_string_value(cv);
            if (check_category(s))
                return lerr(L, "classify.bulk_category", "\"%s\" %s", s, check_category(s));
            free(c->bulk_category);
            c->bulk_category = cg_xstrdup(s);
        }
    }
    if ((v = json_object_get(doc, "recipients"))) {
        if (check_keys(L, v, "recipients", recipients_keys) < 0)
            return -1;
        if (take_bool(L, v, "lowercase", "recipients.lowercase", &c->fold_local) < 0 ||
            take_bool(L, v, "strip_plus", "recipients.strip_plus", &c->strip_plus) < 0)
            return -1;
        json_t *ev = json_object_get(v, "exempt");
        if (ev) {
            if (set_scalar(L, "recipients.exempt") < 0)
                return -1;
            free_list(c->exempt);
            c->exempt = NULL;
            if (str_list(L, ev, "recipients.exempt", &c->exempt, &c->n_exempt, check_pattern) < 0)
                return -1;
        }
    }
    if ((v = json_object_get(doc, "departments"))) {
        if (!json_is_array(v))
            return lerr(L, "departments", "is a string, expected a list of objects");
        for (size_t i = 0; i < json_array_size(v); i++) {
            char sub[64];
            snprintf(sub, sizeof sub, "departments[%zu]", i);
            if (load_department(L, json_array_get(v, i), sub) < 0)
                return -1;
        }
    }
    if ((v = json_object_get(doc, "policies"))) {
        if (!json_is_array(v))
            return lerr(L, "policies", "is a string, expected a list of objects");
        for (size_t i = 0; i < json_array_size(v); i++) {
            char sub[64];
            snprintf(sub, sizeof sub, "policies[%zu]", i);
            if (load_policy(L, json_array_get(v, i), sub) < 0)
                return -1;
        }
    }
    return 0;
}

/* read_file - the bytes of one configuration file into b. Only a regular
 * file of at most CG_MAX_CONFIG_BYTES is read: a path naming /dev/zero
 * or a FIFO (an include, or -c) used to exhaust memory and abort, or block
 * the start or a reload forever (found by tests/fuzz/fuzz_config.c).
 * O_NONBLOCK keeps the open of a FIFO from waiting for a writer. */
static int read_file(const char *path, struct cg_buf *b, char *err, size_t errlen)
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

/* load_file - read, hash and merge one file */
static int load_file(struct loader *L, const char *path)
{
    L->file = path;
    for (size_t i = 0; i < json_array_size(L->docs); i++) {
        /* docs holds [path, doc] pairs; an include cycle is an error */
        json_t *pair = json_array_get(L->docs, i);
        if (!strcmp(json_string_value(json_array_get(pair, 0)), path))
            return lerr(L, "include", "\"%s\" is included twice (or in a cycle)", path);
    }
    struct cg_buf b = {0};
    if (read_file(path, &b, L->err, L->errlen) < 0)
        return -1;
    L->hash = cg_fnv64(b.s ? b.s : "", b.len, L->hash);
    json_error_t je;
    json_t *doc = json_loadb(b.s ? b.s : "", b.len, JSON_REJECT_DUPLICATES, &je);
    cg_buf_free(&b);
    if (!doc)
        return cg_errf(L->err, L->errlen, "%s: line %d column %d: %s", path, je.line, je.column,
                       je.text);
    json_t *pair = json_pack("[so]", path, doc);
    json_array_append_new(L->docs, pair);
    /* L->file must outlive this call: point it at the copy in docs */
    L->file = json_string_value(json_array_get(pair, 0));
    L->depth++;
    int rc = load_doc(L, doc);
    L->depth--;
    return rc;
}

/* check_references - what can only be checked once every file is read */
static int check_references(struct loader *L)
{
    struct cg_config *c = L->c;
    for (size_t i = 0; i < c->n_policies; i++) {
        struct cg_policy *p = &c->policies[i];
        if (p->mode < 0)
            p->mode = c->mode;
        for (size_t d = 0; d < p->n_departments; d++) {
            const char *name = p->departments[d];
            size_t k = 0;
            while (k < c->n_departments && strcmp(c->departments[k].name, name))
                k++;
            if (k == c->n_departments && strcmp(name, "unknown")) {
                const char *where = json_string_value(json_array_get(L->policy_paths, i));
                cg_errf(L->err, L->errlen, "%.*s.applies_to.departments[%zu]: no department "
                        "\"%s\" is defined",
                        (int)(strlen(where) - strlen(".params")), where, d, name);
                return -1;
            }
        }
    }
    return 0;
}

/* load_plugins - open each plugin once and build every policy's instance */
static int load_plugins(struct loader *L)
{
    struct cg_config *c = L->c;
    for (size_t i = 0; i < c->n_policies; i++) {
        struct cg_policy *p = &c->policies[i];
        struct cg_plugin_so *so = NULL;
        for (size_t k = 0; k < c->n_sos && !so; k++)
            if (!strcmp(c->sos[k]->name, p->plugin_name))
                so = c->sos[k];
        const char *where = json_string_value(json_array_get(L->policy_paths, i));
        if (!so) {
            char e[768];
            so = cg_plugin_open(c->plugin_dir, p->plugin_name, e, sizeof e);
            if (!so) {
                cg_errf(L->err, L->errlen, "%.*s.plugin: %s",
                        (int)(strlen(where) - strlen(".params")), where, e);
                return -1;
            }
            c->sos = cg_xrealloc(c->sos, (c->n_sos + 1) * sizeof *c->sos);
            c->sos[c->n_sos++] = so;
        }
        p->so = so;
        if (cg_plugin_flags(so) & CG_PLUGIN_WANTS_BODY)
            c->needs_body = 1;
        p->fail_closed = (cg_plugin_flags(so) & CG_PLUGIN_FAIL_CLOSED) != 0;
        c->has_fail_closed |= p->fail_closed;
        if (cg_plugin_instance(so, json_array_get(L->policy_params, i), where, &p->instance,
                               L->err, L->errlen) < 0)
            return -1;
    }
    return 0;
}

static char *dup_default(char *v, const char *def)
{
    return v ? v : cg_xstrdup(def);
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

struct cg_config *cg_config_load(const char *path, int flags, char *err, size_t errlen)
{
    struct cg_config *c = cg_xcalloc(1, sizeof *c);
    c->refs = 1;
    c->path = cg_xstrdup(path);
    c->heuristics = 1;
    c->fold_local = 1;
    struct loader L = {
        .c = c,
        .flags = flags,
        .err = err,
        .errlen = errlen,
        .hash = CG_FNV64_SEED,
        .seen = json_object(),
        .docs = json_array(),
        .policy_params = json_array(),
        .policy_paths = json_array(),
    };
    int rc = load_file(&L, c->path);
    if (rc == 0) {
        c->socket = dup_default(c->socket, CG_DEFAULT_SOCKET);
        c->database = dup_default(c->database, CG_DEFAULT_DATABASE);
        /* CONTACTGATE_PLUGIN_DIR: where plugins are when the config does not
         * say (checking a policy set from the source tree, tests) */
        const char *env_dir = getenv("CONTACTGATE_PLUGIN_DIR");
        c->plugin_dir = dup_default(c->plugin_dir, env_dir && *env_dir ? env_dir : CG_PLUGIN_DIR);
        c->timezone = dup_default(c->timezone, "UTC");
        c->tag_header = dup_default(c->tag_header, "X-Contact-Gate");
        c->category_header = dup_default(c->category_header, "X-Contact-Category");
        c->department_header = dup_default(c->department_header, "X-Department");
        c->bulk_category = dup_default(c->bulk_category, "promotional.bulk");
        snprintf(c->version, sizeof c->version, "%016llx", (unsigned long long)L.hash);
        rc = check_references(&L);
    }
    if (rc == 0 && !(flags & CG_CONFIG_NO_PLUGINS)) {
        rc = load_plugins(&L);
        if (rc == 0)
            legal_first(c);
    }
    json_decref(L.seen);
    json_decref(L.docs);
    json_decref(L.policy_params);
    json_decref(L.policy_paths);
    if (rc < 0) {
        cg_config_unref(&c);
        return NULL;
    }
    return c;
}

struct cg_config *cg_config_ref(struct cg_config *c)
{
    __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
    return c;
}

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
        free(p->name);
        free(p->plugin_name);
        free(p->params_text);
        free_list(p->departments);
        free_list(p->categories);
    }
    free(c->policies);
    for (size_t i = 0; i < c->n_sos; i++)
        cg_plugin_close(&c->sos[i]);
    free(c->sos);
    for (size_t i = 0; i < c->n_departments; i++) {
        struct cg_department *d = &c->departments[i];
        free(d->name);
        free_list(d->senders);
        free_list(d->auth_users);
        free(d->clients);
        free_list(d->daemon_names);
        free_list(d->header_values);
        free(d->default_category);
        free_list(d->allowed);
    }
    free(c->departments);
    free(c->path);
    free(c->socket);
    free(c->database);
    free(c->plugin_dir);
    free(c->timezone);
    free(c->tag_header);
    free(c->trusted_clients);
    free(c->category_header);
    free(c->department_header);
    free(c->bulk_category);
    free_list(c->exempt);
    free(c);
}

/* --- printing (contactgate -n) ----------------------------------------- */

static void print_list(FILE *fp, const char *label, char **l, size_t n)
{
    if (!n)
        return;
    fprintf(fp, "%s", label);
    for (size_t i = 0; i < n; i++)
        fprintf(fp, "%s%s", i ? ", " : "", l[i]);
    fputc('\n', fp);
}

static void print_cidrs(FILE *fp, const char *label, const struct cg_cidr *c, size_t n)
{
    if (!n)
        return;
    fprintf(fp, "%s", label);
    for (size_t i = 0; i < n; i++) {
        char a[INET6_ADDRSTRLEN];
        inet_ntop(c[i].family, c[i].addr, a, sizeof a);
        fprintf(fp, "%s%s/%d", i ? ", " : "", a, c[i].prefix);
    }
    fputc('\n', fp);
}

void cg_config_print(const struct cg_config *c, FILE *fp)
{
    fprintf(fp, "config %s (version %s)\n", c->path, c->version);
    fprintf(fp, "  socket       %s\n  database     %s\n  plugin_dir   %s\n", c->socket,
            c->database, c->plugin_dir);
    fprintf(fp, "  mode         %s\n  on_error     %s\n  timezone     %s\n  tag_header   %s\n",
            c->mode == CG_MODE_MONITOR ? "monitor" : "enforce",
            c->on_error == CG_ONERR_ACCEPT ? "accept" : "tempfail", c->timezone, c->tag_header);
    fprintf(fp, "  durability   %s\n",
            c->durability_power ? "power (every commit fsynced)"
                                : "process (commits survive a crash of contactgate)");
    print_cidrs(fp, "  trusted      ", c->trusted_clients, c->n_trusted_clients);
    fprintf(fp, "  classify     category from %s, department from %s, heuristics %s -> %s\n",
            c->category_header, c->department_header, c->heuristics ? "on" : "off",
            c->bulk_category);
    fprintf(fp, "  recipients   lowercase %s, strip_plus %s\n", c->fold_local ? "yes" : "no",
            c->strip_plus ? "yes" : "no");
    print_list(fp, "  exempt       ", c->exempt, c->n_exempt);
    fprintf(fp, "departments (%zu, first match wins; otherwise \"unknown\")\n", c->n_departments);
    for (size_t i = 0; i < c->n_departments; i++) {
        const struct cg_department *d = &c->departments[i];
        fprintf(fp, "  %s (default %s)\n", d->name, d->default_category);
        print_list(fp, "    sender      ", d->senders, d->n_senders);
        print_list(fp, "    auth_user   ", d->auth_users, d->n_auth_users);
        print_cidrs(fp, "    client_addr ", d->clients, d->n_clients);
        print_list(fp, "    daemon_name ", d->daemon_names, d->n_daemon_names);
        print_list(fp, "    header      ", d->header_values, d->n_header_values);
        if (d->n_allowed)
            print_list(fp, "    may claim   ", d->allowed, d->n_allowed);
        else
            fprintf(fp, "    may claim   any category\n");
    }
    fprintf(fp, "policies (%zu, in order)\n", c->n_policies);
    for (size_t i = 0; i < c->n_policies; i++) {
        const struct cg_policy *p = &c->policies[i];
        fprintf(fp, "  %zu. %s: %s%s%s, action %s, %s%s\n", i + 1, p->name, p->plugin_name,
                p->so ? " " : "", p->so ? p->so->desc->version : "", cg_action_name(p->action),
                p->mode == CG_MODE_MONITOR ? "monitor (logs and tags only)" : "enforce",
                p->fail_closed ? ", legal suppression (first, fails closed)" : "");
        if (p->max_defer)
            fprintf(fp, "     max_defer   %llds from the first deferral, then %s\n",
                    (long long)p->max_defer, cg_action_name(p->on_expiry));
        if (p->departments)
            print_list(fp, "     departments ", p->departments, p->n_departments);
        else
            fprintf(fp, "     departments all\n");
        if (p->categories)
            print_list(fp, "     categories  ", p->categories, p->n_categories);
        else
            fprintf(fp, "     categories  all\n");
        fprintf(fp, "     params      %s\n", p->params_text ? p->params_text : "{}");
    }
}
