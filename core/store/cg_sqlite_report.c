/*
 * cg_store_report.c - the aggregate queries behind `contactgatectl report`
 * (see cg_store_report.h).
 *
 * Every query restricts ts to the range first, so SQLite walks
 * contacts_ts / decisions_ts (or contacts_department_ts with a department)
 * and does the counting with GROUP BY; C only receives one row per group.
 * The statements are built per call (a CLI path, like the decision
 * listing) from fixed pieces: no value from the caller is ever pasted into
 * SQL, only bound.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_sqlite_int.h"
#include "cg_store_report.h"
#include "cg_store_sql.h"
#include "cg_util.h"

/* prepare - compile q (and free it), bind the range; NULL on error */
static sqlite3_stmt *prepare(cg_store *st, struct cg_buf *q, const struct cg_report_range *r,
                             const char *what)
{
    sqlite3_stmt *s = cg_sqlite_prepare(sq_of(st), q->s, what);
    cg_buf_free(q);
    if (!s)
        return NULL;
    cg_sqlite_bind_named_int(s, ":since", r->since);
    cg_sqlite_bind_named_int(s, ":until", r->until);
    cg_sqlite_bind_named_int(s, ":day0", r->day0);
    if (r->department)
        cg_sqlite_bind_named_text(s, ":dept", r->department);
    if (r->relay)
        cg_sqlite_bind_named_text(s, ":relay", r->relay);
    return s;
}

int cg_sqlite_report_counts(cg_store *st, const struct cg_report_range *r, enum cg_report_by by,
                           cg_report_counts_cb cb, void *arg)
{
    struct cg_buf q = {0};
    cg_store_sql_report_counts(&q, r, by);
    sqlite3_stmt *s = prepare(st, &q, r, "report counts");
    if (!s)
        return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct cg_report_counts c = {
            .key = cg_sqlite_col_text(s, 0),
            .day = sqlite3_column_int64(s, 1),
            .sent = sqlite3_column_int64(s, 2),
            .tagged = sqlite3_column_int64(s, 3),
            .monitored = sqlite3_column_int64(s, 4),
            .deferred = sqlite3_column_int64(s, 5),
            .defer_attempts = sqlite3_column_int64(s, 6),
            .rejected = sqlite3_column_int64(s, 7),
            .held = sqlite3_column_int64(s, 8),
            .tempfail = sqlite3_column_int64(s, 9),
        };
        if (cb(&c, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return cg_sqlite_finish(sq_of(st), s, rc, "report counts");
}

int cg_sqlite_report_reasons(cg_store *st, const struct cg_report_range *r, int top,
                            cg_report_reason_cb cb, void *arg)
{
    struct cg_buf q = {0};
    cg_store_sql_report_reasons(&q, r);
    sqlite3_stmt *s = prepare(st, &q, r, "report reasons");
    if (!s)
        return -1;
    cg_sqlite_bind_named_int(s, ":top", top);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cb(cg_sqlite_col_text(s, 0), cg_sqlite_col_text(s, 1), sqlite3_column_int64(s, 2),
               arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return cg_sqlite_finish(sq_of(st), s, rc, "report reasons");
}

/* two_counts - a query of one row and two integer columns (q is freed):
 * 0 with *a and *b set (left as they were when there is no row), or -1 */
static int two_counts(cg_store *st, struct cg_buf *q, const struct cg_report_range *r,
                      const char *what, int64_t *a, int64_t *b)
{
    sqlite3_stmt *s = prepare(st, q, r, what);
    if (!s)
        return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *a = sqlite3_column_int64(s, 0);
        *b = sqlite3_column_int64(s, 1);
        rc = SQLITE_DONE;
    }
    return cg_sqlite_finish(sq_of(st), s, rc, what);
}

int cg_sqlite_report_histogram(cg_store *st, const struct cg_report_range *r, int cap,
                              cg_report_hist_cb cb, void *arg)
{
    struct cg_buf q = {0};
    cg_store_sql_report_zero(&q, r);
    int64_t have_map = 0, zero = 0;
    if (two_counts(st, &q, r, "report histogram", &have_map, &zero) < 0)
        return -1;
    if (have_map && cb(0, zero, arg))
        return 0;

    sqlite3_stmt *s;
    int rc;
    cg_store_sql_report_histogram(&q, r);
    if (!(s = prepare(st, &q, r, "report histogram")))
        return -1;
    cg_sqlite_bind_named_int(s, ":cap", cap);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cb(sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1), arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return cg_sqlite_finish(sq_of(st), s, rc, "report histogram");
}

int cg_sqlite_report_held_outcomes(cg_store *st, const struct cg_report_range *r,
                                  int64_t *released, int64_t *dropped)
{
    struct cg_buf q = {0};
    cg_store_sql_report_held(&q, r);
    return two_counts(st, &q, r, "report held outcomes", released, dropped);
}
