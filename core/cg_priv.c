/*
 * cg_priv.c - privilege drop, pid file, socket mode (see cg_priv.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg_priv.h"
#include "cg_util.h"

/* become - set groups, gid, uid; check it cannot be undone */
static int become(uid_t uid, gid_t gid, const char *name, char *err, size_t errlen)
{
    if (name ? initgroups(name, gid) != 0 : setgroups(1, &gid) != 0)
        return cg_errf(err, errlen, "cannot set the groups of %s: %s", name ? name : "owner",
                       strerror(errno));
    if (setgid(gid) != 0 || setuid(uid) != 0)
        return cg_errf(err, errlen, "cannot become uid %d gid %d: %s", (int)uid, (int)gid,
                       strerror(errno));
    if (uid != 0 && (setuid(0) == 0 || geteuid() == 0))
        return cg_errf(err, errlen, "could regain root after dropping privileges");
    return 0;
}

int cg_priv_drop(const char *user, char *err, size_t errlen)
{
    uid_t uid;
    gid_t gid;
    if (cg_priv_lookup(user, &uid, &gid, err, errlen) < 0)
        return -1;
    if (getuid() == uid && geteuid() == uid)
        return 0;
    if (geteuid() != 0)
        return cg_errf(err, errlen, "-u %s: only root can change user", user);
    return become(uid, gid, user, err, errlen);
}

int cg_priv_become_owner(const char *path, char *err, size_t errlen)
{
    if (geteuid() != 0 || !path || !strcmp(path, ":memory:"))
        return 0;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        char *copy = cg_xstrdup(path);
        int rc = stat(dirname(copy), &sb);
        free(copy);
        if (rc != 0)
            return 0; /* the store reports the missing directory */
    }
    if (sb.st_uid == 0)
        return 0;
    struct passwd *pw = getpwuid(sb.st_uid);
    return become(sb.st_uid, pw ? pw->pw_gid : sb.st_gid, pw ? pw->pw_name : NULL, err, errlen);
}

int cg_priv_lookup(const char *user, uid_t *uid_r, gid_t *gid_r, char *err, size_t errlen)
{
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw)
        return cg_errf(err, errlen, "-u %s: no such user", user);
    if (pw->pw_uid == 0)
        return cg_errf(err, errlen, "-u %s: that is root; give an unprivileged user", user);
    *uid_r = pw->pw_uid;
    *gid_r = pw->pw_gid;
    return 0;
}

int cg_pidfile_dir(const char *path, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    char *copy = cg_xstrdup(path);
    const char *dir = dirname(copy);
    struct stat st;
    int rc = 0;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            rc = cg_errf(err, errlen, "pid file %s: %s is not a directory", path, dir);
    } else if (errno != ENOENT) {
        rc = cg_errf(err, errlen, "pid file %s: %s: %s", path, dir, strerror(errno));
    } else if (geteuid() != 0) {
        rc = cg_errf(err, errlen, "pid file %s: directory %s does not exist (create it, "
                     "writable by the daemon's user, or start contactgate as root with -u)",
                     path, dir);
    } else if (mkdir(dir, 0755) < 0 || chown(dir, uid, gid) < 0 || chmod(dir, 0755) < 0) {
        rc = cg_errf(err, errlen, "pid file %s: cannot create %s: %s", path, dir,
                     strerror(errno));
    }
    free(copy);
    return rc;
}

int cg_pidfile_open(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0) {
        int e = errno;
        char *copy = cg_xstrdup(path);
        struct stat st;
        int nodir = e == ENOENT && stat(dirname(copy), &st) != 0;
        free(copy);
        return cg_errf(err, errlen, "pid file %s: %s%s", path, strerror(e),
                       nodir ? " (its directory does not exist)"
                       : e == EACCES ? " (its directory must be writable by the daemon's user)" : "");
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cg_errf(err, errlen, "pid file %s: not a regular file", path);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        char buf[32] = "";
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        buf[strcspn(buf, "\n")] = 0;
        close(fd);
        if (e == EWOULDBLOCK)
            return cg_errf(err, errlen, "pid file %s: contactgate is already running (pid %s)",
                           path, *buf ? buf : "?");
        return cg_errf(err, errlen, "pid file %s: cannot lock it: %s", path, strerror(e));
    }
    if (fchmod(fd, 0644) < 0 || ftruncate(fd, 0) < 0) {
        int e = errno;
        close(fd);
        return cg_errf(err, errlen, "pid file %s: %s", path, strerror(e));
    }
    return fd;
}

int cg_pidfile_store(int fd, pid_t pid)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)pid);
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
        return -1;
    return 0;
}

void cg_pidfile_remove(const char *path, int fd)
{
    if (unlink(path) < 0 && fd >= 0 && ftruncate(fd, 0) < 0) {
        /* neither: a stale pid file is harmless, the lock is what counts */
    }
    if (fd >= 0)
        close(fd);
}

int cg_socket_secure(const char *spec, char *err, size_t errlen)
{
    const char *p = NULL;
    if (!strncmp(spec, "unix:", 5))
        p = spec + 5;
    else if (!strncmp(spec, "local:", 6))
        p = spec + 6;
    if (!p)
        return 0;
    if (chmod(p, 0660) != 0)
        return cg_errf(err, errlen, "socket %s: cannot set mode 0660: %s", p, strerror(errno));
    return 0;
}
