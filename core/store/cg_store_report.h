/*
 * cg_store_report.h - aggregate queries for `contactgatectl report`.
 *
 * Everything is counted by SQLite (GROUP BY over the ts indexes); the
 * callbacks get one aggregate row each, never a contact or a decision, and
 * no customer address. Times are Unix seconds, the range is
 * since <= ts < until, days are UTC days numbered from `day0`.
 *
 * What is counted (per recipient, from the decision log, except `sent`):
 *   sent            contacts recorded from e-mail (accepted and tagged mail)
 *   tagged          decisions "tag" (monitored ones included)
 *   monitored       of those, the ones only monitored (policy in monitor mode)
 *   deferred        deferred messages: distinct (Message-ID, recipient); a
 *                   deferral without a Message-ID (RCPT stage) is one message
 *   defer_attempts  deferral decisions (every retry that was deferred again)
 *   rejected, held  decisions "reject", "hold"
 *   tempfail        decisions "tempfail" (contactgate could not decide)
 * Return values as in cg_store.h: 0 ok, -1 error (cg_store_errmsg).
 */
#ifndef CG_STORE_REPORT_H
#define CG_STORE_REPORT_H

#include <stdint.h>
#include "cg_store.h"

struct cg_report_range {
    int64_t since, until;      /* since <= ts < until */
    int64_t day0;              /* UTC midnight at or before since */
    const char *department;    /* NULL: every department */
    const char *relay;         /* NULL: every relay; else the decisions and
                                * contacts of that relay only */
};

enum cg_report_by {
    CG_REPORT_BY_DEPARTMENT,   /* key = department */
    CG_REPORT_BY_POLICY,       /* key = deciding policy (NULL: none); sent is 0 */
    CG_REPORT_BY_DEPARTMENT_DAY /* key = department, day = days since day0 */
};

struct cg_report_counts {
    const char *key;           /* NULL when the log has none */
    int64_t day;               /* CG_REPORT_BY_DEPARTMENT_DAY only; else -1 */
    int64_t sent, tagged, monitored, deferred, defer_attempts, rejected, held, tempfail;
};
typedef int (*cg_report_counts_cb)(const struct cg_report_counts *c, void *arg);
/* Counts grouped `by`, ordered by key (then day). Keys with nothing to
 * count do not appear. */
int cg_store_report_counts(cg_store *st, const struct cg_report_range *r, enum cg_report_by by,
                           cg_report_counts_cb cb, void *arg);

typedef int (*cg_report_reason_cb)(const char *policy, const char *reason, int64_t count,
                                   void *arg);
/* The `top` most frequent reasons of each deciding policy (decisions other
 * than accept), ordered by policy, then count descending, then reason. */
int cg_store_report_reasons(cg_store *st, const struct cg_report_range *r, int top,
                            cg_report_reason_cb cb, void *arg);

typedef int (*cg_report_hist_cb)(int64_t contacts, int64_t customers, void *arg);
/* How many customers got N contacts (any channel) in the range, N
 * ascending; N at or above `cap` is reported as `cap`. N = 0 (customers of
 * the customer map with no contact in the range) comes first, and only
 * when the customer map is not empty: other customers are known only from
 * their contacts. */
int cg_store_report_histogram(cg_store *st, const struct cg_report_range *r, int cap,
                              cg_report_hist_cb cb, void *arg);

/* cg_store_report_held_outcomes - held messages an admin released or
 * dropped in the range (contactgatectl held), counted per reference */
int cg_store_report_held_outcomes(cg_store *st, const struct cg_report_range *r,
                                  int64_t *released, int64_t *dropped);

#endif
