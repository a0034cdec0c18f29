/*
 * cg_plugin.c - load policy plugins and build their instances.
 *
 * A plugin is code that runs inside the daemon, so only a file that no one
 * but root and the daemon's user could have written is loaded (Postfix's
 * load_lib, OpenDKIM): the file is opened once, O_NOFOLLOW (a symlink is
 * refused, whoever planted it), and that descriptor is checked: a regular
 * file owned by root or the running user, not writable by group or others.
 * Then every directory from the file's up to / is checked through
 * descriptors too (openat "..", so no path is looked up twice): owned by
 * root or the running user and not writable by group or others; a sticky
 * world-writable directory such as /tmp is refused as well, since anyone
 * can create a file there. What is loaded is the very file checked:
 * dlopen("/proc/self/fd/N") of the descriptor that was checked, so there
 * is no window between the check and the use. RTLD_NOW|RTLD_LOCAL (every
 * symbol resolved now, nothing leaks into the global namespace), the one
 * exported descriptor is looked up and its ABI version and size are
 * checked. Every failure names the file and the reason.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cg_param.h"
#include "cg_host.h"
#include "cg_plugin.h"
#include "cg_util.h"

/* untrusted_owner - the uid is neither root nor the running user */
static int untrusted_owner(uid_t uid)
{
    return uid != 0 && uid != geteuid();
}

/* check_mode - why an object with this stat may not hold plugins, or NULL */
static const char *check_mode(const struct stat *st, char *why, size_t len)
{
    if (untrusted_owner(st->st_uid))
        snprintf(why, len, "owned by uid %u, not by root or the running user (uid %u)",
                 (unsigned)st->st_uid, (unsigned)geteuid());
    else if ((st->st_mode & S_IWOTH) && (st->st_mode & S_ISVTX))
        snprintf(why, len, "world-writable with the sticky bit (mode %04o): anyone can "
                 "put a file there", (unsigned)(st->st_mode & 07777));
    else if (st->st_mode & (S_IWGRP | S_IWOTH))
        snprintf(why, len, "writable by %s (mode %04o)", (st->st_mode & S_IWOTH) ? "others" : "group",
                 (unsigned)(st->st_mode & 07777));
    else
        return NULL;
    return why;
}

/* check_dirs - every directory from dirfd's up to / may hold plugins;
 * dirname names dirfd in messages. Takes over dirfd. */
static int check_dirs(int dirfd, const char *path, const char *dirname, char *err, size_t errlen)
{
    char *name = realpath(dirname, NULL);
    if (!name)
        name = cg_xstrdup(dirname);
    int rc = 0;
    for (;;) {
        struct stat st, up;
        char why[160];
        if (fstat(dirfd, &st) < 0) {
            rc = cg_errf(err, errlen, "plugin %s: directory %s: %s", path, name, strerror(errno));
            break;
        }
        if (check_mode(&st, why, sizeof why)) {
            rc = cg_errf(err, errlen, "plugin %s: directory %s is %s: refusing to load it", path,
                         name, why);
            break;
        }
        int parent = openat(dirfd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent < 0 || fstat(parent, &up) < 0) {
            rc = cg_errf(err, errlen, "plugin %s: the directory above %s: %s", path, name,
                         strerror(errno));
            if (parent >= 0)
                close(parent);
            break;
        }
        close(dirfd);
        dirfd = parent;
        if (up.st_dev == st.st_dev && up.st_ino == st.st_ino)
            break; /* "/" is its own parent */
        char *slash = strrchr(name, '/');
        if (slash && slash != name)
            *slash = 0;
        else
            snprintf(name, strlen(name) + 1, "/");
    }
    close(dirfd);
    free(name);
    return rc;
}

/* open_checked - open the plugin file once and check it and every
 * directory above it; the descriptor, or -1 with err */
