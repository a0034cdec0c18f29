/*
 * cg_keytab.c - key tables: JSON objects read into C structs, one row per
 * key (cg_keytab.h).
 *
 * Each type is one entry of `types` below: what a value must be, how it
 * is taken into its field, shown, freed and named in the documentation.
 * The walkers (load, defaults, free, print, walk) only dispatch on it.
 */
#include "cg_keytab.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cg_time.h"

/* FIELD - the field of a row in base */
#define FIELD(base, off, type) ((type *)(void *)((char *)(base) + (off)))

/* cg_kt_error - "FILE: PATH: message" */
int cg_kt_error(struct cg_kt_loader *L, const char *path, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (path && *path)
        return cg_errf(L->err, L->errlen, "%s: %s: %s", L->file, path, msg);
    return cg_errf(L->err, L->errlen, "%s: %s", L->file, msg);
}

/* cg_kt_quoted - `"VALUE" what` */
const char *cg_kt_quoted(char *buf, size_t len, const char *s, const char *what)
{
    snprintf(buf, len, "\"%s\" %s", s, what);
    return buf;
}

/* cg_kt_path - a key path one level down */
char *cg_kt_path(const char *path, const char *name)
{
    return *path ? cg_xasprintf("%s.%s", path, name) : cg_xstrdup(name);
}

/* cg_kt_path_in - p relative to the directory of file */
char *cg_kt_path_in(const char *file, const char *p)
{
    const char *slash = strrchr(file, '/');
    if (p[0] == '/' || !slash)
        return cg_xstrdup(p);
    return cg_xasprintf("%.*s/%s", (int)(slash - file), file, p);
}

/* json_kind - a JSON value's type, for messages */
static const char *json_kind(json_t *v)
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

/* free_list - a NULL-terminated list of strings (NULL-safe) */
static void free_list(char **l)
{
    if (!l)
        return;
    for (char **p = l; *p; p++)
        free(*p);
    free(l);
}

/* str_list - a string or list of non-empty strings -> NULL-terminated
 * array; check validates each item, convert (may be NULL) makes what is
 * kept of it */
static int str_list(struct cg_kt_loader *L, json_t *v, const char *path, cg_kt_check_fn check,
                    char *(*convert)(const char *file, const char *s), char ***out,
                    size_t *n_out)
{
    json_t *arr = json_is_string(v) ? json_pack("[O]", v) : json_incref(v);
    size_t n = json_array_size(arr);
    char **list = cg_xcalloc(n + 1, sizeof *list);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *it = json_array_get(arr, i);
        char *sub = cg_xasprintf("%s[%zu]", path, i);
        const char *s = json_string_value(it), *why = NULL;
        char buf[512];
        if (!s)
            rc = cg_kt_error(L, sub, "is %s, expected a string", json_kind(it));
        else if (!*s)
            rc = cg_kt_error(L, sub, "is empty");
        else if (check && (why = check(s, buf, sizeof buf)))
            rc = cg_kt_error(L, sub, "%s", why);
        else
            list[i] = convert ? convert(L->file, s) : cg_xstrdup(s);
        free(sub);
    }
    json_decref(arr);
    if (rc < 0) {
        free_list(list);
        return -1;
    }
    *out = list;
    *n_out = n;
    return 0;
}

/* enum_list - "a or b", "one of a, b, c" */
static void enum_list(struct cg_buf *b, const struct cg_kt_choice *ch)
{
    size_t n = 0;
    while (ch[n].name)
        n++;
    if (n > 2)
        cg_buf_add(b, "one of ");
    for (size_t i = 0; i < n; i++)
        cg_buf_printf(b, "%s%s", i == 0 ? "" : n == 2 ? " or " : ", ", ch[i].name);
}

/* enum_default - the choice a row's default names, or NULL */
static const struct cg_kt_choice *enum_default(const struct cg_kt_key *k)
{
    for (const struct cg_kt_choice *ch = k->choices; k->def && ch->name; ch++)
        if (!strcmp(ch->name, k->def))
            return ch;
    return NULL;
}

/* --- the types: take a value, show it, free it ------------------------------- */

/* take_* - a value of the right JSON type (checked before) into its field;
 * is_default: the row's default, not converted relative to the file */
typedef int take_fn(struct cg_kt_loader *L, const struct cg_kt_key *k, json_t *v, void *base,
                    const char *path, int is_default);

