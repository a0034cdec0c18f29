/*
 * cg_store_held.c - held messages and deferred-message lifecycles for
 * contactgatectl (see cg_store_held.h).
 *
 * CLI paths: statements are prepared per call from fixed pieces; values
 * from the caller are only ever bound, never pasted into SQL. The lookups
 * by queue ID use decisions_queue; the lifecycle walks the defer rows,
 * groups them by their deferral episode (decisions_episode: the retries
 * of one sender to one recipient, linked at RCPT already) and looks at
 * the row that ended the episode.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_store_held.h"
#include "cg_sqlite_int.h"
#include "cg_store_sql.h"
#include "cg_util.h"

/* --- held messages ------------------------------------------------------- */

int cg_sqlite_held_rows(cg_store *st, const char *queue_id, int64_t since, cg_store_decision_cb cb,
                 void *arg)
{
    static const char q[] =
        "SELECT " CG_SQ_DECISION_COLS " FROM decisions"
        " WHERE queue_id = :qid AND verdict = 'hold' AND monitor = 0 AND ts >= :since"
        " AND ref = (SELECT ref FROM decisions WHERE queue_id = :qid AND verdict = 'hold'"
        "            AND monitor = 0 AND ts >= :since ORDER BY id DESC LIMIT 1)"
        " ORDER BY id";
    sqlite3_stmt *s = cg_sqlite_prepare(sq_of(st), q, "held rows");
    if (!s)
        return -1;
    cg_sqlite_bind_named_text(s, ":qid", queue_id);
    cg_sqlite_bind_named_int(s, ":since", since);
    return cg_sqlite_decision_rows(sq_of(st), s, cb, arg, "held rows");
}

int cg_sqlite_held_outcome(cg_store *st, const char *queue_id, const char *ref,
                    const char **verdict_r)
{
    static const char q[] = "SELECT verdict FROM decisions WHERE queue_id = :qid AND ref = :ref"
                            " AND verdict IN ('released', 'dropped') ORDER BY id DESC LIMIT 1";
    sqlite3_stmt *s = cg_sqlite_prepare(sq_of(st), q, "held outcome");
    if (!s)
        return -1;
    cg_sqlite_bind_named_text(s, ":qid", queue_id);
    cg_sqlite_bind_named_text(s, ":ref", ref);
    int rc = sqlite3_step(s), found = 0;
    if (rc == SQLITE_ROW) {
        const char *v = cg_sqlite_col_text(s, 0);
        *verdict_r = v && !strcmp(v, "released") ? "released" : "dropped";
        found = 1;
        rc = SQLITE_DONE;
    }
    if (cg_sqlite_finish(sq_of(st), s, rc, "held outcome") < 0)
        return -1;
    return found;
}

/* --- deferred messages ---------------------------------------------------- */

int cg_sqlite_lifecycle(cg_store *st, const struct cg_lifecycle_filter *f, cg_lifecycle_cb cb,
                        void *arg)
{
    struct cg_buf q = {0};
    cg_store_sql_lifecycle(&q, f);
    sqlite3_stmt *s = cg_sqlite_prepare(sq_of(st), q.s, "deferred messages");
    cg_buf_free(&q);
    if (!s)
        return -1;
    cg_sqlite_bind_named_text(s, ":dept", f->department);
    cg_sqlite_bind_named_text(s, ":cust", f->customer);
    cg_sqlite_bind_named_text(s, ":policy", f->policy);
    cg_sqlite_bind_named_text(s, ":qid", f->queue_id);
    cg_sqlite_bind_named_int(s, ":since", f->since);
    cg_sqlite_bind_named_int(s, ":until", f->until);
    cg_sqlite_bind_named_text(s, ":sep", CG_STORE_SQL_SEP);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct cg_lifecycle_row r = {
            .message_id = cg_sqlite_col_text(s, 0),
            .episode = cg_sqlite_col_text(s, 1),
            .recipient = cg_sqlite_col_text(s, 2),
            .customer = cg_sqlite_col_text(s, 3),
            .department = cg_sqlite_col_text(s, 4),
            .sender = cg_sqlite_col_text(s, 5),
            .category = cg_sqlite_col_text(s, 6),
            .policy = cg_sqlite_col_text(s, 7),
            .reason = cg_sqlite_col_text(s, 8),
            .first_ref = cg_sqlite_col_text(s, 9),
            .last_ref = cg_sqlite_col_text(s, 10),
            .first_ts = sqlite3_column_int64(s, 11),
            .last_ts = sqlite3_column_int64(s, 12),
            .attempts = sqlite3_column_int64(s, 13),
            .retry_after = sqlite3_column_int64(s, 14),
            .next_verdict = cg_sqlite_col_text(s, 15),
            .next_ts = sqlite3_column_int64(s, 16),
            .delivered_ts = sqlite3_column_int64(s, 17),
            .final_verdict = cg_sqlite_col_text(s, 18),
        };
        if (cb(&r, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return cg_sqlite_finish(sq_of(st), s, rc, "deferred messages");
}
