/*
 * cg_episode.c - deferral episodes for the engine (see cg_episode.h).
 */
#include <string.h>

#include "cg_episode.h"
#include "cg_log.h"
#include "cg_util.h"

/* cg_episode_read - see cg_episode.h */
int cg_episode_read(cg_store *st, const struct cg_msg *m, const struct cg_rcpt *r,
                    struct cg_ep *ep)
{
    memset(ep, 0, sizeof *ep);
    if (!st || !r->addr)
        return 0;
    struct cg_episode e;
    int found = cg_store_episode_get(st, m->sender ? m->sender : "", r->addr, &e);
    if (found < 0) {
        cg_log(LOG_ERR, "%s: store: deferral episode of <%s>: %s",
               m->queue_id ? m->queue_id : "NOQUEUE", r->addr, cg_store_errmsg(st));
        return -1;
    }
    int64_t until = e.retry_after > e.last_ts ? e.retry_after : e.last_ts;
    if (!found || m->now > until + CG_EPISODE_STALE_SECS)
        return 0;
    ep->found = 1;
    ep->first_ts = e.first_ts;
    ep->last_ts = e.last_ts;
    ep->attempts = e.attempts;
    ep->expired = e.expired;
    cg_strlcpy(ep->first_ref, e.first_ref ? e.first_ref : "", sizeof ep->first_ref);
    cg_strlcpy(ep->policy, e.policy ? e.policy : "", sizeof ep->policy);
    return 1;
}

/* cg_episode_defer - see cg_episode.h */
int cg_episode_defer(cg_store *st, const struct cg_msg *m, const struct cg_rcpt *r,
                     const struct cg_decision *d, const struct cg_ep *old, int expired,
                     char ref_r[24])
{
    struct cg_episode e = {
        .sender = m->sender ? m->sender : "",
        .recipient = r->addr,
        .first_ts = old->found ? old->first_ts : m->now,
        .first_ref = old->found ? old->first_ref : d->ref,
        .last_ts = m->now,
        .attempts = (old->found ? old->attempts : 0) + 1,
        .retry_after = d->retry_after,
        .message_id = m->message_id,
        .policy = d->policy ? d->policy->name : NULL,
        .expired = expired,
    };
    cg_strlcpy(ref_r, e.first_ref, 24);
    if (cg_store_episode_put(st, &e) < 0) {
        cg_log(LOG_ERR, "%s: store: deferral episode of <%s>: %s",
               m->queue_id ? m->queue_id : "NOQUEUE", r->addr, cg_store_errmsg(st));
        return -1;
    }
    return 0;
}

/* cg_episode_end - see cg_episode.h */
int cg_episode_end(cg_store *st, const struct cg_msg *m, const struct cg_rcpt *r)
{
    if (cg_store_episode_end(st, m->sender ? m->sender : "", r->addr) < 0) {
        cg_log(LOG_ERR, "%s: store: deferral episode of <%s>: %s",
               m->queue_id ? m->queue_id : "NOQUEUE", r->addr, cg_store_errmsg(st));
        return -1;
    }
    return 0;
}

/* cg_episode_row_wanted - see cg_episode.h */
int cg_episode_row_wanted(int64_t attempt, int policy_changed)
{
    return policy_changed || attempt <= CG_EPISODE_ROWS_ALL || (attempt & (attempt - 1)) == 0;
}
