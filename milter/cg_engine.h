/*
 * cg_engine.h - the message model, identification and the policy engine.
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
#include "cg_store.h"

struct cg_header {
    char *name;
    char *value;
};

struct cg_rcpt {
    char *raw;               /* as given in RCPT TO */
    char *addr;              /* normalised; NULL if malformed */
    char *customer;          /* customer id, else addr */
    char *timezone;          /* from the customer map, else NULL */
    int exempt;              /* not a customer: never limited, never counted */
    int refused;             /* given a 4xx/5xx at RCPT: not in the message */
};

struct cg_msg {
    int64_t now;
    int non_smtp;            /* submitted with sendmail(1) (pickup) */
    char *queue_id;
    char *sender;            /* normalised envelope sender, "" null sender */
    char *auth_user;
    char *client_addr;
    char *daemon_name;
    char *message_id;
    char *subject;
    struct cg_header *hdrs;
    size_t n_hdrs, cap_hdrs;
    struct cg_rcpt *rcpts;
    size_t n_rcpts, cap_rcpts;

    /* set by identification */
    const struct cg_department *dept; /* NULL: department "unknown" */
    const char *department;  /* name, "unknown" when dept is NULL */
    const char *dept_source; /* "sender", "auth_user", "client_addr",
                                "daemon_name", "header", "none" */
    char *category;          /* final category (EOM) */
    const char *category_source; /* "header", "heuristic", "default", "none" */
    char *category_claim;    /* a refused X-Contact-Category claim, for the log */

    /* dry runs (contactgatectl check, simulate): nothing is written, not
     * even the decision log or syslog; `trace`, when set, is told how
     * every policy decided for every customer */
    int dry;
    const struct cg_trace *trace;
    /* replay (simulate): department, category and content digest as
     * recorded, instead of identifying them again; quiet: no syslog */
    char *force_department;
    char *force_category;
    char *force_digest;
    int quiet;
    /* the decider's leader: leave the syslog line in the decision for the
     * session's own thread (cg_engine_syslog), so that no decision waits
     * while another one is logged */
    int log_later;

    /* the body, when a plugin wants it (cg_config.needs_body) */
    int has_body;
    uint64_t body_hash;      /* FNV-1a over the body without white space */
    char body_digest[17];    /* hex, filled at end of message */
    char content_digest[17]; /* hex of normalised subject + body */
};

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

/* Message building (all copy their arguments). */
void cg_msg_init(struct cg_msg *m);
void cg_msg_clear(struct cg_msg *m);               /* free contents; reusable */
void cg_msg_reset_transaction(struct cg_msg *m);   /* keep connection data */
void cg_msg_set(char **field, const char *value);
void cg_msg_add_header(struct cg_msg *m, const char *name, const char *value);
const char *cg_msg_header(const struct cg_msg *m, const char *name); /* first */
struct cg_rcpt *cg_msg_add_rcpt(struct cg_msg *m, const char *raw);
/* cg_msg_add_body - feed a body chunk (white space is not content: a
 * re-wrapped or CRLF-converted copy hashes the same). */
void cg_msg_add_body(struct cg_msg *m, const unsigned char *p, size_t n);
/* cg_msg_digests - hex body digest and content digest (normalised subject
 * + body) into 17-byte buffers; returns 0 when there is no body. */
int cg_msg_digests(const struct cg_msg *m, char body_hex[17], char content_hex[17]);

/* --- identification (cg_ident.c) ------------------------------------- */
/* Department from the envelope (and, when use_headers, the trusted
 * header). *settled_r = 1 when no header can change the result. */
void cg_ident_department(const struct cg_config *cfg, struct cg_msg *m,
                         int use_headers, int *settled_r);
/* Normalise the recipient, apply exemptions, look up the customer map.
 * Returns 0, or -1 on a store error. A malformed address leaves r->addr
 * NULL and is not an error (the MTA decides about it). */
int cg_ident_recipient(const struct cg_config *cfg, cg_store *st, struct cg_rcpt *r);
/* Category from the control header, heuristics, department default. */
void cg_ident_category(const struct cg_config *cfg, struct cg_msg *m);
/* Candidate categories at RCPT: default, allowed patterns, heuristic
 * category. Fills a NULL-terminated array of at most max-1 entries. */
size_t cg_ident_candidates(const struct cg_config *cfg, const struct cg_msg *m,
                           const char **out, size_t max);

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
