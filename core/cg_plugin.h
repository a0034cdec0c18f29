/*
 * cg_plugin.h - loading policy plugins and the host side of the plugin ABI.
 *
 * cg_plugin_open() opens the file once (a symlink is refused), checks it
 * (regular, owned by root or the running user, not group- or
 * world-writable) and every directory above it up to / (the same, and no
 * sticky world-writable one such as /tmp), dlopen()s that very file
 * RTLD_NOW|RTLD_LOCAL, finds the one exported descriptor and checks its
 * ABI version and size. cg_plugin_instance() runs the plugin's
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

/* cg_param_arena_free - release what cg_plugin_instance() handed out. */
void cg_param_arena_free(struct cg_param_arena **a);

#endif
