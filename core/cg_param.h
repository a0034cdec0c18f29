/*
 * cg_param.h - the params API that plugins use in init() (host side).
 *
 * A cg_param wraps one JSON node of a policy's "params" with its key path
 * ("policies[2].params.windows[0].limit") so that every error a plugin
 * reports names exactly where it is. Nodes, copied strings and string
 * lists live in an arena owned by the plugin's cg_plugin_so and are freed
 * with it. The first error is kept in the init context; later ones are
 * ignored (one clear message, like the config loader).
 */
#ifndef CG_PARAM_H
#define CG_PARAM_H

#include <jansson.h>
#include "contactgate/plugin.h"

struct cg_param_arena;

struct cg_param_init {
    struct cg_param_arena **arena;
    char *err;
    size_t errlen;
    int failed;
};

/* cg_param_root - wrap a params object for init(); NULL json = {}. */
cg_param *cg_param_root(struct cg_param_init *pi, json_t *j, const char *path);

int cg_param_keys(cg_param *p, const char *const *allowed);
cg_param *cg_param_get(cg_param *p, const char *key);
long cg_param_len(cg_param *p);
cg_param *cg_param_item(cg_param *p, long i);
int cg_param_string(cg_param *p, const char *key, int required, const char **r);
int cg_param_number(cg_param *p, const char *key, int required, double *r);
int cg_param_int(cg_param *p, const char *key, int required, long long *r);
int cg_param_bool(cg_param *p, const char *key, int required, int *r);
int cg_param_duration(cg_param *p, const char *key, int required, int64_t *r);
int cg_param_strlist(cg_param *p, const char *key, int required, const char *const **r,
                     size_t *n);
int cg_param_error(cg_param *p, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
