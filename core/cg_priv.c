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
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw)
        return cg_errf(err, errlen, "-u %s: no such user", user);
    if (pw->pw_uid == 0)
        return cg_errf(err, errlen, "-u %s: that is root; give an unprivileged user", user);
    if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid)
        return 0;
    if (geteuid() != 0)
        return cg_errf(err, errlen, "-u %s: only root can change user", user);
    return become(pw->pw_uid, pw->pw_gid, pw->pw_name, err, errlen);
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

int cg_pidfile_write(const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (fp) {
        long pid = 0;
        if (fscanf(fp, "%ld", &pid) == 1 && pid > 1 && pid != getpid() && kill((pid_t)pid, 0) == 0) {
            fclose(fp);
            return cg_errf(err, errlen, "pid file %s: contactgate (pid %ld) is already running",
                           path, pid);
        }
        fclose(fp);
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return cg_errf(err, errlen, "pid file %s: %s", path, strerror(errno));
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    int ok = write(fd, buf, (size_t)n) == n;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return cg_errf(err, errlen, "pid file %s: %s", path, strerror(errno));
    }
    return 0;
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
