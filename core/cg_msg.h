/*
 * cg_msg.h - the message model: one SMTP transaction as contactgate sees
 * it (envelope, headers, recipients, what identification found).
 *
 * Nothing here knows libmilter. The milter callbacks (milter/cg_milter.c)
 * fill a struct cg_msg; contactgatectl check and simulate and the unit
 * tests fill the same struct by hand; all of them hand it to the same
 * engine (cg_engine.h).
 */
#ifndef CG_MSG_H
#define CG_MSG_H

#include <stddef.h>
#include <stdint.h>
#include "contactgate/plugin.h"

struct cg_department;        /* cg_config.h */
struct cg_trace;             /* cg_engine.h */

struct cg_header {
    char *name;
    char *value;
};

/* The result of a CG_PLUGIN_NO_HISTORY policy, evaluated for one recipient
 * in the session's thread before the decision is queued (cg_engine_prepare). */
struct cg_pre {
    int stage;               /* 0: not evaluated; else the CG_STAGE_* it is for */
    int rc;                  /* CG_OK, CG_VIOLATION or CG_ERROR */
    struct cg_verdict vd;
};

struct cg_rcpt {
    char *raw;               /* as given in RCPT TO */
    char *addr;              /* normalised; NULL if malformed */
    char *customer;          /* customer id, else addr */
    char *timezone;          /* from the customer map, else NULL */
    int exempt;              /* not a customer: never limited, never counted */
    int refused;             /* given a 4xx/5xx at RCPT: not in the message */
    int looked_up;           /* customer and zone come from the store's customer map */
    struct cg_pre *pre;      /* per policy of the configuration, or NULL */
    size_t n_pre;
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

#endif