/* take_string - a non-empty string: checked, then converted or copied */
static int take_string(struct cg_kt_loader *L, const struct cg_kt_key *k, json_t *v, void *base,
                       const char *path, int is_default)
{
    const char *s = json_string_value(v), *why;
    char buf[512];
    if (!*s)
        return cg_kt_error(L, path, "is empty");
    if (k->check && (why = k->check(s, buf, sizeof buf)))
        return cg_kt_error(L, path, "%s", why);
    char **dst = FIELD(base, k->off, char *);
    free(*dst);
    *dst = k->convert && !is_default ? k->convert(L->file, s) : cg_xstrdup(s);
    return 0;
}

/* take_bool - true or false */
static int take_bool(struct cg_kt_loader *L, const struct cg_kt_key *k, json_t *v, void *base,
                     const char *path, int is_default)
{
    (void)L, (void)path, (void)is_default;
    *FIELD(base, k->off, int) = json_is_true(v);
    return 0;
}

/* take_enum - one of the choices, or an error listing them */
static int take_enum(struct cg_kt_loader *L, const struct cg_kt_key *k, json_t *v, void *base,
                     const char *path, int is_default)
{
    (void)is_default;
    const char *s = json_string_value(v);
    for (const struct cg_kt_choice *ch = k->choices; ch->name; ch++)
        if (!strcmp(ch->name, s)) {
            *FIELD(base, k->off, int) = ch->value;
            return 0;
        }
    struct cg_buf b = {0};
    enum_list(&b, k->choices);
    cg_kt_error(L, path, "\"%s\" is not %s%s%s", s, b.s, k->hint ? " " : "",
                k->hint ? k->hint : "");
    cg_buf_free(&b);
    return -1;
}

/* take_duration - "48h" or a number of seconds, bounded (cg_time.h) */
static int take_duration(struct cg_kt_loader *L, const struct cg_kt_key *k, json_t *v, void *base,
                         const char *path, int is_default)
{
    (void)is_default;
    int64_t secs = json_is_integer(v) ? json_integer_value(v) : 0;
    int rc = json_is_integer(v) ? cg_duration_check(json_integer_value(v))
                                : cg_parse_duration(json_string_value(v), &secs);
    if (rc != CG_TIME_OK) {
        char *t = json_dumps(v, JSON_ENCODE_ANY);
        cg_kt_error(L, path, "%s %s", t ? t : "?", cg_time_why(rc));
        free(t);
        return -1;
    }
    if (secs == 0 && (k->flags & CG_KT_POSITIVE))
        return cg_kt_error(L, path, "must be longer than 0 seconds");
    if (k->max_secs && secs > k->max_secs) {
        char d[32], m[32];
        return cg_kt_error(L, path, "%s is longer than %s, the most allowed",
                           cg_format_duration(secs, d, sizeof d),
                           cg_format_duration(k->max_secs, m, sizeof m));
    }
    *FIELD(base, k->off, int64_t) = secs;
    return 0;
}

/* take_strlist - a string or a list of strings, each checked and
 * converted */
static int take_strlist(struct cg_kt_loader *L, const struct cg_kt_key *k, json_t *v, void *base,
                        const char *path, int is_default)
{
    (void)is_default;
    char ***dst = FIELD(base, k->off, char **);
    free_list(*dst);
    *dst = NULL;
    return str_list(L, v, path, k->check, k->convert, dst, FIELD(base, k->n_off, size_t));
}

/* check_cidr - every item of a CIDR list */
static const char *check_cidr(const char *s, char *buf, size_t len)
{
    struct cg_cidr c;
    if (cg_cidr_parse(s, &c) == 0)
        return NULL;
    return cg_kt_quoted(buf, len, s, "is not an IP address or CIDR");
}

/* take_cidrs - a list of addresses or CIDRs */
static int take_cidrs(struct cg_kt_loader *L, const struct cg_kt_key *k, json_t *v, void *base,
                      const char *path, int is_default)
{
    (void)is_default;
    char **s;
    size_t n;
    if (str_list(L, v, path, check_cidr, NULL, &s, &n) < 0)
        return -1;
    struct cg_cidr **dst = FIELD(base, k->off, struct cg_cidr *);
    free(*dst);
    *dst = cg_xcalloc(n ? n : 1, sizeof **dst);
    for (size_t i = 0; i < n; i++)
        cg_cidr_parse(s[i], &(*dst)[i]);
    free_list(s);
    *FIELD(base, k->n_off, size_t) = n;
    return 0;
}

