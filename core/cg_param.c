/*
 * cg_param.c - the params API for plugin init() (host side).
 *
 * Contracts in cg_param.h and include/contactgate/plugin.h. Error texts
 * follow the config loader: `PATH: "VALUE" is not a duration`, with the
 * value printed as JSON.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_param.h"
#include "cg_plugin.h"
#include "cg_time.h"
#include "cg_util.h"

/* One arena block: anything allocated for a plugin's params. */
struct cg_param_arena {
    struct cg_param_arena *next;
    json_t *json;             /* a reference held, or NULL */
    void *mem;                /* a block to free, or NULL */
};

struct cg_param {
    json_t *j;                /* NULL when the key is absent */
    char *path;
    struct cg_param_init *pi;
};

/* arena_keep - remember a block and/or a JSON reference */
static void arena_keep(struct cg_param_init *pi, void *mem, json_t *json)
{
    struct cg_param_arena *a = cg_xcalloc(1, sizeof *a);
    a->mem = mem;
    a->json = json ? json_incref(json) : NULL;
    a->next = *pi->arena;
    *pi->arena = a;
}

/* cg_param_arena_free - release every block */
void cg_param_arena_free(struct cg_param_arena **ap)
{
    struct cg_param_arena *a = ap ? *ap : NULL;
    while (a) {
        struct cg_param_arena *next = a->next;
        free(a->mem);
        if (a->json)
            json_decref(a->json);
        free(a);
        a = next;
    }
    if (ap)
        *ap = NULL;
}

/* param_new - a node in the arena */
static cg_param *param_new(struct cg_param_init *pi, json_t *j, char *path)
{
    cg_param *p = cg_xcalloc(1, sizeof *p);
    p->j = j;
    p->path = path;
    p->pi = pi;
    arena_keep(pi, p, j);
    arena_keep(pi, path, NULL);
    return p;
}

/* cg_param_root - wrap the params object */
cg_param *cg_param_root(struct cg_param_init *pi, json_t *j, const char *path)
{
    json_t *obj = j ? j : json_object();
    cg_param *p = param_new(pi, obj, cg_xstrdup(path));
    if (!j)
        json_decref(obj); /* the arena holds the only reference now */
    return p;
}

/* fail - record the first error */
static int fail(cg_param *p, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(cg_param *p, const char *key, const char *fmt, ...)
{
    struct cg_param_init *pi = p->pi;
    if (!pi->failed) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (key)
            snprintf(pi->err, pi->errlen, "%s.%s: %s", p->path, key, msg);
        else
            snprintf(pi->err, pi->errlen, "%s: %s", p->path, msg);
        pi->failed = 1;
    }
    return CG_ERROR;
}

/* json_text - a short JSON rendering of a value for messages */
static void json_text(json_t *j, char *buf, size_t len)
{
    char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    cg_strlcpy(buf, s ? s : "?", len);
    if (s && strlen(s) >= len && len > 4)
        strcpy(buf + len - 4, "...");
    free(s);
}

/* child - the JSON of key (or p itself when key is NULL) */
static json_t *child(cg_param *p, const char *key)
{
    if (!key)
        return p->j;
    return json_is_object(p->j) ? json_object_get(p->j, key) : NULL;
}

/* absent - common handling of a missing value */
static int absent(cg_param *p, const char *key, int required)
{
    if (required)
        return fail(p, key, "is required");
    return CG_OK;
}

/* cg_param_error - a plugin-specific error */
int cg_param_error(cg_param *p, const char *key, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fail(p, key, "%s", msg);
}

/* cg_param_keys - every key must be allowed */
int cg_param_keys(cg_param *p, const char *const *allowed)
{
    if (!json_is_object(p->j))
        return fail(p, NULL, "is not an object");
    const char *k;
    json_t *v;
    json_object_foreach(p->j, k, v) {
        int ok = 0;
        for (size_t i = 0; allowed && allowed[i]; i++)
            if (strcmp(allowed[i], k) == 0)
                ok = 1;
        if (!ok) {
            struct cg_buf b = {0};
            for (size_t i = 0; allowed && allowed[i]; i++)
                cg_buf_printf(&b, "%s%s", i ? ", " : "", allowed[i]);
            fail(p, k, "unknown key (known here: %s)", b.s ? b.s : "none");
            cg_buf_free(&b);
            return CG_ERROR;
        }
    }
    return CG_OK;
}

/* cg_param_get - child node or NULL */
cg_param *cg_param_get(cg_param *p, const char *key)
{
    json_t *j = child(p, key);
    if (!j)
        return NULL;
    return param_new(p->pi, j, cg_xasprintf("%s.%s", p->path, key));
}

