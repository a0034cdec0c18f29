/*
 * cg_engine.h - the policy engine: decisions for a message.
 *
 * Nothing here knows libmilter. The milter callbacks (cg_milter.c) fill a
 * struct cg_msg; contactgatectl check and the unit tests fill the same
 * struct by hand; all of them call the same cg_engine_* functions.
 *
 * Stages:
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
#define CG_MAX_HITS 32

struct cg_hit {
    const struct cg_policy *policy;
    int action;              /* the policy's action */
    int monitor;             /* 1 if monitor mode: logged and tagged only */
    int error;               /* 1 if the plugin could not decide */
    char reason[200];
    int64_t retry_after;
};

struct cg_decision {
    int verdict;             /* enum cg_action: what the MTA is told */
    int error;               /* 1: internal error, on_error applied */
    const struct cg_policy *policy; /* deciding policy (NULL for accept) */
    char reason[200];
    int64_t retry_after;     /* for defer */
    char ref[24];            /* reference for reply, header and log */
    int mixed;               /* recipients had different verdicts */
    struct cg_hit hits[CG_MAX_HITS];
    size_t n_hits;
    char smtp_code[4];       /* "451", "550" ... when verdict is defer/reject */
    char smtp_xcode[8];      /* "4.7.1" */
    char smtp_text[512];     /* "contact strategy: ..." */
    char tag_value[256];     /* X-Contact-Gate value for tag/hold, else "" */
    /* the syslog line still to write (cg_msg.log_later) */
    const char *log_stage;   /* "rcpt", "eom"; NULL: none */
    const char *log_rcpt;    /* the one recipient, or NULL */
    size_t log_customers;
};

/* cg_engine_rcpt - see above. Never records; logs only an acted-on verdict.
 * It is cg_engine_rcpt_decide (reads only: any connection, any thread)
 * followed by cg_engine_rcpt_log (the decision log row of a settled
 * verdict: the writer's connection). */
int cg_engine_rcpt(const struct cg_config *cfg, cg_store *st, struct cg_msg *m,
                   struct cg_rcpt *r, struct cg_decision *d);
int cg_engine_rcpt_decide(const struct cg_config *cfg, cg_store *st, struct cg_msg *m,
                          struct cg_rcpt *r, struct cg_decision *d);
int cg_engine_rcpt_log(const struct cg_config *cfg, cg_store *st, struct cg_msg *m,
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

#endif
