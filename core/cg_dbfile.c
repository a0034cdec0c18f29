/*
 * cg_dbfile.c - create the history's file with its final mode and group,
 * and keep its -wal/-shm files in line (cg_dbfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg_database.h"
#include "cg_dbfile.h"
#include "cg_log.h"
#include "cg_util.h"

/* cg_dbfile_mode - the mode of every history file */
mode_t cg_dbfile_mode(const char *group)
{
    return group ? 0640 : 0600;
}

/* cg_dbfile_umask - a umask that keeps anything created within that mode */
mode_t cg_dbfile_umask(const char *group)
{
    return group ? 027 : 077;
}

/* not_a_file - ":memory:", a file: URI, a URI or conninfo of a server */
static int not_a_file(const char *db)
{
    return !*db || !strcmp(db, ":memory:") || !strncmp(db, "file:", 5) || cg_database_is_pg(db);
}

/* settle - give an existing file exactly `mode` and, when gid is not -1,
 * that group. By path, never by opening it: closing any descriptor of a
 * file drops every POSIX lock the process holds on it, SQLite's included,
 * and this runs while the store is open too. 0, 1 when it does not exist,
 * or -1 with err. */
static int settle(const char *name, mode_t mode, gid_t gid, const char *group, char *err,
                  size_t errlen)
{
    struct stat st;
    if (stat(name, &st) < 0)
        return errno == ENOENT ? 1 : cg_errf(err, errlen, "%s: %s", name, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return cg_errf(err, errlen, "%s: not a regular file", name);
    if (gid != (gid_t)-1 && st.st_gid != gid && chown(name, (uid_t)-1, gid) < 0)
        return cg_errf(err, errlen, "%s: cannot give it group %s: %s%s", name, group,
                       strerror(errno),
                       errno == EPERM ? " (the daemon's user must be a member of database_group)"
                                      : "");
    if ((st.st_mode & 07777) != mode) {
        if (chmod(name, mode) < 0)
            return cg_errf(err, errlen, "%s: cannot set mode %04o: %s", name, (unsigned)mode,
                           strerror(errno));
        if (st.st_mode & 07777 & ~mode)
            cg_log(LOG_WARNING, "%s had mode %04o; now %04o (readable by the daemon's user%s only)",
                   name, (unsigned)(st.st_mode & 07777), (unsigned)mode,
                   gid != (gid_t)-1 ? " and database_group" : "");
    }
    return 0;
}

/* cg_dbfile_secure - create and settle the history's files */
int cg_dbfile_secure(const char *database, const char *group, char *err, size_t errlen)
{
    if (!database || not_a_file(database))
        return 0;
    mode_t mode = cg_dbfile_mode(group);
    gid_t gid = (gid_t)-1;
    if (group) {
        struct group *gr = getgrnam(group);
        if (!gr)
            return cg_errf(err, errlen, "database_group %s: no such group", group);
        gid = gr->gr_gid;
    }
    /* a new file: created here with its mode and group, before SQLite
     * (which is not using it yet: it does not exist) */
    int fd = open(database, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
    if (fd >= 0) {
        int bad = (gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) < 0) || fchmod(fd, mode) < 0;
        int e = errno;
        close(fd);
        if (bad) {
            unlink(database);
            return cg_errf(err, errlen, "database %s: cannot give it mode %04o%s%s: %s%s",
                           database, (unsigned)mode, group ? " and group " : "",
                           group ? group : "", strerror(e),
                           e == EPERM ? " (the daemon's user must be a member of database_group)"
                                      : "");
        }
    } else if (errno != EEXIST) {
        return cg_errf(err, errlen, "database %s: %s", database, strerror(errno));
    }
    if (settle(database, mode, gid, group, err, errlen) < 0)
        return -1;
    /* SQLite keeps -wal and -shm next to the file a symlink points at */
    char real[PATH_MAX];
    if (!realpath(database, real))
        return cg_errf(err, errlen, "database %s: %s", database, strerror(errno));
    for (int i = 0; i < 2; i++) {
        char *side = cg_xasprintf("%s%s", real, i ? "-shm" : "-wal");
        int rc = settle(side, mode, gid, group, err, errlen);
        free(side);
        if (rc < 0)
            return -1;
    }
    return 0;
}
