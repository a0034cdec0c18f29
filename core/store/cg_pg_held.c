/*
 * cg_pg_held.c - held messages and deferred-message lifecycles on
 * PostgreSQL (see cg_store_held.h): the SQLite backend's queries
 * (cg_sqlite_held.c) in PostgreSQL's dialect, values bound by name.
 */
#include <stdlib.h>
#include <string.h>

#include "cg_pg_int.h"
#include "cg_store_held.h"
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
    static const struct cg_lifecycle_filter none;
    if (!f)
        f = &none;
    struct cg_buf q = {0};
    /* d: the enforced deferrals, each with its group (its episode; rows from
     * before episodes: (Message-ID, recipient), or the row alone) */
    cg_buf_add(&q, "WITH d AS (SELECT id, ts, message_id, policy, queue_id,"
                   " coalesce(episode, CASE WHEN message_id IS NOT NULL"
                   "   THEN message_id || chr(1) || recipient END, '#' || id) AS grp"
                   " FROM decisions WHERE verdict = 'defer' AND monitor = 0");
    if (f->department)
        cg_buf_add(&q, " AND department = :dept");
    if (f->customer)
        cg_buf_add(&q, " AND customer = :cust");
    cg_buf_add(&q, "), g AS (SELECT grp, min(ts) AS first_ts, max(ts) AS last_ts,"
                   " count(*) AS attempts, min(id) AS first_id, max(id) AS last_id,"
                   " max(message_id) AS mid FROM d GROUP BY grp HAVING true");
    if (f->policy)
        cg_buf_add(&q, " AND coalesce(bool_or(policy = :policy), false)");
    if (f->queue_id)
        cg_buf_add(&q, " AND coalesce(bool_or(queue_id = :qid), false)");
    if (f->since)
        cg_buf_add(&q, " AND min(ts) >= :since");
    if (f->until)
        cg_buf_add(&q, " AND min(ts) < :until");
    cg_buf_add(&q, ")");
    cg_buf_add(&q,
               ", n AS (SELECT g.*, fd.episode AS ep, fd.recipient AS rcpt,"
               " coalesce((SELECT min(x.id) FROM decisions x WHERE fd.episode IS NOT NULL"
               "   AND x.episode = fd.episode AND x.id > g.last_id"
               "   AND x.verdict IN ('accept', 'tag', 'reject', 'hold')),"
               "  (SELECT min(x.id) FROM decisions x WHERE fd.episode IS NULL AND g.mid IS NOT NULL"
               "   AND x.message_id = g.mid AND x.recipient = fd.recipient AND x.id > g.last_id"
               "   AND x.verdict IN ('accept', 'tag', 'reject', 'hold'))) AS next_id"
               " FROM g JOIN decisions fd ON fd.id = g.first_id)");
    cg_buf_add(&q,
               " SELECT coalesce(n.mid, nx.message_id), n.ep, n.rcpt, fd.customer, fd.department,"
               " fd.sender, fd.category, ld.policy, ld.reason, fd.ref, ld.ref, n.first_ts,"
               " n.last_ts, n.attempts, ld.retry_after, nx.verdict, nx.ts,"
               " CASE WHEN nx.verdict IN ('accept', 'tag') THEN nx.ts"
               "  WHEN n.ep IS NULL AND n.mid IS NOT NULL THEN"
               "  (SELECT min(c.ts) FROM contacts c WHERE c.customer = fd.customer"
               "   AND c.message_id = n.mid AND c.ts > n.first_ts) END,"
               " (SELECT y.verdict FROM decisions y WHERE nx.verdict = 'hold' AND y.ref = nx.ref"
               "  AND y.verdict IN ('released', 'dropped') ORDER BY y.id DESC LIMIT 1)"
               " FROM n JOIN decisions fd ON fd.id = n.first_id"
               " JOIN decisions ld ON ld.id = n.last_id"
               " LEFT JOIN decisions nx ON nx.id = n.next_id"
               " ORDER BY n.first_ts DESC, n.first_id DESC");
    if (f->limit > 0)
        cg_buf_printf(&q, " LIMIT %ld", f->limit);
    struct pgn n = {0};
    pgn_text(&n, ":dept", f->department);
    pgn_text(&n, ":cust", f->customer);
    pgn_text(&n, ":policy", f->policy);
    pgn_text(&n, ":qid", f->queue_id);
    pgn_int(&n, ":since", f->since);
    pgn_int(&n, ":until", f->until);
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
