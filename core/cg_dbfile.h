/*
 * cg_dbfile.h - the modes of the history's files.
 *
 * The history holds personal data: history.db and the -wal and -shm files
 * SQLite keeps next to it are readable by the daemon's user only (0600),
 * or also by one configured group (database_group: 0640, that group), from
 * the first byte. SQLite creates a new database with 0644 minus the umask,
 * and gives -wal/-shm the mode of the database file (it fchmod()s them to
 * it, whatever the umask) and the group of whoever creates them (root: the
 * database's owner and group). So the database file is created here,
 * before SQLite opens it, with its final mode and group, and the -wal and
 * -shm files are given that group once they exist. Called by the daemon
 * and by contactgatectl, before and after they open the store.
 */
#ifndef CG_DBFILE_H
#define CG_DBFILE_H

#include <stddef.h>
#include <sys/types.h>

/* cg_dbfile_mode - 0600, or 0640 with a group */
mode_t cg_dbfile_mode(const char *group);
/* cg_dbfile_umask - the umask of a process creating history files: 077, or
 * 027 with a group; nothing it creates is then ever wider */
mode_t cg_dbfile_umask(const char *group);

/* cg_dbfile_secure - when `database` names a file (not ":memory:" or a
 * URI/conninfo): create it if missing (O_EXCL, no symlink followed) with
 * cg_dbfile_mode(group) and the group; give it, and its -wal and -shm if
 * they exist, exactly that mode and (with a group) that group, logging a
 * warning when a mode was wider. 0, or -1 with a message naming the file
 * in err (group unknown, the process not in the group, no permission). */
int cg_dbfile_secure(const char *database, const char *group, char *err, size_t errlen);

#endif
