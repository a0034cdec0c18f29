/*
 * cg_store_int.h - for the store's own modules only (milter/cg_store_*.c):
 * the SQLite handle behind a cg_store and error reporting. Everything else
 * uses cg_store.h and never sees SQL.
 *
 * The admin and compliance queries (imports, retention, erasure, reports)
 * live in their own cg_store_<area>.c files next to cg_store.c, each with
 * a small header, so that the mail-path store stays short.
 */
#ifndef CG_STORE_INT_H
#define CG_STORE_INT_H

#include <sqlite3.h>
#include "cg_store.h"

/* cg_store_sqlite - the connection (owned by the store) */
sqlite3 *cg_store_sqlite(cg_store *st);
/* cg_store_fail - record "what: sqlite's message" for cg_store_errmsg;
 * returns -1 */
int cg_store_fail(cg_store *st, const char *what);
/* cg_store_failf - record a formatted message; returns -1 */
int cg_store_failf(cg_store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
