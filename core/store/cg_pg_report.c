/*
 * cg_pg_report.c - the aggregate queries of `contactgatectl report` and
 * the recorded traffic of `contactgatectl simulate` on PostgreSQL (see
 * cg_store_report.h, cg_store_sim.h): the SQLite backend's queries
 * (cg_sqlite_report.c, cg_sqlite_sim.c) in PostgreSQL's dialect. NULL
 * keys sort first, as in SQLite; text compares byte-wise (the columns
 * are COLLATE "C"). Values are bound by name, never pasted.
 */
#include <stdlib.h>
#include <string.h>

#include "cg_pg_int.h"
#include "cg_store_report.h"
#include "cg_store_sql.h"
#include "cg_store_sim.h"
#include "cg_util.h"

/* run - the query q (freed) with the range bound, plus :cap / :top */
static int run(cg_store *st, struct cg_buf *q, const struct cg_report_range *r, const char *what,
               const char *extra_name, int64_t extra, struct pgr *res)
{
    struct pgn n = {0};
    pgn_int(&n, ":since", r->since);
    pgn_int(&n, ":until", r->until);
    pgn_int(&n, ":day0", r->day0);
    pgn_text(&n, ":dept", r->department);
    pgn_text(&n, ":relay", r->relay);
    if (extra_name)
        pgn_int(&n, extra_name, extra);
    int rc = pg_exec_named(pgs_of(st), what, q->s, &n, res);
    cg_buf_free(q);
    return rc;
}

int cg_pg_report_counts(cg_store *st, const struct cg_report_range *r, enum cg_report_by by,
                        cg_report_counts_cb cb, void *arg)
{
    struct cg_buf q = {0};
    cg_store_sql_report_counts(&q, r, by);
    struct pgr res;
    if (run(st, &q, r, "report counts", NULL, 0, &res) < 0)
        return -1;
    for (int i = 0; i < pgr_n(&res); i++) {
        struct cg_report_counts c = {
            .key = pgr_v(&res, i, 0),
            .day = pgr_int(&res, i, 1),
            .sent = pgr_int(&res, i, 2),
            .tagged = pgr_int(&res, i, 3),
            .monitored = pgr_int(&res, i, 4),
            .deferred = pgr_int(&res, i, 5),
            .defer_attempts = pgr_int(&res, i, 6),
            .rejected = pgr_int(&res, i, 7),
            .held = pgr_int(&res, i, 8),
            .tempfail = pgr_int(&res, i, 9),
        };
        if (cb(&c, arg))
            break;
    }
    pgr_free(&res);
    return 0;
}

int cg_pg_report_reasons(cg_store *st, const struct cg_report_range *r, int top,
                         cg_report_reason_cb cb, void *arg)
{
    struct cg_buf q = {0};
    cg_store_sql_report_reasons(&q, r);
    struct pgr res;
    if (run(st, &q, r, "report reasons", ":top", top, &res) < 0)
        return -1;
    for (int i = 0; i < pgr_n(&res); i++)
        if (cb(pgr_v(&res, i, 0), pgr_v(&res, i, 1), pgr_int(&res, i, 2), arg))
            break;
    pgr_free(&res);
    return 0;
}

int cg_pg_report_histogram(cg_store *st, const struct cg_report_range *r, int cap,
                           cg_report_hist_cb cb, void *arg)
{
    struct cg_buf q = {0};
    cg_store_sql_report_zero(&q, r);
    struct pgr res;
    if (run(st, &q, r, "report histogram", NULL, 0, &res) < 0)
        return -1;
    int64_t have_map = pgr_int(&res, 0, 0), zero = pgr_int(&res, 0, 1);
    pgr_free(&res);
    if (have_map && cb(0, zero, arg))
        return 0;
    cg_store_sql_report_histogram(&q, r);
    if (run(st, &q, r, "report histogram", ":cap", cap, &res) < 0)
        return -1;
    for (int i = 0; i < pgr_n(&res); i++)
        if (cb(pgr_int(&res, i, 0), pgr_int(&res, i, 1), arg))
            break;
    pgr_free(&res);
    return 0;
}

int cg_pg_report_held_outcomes(cg_store *st, const struct cg_report_range *r,
                               int64_t *released, int64_t *dropped)
{
    struct cg_buf q = {0};
    cg_store_sql_report_held(&q, r);
    struct pgr res;
    if (run(st, &q, r, "report held outcomes", NULL, 0, &res) < 0)
        return -1;
    if (pgr_n(&res) > 0) {
        *released = pgr_int(&res, 0, 0);
        *dropped = pgr_int(&res, 0, 1);
    }
    pgr_free(&res);
    return 0;
}

/* --- simulate: the recorded traffic ------------------------------------------ */

/* One row per attempt (contacts: let-through mail; decisions: refused,
 * deferred and held attempts), grouped into one row per message and
 * customer; a message without a Message-ID, and every contact from
 * another channel, is its own group. */
static const char events_sql[] =
    "WITH att AS ("
    "  SELECT ts, customer, address, NULL::text AS sender, department, category, channel,"
    "         message_id, digest, 'sent' AS outcome, 'c' || id AS uid"
    "    FROM contacts WHERE ts >= $1 AND ts < $2"
    "  UNION ALL"
    "  SELECT ts, customer, recipient, sender, department, split_part(category, '|', 1),"
    "         'email', message_id, NULL, verdict, 'd' || id"
    "    FROM decisions WHERE ts >= $1 AND ts < $2 AND customer IS NOT NULL"
    "     AND stage IN ('rcpt', 'eom') AND verdict IN ('defer', 'reject', 'hold', 'tempfail'))"
    " SELECT min(ts), customer, max(address), max(sender), max(department), max(category),"
    "        channel, message_id, max(digest),"
    "        CASE WHEN bool_or(outcome = 'sent') THEN 'sent'"
    "             WHEN bool_or(outcome = 'reject') THEN 'reject'"
    "             WHEN bool_or(outcome = 'hold') THEN 'hold'"
    "             WHEN bool_or(outcome = 'defer') THEN 'defer' ELSE 'tempfail' END,"
    "        count(*)"
    "   FROM att"
    "  GROUP BY CASE WHEN message_id IS NULL OR channel <> 'email' THEN uid ELSE message_id END,"
    "           customer, channel, message_id"
    "  ORDER BY 1";

int cg_pg_sim_events(cg_store *st, int64_t since, int64_t until, cg_sim_event_cb cb, void *arg)
{
    struct pgq q = {0};
    pgq_int(&q, since);
    pgq_int(&q, until);
    struct pgr r;
    if (pg_exec(pgs_of(st), "read the recorded traffic", events_sql, &q, &r) < 0)
        return -1;
    for (int i = 0; i < pgr_n(&r); i++) {
        struct cg_sim_event e = {
            .ts = pgr_int(&r, i, 0),
            .customer = pgr_v(&r, i, 1),
            .address = pgr_v(&r, i, 2),
            .sender = pgr_v(&r, i, 3),
            .department = pgr_v(&r, i, 4),
            .category = pgr_v(&r, i, 5),
            .channel = pgr_v(&r, i, 6),
            .message_id = pgr_v(&r, i, 7),
            .digest = pgr_v(&r, i, 8),
            .outcome = pgr_v(&r, i, 9),
            .attempts = (int)pgr_int(&r, i, 10),
        };
        if (!e.customer || !e.department || !e.category)
            continue;
        if (cb(&e, arg))
            break;
    }
    pgr_free(&r);
    return 0;
}
