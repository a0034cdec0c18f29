/*
 * cg_store_int.h - for the store's own modules only (core/store/cg_store_*.c):
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

/* cg_store_prepare - compile a one-off statement, or NULL with the error
 * recorded as "what: sqlite's message" */
sqlite3_stmt *cg_store_prepare(cg_store *st, const char *q, const char *what);
/* cg_store_finish - finalize a one-off statement after its last step:
 * 0, or -1 with the error recorded as "what: ..." unless rc is
 * SQLITE_DONE (a callback that stops early sets rc to SQLITE_DONE) */
int cg_store_finish(cg_store *st, sqlite3_stmt *s, int rc, const char *what);
/* cg_store_bind_named_int / _text - bind the named parameter `name`
 * (":since") if the statement has it; a NULL text binds NULL */
void cg_store_bind_named_int(sqlite3_stmt *s, const char *name, int64_t v);
void cg_store_bind_named_text(sqlite3_stmt *s, const char *name, const char *v);

/* cg_store_col_text - a text column, NULL for NULL */
static inline const char *cg_store_col_text(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

/* The decision log's columns, as every SELECT of whole decision rows lists
 * them. cg_store_decision_rows steps such a statement (bound and ready),
 * gives each row to cb until it returns non-zero, and finalizes it: 0, or
 * -1 with the error recorded as "what: ..." */
#define CG_STORE_DECISION_COLS                                                                 \
    "id, ts, ref, stage, verdict, policy, reason, detail, department, sender, recipient,"     \
    " customer, category, message_id, queue_id, config_version, retry_after, monitor"
int cg_store_decision_rows(cg_store *st, sqlite3_stmt *s, cg_store_decision_cb cb, void *arg,
                           const char *what);

#endif
