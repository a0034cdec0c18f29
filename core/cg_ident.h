/*
 * cg_ident.h - identification: which department sends a message, which
 * customer each recipient is, which category the message has.
 */
#ifndef CG_IDENT_H
#define CG_IDENT_H

#include <stddef.h>
#include "cg_config.h"
#include "cg_msg.h"
#include "cg_store.h"

/* Department from the envelope (and, when use_headers, the trusted
 * header). *settled_r = 1 when no header can change the result. */
void cg_ident_department(const struct cg_config *cfg, struct cg_msg *m,
                         int use_headers, int *settled_r);
/* Normalise the recipient (cg_ident_rcpt_address, unless the milter did
 * already), apply exemptions, look up the customer map (st NULL: no
 * lookup, the customer is the address). Exempt: the recipients.exempt
 * patterns, and a department's own mailbox (its sender patterns) when
 * the envelope sender is null: a bounce to a department is no customer
 * contact. Returns 0, or -1 on a store error (logged). Only an empty
 * address leaves r->addr NULL (not a customer; the MTA refuses it
 * anyway). */
int cg_ident_recipient(const struct cg_config *cfg, cg_store *st, const struct cg_msg *m,
                       struct cg_rcpt *r);
/* cg_ident_addr_flags - recipients.lowercase and recipients.strip_plus as
 * cg_addr flags: every recipient address that comes in is normalised
 * with cg_addr_normalise(raw, cg_ident_addr_flags(cfg), ...). */
unsigned cg_ident_addr_flags(const struct cg_config *cfg);
/* cg_ident_rcpt_address - r->addr, the recipient's key, from the RCPT
 * argument (r->raw) and the MTA's own parse of it (mta: {rcpt_addr}, NULL
 * when there is none) by cg_addr_envelope. An address that cannot be
 * parsed is its own customer (cg_addr_fallback) and gets one syslog line
 * with why, naming m's queue ID (before Postfix has one: NOQUEUE, sender
 * and client, as Postfix's own RCPT-stage lines); the MTA's form, when it
 * is used instead of the argument, gets one too. m may be NULL (no line
 * context); m->quiet: no line. */
void cg_ident_rcpt_address(const struct cg_config *cfg, const struct cg_msg *m,
                           struct cg_rcpt *r, const char *mta);
/* cg_ident_sender - the envelope sender as sender patterns see it: its
 * canonical mailbox, local part lower-cased, +tag kept (patterns may name
 * one); "" for the null sender; an unparseable one lower-cased as written
 * (and logged like a recipient), never "". mta: {mail_addr} or NULL. m
 * (may be NULL) gives the line its queue ID or client. Never NULL. */
char *cg_ident_sender(const struct cg_msg *m, const char *arg, const char *mta);
/* cg_ident_customer - the customer of a normalised address: its id in
 * the customer map (and its time zone, tz_r may be NULL), else the address
 * itself. Returns 1 mapped, 0 not, -1 store error (nothing allocated). */
int cg_ident_customer(cg_store *st, const char *addr, char **cust_r, char **tz_r);
/* Category from the control header, heuristics, department default. */
void cg_ident_category(const struct cg_config *cfg, struct cg_msg *m);
/* Candidate categories at RCPT: default, allowed patterns, heuristic
 * category. Fills a NULL-terminated array of at most max-1 entries. */
size_t cg_ident_candidates(const struct cg_config *cfg, const struct cg_msg *m,
                           const char **out, size_t max);

#endif
