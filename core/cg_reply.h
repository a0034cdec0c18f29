/*
 * cg_reply.h - what a decision tells the outside: the SMTP reply to the
 * sending department and the tag header the customer sees.
 *
 * The reply names the deciding policy, when to retry and a reference, in
 * the same words at RCPT and at end of message; why (category, state,
 * counts) is for the decision log only. The tag header carries the verdict
 * and the reference, policy names only when the admin asks for them
 * (tag_policy_names). Nothing here knows the store or libmilter.
 */
#ifndef CG_REPLY_H
#define CG_REPLY_H

#include <stddef.h>
#include <stdint.h>
#include "cg_config.h"
#include "cg_engine.h"

/* a deferral without a retry-after of its own is retried after this */
#define CG_DEFAULT_RETRY_SECS 3600

/* cg_reply_sanitize - copy src into dst[len] in a form safe for a reply
 * or header: printable ASCII, no '%' (libmilter treats it as a format
 * character); anything else becomes '?'. src NULL: "". */
void cg_reply_sanitize(char *dst, size_t len, const char *src);
/* cg_reply_fill - the SMTP code, enhanced code and text of a defer or
 * reject (nothing for other verdicts); a deferral without a retry-after
 * gets now + CG_DEFAULT_RETRY_SECS */
void cg_reply_fill(struct cg_decision *d, int64_t now);
/* cg_reply_tag - the tag header's value of a tagged message (empty for any
 * other verdict): verdict and reference; with cfg->tag_policy_names also
 * the comma-separated policy names given (enforced, monitored; may be
 * NULL or "") */
void cg_reply_tag(const struct cg_config *cfg, struct cg_decision *d, const char *enforced,
                  const char *monitored);

#endif
