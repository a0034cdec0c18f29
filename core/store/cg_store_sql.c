/*
 * cg_store_sql.c - the SQL that SQLite and PostgreSQL read alike: the
 * report and lifecycle queries (cg_store_sql.h). Each backend binds the
 * named parameters (":since") its own way and reads the rows; the queries
 * themselves exist once.
 *
 * Written in the part of SQL both take: CASE instead of SQLite's boolean
 * sums and min(a, b) or PostgreSQL's FILTER and least(); NULLS FIRST where
 * a key may be NULL (SQLite's default, not PostgreSQL's); an alias on every
 * subquery; text keys built with || (an integer becomes text in both).
 */
#include <stddef.h>

#include "cg_store_admin.h"
#include "cg_store_sql.h"

/* range - the WHERE clause every report query starts with */
static void range(struct cg_buf *q, const struct cg_report_range *r)
{
    cg_buf_add(q, " WHERE ts >= :since AND ts < :until");
    if (r->department)
        cg_buf_add(q, " AND department = :dept");
    if (r->relay)
        cg_buf_add(q, " AND relay = :relay");
}

void cg_store_sql_report_counts(struct cg_buf *q, const struct cg_report_range *r,
                                enum cg_report_by by)
{
    const char *key = by == CG_REPORT_BY_POLICY ? "policy" : "department";
    const char *day = by == CG_REPORT_BY_DEPARTMENT_DAY ? "(ts - :day0) / 86400" : "-1";
    cg_buf_add(q, "SELECT k, d, sum(sent), sum(tagged), sum(monitored), sum(deferred),"
                  " sum(attempts), sum(rejected), sum(held), sum(tempfail) FROM (");
    /* mail let through: one contact per customer and message */
    if (by != CG_REPORT_BY_POLICY) {
        cg_buf_printf(q, "SELECT department AS k, %s AS d, count(*) AS sent, 0 AS tagged,"
                         " 0 AS monitored, 0 AS deferred, 0 AS attempts, 0 AS rejected,"
                         " 0 AS held, 0 AS tempfail FROM contacts", day);
        range(q, r);
        cg_buf_add(q, " AND channel = 'email' GROUP BY 1, 2 UNION ALL ");
    }
    /* the decision log, one row per recipient and decision */
    cg_buf_printf(q, "SELECT %s AS k, %s AS d, 0 AS sent,"
                     " sum(CASE WHEN verdict = 'tag' THEN 1 ELSE 0 END) AS tagged,"
                     " sum(CASE WHEN verdict = 'tag' AND monitor <> 0 THEN 1 ELSE 0 END)"
                     " AS monitored, 0 AS deferred, 0 AS attempts,"
                     " sum(CASE WHEN verdict = 'reject' THEN 1 ELSE 0 END) AS rejected,"
                     " sum(CASE WHEN verdict = 'hold' THEN 1 ELSE 0 END) AS held,"
                     " sum(CASE WHEN verdict = 'tempfail' THEN 1 ELSE 0 END) AS tempfail"
                     " FROM decisions", key, day);
    range(q, r);
    cg_buf_add(q, " AND verdict IN ('tag', 'reject', 'hold', 'tempfail') GROUP BY 1, 2");
    /* deferrals: one message per (Message-ID, recipient), however often it
     * was retried; a deferral without a Message-ID (RCPT stage) is a group
     * of its own ('m' || NULL is NULL: its 'i' || id key) */
    cg_buf_printf(q, " UNION ALL SELECT k, d, 0, 0, 0, count(*), sum(n), 0, 0, 0 FROM"
                     " (SELECT %s AS k, %s AS d, count(*) AS n FROM decisions", key, day);
    range(q, r);
    cg_buf_add(q, " AND verdict = 'defer' GROUP BY 1, 2, coalesce('m' || message_id, 'i' || id),"
                  " recipient) AS per_message GROUP BY 1, 2");
    cg_buf_add(q, ") AS u GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2");
}

void cg_store_sql_report_reasons(struct cg_buf *q, const struct cg_report_range *r)
{
    cg_buf_add(q, "SELECT policy, reason, n FROM (SELECT policy, reason, count(*) AS n,"
                  " row_number() OVER (PARTITION BY policy ORDER BY count(*) DESC,"
                  " reason NULLS FIRST) AS rn FROM decisions");
    range(q, r);
    cg_buf_add(q, " AND verdict IN ('tag', 'defer', 'reject', 'hold', 'tempfail')"
                  " GROUP BY policy, reason) AS x"
                  " WHERE rn <= :top ORDER BY policy NULLS FIRST, rn");
}

void cg_store_sql_report_zero(struct cg_buf *q, const struct cg_report_range *r)
{
    /* N = 0: only the customer map knows customers nobody contacted */
    cg_buf_add(q, "SELECT CASE WHEN EXISTS (SELECT 1 FROM customers) THEN 1 ELSE 0 END,"
                  " (SELECT count(DISTINCT customer) FROM customers WHERE customer NOT IN"
                  " (SELECT customer FROM contacts");
    range(q, r);
    cg_buf_add(q, "))");
}

void cg_store_sql_report_histogram(struct cg_buf *q, const struct cg_report_range *r)
{
    cg_buf_add(q, "SELECT CASE WHEN n < :cap THEN n ELSE :cap END, count(*) FROM"
                  " (SELECT count(*) AS n FROM contacts");
    range(q, r);
    cg_buf_add(q, " GROUP BY customer) AS per_customer GROUP BY 1 ORDER BY 1");
}

void cg_store_sql_report_held(struct cg_buf *q, const struct cg_report_range *r)
{
    cg_buf_add(q, "SELECT count(DISTINCT CASE WHEN verdict = 'released' THEN ref END),"
                  " count(DISTINCT CASE WHEN verdict = 'dropped' THEN ref END) FROM decisions");
    range(q, r);
    cg_buf_add(q, " AND verdict IN ('released', 'dropped')");
}