/* cg_param_len - array length, -1 with an error if not an array */
long cg_param_len(cg_param *p)
{
    if (!json_is_array(p->j)) {
        fail(p, NULL, "is not an array");
        return -1;
    }
    return (long)json_array_size(p->j);
}

/* cg_param_item - array element */
cg_param *cg_param_item(cg_param *p, long i)
{
    json_t *j = json_is_array(p->j) && i >= 0 ? json_array_get(p->j, (size_t)i) : NULL;
    if (!j)
        return NULL;
    return param_new(p->pi, j, cg_xasprintf("%s[%ld]", p->path, i));
}

/* cg_param_string - a string */
int cg_param_string(cg_param *p, const char *key, int required, const char **r)
{
    json_t *j = child(p, key);
    if (!j)
        return absent(p, key, required);
    if (!json_is_string(j)) {
        char t[80];
        json_text(j, t, sizeof t);
        return fail(p, key, "%s is not a string", t);
    }
    char *s = cg_xstrdup(json_string_value(j));
    arena_keep(p->pi, s, NULL);
    *r = s;
    return CG_OK;
}

/* cg_param_number - a number */
int cg_param_number(cg_param *p, const char *key, int required, double *r)
{
    json_t *j = child(p, key);
    if (!j)
        return absent(p, key, required);
    if (!json_is_number(j)) {
        char t[80];
        json_text(j, t, sizeof t);
        return fail(p, key, "%s is not a number", t);
    }
    *r = json_number_value(j);
    return CG_OK;
}

/* cg_param_int - an integer */
int cg_param_int(cg_param *p, const char *key, int required, long long *r)
{
    json_t *j = child(p, key);
    if (!j)
        return absent(p, key, required);
    if (!json_is_integer(j)) {
        char t[80];
        json_text(j, t, sizeof t);
        return fail(p, key, "%s is not an integer", t);
    }
    *r = json_integer_value(j);
    return CG_OK;
}

/* cg_param_bool - a boolean */
int cg_param_bool(cg_param *p, const char *key, int required, int *r)
{
    json_t *j = child(p, key);
    if (!j)
        return absent(p, key, required);
    if (!json_is_boolean(j)) {
        char t[80];
        json_text(j, t, sizeof t);
        return fail(p, key, "%s is not true or false", t);
    }
    *r = json_is_true(j);
    return CG_OK;
}

/* cg_param_duration - "48h" or a number of seconds, at most 10 years
 * (cg_time.h), so that no plugin's now - window can overflow */
int cg_param_duration(cg_param *p, const char *key, int required, int64_t *r)
{
    json_t *j = child(p, key);
    if (!j)
        return absent(p, key, required);
    int rc = CG_TIME_EDURATION;
    if (json_is_integer(j) && (rc = cg_duration_check(json_integer_value(j))) == CG_TIME_OK) {
        *r = json_integer_value(j);
        return CG_OK;
    }
    if (json_is_string(j) && (rc = cg_parse_duration(json_string_value(j), r)) == CG_TIME_OK)
        return CG_OK;
    char t[80];
    json_text(j, t, sizeof t);
    return fail(p, key, "%s %s", t, cg_time_why(rc));
}

/* cg_param_strlist - a string or an array of strings */
int cg_param_strlist(cg_param *p, const char *key, int required, const char *const **r,
                     size_t *n)
{
    json_t *j = child(p, key);
    if (!j)
        return absent(p, key, required);
    size_t cnt = json_is_array(j) ? json_array_size(j) : 1;
    if (!json_is_array(j) && !json_is_string(j)) {
        char t[80];
        json_text(j, t, sizeof t);
        return fail(p, key, "%s is not a string or an array of strings", t);
    }
    const char **v = cg_xcalloc(cnt + 1, sizeof *v);
    arena_keep(p->pi, v, NULL);
    for (size_t i = 0; i < cnt; i++) {
        json_t *e = json_is_array(j) ? json_array_get(j, i) : j;
        if (!json_is_string(e)) {
            char t[80], k[200];
            json_text(e, t, sizeof t);
            snprintf(k, sizeof k, "%s[%zu]", key ? key : "", i);
            return key ? fail(p, k, "%s is not a string", t) : fail(p, NULL, "[%zu]: %s is not a string", i, t);
        }
        char *s = cg_xstrdup(json_string_value(e));
        arena_keep(p->pi, s, NULL);
        v[i] = s;
    }
    *r = v;
    if (n)
        *n = cnt;
    return CG_OK;
}
