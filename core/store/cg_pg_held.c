/*
 * cg_pg_held.c - held messages and deferred-message lifecycles on
 * PostgreSQL (see cg_store_held.h): the SQLite backend's queries
 * (cg_sqlite_held.c) in PostgreSQL's dialect, values bound by name.
 */
#include <stdlib.h>
#include <string.h>

#include "cg_pg_int.h"
#include "cg_store_held.h"
#include "cg_store_sql.h"
#include "cg_util.h"

/* --- held messages ------------------------------------------------------- */

int cg_pg_held_rows(cg_store *st, const char *queue_id, int64_t since, cg_store_decision_cb cb,
                    void *arg)
{
    static const char q[] =
        "SELECT " CG_PG_DECISION_COLS " FROM decisions"
        " WHERE queue_id = :qid AND verdict = 'hold' AND monitor = 0 AND ts >= :since"
        " AND ref = (SELECT ref FROM decisions WHERE queue_id = :qid AND verdict = 'hold'"
        "            AND monitor = 0 AND ts >= :since ORDER BY id DESC LIMIT 1)"
        " ORDER BY id";
    struct pgn n = {0};
    pgn_text(&n, ":qid", queue_id);
    pgn_int(&n, ":since", since);
    struct pgr r;
    if (pg_exec_named(pgs_of(st), "held rows", q, &n, &r) < 0)
        return -1;
    pg_decision_rows(&r, cb, arg);
    pgr_free(&r);
    return 0;
}

int cg_pg_held_outcome(cg_store *st, const char *queue_id, const char *ref,
                       const char **verdict_r)
{
    struct pgn n = {0};
    pgn_text(&n, ":qid", queue_id);
    pgn_text(&n, ":ref", ref);
    struct pgr r;
    if (pg_exec_named(pgs_of(st), "held outcome", "SELECT verdict FROM decisions"
                      " WHERE queue_id = :qid AND ref = :ref AND verdict IN ('released', 'dropped')"
                      " ORDER BY id DESC LIMIT 1", &n, &r) < 0)
        return -1;
    int found = pgr_n(&r) > 0;
    if (found) {
        const char *v = pgr_v(&r, 0, 0);
        *verdict_r = v && !strcmp(v, "released") ? "released" : "dropped";
    }
    pgr_free(&r);
    return found;
}

/* --- deferred messages ---------------------------------------------------- */

int cg_pg_lifecycle(cg_store *st, const struct cg_lifecycle_filter *f, cg_lifecycle_cb cb,
                    void *arg)
{
    struct cg_buf q = {0};
    cg_store_sql_lifecycle(&q, f);
    struct pgn n = {0};
    pgn_text(&n, ":dept", f->department);
    pgn_text(&n, ":cust", f->customer);
    pgn_text(&n, ":policy", f->policy);
    pgn_text(&n, ":qid", f->queue_id);
    pgn_int(&n, ":since", f->since);
    pgn_int(&n, ":until", f->until);
    pgn_text(&n, ":sep", CG_STORE_SQL_SEP);
    struct pgr r;
    int rc = pg_exec_named(pgs_of(st), "deferred messages", q.s, &n, &r);
    cg_buf_free(&q);
    if (rc < 0)
        return -1;
    for (int i = 0; i < pgr_n(&r); i++) {
        struct cg_lifecycle_row l = {
            .message_id = pgr_v(&r, i, 0),
            .episode = pgr_v(&r, i, 1),
            .recipient = pgr_v(&r, i, 2),
            .customer = pgr_v(&r, i, 3),
            .department = pgr_v(&r, i, 4),
            .sender = pgr_v(&r, i, 5),
            .category = pgr_v(&r, i, 6),
            .policy = pgr_v(&r, i, 7),
            .reason = pgr_v(&r, i, 8),
            .first_ref = pgr_v(&r, i, 9),
            .last_ref = pgr_v(&r, i, 10),
            .first_ts = pgr_int(&r, i, 11),
            .last_ts = pgr_int(&r, i, 12),
            .attempts = pgr_int(&r, i, 13),
            .retry_after = pgr_int(&r, i, 14),
            .next_verdict = pgr_v(&r, i, 15),
            .next_ts = pgr_int(&r, i, 16),
            .delivered_ts = pgr_int(&r, i, 17),
            .final_verdict = pgr_v(&r, i, 18),
        };
        if (cb(&l, arg))
            break;
    }
    pgr_free(&r);
    return 0;
}
