/*
 * cg_plugin.h - loading policy plugins and the host side of the plugin ABI.
 *
 * cg_plugin_open() checks the file (regular, owned by root or the running
 * user, not group- or world-writable, its directory not world-writable),
 * dlopen()s it RTLD_NOW|RTLD_LOCAL, finds the one exported descriptor and
 * checks its ABI version and size. cg_plugin_instance() runs the plugin's
 * init() with one policy's params. Every error names the file (or the key
 * path) and the reason.
 */
#ifndef CG_PLUGIN_H
#define CG_PLUGIN_H

#include <stddef.h>
#include <jansson.h>
#include "contactgate/plugin.h"

struct cg_plugin_so {
    char *name;             /* "frequency" */
    char *path;             /* plugin_dir/frequency.so */
    void *dl;               /* dlopen handle */
    const struct cg_plugin *desc;
    struct cg_param_arena *arena; /* params nodes and strings handed to the
                                     plugin; live until cg_plugin_close() */
};

/* cg_plugin_open - load dir/NAME.so. */
struct cg_plugin_so *cg_plugin_open(const char *dir, const char *name,
                                    char *err, size_t errlen);
/* cg_plugin_open_path - load one file (tests, third-party plugins). */
struct cg_plugin_so *cg_plugin_open_path(const char *path, const char *name,
                                         char *err, size_t errlen);
/* cg_plugin_flags - the descriptor's flags (0 for a plugin built before
 * the member existed). */
unsigned cg_plugin_flags(const struct cg_plugin_so *so);
/* cg_plugin_close - dlclose and free; NULL-safe; sets *so to NULL. */
void cg_plugin_close(struct cg_plugin_so **so);

/* cg_plugin_instance - validate `params` (may be NULL: an empty object)
 * through the plugin's init(). key_path is the path of the params object in
 * the config ("policies[2].params") used in error messages. */
int cg_plugin_instance(struct cg_plugin_so *so, json_t *params, const char *key_path,
                       void **instance_r, char *err, size_t errlen);

/* The host table handed to every plugin (cg_host.c). */
extern const struct cg_host cg_host_table;

/* The host side of one evaluation (the view's ctx): where queries go.
 * `failed` is set when a query failed, so the engine treats the policy as
 * undecided even if the plugin ignored the error. */
struct cg_store;
struct cg_msg;
/* One customer's contacts of one range, kept for the other policies of the
 * same decision (they mostly ask for the same week). */
struct cg_contact_cache {
    int valid;
    int64_t since, until;
    struct cg_contact *rows;    /* newest first, strings owned */
    size_t n, cap;
};

struct cg_query_ctx {
    struct cg_store *st;
    const struct cg_msg *m;     /* the message (headers), or NULL */
    int failed;
    /* per-decision caches (one customer): release with cg_query_ctx_clear */
    struct cg_contact_cache contacts;
    int states_valid;
    struct cg_state *states;
    size_t n_states;
};

/* cg_query_ctx_clear - free the caches of a ctx */
void cg_query_ctx_clear(struct cg_query_ctx *ctx);

/* cg_param_arena_free - release what cg_plugin_instance() handed out. */
void cg_param_arena_free(struct cg_param_arena **a);

#endif
