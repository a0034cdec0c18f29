/*
 * cg_declog.h - writing a decision down: the decision log row per
 * recipient (the store) and the one syslog line per decision.
 *
 * Syslog, facility mail: one key=value line starting with the queue ID,
 * like Postfix's own lines; the reason (never a customer state: plugins
 * keep those for the detail) but never the detail. The decision log keeps
 * everything compliance needs: policy, reason, detail, department,
 * category, the episode a deferral belongs to, the relay, the configuration
 * version.
 */
#ifndef CG_DECLOG_H
#define CG_DECLOG_H

#include <stddef.h>
#include "cg_config.h"
#include "cg_engine.h"
#include "cg_msg.h"
#include "cg_store.h"

/* the syslog line lists at most this many recipients */
#define CG_LOG_RCPTS 10

/* cg_declog_row - one decision log row for recipient r of decision d;
 * verdict NULL: d's ("tempfail" for an internal error); detail and
 * episode may be NULL or "". 0, or -1 with the store's error logged. */
int cg_declog_row(cg_store *st, const struct cg_config *cfg, const struct cg_msg *m,
                  const struct cg_rcpt *r, const struct cg_decision *d, const char *stage,
                  const char *verdict, const char *category, const char *detail, int monitor,
                  const char *episode);
/* cg_declog_line - the syslog line of a decision at `stage` for `rcpt`
 * (NULL: the message's recipients, at most CG_LOG_RCPTS); written now,
 * or left in d for the session's own thread when m->log_later (written by
 * cg_engine_syslog); nothing when m->quiet */
void cg_declog_line(const struct cg_config *cfg, const struct cg_msg *m, struct cg_decision *d,
                    const char *stage, const char *rcpt, size_t n_customers);

#endif