void cg_store_sql_lifecycle(struct cg_buf *q, const struct cg_lifecycle_filter *f)
{
    /* d: the enforced deferrals, each with its group: its deferral episode
     * (a retry is linked to its first deferral by sender and recipient,
     * at RCPT already); rows from before episodes were kept: (Message-ID,
     * recipient), and a row without a Message-ID alone */
    cg_buf_add(q, "WITH d AS (SELECT id, ts, message_id, policy, queue_id,"
                  " coalesce(episode, CASE WHEN message_id IS NOT NULL"
                  "   THEN message_id || :sep || recipient END, '#' || id) AS grp"
                  " FROM decisions WHERE verdict = 'defer' AND monitor = 0");
    if (f->department)
        cg_buf_add(q, " AND department = :dept");
    if (f->customer)
        cg_buf_add(q, " AND customer = :cust");
    cg_buf_add(q, "), g AS (SELECT grp, min(ts) AS first_ts, max(ts) AS last_ts,"
                  " count(*) AS attempts, min(id) AS first_id, max(id) AS last_id,"
                  " max(message_id) AS mid FROM d GROUP BY grp HAVING 1 = 1");
    if (f->policy)
        cg_buf_add(q, " AND max(CASE WHEN policy = :policy THEN 1 ELSE 0 END) = 1");
    if (f->queue_id)
        cg_buf_add(q, " AND max(CASE WHEN queue_id = :qid THEN 1 ELSE 0 END) = 1");
    if (f->since)
        cg_buf_add(q, " AND min(ts) >= :since");
    if (f->until)
        cg_buf_add(q, " AND min(ts) < :until");
    cg_buf_add(q, ")");
    /* n: the first decisive decision after the last deferral of the group */
    cg_buf_add(q,
               ", n AS (SELECT g.*, fd.episode AS ep, fd.recipient AS rcpt,"
               " coalesce((SELECT min(x.id) FROM decisions x WHERE fd.episode IS NOT NULL"
               "   AND x.episode = fd.episode AND x.id > g.last_id"
               "   AND x.verdict IN ('accept', 'tag', 'reject', 'hold')),"
               "  (SELECT min(x.id) FROM decisions x WHERE fd.episode IS NULL AND g.mid IS NOT NULL"
               "   AND x.message_id = g.mid AND x.recipient = fd.recipient AND x.id > g.last_id"
               "   AND x.verdict IN ('accept', 'tag', 'reject', 'hold'))) AS next_id"
               " FROM g JOIN decisions fd ON fd.id = g.first_id)");
    cg_buf_add(q,
               " SELECT coalesce(n.mid, nx.message_id), n.ep, n.rcpt, fd.customer, fd.department,"
               " fd.sender, fd.category, ld.policy, ld.reason, fd.ref, ld.ref, n.first_ts,"
               " n.last_ts, n.attempts, ld.retry_after, nx.verdict, nx.ts,"
               /* let through: when the deciding row let it through; rows from
                * before episodes: the first contact with that Message-ID */
               " CASE WHEN nx.verdict IN ('accept', 'tag') THEN nx.ts"
               "  WHEN n.ep IS NULL AND n.mid IS NOT NULL THEN"
               "  (SELECT min(c.ts) FROM contacts c WHERE c.customer = fd.customer"
               "   AND c.message_id = n.mid AND c.ts > n.first_ts) END,"
               /* what an admin did with the hold that ended it */
               " (SELECT y.verdict FROM decisions y WHERE nx.verdict = 'hold' AND y.ref = nx.ref"
               "  AND y.verdict IN ('released', 'dropped') ORDER BY y.id DESC LIMIT 1)"
               " FROM n JOIN decisions fd ON fd.id = n.first_id"
               " JOIN decisions ld ON ld.id = n.last_id"
               " LEFT JOIN decisions nx ON nx.id = n.next_id"
               " ORDER BY n.first_ts DESC, n.first_id DESC");
    if (f->limit > 0)
        cg_buf_printf(q, " LIMIT %ld", f->limit);
}

/* --- erasure ------------------------------------------------------------------ */

#define MAPPED "(SELECT address FROM customers WHERE customer = $1)"
#define MAPPED_LC "(SELECT lower(address) FROM customers WHERE customer = $1)"

const char cg_store_sql_erase_counted[] =
    "SELECT department, category, ts FROM contacts"
    " WHERE customer = $1 OR address = $1 OR address IN " MAPPED;

const char cg_store_sql_erase_episodes[] =
    "DELETE FROM deferrals WHERE recipient = $1 OR sender = $1"
    " OR recipient IN " MAPPED " OR sender IN " MAPPED;

const struct cg_store_sql_erase cg_store_sql_erase_steps[] = {
    {"DELETE FROM contacts WHERE customer = $1 OR address = $1 OR address IN " MAPPED,
     offsetof(struct cg_forget_counts, contacts)},
    {"DELETE FROM decisions WHERE customer = $1 OR lower(recipient) = lower($1)"
     " OR lower(sender) = lower($1) OR lower(recipient) IN " MAPPED_LC
     " OR lower(sender) IN " MAPPED_LC " OR customer IN " MAPPED,
     offsetof(struct cg_forget_counts, decisions)},
    {"DELETE FROM states WHERE customer = $1", offsetof(struct cg_forget_counts, states)},
    {"DELETE FROM optouts WHERE customer = $1", offsetof(struct cg_forget_counts, optouts)},
    {"DELETE FROM customers WHERE customer = $1 OR address = $1",
     offsetof(struct cg_forget_counts, addresses)},
    {NULL, 0},
};
