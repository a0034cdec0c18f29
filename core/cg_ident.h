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
/* Normalise the recipient, apply exemptions, look up the customer map
 * (st NULL: no lookup, the customer is the address). Exempt: the
 * recipients.exempt patterns, and a department's own mailbox (its sender
 * patterns) when the envelope sender is null: a bounce to a department is
 * no customer contact. Returns 0, or -1 on a store error (logged). */
int cg_ident_recipient(const struct cg_config *cfg, cg_store *st, const struct cg_msg *m,
                       struct cg_rcpt *r);
/* Category from the control header, heuristics, department default. */
void cg_ident_category(const struct cg_config *cfg, struct cg_msg *m);
/* Candidate categories at RCPT: default, allowed patterns, heuristic
 * category. Fills a NULL-terminated array of at most max-1 entries. */
size_t cg_ident_candidates(const struct cg_config *cfg, const struct cg_msg *m,
                           const char **out, size_t max);

#endif
