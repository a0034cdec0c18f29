/*
 * cg_engine.h - the policy engine: decisions for a message.
 *
 * Nothing here knows libmilter. The milter callbacks (milter/cg_milter.c)
 * fill a struct cg_msg; contactgatectl check and simulate and the unit
 * tests fill the same struct by hand; all of them call the same
 * cg_engine_* functions.
 *
 * Stages:
 *  - cg_engine_prepare(): in the session's own thread, before a decision
 *    is queued: identifies what needs no store and evaluates the policies
 *    whose plugins read no history (CG_PLUGIN_NO_HISTORY: DNS for SPF),
 *    which may block, so they never run under the store's write lock.
 *  - cg_engine_rcpt(): one recipient, envelope only. Returns a verdict only
 *    when the envelope settles it (no header could change it): defer or
 *    reject for that recipient at RCPT time; else CG_ACT_ACCEPT ("wait for
 *    end of message").
 *  - cg_engine_eom(): all recipients, headers known. Evaluates every
 *    customer, combines to the strictest verdict, writes the decision log
 *    and, when the verdict lets the message through (accept, tag) and
 *    `record` is set, records one contact per customer. The caller runs it
 *    inside one store transaction (cg_decider), which makes it the atomic
 *    check-and-record step.
 *
 * Every violated policy counts, however many there are. The SMTP reply
 * names the deciding policy, when to retry and a reference, in one wording
 * at both stages; why (category, state, counts) is in the decision log.
 * A deferral opens or continues the deferral episode of its (sender,
 * recipient), which max_defer is measured from and the decision log links
 * retries by; letting the mail through, refusing or holding it ends it.
 */
#ifndef CG_ENGINE_H
#define CG_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include "cg_config.h"
#include "cg_msg.h"
#include "cg_store.h"

/* What a trace callback is told, once per policy and customer. */
enum cg_trace_outcome {
    CG_TRACE_NOT_DEPT = 1,   /* applies_to.departments excludes the sender */
    CG_TRACE_NOT_CATEGORY,   /* applies_to.categories excludes the category */
    CG_TRACE_PASS,
    CG_TRACE_VIOLATION,
    CG_TRACE_ERROR,          /* the plugin could not decide */
    CG_TRACE_DEFERRED_TO_EOM, /* RCPT: the headers may still change it */
    CG_TRACE_NOT_NEEDED      /* RCPT: a verdict at least as strict is settled */
};
struct cg_trace_event {
    const char *stage;       /* "rcpt" or "eom" */
    const struct cg_policy *policy;
    const char *customer;
    const char *address;
    int outcome;             /* enum cg_trace_outcome */
    int action;              /* for a violation: the action it carries */
    int monitor;
    const char *reason;      /* violation or error */
    const char *detail;      /* for the decision log */
    int64_t retry_after;
};
struct cg_trace {
    void (*fn)(void *arg, const struct cg_trace_event *e);
    void *arg;
};

/* --- decisions --------------------------------------------------------- */
struct cg_decision {
    int verdict;             /* enum cg_action: what the MTA is told */
    int error;               /* 1: internal error, on_error applied */
    int errors_accepted;     /* policies that could not decide and were
                              * skipped (on_error=accept): counted as errors */
    const struct cg_policy *policy; /* deciding policy (NULL for accept) */
    char reason[200];        /* the deciding policy's reason (decision log) */
    int64_t retry_after;     /* for defer */
    int expired;             /* the verdict is a max_defer expiry */
    char ref[24];            /* reference for reply, header and log */
    int mixed;               /* recipients had different verdicts */
    char smtp_code[4];       /* "451", "550" ... when verdict is defer/reject */
    char smtp_xcode[8];      /* "4.7.1" */
    char smtp_text[512];     /* "contact strategy: ..." */
    char tag_value[512];     /* X-Contact-Gate value for tag, else "" */
    /* the syslog line still to write (cg_msg.log_later) */
    const char *log_stage;   /* "rcpt", "eom"; NULL: none */
    const char *log_rcpt;    /* the one recipient at RCPT; NULL: the message's */
    size_t log_customers;
};

/* cg_engine_prepare - stage CG_STAGE_RCPT: for recipient r; stage
 * CG_STAGE_EOM: for every recipient still in the message (r NULL). Runs
 * the CG_PLUGIN_NO_HISTORY policies that apply, in the calling thread,
 * without the store; their results wait in r->pre for the decision. A
 * decision made without it evaluates them itself (dry runs, tests). */
void cg_engine_prepare(const struct cg_config *cfg, struct cg_msg *m, struct cg_rcpt *r,
                       int stage);
/* cg_engine_keys - what a decision of that stage (as for
 * cg_engine_prepare) will read from the store, added to b: the
 * recipients' addresses, their deferral episodes' (sender, recipient) and
 * the department. For a store that locks and fetches ahead
 * (cg_store_batch_begin); run in the session's thread, without the store.
 * The strings added live as long as m and cfg. */
void cg_engine_keys(const struct cg_config *cfg, struct cg_msg *m, struct cg_rcpt *r, int stage,
                    struct cg_store_batch *b);
/* cg_engine_rcpt - see above. Never records a contact; writes the
 * decision log row (and the deferral episode) of a settled verdict. */
int cg_engine_rcpt(const struct cg_config *cfg, cg_store *st, struct cg_msg *m,
                   struct cg_rcpt *r, struct cg_decision *d);
/* cg_engine_eom - see above. record = 0 for dry runs (nothing written). */
int cg_engine_eom(const struct cg_config *cfg, cg_store *st, struct cg_msg *m,
                  int record, struct cg_decision *d);
/* cg_engine_syslog - write the syslog line a decision made with
 * m->log_later left in d, if any (in the session's thread) */
void cg_engine_syslog(const struct cg_config *cfg, const struct cg_msg *m,
                      struct cg_decision *d);
/* cg_engine_error - turn an internal error into the on_error decision. */
void cg_engine_error(const struct cg_config *cfg, struct cg_decision *d, const char *why);

/* cg_engine_coverage - what the policy set leaves uncovered that an admin
 * should know (one line each to cb): no enforced policy applies to mail
 * of no department (whose category is classify.unknown_category). Returns
 * the number of warnings. */
int cg_engine_coverage(const struct cg_config *cfg, void (*cb)(const char *line, void *arg),
                       void *arg);

#endif
