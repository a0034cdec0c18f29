/*
 * cg_database.h - the `database` setting: a SQLite file or a PostgreSQL
 * server, told apart by its form, checked, and shown without a password.
 *
 *   /var/lib/contactgate/history.db, history.db     a SQLite file
 *   postgresql://cg:secret@db1,db2/contactgate?...  a PostgreSQL URI
 *   postgres://...                                  (the same)
 *   host=db1 dbname=contactgate password=secret     a conninfo string: its
 *                                                   first word is key=value
 *
 * No libpq here (core/ is shared by both programs and the store alone
 * speaks to PostgreSQL): the check is of the form only; the server judges
 * the rest when the store connects.
 */
#ifndef CG_DATABASE_H
#define CG_DATABASE_H

#include <stddef.h>

/* cg_database_is_pg - a PostgreSQL URI or conninfo string, not a file */
int cg_database_is_pg(const char *database);
/* cg_database_check - NULL when database is well formed, else a message
 * `"VALUE" is not ...` in buf */
const char *cg_database_check(const char *database, char *buf, size_t len);
/* cg_database_text - database for logs and printouts: every password
 * (a URI's user:password@, a password= parameter or conninfo word)
 * replaced by "***", then " (SQLite)" or " (PostgreSQL)"; malloc'ed. */
char *cg_database_text(const char *database);
/* cg_database_masked - database with every password replaced by "***"
 * (as above, without the backend's name); malloc'ed */
char *cg_database_masked(const char *database);

#endif
