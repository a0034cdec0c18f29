/*
 * cg_episode.h - deferral episodes as the engine keeps them: the run of
 * deferrals of one (envelope sender, recipient) until the mail is let
 * through, refused or held. A retry keeps its envelope, so it is linked to
 * its first deferral at RCPT already, before there is a Message-ID;
 * max_defer counts from the first deferral, and the decision log's rows
 * name the episode (its first deferral's reference).
 *
 * What the store keeps is in cg_store.h (struct cg_episode); this is the
 * engine's view of one recipient's episode, read before a decision.
 */
#ifndef CG_EPISODE_H
#define CG_EPISODE_H

#include <stdint.h>
#include "cg_engine.h"
#include "cg_msg.h"
#include "cg_store.h"

struct cg_ep {
    int found;               /* open, and not stale (CG_EPISODE_STALE_SECS) */
    int64_t first_ts, last_ts, attempts;
    char first_ref[24];      /* the episode's name */
    int expired;             /* a verdict (enum cg_action) waiting for this
                                recipient's next attempt at RCPT; 0 none */
    char policy[128];        /* the policy of its latest deferral */
};

/* cg_episode_read - the open episode of (m->sender, r->addr); 1 found, 0
 * none (or stale, or no store), -1 store error (logged) */
int cg_episode_read(cg_store *st, const struct cg_msg *m, const struct cg_rcpt *r,
                    struct cg_ep *ep);
/* cg_episode_defer - r was deferred by d, again (old found) or for the
 * first time; `expired`: see struct cg_ep. The episode's name into ref_r.
 * 0, or -1 store error (logged) */
int cg_episode_defer(cg_store *st, const struct cg_msg *m, const struct cg_rcpt *r,
                     const struct cg_decision *d, const struct cg_ep *old, int expired,
                     char ref_r[24]);
/* cg_episode_end - r's mail was let through, refused or held. 0 or -1 */
int cg_episode_end(cg_store *st, const struct cg_msg *m, const struct cg_rcpt *r);

/* A local submission is retried by the MTA, not by a person: Postfix's
 * pickup offers a deferred sendmail(1) submission again about once a
 * minute, with no end of its own. Its episode counts every attempt, but
 * the decision log keeps a row only for the first CG_EPISODE_ROWS_ALL
 * attempts, then for every attempt whose number is a power of two (16,
 * 32, 64, ...) and whenever the deciding policy changes: at most about
 * 10 + log2(attempts) rows however long it goes on. */
#define CG_EPISODE_ROWS_ALL 10
/* cg_episode_row_wanted - does attempt `attempt` (1 the first deferral)
 * of a local submission's episode get its decision row */
int cg_episode_row_wanted(int64_t attempt, int policy_changed);
/* The words of the row that ends an episode for its count, e.g. "let
 * through after 3 deferrals" (contactgatectl reads the number back). */
#define CG_EPISODE_AFTER "after %lld deferral%s"

#endif
