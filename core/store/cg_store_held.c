/*
 * cg_store_held.c - held messages and deferred-message lifecycles for
 * contactgatectl (see cg_store_held.h).
 *
 * CLI paths: statements are prepared per call from fixed pieces; values
 * from the caller are only ever bound, never pasted into SQL. The lookups
 * by queue ID use decisions_queue; the lifecycle walks the defer rows,
 * groups them by (message_id, recipient) and looks at what followed each
 * group through decisions_msg (same Message-ID and recipient, a higher
 * id) and contacts_customer_ts.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_store_held.h"
#include "cg_store_int.h"
#include "cg_util.h"

/* --- held messages ------------------------------------------------------- */

int cg_held_rows(cg_store *st, const char *queue_id, int64_t since, cg_store_decision_cb cb,
                 void *arg)
{
    static const char q[] =
        "SELECT " CG_STORE_DECISION_COLS " FROM decisions"
        " WHERE queue_id = :qid AND verdict = 'hold' AND monitor = 0 AND ts >= :since"
        " AND ref = (SELECT ref FROM decisions WHERE queue_id = :qid AND verdict = 'hold'"
        "            AND monitor = 0 AND ts >= :since ORDER BY id DESC LIMIT 1)"
        " ORDER BY id";
    sqlite3_stmt *s = cg_store_prepare(st, q, "held rows");
    if (!s)
        return -1;
    cg_store_bind_named_text(s, ":qid", queue_id);
    cg_store_bind_named_int(s, ":since", since);
    return cg_store_decision_rows(st, s, cb, arg, "held rows");
}

int cg_held_outcome(cg_store *st, const char *queue_id, const char *ref,
                    const char **verdict_r)
{
    static const char q[] = "SELECT verdict FROM decisions WHERE queue_id = :qid AND ref = :ref"
                            " AND verdict IN ('released', 'dropped') ORDER BY id DESC LIMIT 1";
    sqlite3_stmt *s = cg_store_prepare(st, q, "held outcome");
    if (!s)
        return -1;
    cg_store_bind_named_text(s, ":qid", queue_id);
    cg_store_bind_named_text(s, ":ref", ref);
    int rc = sqlite3_step(s), found = 0;
    if (rc == SQLITE_ROW) {
        const char *v = cg_store_col_text(s, 0);
        *verdict_r = v && !strcmp(v, "released") ? "released" : "dropped";
        found = 1;
        rc = SQLITE_DONE;
    }
    if (cg_store_finish(st, s, rc, "held outcome") < 0)
        return -1;
    return found;
}

/* --- deferred messages ---------------------------------------------------- */

int cg_lifecycle(cg_store *st, const struct cg_lifecycle_filter *f, cg_lifecycle_cb cb,
                 void *arg)
{
    static const struct cg_lifecycle_filter none;
    if (!f)
        f = &none;
    struct cg_buf q = {0};
    /* g: one row per (message_id, recipient); a defer without a Message-ID
     * (decided at RCPT time) is a group of its own */
    cg_buf_add(&q, "WITH g AS (SELECT message_id AS mid, recipient AS rcpt,"
                   " min(ts) AS first_ts, max(ts) AS last_ts, count(*) AS attempts,"
                   " min(id) AS first_id, max(id) AS last_id"
                   " FROM decisions WHERE verdict = 'defer' AND monitor = 0");
    if (f->department)
        cg_buf_add(&q, " AND department = :dept");
    if (f->customer)
        cg_buf_add(&q, " AND customer = :cust");
    cg_buf_add(&q, " GROUP BY coalesce(message_id, '#' || id), recipient HAVING 1");
    if (f->policy)
        cg_buf_add(&q, " AND sum(policy = :policy) > 0");
    if (f->queue_id)
        cg_buf_add(&q, " AND sum(queue_id = :qid) > 0");
    if (f->since)
        cg_buf_add(&q, " AND min(ts) >= :since");
    if (f->until)
        cg_buf_add(&q, " AND min(ts) < :until");
    cg_buf_add(&q, ")");
    cg_buf_add(&q,
               " SELECT g.mid, g.rcpt, fd.customer, fd.department, fd.sender, fd.category,"
               " ld.policy, ld.reason, fd.ref, ld.ref, g.first_ts, g.last_ts, g.attempts,"
               " ld.retry_after,"
               /* the first decisive decision after the last deferral */
               " (SELECT x.verdict || ' ' || x.ts FROM decisions x WHERE g.mid IS NOT NULL"
               "  AND x.message_id = g.mid AND x.recipient = g.rcpt AND x.id > g.last_id"
               "  AND x.verdict IN ('accept', 'tag', 'reject', 'hold') ORDER BY x.id LIMIT 1),"
               /* the first contact with this Message-ID after the first deferral */
               " (SELECT min(c.ts) FROM contacts c WHERE g.mid IS NOT NULL"
               "  AND c.customer = fd.customer AND c.message_id = g.mid AND c.ts > g.first_ts),"
               /* what an admin did with a later hold */
               " (SELECT x.verdict FROM decisions x WHERE g.mid IS NOT NULL"
               "  AND x.message_id = g.mid AND x.recipient = g.rcpt AND x.id > g.last_id"
               "  AND x.verdict IN ('released', 'dropped') ORDER BY x.id DESC LIMIT 1)"
               " FROM g JOIN decisions fd ON fd.id = g.first_id"
               " JOIN decisions ld ON ld.id = g.last_id"
               " ORDER BY g.first_ts DESC, g.first_id DESC");
    if (f->limit > 0)
        cg_buf_printf(&q, " LIMIT %ld", f->limit);
    sqlite3_stmt *s = cg_store_prepare(st, q.s, "deferred messages");
    cg_buf_free(&q);
    if (!s)
        return -1;
    cg_store_bind_named_text(s, ":dept", f->department);
    cg_store_bind_named_text(s, ":cust", f->customer);
    cg_store_bind_named_text(s, ":policy", f->policy);
    cg_store_bind_named_text(s, ":qid", f->queue_id);
    cg_store_bind_named_int(s, ":since", f->since);
    cg_store_bind_named_int(s, ":until", f->until);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct cg_lifecycle_row r = {
            .message_id = cg_store_col_text(s, 0),
            .recipient = cg_store_col_text(s, 1),
            .customer = cg_store_col_text(s, 2),
            .department = cg_store_col_text(s, 3),
            .sender = cg_store_col_text(s, 4),
            .category = cg_store_col_text(s, 5),
            .policy = cg_store_col_text(s, 6),
            .reason = cg_store_col_text(s, 7),
            .first_ref = cg_store_col_text(s, 8),
            .last_ref = cg_store_col_text(s, 9),
            .first_ts = sqlite3_column_int64(s, 10),
            .last_ts = sqlite3_column_int64(s, 11),
            .attempts = sqlite3_column_int64(s, 12),
            .retry_after = sqlite3_column_int64(s, 13),
            .delivered_ts = sqlite3_column_int64(s, 15),
            .final_verdict = cg_store_col_text(s, 16),
        };
        /* "VERDICT TS" from the one subquery */
        char verdict[16] = "";
        const char *next = cg_store_col_text(s, 14);
        if (next) {
            const char *sp = strchr(next, ' ');
            if (sp && (size_t)(sp - next) < sizeof verdict) {
                memcpy(verdict, next, (size_t)(sp - next));
                verdict[sp - next] = 0;
                r.next_verdict = verdict;
                r.next_ts = strtoll(sp + 1, NULL, 10);
            }
        }
        if (cb(&r, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return cg_store_finish(st, s, rc, "deferred messages");
}