static int open_checked(const char *path, char *err, size_t errlen)
{
    char *copy = cg_xstrdup(path), *copy2 = cg_xstrdup(path);
    const char *dir = dirname(copy), *base = basename(copy2);
    int fd = -1;
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        cg_errf(err, errlen, "plugin %s: %s", path, strerror(errno));
        goto out;
    }
    fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        struct stat lst;
        if (e == ELOOP && fstatat(dirfd, base, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode))
            cg_errf(err, errlen, "plugin %s: is a symbolic link: refusing to load it (name the "
                    "file itself)", path);
        else
            cg_errf(err, errlen, "plugin %s: %s", path, strerror(e));
        close(dirfd);
        goto out;
    }
    struct stat st;
    char why[160];
    if (fstat(fd, &st) < 0)
        cg_errf(err, errlen, "plugin %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        cg_errf(err, errlen, "plugin %s: not a regular file", path);
    else if (check_mode(&st, why, sizeof why))
        cg_errf(err, errlen, "plugin %s: the file is %s: refusing to load it", path, why);
    else if (check_dirs(dirfd, path, dir, err, errlen) == 0)
        goto out; /* checked */
    else
        dirfd = -1; /* check_dirs took it */
    if (dirfd >= 0)
        close(dirfd);
    close(fd);
    fd = -1;
out:
    free(copy);
    free(copy2);
    return fd;
}

/* mapped_from - 1 when addr lies in a mapping of the file st describes
 * (/proc/self/maps: "start-end perms offset major:minor inode path") */
static int mapped_from(const void *addr, const struct stat *st)
{
    FILE *fp = fopen("/proc/self/maps", "re");
    if (!fp)
        return 0;
    char line[4096 + 128];
    int found = 0;
    uintptr_t a = (uintptr_t)addr;
    while (!found && fgets(line, sizeof line, fp)) {
        unsigned long long lo, hi, off, ino;
        unsigned maj, min;
        if (sscanf(line, "%llx-%llx %*s %llx %x:%x %llu", &lo, &hi, &off, &maj, &min, &ino) != 6)
            continue;
        if (a >= lo && a < hi)
            found = maj == major(st->st_dev) && min == minor(st->st_dev) &&
                    ino == (unsigned long long)st->st_ino ? 1 : -1;
    }
    fclose(fp);
    return found == 1;
}

/* dlopen_fd - dlopen the file behind *fdp by its /proc/self/fd name. The
 * dynamic linker takes an object already loaded under the same name for
 * the one asked for, and an object it finds already loaded (the same
 * plugin, for the snapshot being replaced) keeps each name it was asked
 * by: a name may then stand for a plugin opened earlier through a
 * descriptor number since reused. So the object returned is checked to be
 * mapped from the file checked; if not, it is let go (nothing of it ran:
 * it was loaded already) and the descriptor moved to another number. */
static void *dlopen_fd(int *fdp, const struct stat *st)
{
    char name[64];
    for (int tries = 0; tries < 64; tries++) {
        snprintf(name, sizeof name, "/proc/self/fd/%d", *fdp);
        void *dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        struct link_map *lm = NULL;
        if (!dl || (dlinfo(dl, RTLD_DI_LINKMAP, &lm) == 0 && lm && mapped_from(lm->l_ld, st)))
            return dl;
        dlclose(dl);
        int moved = fcntl(*fdp, F_DUPFD_CLOEXEC, *fdp + 1);
        if (moved < 0)
            break;
        close(*fdp);
        *fdp = moved;
    }
    return NULL;
}

/* cg_plugin_open_path - load one plugin file */
struct cg_plugin_so *cg_plugin_open_path(const char *path, const char *name, char *err,
                                         size_t errlen)
{
    int fd = open_checked(path, err, errlen);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        cg_errf(err, errlen, "plugin %s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    dlerror();
    void *dl = dlopen_fd(&fd, &st);
    close(fd);
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
    else if (!CG_HAS_MEMBER(desc, struct cg_plugin, destroy))
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
    if (!CG_HAS_MEMBER(d, struct cg_plugin, flags))
        return 0;
    return d->flags;
}
