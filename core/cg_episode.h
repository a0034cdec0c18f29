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

#endif