/* take_object - a nested object: its table, into the same struct */
static int take_object(struct cg_kt_loader *L, const struct cg_kt_key *k, json_t *v, void *base,
                       const char *path, int is_default)
{
    (void)is_default;
    if ((k->flags & CG_KT_NONEMPTY) && json_object_size(v) == 0)
        return cg_kt_error(L, path, "%s", k->missing ? k->missing : "is empty");
    return cg_kt_load(L, k->sub, v, base, path);
}

/* take_item - one object of a list, appended to the array */
static int take_item(struct cg_kt_loader *L, const struct cg_kt_key *k, json_t *obj, void *base,
                     const char *path)
{
    const struct cg_kt_table *t = k->sub;
    if (!json_is_object(obj))
        return cg_kt_error(L, path, "is %s, expected an object", json_kind(obj));
    char **arr = FIELD(base, k->off, char *);
    size_t *n = FIELD(base, k->n_off, size_t);
    *arr = cg_xrealloc(*arr, (*n + 1) * t->size);
    void *item = *arr + *n * t->size;
    memset(item, 0, t->size);
    (*n)++;
    if (t->init)
        t->init(item);
    if (cg_kt_load(L, t, obj, item, path) < 0)
        return -1;
    return t->done ? t->done(L, obj, item, path) : 0;
}

