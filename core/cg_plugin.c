/*
 * cg_plugin.c - load policy plugins and build their instances.
 *
 * The checks follow Postfix's load_lib and OpenDKIM: before dlopen() the
 * file must be a regular file owned by root or by the user running
 * contactgate, not writable by group or others, in a directory that is
 * not writable by others. Then dlopen(RTLD_NOW|RTLD_LOCAL) (every symbol
 * resolved now, nothing leaks into the global namespace), the one exported
 * descriptor is looked up and its ABI version and size are checked. Every
 * failure names the file and the reason.
 */
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg_param.h"
#include "cg_host.h"
#include "cg_plugin.h"
#include "cg_util.h"

/* check_file - ownership and permission checks before dlopen */
static int check_file(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return cg_errf(err, errlen, "plugin %s: %s", path, strerror(errno));
    if (S_ISLNK(st.st_mode) && stat(path, &st) < 0)
        return cg_errf(err, errlen, "plugin %s: broken symlink: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return cg_errf(err, errlen, "plugin %s: not a regular file", path);
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return cg_errf(err, errlen, "plugin %s: owned by uid %u, not by root or the running user (uid %u)",
                       path, (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return cg_errf(err, errlen, "plugin %s: writable by %s (mode %04o): refusing to load it",
                       path, (st.st_mode & S_IWOTH) ? "others" : "group",
                       (unsigned)(st.st_mode & 07777));
    char *copy = cg_xstrdup(path);
    const char *dir = dirname(copy);
    struct stat dst;
    int r = 0;
    if (stat(dir, &dst) == 0 && (dst.st_mode & S_IWOTH) && !(dst.st_mode & S_ISVTX))
        r = cg_errf(err, errlen, "plugin %s: directory %s is world-writable: refusing to load it",
                    path, dir);
    free(copy);
    return r;
}

/* cg_plugin_open_path - load one plugin file */
struct cg_plugin_so *cg_plugin_open_path(const char *path, const char *name, char *err,
                                         size_t errlen)
{
    if (check_file(path, err, errlen) < 0)
        return NULL;
    dlerror();
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        cg_errf(err, errlen, "plugin %s: cannot load: %s", path, e ? e : "unknown error");
        return NULL;
    }
    const struct cg_plugin *desc = dlsym(dl, CG_PLUGIN_SYMBOL);
    if (!desc) {
        cg_errf(err, errlen, "plugin %s: no symbol %s: not a contactgate plugin", path,
                CG_PLUGIN_SYMBOL);
        dlclose(dl);
        return NULL;
    }
    const char *why = NULL;
    if (desc->abi_version != CG_PLUGIN_ABI_VERSION)
        why = "ABI version";
    else if (desc->struct_size < offsetof(struct cg_plugin, destroy) + sizeof desc->destroy)
        why = "descriptor size";
    if (why) {
        cg_errf(err, errlen, "plugin %s: %s mismatch: plugin has ABI %u (descriptor %zu bytes), "
                "this contactgate has ABI %u (%zu bytes); rebuild the plugin against "
                "contactgate/plugin.h", path, why, (unsigned)desc->abi_version, desc->struct_size,
                (unsigned)CG_PLUGIN_ABI_VERSION, sizeof(struct cg_plugin));
        dlclose(dl);
        return NULL;
    }
    if (!desc->init || !desc->evaluate || !desc->name) {
        cg_errf(err, errlen, "plugin %s: descriptor lacks %s", path,
                !desc->name ? "a name" : !desc->init ? "init()" : "evaluate()");
        dlclose(dl);
        return NULL;
    }
    struct cg_plugin_so *so = cg_xcalloc(1, sizeof *so);
    so->name = cg_xstrdup(name ? name : desc->name);
    so->path = cg_xstrdup(path);
    so->dl = dl;
    so->desc = desc;
    return so;
}

/* cg_plugin_open - load dir/NAME.so */
struct cg_plugin_so *cg_plugin_open(const char *dir, const char *name, char *err,
                                    size_t errlen)
{
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return cg_errf(err, errlen, "plugin name \"%s\" is not [a-z0-9_]+", name), NULL;
    char *path = cg_xasprintf("%s/%s.so", dir, name);
    struct cg_plugin_so *so = cg_plugin_open_path(path, name, err, errlen);
    free(path);
    return so;
}

/* cg_plugin_close - dlclose and free */
void cg_plugin_close(struct cg_plugin_so **sop)
{
    struct cg_plugin_so *so = sop ? *sop : NULL;
    if (!so)
        return;
    cg_param_arena_free(&so->arena);
    if (so->dl)
        dlclose(so->dl);
    free(so->name);
    free(so->path);
    free(so);
    *sop = NULL;
}

/* cg_plugin_instance - run init() with one policy's params */
int cg_plugin_instance(struct cg_plugin_so *so, json_t *params, const char *key_path,
                       void **instance_r, char *err, size_t errlen)
{
    if (params && !json_is_object(params))
        return cg_errf(err, errlen, "%s: is not an object", key_path);
    char perr[512] = "";
    struct cg_param_init pi = {.arena = &so->arena, .err = perr, .errlen = sizeof perr};
    cg_param *root = cg_param_root(&pi, params, key_path);
    char ierr[512] = "";
    void *inst = NULL;
    cg_host_context(so->name, NULL, NULL);
    int r = so->desc->init(&cg_host_table, root, &inst, ierr, sizeof ierr);
    cg_host_context(NULL, NULL, NULL);
    if (r != CG_OK || pi.failed) {
        /* destroy() follows a failed init() too (plugin.h) */
        if (so->desc->destroy)
            so->desc->destroy(inst);
        if (pi.failed)
            return cg_errf(err, errlen, "%s", perr);
        if (*ierr)
            return cg_errf(err, errlen, "%s: %s", key_path, ierr);
        return cg_errf(err, errlen, "%s: plugin %s refused its params", key_path, so->name);
    }
    *instance_r = inst;
    return 0;
}

unsigned cg_plugin_flags(const struct cg_plugin_so *so)
{
    const struct cg_plugin *d = so->desc;
    if (d->struct_size < offsetof(struct cg_plugin, flags) + sizeof d->flags)
        return 0;
    return d->flags;
}
