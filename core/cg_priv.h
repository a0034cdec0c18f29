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
/* cg_priv_lookup - uid and primary gid of an unprivileged user; -1 with
 * err for an unknown user or root. */
int cg_priv_lookup(const char *user, uid_t *uid_r, gid_t *gid_r, char *err, size_t errlen);

/* Pid files. The daemon opens its pid file before it forks, holds an
 * exclusive flock(2) on it for as long as it runs (so a second daemon is
 * refused however old the pid in the file, and a stale file from a crash
 * is no obstacle), and writes the supervising process's pid into it.
 *
 * cg_pidfile_dir - as root: create the pid file's directory when missing
 * (mode 0755, owned by uid:gid, as the systemd unit's RuntimeDirectory);
 * otherwise a missing directory is an error saying what to do. */
int cg_pidfile_dir(const char *path, uid_t uid, gid_t gid, char *err, size_t errlen);
/* cg_pidfile_open - open (create, 0644) and lock the pid file; the
 * descriptor, or -1 with err ("contactgate is already running (pid N)",
 * missing directory, no permission). */
int cg_pidfile_open(const char *path, char *err, size_t errlen);
/* cg_pidfile_store - write pid into the locked file; 0 or -1 (errno). */
int cg_pidfile_store(int fd, pid_t pid);
/* cg_pidfile_remove - unlink the file (or empty it when its directory is
 * not ours) and close fd (may be -1). */
void cg_pidfile_remove(const char *path, int fd);
/* cg_socket_secure - for a unix:/local: spec, make the socket file mode
 * 0660 (never world-accessible). 0 or -1 with err. */
int cg_socket_secure(const char *spec, char *err, size_t errlen);

#endif