/* take_items - every object of a list, each appended */
static int take_items(struct cg_kt_loader *L, const struct cg_kt_key *k, json_t *v, void *base,
                      const char *path, int is_default)
{
    (void)is_default;
    for (size_t i = 0; i < json_array_size(v); i++) {
        char *sub = cg_xasprintf("%s[%zu]", path, i);
        int rc = take_item(L, k, json_array_get(v, i), base, sub);
        free(sub);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* take_json - an object kept as compact JSON text */
static int take_json(struct cg_kt_loader *L, const struct cg_kt_key *k, json_t *v, void *base,
                     const char *path, int is_default)
{
    (void)L, (void)path, (void)is_default;
    char **dst = FIELD(base, k->off, char *);
    free(*dst);
    *dst = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    return 0;
}

/* take_include - each file, relative to this one, read by L->include */
static int take_include(struct cg_kt_loader *L, const struct cg_kt_key *k, json_t *v, void *base,
                        const char *path, int is_default)
{
    (void)is_default;
    char **files;
    size_t n;
    if (str_list(L, v, path, NULL, NULL, &files, &n) < 0)
        return -1;
    const char *me = L->file;
    char ***list = FIELD(base, k->off, char **);
    size_t *count = FIELD(base, k->n_off, size_t);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *p = cg_kt_path_in(me, files[i]);
        *list = cg_xrealloc(*list, (*count + 2) * sizeof **list);
        (*list)[(*count)++] = p;
        (*list)[*count] = NULL;
        rc = L->include(L, p);
        L->file = me;
    }
    free_list(files);
    return rc;
}

/* text_* - a field as the printout shows it */
typedef void text_fn(struct cg_buf *b, const struct cg_kt_key *k, const void *base);

/* none_of - what an unset value shows */
static const char *none_of(const struct cg_kt_key *k)
{
    return k->none ? k->none : "none";
}

/* text_string - the string, through .show if the row has one */
static void text_string(struct cg_buf *b, const struct cg_kt_key *k, const void *base)
{
    const char *s = *FIELD(base, k->off, char *);
    if (!s)
        cg_buf_add(b, none_of(k));
    else if (k->show)
        k->show(b, s);
    else
        cg_buf_add(b, s);
}

/* text_bool - true or false, as written in the file */
static void text_bool(struct cg_buf *b, const struct cg_kt_key *k, const void *base)
{
    cg_buf_add(b, *FIELD(base, k->off, int) ? "true" : "false");
}

/* text_enum - the name of the value */
static void text_enum(struct cg_buf *b, const struct cg_kt_key *k, const void *base)
{
    const struct cg_kt_choice *ch = k->choices;
    while (ch->name && ch->value != *FIELD(base, k->off, int))
        ch++;
    cg_buf_add(b, ch->name ? ch->name : "?");
}

/* text_duration - as cg_parse_duration reads it back */
static void text_duration(struct cg_buf *b, const struct cg_kt_key *k, const void *base)
{
    int64_t secs = *FIELD(base, k->off, int64_t);
    char d[32];
    cg_buf_add(b, secs ? cg_format_duration(secs, d, sizeof d) : none_of(k));
}

/* text_strlist - "a, b, c" */
static void text_strlist(struct cg_buf *b, const struct cg_kt_key *k, const void *base)
{
    char **l = *FIELD(base, k->off, char **);
    if (!l || !*l)
        cg_buf_add(b, none_of(k));
    for (size_t i = 0; l && l[i]; i++)
        cg_buf_printf(b, "%s%s", i ? ", " : "", l[i]);
}

/* text_cidrs - "10.0.0.0/8, ::1/128" */
static void text_cidrs(struct cg_buf *b, const struct cg_kt_key *k, const void *base)
{
    const struct cg_cidr *c = *FIELD(base, k->off, struct cg_cidr *);
    size_t n = *FIELD(base, k->n_off, size_t);
    if (!n)
        cg_buf_add(b, none_of(k));
    for (size_t i = 0; i < n; i++) {
        char a[INET6_ADDRSTRLEN];
        inet_ntop(c[i].family, c[i].addr, a, sizeof a);
        cg_buf_printf(b, "%s%s/%d", i ? ", " : "", a, c[i].prefix);
    }
}

/* unset_* - a field that holds nothing (CG_KT_QUIET rows are not shown) */
typedef int unset_fn(const struct cg_kt_key *k, const void *base);

/* unset_ptr - a NULL field */
static int unset_ptr(const struct cg_kt_key *k, const void *base)
{
    return *FIELD(base, k->off, void *) == NULL;
}

/* unset_count - an empty list */
static int unset_count(const struct cg_kt_key *k, const void *base)
{
    return *FIELD(base, k->n_off, size_t) == 0;
}

/* unset_duration - 0 seconds */
static int unset_duration(const struct cg_kt_key *k, const void *base)
{
    return *FIELD(base, k->off, int64_t) == 0;
}

/* unset_enum - at its default */
static int unset_enum(const struct cg_kt_key *k, const void *base)
{
    const struct cg_kt_choice *def = enum_default(k);
    return def && def->value == *FIELD(base, k->off, int);
}

/* unset_never - always shown */
static int unset_never(const struct cg_kt_key *k, const void *base)
{
    (void)k, (void)base;
    return 0;
}

/* release_* - free what a field holds */
typedef void release_fn(const struct cg_kt_key *k, void *base);

/* release_ptr - one allocation */
static void release_ptr(const struct cg_kt_key *k, void *base)
{
    free(*FIELD(base, k->off, void *));
}

/* release_list - a list of strings */
static void release_list(const struct cg_kt_key *k, void *base)
{
    free_list(*FIELD(base, k->off, char **));
}

/* release_object - a nested object's values */
static void release_object(const struct cg_kt_key *k, void *base)
{
    cg_kt_free(k->sub, base);
}

/* release_items - every item's values, then the array */
static void release_items(const struct cg_kt_key *k, void *base)
{
    char *arr = *FIELD(base, k->off, char *);
    for (size_t i = 0; i < *FIELD(base, k->n_off, size_t); i++)
        cg_kt_free(k->sub, arr + i * k->sub->size);
    free(arr);
}

/* is_* - JSON types, as functions for the type table */
static int is_string(const json_t *v) { return json_is_string(v); }
static int is_boolean(const json_t *v) { return json_is_boolean(v); }
static int is_integer(const json_t *v) { return json_is_integer(v); }
static int is_array(const json_t *v) { return json_is_array(v); }
static int is_object(const json_t *v) { return json_is_object(v); }

static const struct {
    const char *doc;       /* the type in the key list */
    const char *want;      /* what a value must be, in messages */
    int (*is)(const json_t *v);
    int (*is2)(const json_t *v); /* a second JSON type it takes, or NULL */
    take_fn *take;
    text_fn *text;         /* NULL: not a line of the printout */
    unset_fn *unset;
    release_fn *release;   /* NULL: nothing to free */
} types[CG_KT_NTYPES] = {
    [CG_KT_STRING] = {"string", "a string", is_string, NULL, take_string, text_string,
                      unset_ptr, release_ptr},
    [CG_KT_BOOL] = {"boolean", "true or false", is_boolean, NULL, take_bool, text_bool,
                    unset_never, NULL},
    [CG_KT_ENUM] = {NULL, "a string", is_string, NULL, take_enum, text_enum, unset_enum,
                    NULL},
    [CG_KT_DURATION] = {"duration", "a duration", is_string, is_integer,
                        take_duration, text_duration, unset_duration, NULL},
    [CG_KT_STRLIST] = {"list of strings", "a list", is_array, is_string,
                       take_strlist, text_strlist, unset_count, release_list},
    [CG_KT_CIDRS] = {"list of CIDRs", "a list", is_array, is_string, take_cidrs,
                     text_cidrs, unset_count, release_ptr},
    [CG_KT_OBJECT] = {"object", "an object", is_object, NULL, take_object, NULL,
                      unset_never, release_object},
    [CG_KT_ITEMS] = {"list of objects", "a list of objects", is_array, NULL, take_items,
                     NULL, unset_never, release_items},
    [CG_KT_JSON] = {"object", "an object", is_object, NULL, take_json, text_string,
                    unset_ptr, release_ptr},
    [CG_KT_INCLUDE] = {"list of files", "a list", is_array, is_string,
                       take_include, text_strlist, unset_count, release_list},
};

/* --- walking a table ---------------------------------------------------------- */

/* check_keys - every key of obj is in the table, with a value of its type */
static int check_keys(struct cg_kt_loader *L, json_t *obj, const char *path,
                      const struct cg_kt_table *t)
{
    const char *name;
    json_t *v;
    json_object_foreach(obj, name, v) {
        const struct cg_kt_key *k = t->keys;
        while (k->name && strcmp(k->name, name) != 0)
            k++;
        char *sub = cg_kt_path(path, name);
        int rc = 0;
        if (!k->name) {
            struct cg_buf b = {0};
            for (k = t->keys; k->name; k++)
                cg_buf_printf(&b, "%s%s", k == t->keys ? "" : ", ", k->name);
            rc = cg_kt_error(L, sub, "unknown key (known here: %s)", b.s);
            cg_buf_free(&b);
        } else if (!types[k->type].is(v) && !(types[k->type].is2 && types[k->type].is2(v))) {
            rc = cg_kt_error(L, sub, "is %s, expected %s", json_kind(v), types[k->type].want);
        }
        free(sub);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* set_once - remember that `path` was set in this file; an error if an
 * earlier file set it already */
static int set_once(struct cg_kt_loader *L, const char *path)
{
    json_t *prev = json_object_get(L->seen, path);
    if (prev)
        return cg_kt_error(L, path, "already set in %s (a setting is made in one file only)",
                           json_string_value(prev));
    json_object_set_new(L->seen, path, json_string(L->file));
    return 0;
}

/* take_default - a row's default (none: the field stays as it is) */
static int take_default(struct cg_kt_loader *L, const struct cg_kt_key *k, void *base,
                        const char *path)
{
    const char *def = k->def_fn ? k->def_fn() : k->def;
    if (!def || !types[k->type].text || (k->type == CG_KT_ENUM && !enum_default(k)))
        return 0;
    json_t *v = k->type == CG_KT_BOOL ? json_boolean(!strcmp(def, "true")) : json_string(def);
    int rc = types[k->type].take(L, k, v, base, path, 1);
    json_decref(v);
    return rc;
}

/* load_key - one row: its value, or what its absence means */
static int load_key(struct cg_kt_loader *L, const struct cg_kt_table *t, const struct cg_kt_key *k,
                    json_t *v, void *base, const char *kp)
{
    if (!v && k->missing)
        return cg_kt_error(L, kp, "%s", k->missing);
    if (!v)
        return t->once ? 0 : take_default(L, k, base, kp); /* once: cg_kt_defaults */
    if (t->once && types[k->type].text && k->type != CG_KT_INCLUDE && set_once(L, kp) < 0)
        return -1;
    return types[k->type].take(L, k, v, base, kp, 0);
}

/* cg_kt_load - the keys of one object, in table order; includes first */
int cg_kt_load(struct cg_kt_loader *L, const struct cg_kt_table *t, json_t *obj, void *base,
               const char *path)
{
    if (check_keys(L, obj, path, t) < 0)
        return -1;
    for (int pass = 0; pass < 2; pass++)
        for (const struct cg_kt_key *k = t->keys; k->name; k++) {
            if ((k->type == CG_KT_INCLUDE) != (pass == 0))
                continue;
            char *kp = cg_kt_path(path, k->name);
            int rc = load_key(L, t, k, json_object_get(obj, k->name), base, kp);
            free(kp);
            if (rc < 0)
                return -1;
        }
    return 0;
}

/* cg_kt_defaults - the defaults of once-keys that no file set */
int cg_kt_defaults(struct cg_kt_loader *L, const struct cg_kt_table *t, void *base,
                   const char *path)
{
    for (const struct cg_kt_key *k = t->keys; k->name; k++) {
        char *kp = cg_kt_path(path, k->name);
        int rc = 0;
        if (k->type == CG_KT_OBJECT)
            rc = cg_kt_defaults(L, k->sub, base, kp);
        else if (!json_object_get(L->seen, kp))
            rc = take_default(L, k, base, kp);
        free(kp);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* cg_kt_free - every value the rows hold */
void cg_kt_free(const struct cg_kt_table *t, void *base)
{
    for (const struct cg_kt_key *k = t->keys; k->name; k++)
        if (types[k->type].release)
            types[k->type].release(k, base);
}

/* printed - a row that is a line of the printout here */
static int printed(const struct cg_kt_key *k, const void *base)
{
    if (k->type == CG_KT_ITEMS || (k->flags & CG_KT_IN_HEADING))
        return 0;
    return !(k->flags & CG_KT_QUIET) || !types[k->type].unset(k, base);
}

/* label_width - the longest label of a table's lines */
static size_t label_width(const struct cg_kt_table *t, size_t prefix)
{
    size_t w = 0;
    for (const struct cg_kt_key *k = t->keys; k->name; k++) {
        size_t n = prefix + strlen(k->name);
        if (k->type == CG_KT_OBJECT)
            n = label_width(k->sub, n + 1);
        else if (k->type == CG_KT_ITEMS || (k->flags & CG_KT_IN_HEADING))
            n = 0;
        if (n > w)
            w = n;
    }
    return w;
}

/* print_lines - one "label value" line per row (objects flattened) */
static void print_lines(FILE *fp, const struct cg_kt_table *t, const void *base,
                        const char *prefix, int indent, int width)
{
    for (const struct cg_kt_key *k = t->keys; k->name; k++) {
        if (!printed(k, base))
            continue;
        char *label = cg_xasprintf("%s%s%s", prefix, k->name, k->type == CG_KT_OBJECT ? "." : "");
        if (k->type == CG_KT_OBJECT) {
            print_lines(fp, k->sub, base, label, indent, width);
        } else {
            struct cg_buf b = {0};
            types[k->type].text(&b, k, base);
            fprintf(fp, "%*s%-*s %s\n", indent, "", width, label, b.s ? b.s : "");
            cg_buf_free(&b);
        }
        free(label);
    }
}

/* cg_kt_print - the lines, then each list of objects */
void cg_kt_print(FILE *fp, const struct cg_kt_table *t, const void *base)
{
    print_lines(fp, t, base, "", t->indent, (int)label_width(t, 0));
    for (const struct cg_kt_key *k = t->keys; k->name; k++) {
        if (k->type != CG_KT_ITEMS)
            continue;
        const struct cg_kt_table *it = k->sub;
        const char *arr = *FIELD(base, k->off, const char *);
        size_t n = *FIELD(base, k->n_off, size_t);
        fprintf(fp, "%s (%zu%s)\n", k->name, n, it->note ? it->note : "");
        for (size_t i = 0; i < n; i++) {
            it->heading(fp, i, arr + i * it->size);
            print_lines(fp, it, arr + i * it->size, "", it->indent, (int)label_width(it, 0));
        }
    }
}

/* walk - every row under prefix */
static void walk(const struct cg_kt_table *t, const char *prefix,
                 void (*fn)(const struct cg_kt_info *ki, void *arg), void *arg)
{
    for (const struct cg_kt_key *k = t->keys; k->name; k++) {
        char *path = cg_xasprintf("%s%s", prefix, k->name);
        struct cg_buf tb = {0};
        if (k->type == CG_KT_ENUM)
            enum_list(&tb, k->choices);
        struct cg_kt_info info = {
            .path = path,
            .type = k->type == CG_KT_ENUM ? tb.s : types[k->type].doc,
            .def = k->def,
            .doc = k->doc,
            .required = k->missing != NULL,
            .in_heading = (k->flags & CG_KT_IN_HEADING) != 0,
            .items = k->type == CG_KT_ITEMS,
        };
        fn(&info, arg);
        cg_buf_free(&tb);
        if (k->sub) {
            char *sub = cg_xasprintf("%s%s.", path, k->type == CG_KT_ITEMS ? "[]" : "");
            walk(k->sub, sub, fn, arg);
            free(sub);
        }
        free(path);
    }
}

/* cg_kt_walk - every row, depth first */
void cg_kt_walk(const struct cg_kt_table *t, void (*fn)(const struct cg_kt_info *ki, void *arg),
                void *arg)
{
    walk(t, "", fn, arg);
}
