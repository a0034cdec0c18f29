/*
 * cg_store_sql.h - query texts shared by the store's backends (for
 * core/store/ only): SQL that SQLite and PostgreSQL read alike, with named
 * parameters each backend binds its own way. Report queries bind :since,
 * :until, :day0, :dept and :relay (when the range has them), and :top
 * (reasons) or :cap (histogram); the lifecycle binds :dept, :cust,
 * :policy, :qid, :since, :until (when the filter has them) and :sep
 * (CG_STORE_SQL_SEP). The rows are as cg_sqlite_report.c and
 * cg_sqlite_held.c read them.
 */
#ifndef CG_STORE_SQL_H
#define CG_STORE_SQL_H

#include <stddef.h>
#include "cg_store_held.h"
#include "cg_store_report.h"
#include "cg_util.h"

/* between a Message-ID and a recipient in a group key (neither holds it) */
#define CG_STORE_SQL_SEP "\x01"

/* k, d, sent, tagged, monitored, deferred, attempts, rejected, held, tempfail */
void cg_store_sql_report_counts(struct cg_buf *q, const struct cg_report_range *r,
                                enum cg_report_by by);
/* policy, reason, n */
void cg_store_sql_report_reasons(struct cg_buf *q, const struct cg_report_range *r);
/* one row: the customer map is not empty (1/0), its customers not contacted */
void cg_store_sql_report_zero(struct cg_buf *q, const struct cg_report_range *r);
/* contacts (capped), customers */
void cg_store_sql_report_histogram(struct cg_buf *q, const struct cg_report_range *r);
/* one row: released, dropped */
void cg_store_sql_report_held(struct cg_buf *q, const struct cg_report_range *r);
/* the columns of struct cg_lifecycle_row, in its order */
void cg_store_sql_lifecycle(struct cg_buf *q, const struct cg_lifecycle_filter *f);

/* --- erasure (cg_admin_forget) ---------------------------------------------
 * The subject is $1 (a customer id, or an unmapped address; SQLite reads
 * $1 as a parameter too); the addresses mapped to it are found through
 * the customer map, which is erased last. Senders and recipients are
 * compared without case (logged as the MTA gave them). */
/* its contacts (department, category, ts): out of the department counters */
extern const char cg_store_sql_erase_counted[];
/* its deferral episodes (by address) */
extern const char cg_store_sql_erase_episodes[];
/* the deletes whose row counts go to struct cg_forget_counts at `off`,
 * in order; ended by a NULL sql */
struct cg_store_sql_erase {
    const char *sql;
    size_t off;
};
extern const struct cg_store_sql_erase cg_store_sql_erase_steps[];

#endif
