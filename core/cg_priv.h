/*
 * cg_priv.h - running as an unprivileged user, pid files, socket modes.
 */
#ifndef CG_PRIV_H
#define CG_PRIV_H

#include <stddef.h>
#include <sys/types.h>

/* cg_priv_drop - become `user` (its uid, primary gid and supplementary
 * groups) for good. Returns 0, or -1 with a message in err. */
int cg_priv_drop(const char *user, char *err, size_t errlen);
/* cg_priv_become_owner - when running as root, become the owner of `path`
 * (a file, or its directory when the file does not exist yet), so that
 * files created next to it (SQLite's -wal and -shm) stay usable by that
 * owner. No-op when not root or when the owner is root. */
int cg_priv_become_owner(const char *path, char *err, size_t errlen);
/* cg_pidfile_write - write our pid to path (0644), refusing to overwrite
 * the pid file of a running process. 0 or -1 with err. */
int cg_pidfile_write(const char *path, char *err, size_t errlen);
/* cg_socket_secure - for a unix:/local: spec, make the socket file mode
 * 0660 (never world-accessible). 0 or -1 with err. */
int cg_socket_secure(const char *spec, char *err, size_t errlen);

#endif
