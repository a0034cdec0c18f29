/*
 * cg_sqlite_sim.c - the SQLite backend's reading of recorded traffic for
 * `contactgatectl simulate` (see cg_store_sim.h).
 */
#include <sqlite3.h>
#include <string.h>

#include "cg_sqlite_int.h"
#include "cg_store_sim.h"

/* One row per attempt (contacts are let-through mail, decisions the
 * refused, deferred and held attempts), grouped into one row per message
 * and customer. A message without a Message-ID, and every contact from
 * another channel, is its own group. */
static const char *const events_sql =
    "WITH att AS ("
    "  SELECT ts, customer, address, NULL AS sender, department, category, channel,"
    "         message_id, digest, 'sent' AS outcome, 'c' || id AS uid"
    "    FROM contacts WHERE ts >= ?1 AND ts < ?2"
    "  UNION ALL"
    "  SELECT ts, customer, recipient, sender, department,"
    "         CASE WHEN instr(category, '|') > 0"
    "              THEN substr(category, 1, instr(category, '|') - 1) ELSE category END,"
    "         'email', message_id, NULL, verdict, 'd' || id"
    "    FROM decisions WHERE ts >= ?1 AND ts < ?2 AND customer IS NOT NULL"
    "     AND stage IN ('rcpt', 'eom') AND verdict IN ('defer', 'reject', 'hold', 'tempfail'))"
    " SELECT MIN(ts), customer, MAX(address), MAX(sender), MAX(department), MAX(category),"
    "        channel, message_id, MAX(digest),"
    "        CASE WHEN SUM(outcome = 'sent') > 0 THEN 'sent'"
    "             WHEN SUM(outcome = 'reject') > 0 THEN 'reject'"
    "             WHEN SUM(outcome = 'hold') > 0 THEN 'hold'"
    "             WHEN SUM(outcome = 'defer') > 0 THEN 'defer' ELSE 'tempfail' END,"
    "        COUNT(*)"
    "   FROM att"
    "  GROUP BY CASE WHEN message_id IS NULL OR channel != 'email' THEN uid ELSE message_id END,"
    "           customer"
    "  ORDER BY 1";

int cg_sqlite_sim_events(cg_store *st, int64_t since, int64_t until, cg_sim_event_cb cb,
                        void *arg)
{
    sqlite3_stmt *s = cg_sqlite_prepare(sq_of(st), events_sql, "read the recorded traffic");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, since);
    sqlite3_bind_int64(s, 2, until);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct cg_sim_event e = {
            .ts = sqlite3_column_int64(s, 0),
            .customer = cg_sqlite_col_text(s, 1),
            .address = cg_sqlite_col_text(s, 2),
            .sender = cg_sqlite_col_text(s, 3),
            .department = cg_sqlite_col_text(s, 4),
            .category = cg_sqlite_col_text(s, 5),
            .channel = cg_sqlite_col_text(s, 6),
            .message_id = cg_sqlite_col_text(s, 7),
            .digest = cg_sqlite_col_text(s, 8),
            .outcome = cg_sqlite_col_text(s, 9),
            .attempts = sqlite3_column_int(s, 10),
        };
        if (!e.customer || !e.department || !e.category)
            continue;
        if (cb(&e, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return cg_sqlite_finish(sq_of(st), s, rc, "read the recorded traffic");
}
