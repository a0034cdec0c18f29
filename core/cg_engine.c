/*
 * cg_engine.c - the policy engine: run the applicable policies for each
 * customer of a message, combine their verdicts, and carry the decision
 * out in the store: the deferral episodes (cg_episode.c), the decision log
 * and syslog line (cg_declog.c), the contacts (cg_contact.c); the reply
 * and the tag header are cg_reply.c's (see cg_engine.h).
 *
 * Verdict order (SPEC): reject > defer > hold > tag > accept. A violation
 * of a policy in monitor mode only tags and logs. Each customer counts
 * once per message, whichever of their addresses were used; exempt and
 * malformed recipients are never evaluated or counted. Every violation
 * is kept (no fixed limit): the strictest decides, all are logged.
 *
 * Errors: a plugin that returns CG_ERROR, or a host query that failed,
 * makes that policy undecided. With on_error=tempfail the customer's
 * verdict becomes a temporary failure (never a reject); with
 * on_error=accept the policy is skipped with a warning. A store error
 * while logging or recording is returned to the caller, which rolls the
 * step back and applies on_error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_category.h"
#include "cg_contact.h"
#include "cg_declog.h"
#include "cg_engine.h"
#include "cg_episode.h"
#include "cg_host.h"
#include "cg_ident.h"
#include "cg_log.h"
#include "cg_plugin.h"
#include "cg_reply.h"
#include "cg_util.h"

#define CG_MAX_CANDIDATES 34

/* the two action enums are one scale (plugin.h for plugins, cg_config.h
 * for the host) */
_Static_assert(CG_ACT_TAG == CG_ACTION_TAG && CG_ACT_HOLD == CG_ACTION_HOLD &&
                   CG_ACT_DEFER == CG_ACTION_DEFER && CG_ACT_REJECT == CG_ACTION_REJECT,
               "enum cg_action and CG_ACTION_* must agree");

/* One policy's violation (or failure to decide) for one customer. */
struct hit {
    const struct cg_policy *policy;
    int action;              /* the action it carries */
    int monitor;             /* monitor mode: logged and tagged only */
    int error;               /* the plugin could not decide */
    int expired;             /* a deferral turned into on_expiry by max_defer */
    char reason[200];
    char detail[200];
    int64_t retry_after;
};

/* Every hit of one customer (or of one recipient at RCPT), in policy order. */
struct hits {
    struct hit *v;
    size_t n, cap;
};

static struct hit *hits_add(struct hits *h)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 8;
        h->v = cg_xrealloc(h->v, h->cap * sizeof *h->v);
    }
    struct hit *x = &h->v[h->n++];
    memset(x, 0, sizeof *x);
    return x;
}

static void hits_free(struct hits *h)
{
    free(h->v);
    memset(h, 0, sizeof *h);
}

/* per-customer state at end of message */
struct cust {
    struct cg_rcpt *r;        /* first recipient of this customer */
    int verdict;
    int error;
    struct hits hits;
    int decisive;             /* index into hits, -1 none */
    int expire_later;         /* an expiry kept for the next attempt (other
                                 customers of the message are fine) */
    int errors_accepted;      /* policies that could not decide, skipped
                                 (on_error=accept) */
};

/* cg_engine_error - the on_error decision */
void cg_engine_error(const struct cg_config *cfg, struct cg_decision *d, const char *why)
{
    char ref[sizeof d->ref];
    cg_strlcpy(ref, d->ref[0] ? d->ref : "", sizeof ref);
    memset(d, 0, sizeof *d);
    if (ref[0])
        cg_strlcpy(d->ref, ref, sizeof d->ref);
    else
        cg_ref_new(d->ref, sizeof d->ref);
    d->error = 1;
    cg_reply_sanitize(d->reason, sizeof d->reason, why);
    /* with a legal suppression configured, nothing unchecked goes out */
    int accept = cfg->on_error == CG_ONERR_ACCEPT && !cfg->has_fail_closed;
    d->verdict = accept ? CG_ACT_ACCEPT : CG_ACT_DEFER;
    cg_reply_fill(d, cg_now());
}

/* --- which policies apply --------------------------------------------------- */

/* policy_for_dept - does the policy cover this department */
static int policy_for_dept(const struct cg_policy *p, const char *dept)
{
    if (!p->departments)
        return 1;
    for (size_t i = 0; i < p->n_departments; i++)
        if (strcmp(p->departments[i], dept) == 0)
            return 1;
    return 0;
}

/* policy_for_category - does the policy cover this (final) category */
static int policy_for_category(const struct cg_policy *p, const char *cat)
{
    if (!p->categories)
        return 1;
    for (size_t i = 0; i < p->n_categories; i++)
        if (cg_category_match(p->categories[i], cat))
            return 1;
    return 0;
}

/* policy_cover - at RCPT: does the policy apply to all (all=1) or any
 * (all=0) of the candidate categories */
static int policy_cover(const struct cg_policy *p, const char *const *cands, size_t n, int all)
{
    if (!p->categories)
        return 1;
    for (size_t c = 0; c < n; c++) {
        int hit = 0;
        for (size_t i = 0; i < p->n_categories && !hit; i++)
            hit = all ? cg_category_subsumes(p->categories[i], cands[c])
                      : (cg_category_subsumes(p->categories[i], cands[c]) ||
                         cg_category_subsumes(cands[c], p->categories[i]));
        if (all && !hit)
            return 0;
        if (!all && hit)
            return 1;
    }
    return all;
}

/* The RCPT stage evaluates a policy only when its verdict could be settled
 * there: it applies to the department and to every candidate category, it
 * is enforced, and its action is defer or reject (tag and hold can only be
 * carried out at end of message). */
enum rcpt_role { RCPT_SKIP_DEPT, RCPT_SKIP_CATEGORY, RCPT_LATER, RCPT_MAYBE, RCPT_EVALUATE };

/* rcpt_role - what the RCPT stage does with policy p (see above); MAYBE:
 * it could still fire at end of message (it covers only some candidates) */
static int rcpt_role(const struct cg_policy *p, const char *dept, const char *const *cands,
                     size_t n)
{
    if (!policy_for_dept(p, dept))
        return RCPT_SKIP_DEPT;
    if (!policy_cover(p, cands, n, 0))
        return RCPT_SKIP_CATEGORY;
    if (p->mode == CG_MODE_MONITOR || p->action < CG_ACT_DEFER)
        return RCPT_LATER;
    if (!policy_cover(p, cands, n, 1))
        return RCPT_MAYBE;
    return RCPT_EVALUATE;
}

/* --- evaluating one policy ---------------------------------------------------- */

/* view_fill - the plugin's view of one message for one customer */
static void view_fill(struct cg_message_view *v, const struct cg_config *cfg,
                      const struct cg_msg *m, const struct cg_rcpt *r, int stage,
                      const char *const *cands, size_t n_cands, struct cg_query_ctx *ctx)
{
    memset(v, 0, sizeof *v);
    v->struct_size = sizeof *v;
    v->stage = stage;
    v->now = m->now;
    v->department = m->department;
    v->sender = m->sender ? m->sender : "";
    v->customer = r->customer ? r->customer : r->addr;
    v->address = r->addr;
    v->timezone = r->timezone ? r->timezone : cfg->timezone;
    v->category = stage == CG_STAGE_EOM ? m->category : NULL;
    v->categories = cands;
    v->n_categories = n_cands;
    v->message_id = m->message_id;
    v->subject = m->subject;
    int digests = stage == CG_STAGE_EOM && m->has_body;
    v->body_digest = digests ? m->body_digest : NULL;
    v->content_digest = digests ? m->content_digest : NULL;
    v->ctx = ctx;
}

/* call_plugin - run one policy's plugin on a view; CG_OK, CG_VIOLATION or
 * CG_ERROR (a failed host query makes it CG_ERROR whatever it returned) */
static int call_plugin(const struct cg_policy *p, const struct cg_msg *m,
                       const struct cg_message_view *v, struct cg_verdict *vd)
{
    memset(vd, 0, sizeof *vd);
    vd->struct_size = sizeof *vd;
    if (!p->so || !p->instance)
        return CG_OK; /* loaded without plugins (validation only) */
    v->ctx->failed = 0;
    cg_host_context(p->plugin_name, p->name, m->queue_id);
    int rc = p->so->desc->evaluate(p->instance, v, vd);
    cg_host_context(NULL, NULL, NULL);
    vd->reason[sizeof vd->reason - 1] = 0;
    vd->detail[sizeof vd->detail - 1] = 0;
    if (v->ctx->failed || (rc != CG_OK && rc != CG_VIOLATION))
        return CG_ERROR;
    return rc;
}

/* pre_evaluate - a CG_PLUGIN_NO_HISTORY policy for recipient r, without
 * the store: the customer is the address, the zone the default one */
static void pre_evaluate(const struct cg_config *cfg, const struct cg_msg *m,
                         struct cg_rcpt *r, const struct cg_policy *p, int stage,
                         const char *const *cands, size_t n_cands)
{
    size_t i = (size_t)(p - cfg->policies);
    if (!r->pre || r->n_pre != cfg->n_policies) {
        free(r->pre);
        r->pre = cg_xcalloc(cfg->n_policies ? cfg->n_policies : 1, sizeof *r->pre);
        r->n_pre = cfg->n_policies;
    }
    struct cg_rcpt bare = {.addr = r->addr, .customer = r->addr};
    struct cg_query_ctx ctx = {.st = NULL, .m = m};
    struct cg_message_view v;
    view_fill(&v, cfg, m, &bare, stage, cands, n_cands, &ctx);
    r->pre[i].rc = call_plugin(p, m, &v, &r->pre[i].vd);
    r->pre[i].stage = stage;
    cg_query_ctx_clear(&ctx);
}

/* evaluate - one policy for one customer: a CG_PLUGIN_NO_HISTORY policy
 * from its result prepared in the session's thread (else now), any other
 * through the store */
static int evaluate(const struct cg_config *cfg, const struct cg_msg *m, struct cg_rcpt *r,
                    const struct cg_policy *p, const struct cg_message_view *v,
                    struct cg_verdict *vd)
{
    if (!p->no_history)
        return call_plugin(p, m, v, vd);
    size_t i = (size_t)(p - cfg->policies);
    if (!r->pre || r->n_pre != cfg->n_policies || r->pre[i].stage != v->stage)
        pre_evaluate(cfg, m, r, p, v->stage, v->categories, v->n_categories);
    *vd = r->pre[i].vd;
    return r->pre[i].rc;
}

/* hit_set - fill a hit from a plugin verdict */
static void hit_set(struct hit *h, const struct cg_policy *p, const struct cg_verdict *vd,
                    int error)
{
    memset(h, 0, sizeof *h);
    h->policy = p;
    /* a plugin may lower the action for one verdict, never raise it above
     * the configured one (which is what RCPT-stage reasoning relies on) */
    h->action = vd->action >= CG_ACT_TAG && vd->action < p->action ? vd->action : p->action;
    h->monitor = p->mode == CG_MODE_MONITOR;
    h->error = error;
    cg_reply_sanitize(h->reason, sizeof h->reason,
             error ? "could not be checked" : (vd->reason[0] ? vd->reason : "policy violated"));
    cg_reply_sanitize(h->detail, sizeof h->detail, error ? "" : vd->detail);
    h->retry_after = vd->retry_after;
}

/* trace - tell a dry run's observer how one policy decided */
static void trace(const struct cg_msg *m, const char *stage, const struct cg_policy *p,
                  const struct cg_rcpt *r, int outcome, const struct hit *h)
{
    if (!m->trace || !m->trace->fn)
        return;
    struct cg_trace_event e = {
        .stage = stage,
        .policy = p,
        .customer = r->customer,
        .address = r->addr,
        .outcome = outcome,
        .action = h ? h->action : p->action,
        .monitor = p->mode == CG_MODE_MONITOR,
        .reason = h ? h->reason : NULL,
        .detail = h && h->detail[0] ? h->detail : NULL,
        .retry_after = h ? h->retry_after : 0,
    };
    m->trace->fn(m->trace->arg, &e);
}

/* hits_summary - "pol=defer:reason, pol2=tag(monitor):reason [pol: detail;
 * pol2: detail]": every violation, for the decision log, the same at both
 * stages */
static void hits_summary(const struct hits *hs, struct cg_buf *b)
{
    for (size_t i = 0; i < hs->n; i++) {
        const struct hit *h = &hs->v[i];
        cg_buf_printf(b, "%s%s=%s%s:%s", i ? ", " : "", h->policy->name,
                      h->error ? "error" : cg_action_name(h->action),
                      h->monitor ? "(monitor)" : "", h->reason);
    }
    int details = 0;
    for (size_t i = 0; i < hs->n; i++)
        if (hs->v[i].detail[0])
            cg_buf_printf(b, "%s%s: %s", details++ ? "; " : " [", hs->v[i].policy->name,
                          hs->v[i].detail);
    if (details)
        cg_buf_add(b, "]");
}

/* is_local - m was submitted on this host: Postfix's sendmail(1) path, or
 * an SMTP client in local_submission.clients (Sendmail's MSP);
 * local_cap - local_submission.max_defer for such a message, else 0 */
static int is_local(const struct cg_config *cfg, const struct cg_msg *m)
{
    int local = m->non_smtp;
    for (size_t i = 0; !local && m->client_addr && i < cfg->n_local_clients; i++)
        local = cg_cidr_match(&cfg->local_clients[i], m->client_addr);
    return local;
}

static int64_t local_cap(const struct cg_config *cfg, const struct cg_msg *m)
{
    return cfg->local_max_defer_secs && is_local(cfg, m) ? cfg->local_max_defer_secs : 0;
}

/* expire - turn the enforced deferrals of policies with max_defer into
 * their on_expiry action when the recipient's episode began longer ago
 * than max_defer; for a local submission also when it began longer ago
 * than local_submission.max_defer, or when its retry-after lies beyond
 * that (it could never get through in time: it is refused at once, not
 * retried for nothing); 1 if one was turned */
static int expire(const struct cg_config *cfg, const struct cg_msg *m, const struct cg_ep *ep,
                  struct hits *hs)
{
    int any = 0;
    int64_t local = local_cap(cfg, m), first = ep->found ? ep->first_ts : m->now;
    for (size_t i = 0; (ep->found || local) && i < hs->n; i++) {
        struct hit *h = &hs->v[i];
        const struct cg_policy *p = h->policy;
        if (h->error || h->monitor || h->action != CG_ACT_DEFER)
            continue;
        int by_policy = ep->found && p->max_defer && m->now - ep->first_ts >= p->max_defer;
        int by_local = local && (m->now - first >= local || h->retry_after > first + local);
        if (!by_policy && !by_local)
            continue;
        char when[32], cap[32];
        struct cg_buf why = {0};
        cg_format_time(first, when, sizeof when);
        cg_format_duration(local, cap, sizeof cap);
        if (by_policy)
            cg_buf_printf(&why, "deferred since %s, longer than this policy allows (%s)", when,
                          h->reason);
        else if (m->now - first >= local)
            cg_buf_printf(&why, "a local submission deferred since %s, longer than "
                          "local_submission.max_defer (%s) allows (%s)", when, cap, h->reason);
        else
            cg_buf_printf(&why, "a local submission would wait until %s, longer than "
                          "local_submission.max_defer (%s) allows (%s)",
                          cg_format_time(h->retry_after, (char[32]){0}, 32), cap, h->reason);
        cg_reply_sanitize(h->reason, sizeof h->reason, why.s);
        cg_buf_free(&why);
        h->action = p->on_expiry;
        h->retry_after = 0;
        h->expired = 1;
        any = 1;
    }
    return any;
}

/* --- RCPT ------------------------------------------------------------------- */

/* the part of an envelope check the decision and its log share */
struct rcpt_work {
    struct hits hits;
    struct cg_ep ep;
    const char *cands[CG_MAX_CANDIDATES];
    size_t n_cands;
};

/* policy_named - the configured policy of that name, or NULL */
static const struct cg_policy *policy_named(const struct cg_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_policies; i++)
        if (strcmp(cfg->policies[i].name, name) == 0)
            return &cfg->policies[i];
    return NULL;
}

/* rcpt_identify - what the envelope says about recipient r: 0 nothing to
 * decide at RCPT, 1 decide, -1 store error */
static int rcpt_identify(const struct cg_config *cfg, cg_store *st, struct cg_msg *m,
                         struct cg_rcpt *r, struct rcpt_work *w)
{
    if (cg_ident_recipient(cfg, st, m, r) < 0)
        return -1;
    if (!r->addr || r->exempt || m->non_smtp)
        return 0;
    int settled;
    cg_ident_department(cfg, m, 0, &settled);
    if (!settled)
        return 0;
    w->n_cands = cg_ident_candidates(cfg, m, w->cands, CG_MAX_CANDIDATES);
    return 1;
}

/* rcpt_expired - an expiry left for this recipient's next attempt (see
 * eom_combine): refused here, for this recipient alone */
static int rcpt_expired(const struct cg_config *cfg, const struct cg_msg *m, struct rcpt_work *w,
                        struct cg_decision *d)
{
    const struct cg_policy *p = w->ep.found && w->ep.expired == CG_ACT_REJECT
                                    ? policy_named(cfg, w->ep.policy)
                                    : NULL;
    if (!p || (!p->max_defer && !local_cap(cfg, m)) || p->on_expiry != CG_ACT_REJECT)
        return 0;
    struct hit *h = hits_add(&w->hits);
    char when[32];
    cg_format_time(w->ep.first_ts, when, sizeof when);
    h->policy = p;
    h->action = CG_ACT_REJECT;
    h->expired = 1;
    snprintf(h->reason, sizeof h->reason, "deferred since %s, longer than this policy allows",
             when);
    d->verdict = CG_ACT_REJECT;
    d->policy = p;
    d->expired = 1;
    cg_strlcpy(d->reason, h->reason, sizeof d->reason);
    return 1;
}

/* rcpt_decide - evaluate what the envelope can settle (reads only) */
static int rcpt_decide(const struct cg_config *cfg, cg_store *st, struct cg_msg *m,
                       struct cg_rcpt *r, struct rcpt_work *w, struct cg_decision *d)
{
    int rc = rcpt_identify(cfg, st, m, r, w);
    if (rc <= 0)
        return rc;
    if (cg_episode_read(st, m, r, &w->ep) < 0)
        return -1;
    if (rcpt_expired(cfg, m, w, d))
        return 0;
    struct cg_query_ctx ctx = {.st = st, .m = m};
    struct cg_message_view v;
    view_fill(&v, cfg, m, r, CG_STAGE_RCPT, w->cands, w->n_cands, &ctx);
    int sure = CG_ACT_ACCEPT, possible = CG_ACT_ACCEPT;
    for (size_t i = 0; i < cfg->n_policies; i++) {
        const struct cg_policy *p = &cfg->policies[i];
        int role = rcpt_role(p, m->department, w->cands, w->n_cands);
        if (role == RCPT_SKIP_DEPT || role == RCPT_SKIP_CATEGORY) {
            trace(m, "rcpt", p, r, role == RCPT_SKIP_DEPT ? CG_TRACE_NOT_DEPT
                                                          : CG_TRACE_NOT_CATEGORY, NULL);
            continue;
        }
        if (role == RCPT_LATER) {
            trace(m, "rcpt", p, r, CG_TRACE_DEFERRED_TO_EOM, NULL);
            continue;
        }
        if (role == RCPT_MAYBE) {
            if (p->action > possible)
                possible = p->action;
            trace(m, "rcpt", p, r, CG_TRACE_DEFERRED_TO_EOM, NULL);
            continue;
        }
        struct cg_verdict vd;
        int prc = evaluate(cfg, m, r, p, &v, &vd);
        if (prc == CG_VIOLATION) {
            struct hit *h = hits_add(&w->hits);
            hit_set(h, p, &vd, 0);
            trace(m, "rcpt", p, r, CG_TRACE_VIOLATION, h);
            if (h->action > sure)
                sure = h->action;
        } else if (prc == CG_ERROR) {
            trace(m, "rcpt", p, r, CG_TRACE_ERROR, NULL);
            if (p->action > possible)
                possible = p->action; /* undecided here: leave it to end of message */
        } else {
            trace(m, "rcpt", p, r, CG_TRACE_PASS, NULL);
        }
    }
    cg_query_ctx_clear(&ctx);
    if (sure == CG_ACT_DEFER && expire(cfg, m, &w->ep, &w->hits)) {
        sure = CG_ACT_ACCEPT;
        for (size_t i = 0; i < w->hits.n; i++)
            if (w->hits.v[i].action > sure)
                sure = w->hits.v[i].action;
    }
    if (sure < CG_ACT_DEFER || sure < possible)
        return 0; /* the headers may still change it: decide at end of message */
    /* the strictest hit decides (the first of equals) */
    const struct hit *best = NULL;
    for (size_t i = 0; i < w->hits.n; i++)
        if (w->hits.v[i].action == sure && !best)
            best = &w->hits.v[i];
    d->verdict = sure;
    d->policy = best->policy;
    d->expired = best->expired;
    cg_strlcpy(d->reason, best->reason, sizeof d->reason);
    d->retry_after = best->retry_after;
    return 0;
}

/* episode_note - a decision row's note on its deferral episode: a local
 * submission's retry says which attempt it is (attempt > 1), the row that
 * ends an episode how many deferrals it had (closed > 0) */
static void episode_note(struct cg_buf *detail, int verdict, int64_t attempt, int64_t closed)
{
    const char *sep = detail->len ? "; " : "";
    if (attempt > 1)
        cg_buf_printf(detail, "%sattempt %lld of a local submission (its retries are logged "
                      "1 to %d, then at powers of two)", sep, (long long)attempt,
                      CG_EPISODE_ROWS_ALL);
    else if (closed > 0)
        cg_buf_printf(detail, "%s%s " CG_EPISODE_AFTER, sep,
                      verdict <= CG_ACT_TAG ? "let through" : verdict == CG_ACT_HOLD ? "held"
                                                                                      : "refused",
                      (long long)closed, closed == 1 ? "" : "s");
}

/* rcpt_log - the episode, syslog and decision log of a settled verdict */
static int rcpt_log(const struct cg_config *cfg, cg_store *st, struct cg_msg *m,
                    struct cg_rcpt *r, struct rcpt_work *w, struct cg_decision *d)
{
    cg_declog_line(cfg, m, d, "rcpt", r->addr, 1);
    char episode[24] = "";
    int rc;
    int64_t attempt = 0;
    if (d->verdict == CG_ACT_DEFER) {
        rc = cg_episode_defer(st, m, r, d, &w->ep, 0, episode);
        attempt = w->ep.attempts + 1;
        /* a local submission's retry: the episode counts it; a row only now and then */
        if (rc == 0 && attempt > 1 && is_local(cfg, m) &&
            !cg_episode_row_wanted(attempt, !d->policy || strcmp(w->ep.policy, d->policy->name)))
            return 0;
    } else {
        rc = w->ep.found ? cg_episode_end(st, m, r) : 0;
        cg_strlcpy(episode, w->ep.found ? w->ep.first_ref : "", sizeof episode);
    }
    if (rc < 0)
        return -1;
    /* before the headers the category is one of the candidates: log them
     * all ("promotional.offer|promotional.*") rather than guess */
    struct cg_buf cat = {0}, detail = {0};
    for (size_t i = 0; i < w->n_cands; i++)
        cg_buf_printf(&cat, "%s%s", i ? "|" : "", w->cands[i]);
    hits_summary(&w->hits, &detail);
    episode_note(&detail, d->verdict, attempt > 1 && is_local(cfg, m) ? attempt : 0,
                 d->verdict != CG_ACT_DEFER && w->ep.found ? w->ep.attempts : 0);
    rc = cg_declog_row(st, cfg, m, r, d, "rcpt", NULL, cat.s, detail.s, 0, episode);
    cg_buf_free(&cat);
    cg_buf_free(&detail);
    return rc;
}

int cg_engine_rcpt(const struct cg_config *cfg, cg_store *st, struct cg_msg *m,
                   struct cg_rcpt *r, struct cg_decision *d)
{
    memset(d, 0, sizeof *d);
    d->verdict = CG_ACT_ACCEPT;
    struct rcpt_work w;
    memset(&w, 0, sizeof w);
    int rc = rcpt_decide(cfg, st, m, r, &w, d);
    if (rc == 0 && d->verdict >= CG_ACT_DEFER) {
        cg_ref_new(d->ref, sizeof d->ref);
        cg_reply_fill(d, m->now);
        if (!m->dry)
            rc = rcpt_log(cfg, st, m, r, &w, d);
    }
    hits_free(&w.hits);
    return rc;
}

/* --- preparing a decision in the session's thread ----------------------------- */

void cg_engine_prepare(const struct cg_config *cfg, struct cg_msg *m, struct cg_rcpt *r,
                       int stage)
{
    if (!cfg->has_no_history)
        return;
    if (stage == CG_STAGE_RCPT) {
        struct rcpt_work w;
        memset(&w, 0, sizeof w);
        if (!r || rcpt_identify(cfg, NULL, m, r, &w) <= 0)
            return;
        for (size_t i = 0; i < cfg->n_policies; i++) {
            const struct cg_policy *p = &cfg->policies[i];
            if (p->no_history && rcpt_role(p, m->department, w.cands, w.n_cands) == RCPT_EVALUATE)
                pre_evaluate(cfg, m, r, p, CG_STAGE_RCPT, w.cands, w.n_cands);
        }
        return;
    }
    cg_ident_department(cfg, m, 1, NULL);
    cg_ident_category(cfg, m);
    const char *cands[2] = {m->category, NULL};
    for (size_t k = 0; k < m->n_rcpts; k++) {
        struct cg_rcpt *rr = &m->rcpts[k];
        if (rr->refused || cg_ident_recipient(cfg, NULL, m, rr) < 0 || !rr->addr || rr->exempt)
            continue;
        for (size_t i = 0; i < cfg->n_policies; i++) {
            const struct cg_policy *p = &cfg->policies[i];
            if (p->no_history && policy_for_dept(p, m->department) &&
                policy_for_category(p, m->category))
                pre_evaluate(cfg, m, rr, p, CG_STAGE_EOM, cands, 1);
        }
    }
}

/* --- what the policy set covers ------------------------------------------------- */

int cg_engine_coverage(const struct cg_config *cfg, void (*cb)(const char *line, void *arg),
                       void *arg)
{
    int covered = 0;
    for (size_t i = 0; i < cfg->n_policies && !covered; i++) {
        const struct cg_policy *p = &cfg->policies[i];
        covered = p->mode == CG_MODE_ENFORCE && policy_for_dept(p, "unknown") &&
                  policy_for_category(p, cfg->unknown_category);
    }
    if (covered)
        return 0;
    char line[512];
    snprintf(line, sizeof line,
             "warning: no enforced policy applies to mail of no department (department "
             "\"unknown\", category %s): a sender that matches no department is not limited; "
             "add \"unknown\" to a policy's applies_to.departments, or leave departments out",
             cfg->unknown_category);
    cb(line, arg);
    return 1;
}

/* --- what a decision will read ------------------------------------------------ */

/* keys_rcpt - one recipient's keys: its address (the customer map finds
 * its customer) and its deferral episode */
static void keys_rcpt(const struct cg_msg *m, const struct cg_rcpt *r, struct cg_store_batch *b)
{
    if (!r->addr || r->exempt)
        return;
    cg_store_batch_address(b, r->addr);
    cg_store_batch_episode(b, m->sender ? m->sender : "", r->addr);
}

void cg_engine_keys(const struct cg_config *cfg, struct cg_msg *m, struct cg_rcpt *r, int stage,
                    struct cg_store_batch *b)
{
    if (stage == CG_STAGE_RCPT) {
        if (!r || m->non_smtp)
            return;
        cg_ident_recipient(cfg, NULL, m, r);
        keys_rcpt(m, r, b);
        cg_ident_department(cfg, m, 0, NULL);
    } else {
        for (size_t k = 0; k < m->n_rcpts; k++) {
            struct cg_rcpt *rr = &m->rcpts[k];
            if (rr->refused)
                continue;
            if (!rr->looked_up)
                cg_ident_recipient(cfg, NULL, m, rr);
            keys_rcpt(m, rr, b);
        }
        cg_ident_department(cfg, m, 1, NULL);
    }
    cg_store_batch_department(b, m->department);
}

/* --- end of message ------------------------------------------------------------ */

/* The work of one end-of-message decision, in the order it is done. */
struct eom {
    struct cust *cs;         /* one per distinct customer */
    size_t n;
    char (*episode)[24];     /* per recipient: the episode its row belongs to */
    int *closed;             /* per recipient: an episode ended with this message */
    int64_t *attempt;        /* per recipient deferred: the episode's attempt */
    int *changed;            /* per recipient deferred: by another policy than before */
};

/* eom_identify - department (headers included), category, content digests */
static void eom_identify(const struct cg_config *cfg, struct cg_msg *m)
{
    cg_ident_department(cfg, m, 1, NULL);
    cg_ident_category(cfg, m);
    if (m->force_digest) {
        m->has_body = 1;
        cg_strlcpy(m->content_digest, m->force_digest, sizeof m->content_digest);
        cg_strlcpy(m->body_digest, m->force_digest, sizeof m->body_digest);
    } else {
        cg_msg_digests(m, m->body_digest, m->content_digest);
    }
}

/* customer_of - the entry of r's customer in e, or NULL */
static struct cust *customer_of(struct eom *e, const struct cg_rcpt *r)
{
    for (size_t k = 0; k < e->n; k++)
        if (strcmp(e->cs[k].r->customer, r->customer) == 0)
            return &e->cs[k];
    return NULL;
}

/* counted - is the recipient a customer of this message */
static int counted(const struct cg_rcpt *r)
{
    return r->addr && !r->exempt && !r->refused;
}

/* eom_customers - one entry per distinct customer among the recipients */
static int eom_customers(const struct cg_config *cfg, cg_store *st, struct cg_msg *m,
                         struct eom *e)
{
    e->cs = cg_xcalloc(m->n_rcpts ? m->n_rcpts : 1, sizeof *e->cs);
    e->episode = cg_xcalloc(m->n_rcpts ? m->n_rcpts : 1, sizeof *e->episode);
    e->closed = cg_xcalloc(m->n_rcpts ? m->n_rcpts : 1, sizeof *e->closed);
    e->attempt = cg_xcalloc(m->n_rcpts ? m->n_rcpts : 1, sizeof *e->attempt);
    e->changed = cg_xcalloc(m->n_rcpts ? m->n_rcpts : 1, sizeof *e->changed);
    for (size_t i = 0; i < m->n_rcpts; i++) {
        struct cg_rcpt *r = &m->rcpts[i];
        if (!r->looked_up && cg_ident_recipient(cfg, st, m, r) < 0)
            return -1;
        if (counted(r) && !customer_of(e, r))
            e->cs[e->n++].r = r;
    }
    return 0;
}

/* eom_decide_customer - every applicable policy for one customer */
static int eom_decide_customer(const struct cg_config *cfg, cg_store *st, struct cg_msg *m,
                               struct cust *c)
{
    const char *cands[2] = {m->category, NULL};
    struct cg_query_ctx ctx = {.st = st, .m = m};
    struct cg_message_view v;
    view_fill(&v, cfg, m, c->r, CG_STAGE_EOM, cands, 1, &ctx);
    c->verdict = CG_ACT_ACCEPT;
    c->decisive = -1;
    for (size_t i = 0; i < cfg->n_policies; i++) {
        const struct cg_policy *p = &cfg->policies[i];
        if (!policy_for_dept(p, m->department)) {
            trace(m, "eom", p, c->r, CG_TRACE_NOT_DEPT, NULL);
            continue;
        }
        if (!policy_for_category(p, m->category)) {
            trace(m, "eom", p, c->r, CG_TRACE_NOT_CATEGORY, NULL);
            continue;
        }
        struct cg_verdict vd;
        int rc = evaluate(cfg, m, c->r, p, &v, &vd);
        if (rc == CG_OK) {
            trace(m, "eom", p, c->r, CG_TRACE_PASS, NULL);
            continue;
        }
        if (rc == CG_ERROR) {
            trace(m, "eom", p, c->r, CG_TRACE_ERROR, NULL);
            int accept = cfg->on_error == CG_ONERR_ACCEPT && !p->fail_closed;
            cg_log(LOG_WARNING, "%s: policy %s (plugin %s) could not decide for this message; %s",
                   m->queue_id ? m->queue_id : "NOQUEUE", p->name, p->plugin_name,
                   accept ? "on_error=accept" : p->fail_closed ? "legal suppression: tempfail"
                                                              : "on_error=tempfail");
            if (accept) {
                c->errors_accepted++;
                continue;
            }
        }
        hit_set(hits_add(&c->hits), p, &vd, rc == CG_ERROR);
    }
    cg_query_ctx_clear(&ctx);
    /* max_defer: measured from the first deferral of this recipient */
    struct cg_ep ep;
    if (cg_episode_read(st, m, c->r, &ep) < 0)
        return -1;
    expire(cfg, m, &ep, &c->hits);
    for (size_t i = 0; i < c->hits.n; i++) {
        const struct hit *h = &c->hits.v[i];
        if (!h->error)
            trace(m, "eom", h->policy, c->r, CG_TRACE_VIOLATION, h);
        int act = h->error ? CG_ACT_DEFER : h->monitor ? CG_ACT_TAG : h->action;
        c->error |= h->error;
        if (act > c->verdict || (c->decisive < 0 && act == c->verdict)) {
            c->verdict = act;
            c->decisive = (int)i;
        }
    }
    return 0;
}

/* eom_combine - the message gets the strictest customer verdict. An
 * expiry (max_defer) that would refuse the whole message for one customer
 * while others are fine is kept for that recipient's next attempt instead,
 * where it is refused at RCPT alone; the message is deferred meanwhile.
 * (Mail submitted with sendmail(1) has no RCPT stage: there the expiry
 * refuses the message.) */
static void eom_combine(const struct cg_msg *m, struct eom *e, struct cg_decision *d)
{
    int best = -1;
    for (size_t k = 0; k < e->n && !m->non_smtp; k++) {
        struct cust *c = &e->cs[k];
        const struct hit *h = c->decisive >= 0 ? &c->hits.v[c->decisive] : NULL;
        if (h && h->expired && c->verdict == CG_ACT_REJECT && e->n > 1) {
            int others_refused = 1;
            for (size_t j = 0; j < e->n; j++)
                if (j != k && e->cs[j].verdict < CG_ACT_DEFER)
                    others_refused = 0;
            if (!others_refused) {
                c->expire_later = 1;
                c->verdict = CG_ACT_DEFER;
            }
        }
    }
    for (size_t k = 0; k < e->n; k++) {
        d->errors_accepted += e->cs[k].errors_accepted;
        if (k > 0 && e->cs[k].verdict != e->cs[0].verdict)
            d->mixed = 1;
        if (best < 0 || e->cs[k].verdict > e->cs[best].verdict)
            best = (int)k;
    }
    if (best < 0 || e->cs[best].decisive < 0)
        return;
    const struct cust *c = &e->cs[best];
    const struct hit *h = &c->hits.v[c->decisive];
    d->verdict = c->verdict;
    d->error = h->error;
    d->policy = h->policy;
    d->expired = h->expired && !c->expire_later;
    cg_strlcpy(d->reason, h->reason, sizeof d->reason);
    d->retry_after = c->expire_later ? 0 : h->retry_after;
}

/* name_listed - is `name` an element of the comma-separated `list` */
static int name_listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

/* eom_tag - the tag header: the policies of every customer's violations,
 * each named once (cg_reply_tag decides what is shown) */
static void eom_tag(const struct cg_config *cfg, struct cg_decision *d, const struct eom *e)
{
    struct cg_buf enf = {0}, mon = {0};
    for (size_t c = 0; c < e->n; c++)
        for (size_t i = 0; i < e->cs[c].hits.n; i++) {
            const struct hit *h = &e->cs[c].hits.v[i];
            struct cg_buf *l = h->monitor ? &mon : &enf;
            if (!h->error && !name_listed(l->s, h->policy->name))
                cg_buf_printf(l, "%s%s", l->len ? "," : "", h->policy->name);
        }
    cg_reply_tag(cfg, d, enf.s, mon.s);
    cg_buf_free(&enf);
    cg_buf_free(&mon);
}

/* eom_episodes - a deferral continues (or opens) each recipient's episode;
 * any other verdict ends it */
static int eom_episodes(const struct cg_config *cfg, cg_store *st, struct cg_msg *m,
                        struct eom *e, const struct cg_decision *d)
{
    (void)cfg;
    for (size_t i = 0; i < m->n_rcpts; i++) {
        struct cg_rcpt *r = &m->rcpts[i];
        if (!counted(r))
            continue;
        struct cg_ep ep;
        if (cg_episode_read(st, m, r, &ep) < 0)
            return -1;
        if (d->verdict == CG_ACT_DEFER && !d->error) {
            const struct cust *c = customer_of(e, r);
            if (cg_episode_defer(st, m, r, d, &ep, c && c->expire_later ? CG_ACT_REJECT : 0,
                              e->episode[i]) < 0)
                return -1;
            e->attempt[i] = ep.attempts + 1;
            e->changed[i] = !d->policy || strcmp(ep.policy, d->policy->name) != 0;
        } else if (ep.found && !d->error) {
            if (cg_episode_end(st, m, r) < 0)
                return -1;
            cg_strlcpy(e->episode[i], ep.first_ref, sizeof e->episode[i]);
            e->closed[i] = (int)ep.attempts;
        }
    }
    return 0;
}

/* eom_log_rows - the decision log: every recipient of a customer with any
 * hit, or all recipients when the message as a whole was not accepted; an
 * accepted recipient whose deferral episode this message ended; a refused
 * category claim on an accepted message */
static int eom_log_rows(const struct cg_config *cfg, cg_store *st, struct cg_msg *m,
                        struct eom *e, const struct cg_decision *d)
{
    int rc = 0;
    for (size_t i = 0; i < m->n_rcpts && rc == 0; i++) {
        struct cg_rcpt *r = &m->rcpts[i];
        const struct cust *c = counted(r) ? customer_of(e, r) : NULL;
        if (!c)
            continue;
        struct cg_buf detail = {0};
        hits_summary(&c->hits, &detail);
        if (d->mixed && c->verdict != d->verdict)
            cg_buf_printf(&detail, "%sthis recipient alone: %s; message verdict %s from another "
                          "recipient (strictest wins)", detail.len ? "; " : "",
                          cg_action_name(c->verdict), cg_action_name(d->verdict));
        if (c->expire_later)
            cg_buf_printf(&detail, "%smax_defer passed for this recipient: its next attempt is "
                          "refused at RCPT, for it alone", detail.len ? "; " : "");
        if (m->category_claim)
            cg_buf_printf(&detail, "%sclaimed category \"%s\" not allowed for department %s",
                          detail.len ? "; " : "", m->category_claim, m->department);
        int local_retry = e->attempt[i] > 1 && is_local(cfg, m);
        episode_note(&detail, d->verdict, local_retry ? e->attempt[i] : 0, e->closed[i]);
        int monitor_only = c->hits.n > 0 && d->verdict <= CG_ACT_TAG;
        for (size_t k = 0; k < c->hits.n && monitor_only; k++)
            if (!c->hits.v[k].monitor)
                monitor_only = 0;
        int wanted = d->verdict != CG_ACT_ACCEPT || c->hits.n > 0 || m->category_claim ||
                     e->closed[i];
        /* a local submission's retry: the episode counts it; a row only now and then */
        if (local_retry && !cg_episode_row_wanted(e->attempt[i], e->changed[i]))
            wanted = 0;
        if (wanted)
            rc = cg_declog_row(st, cfg, m, r, d, "eom", NULL, m->category, detail.s, monitor_only,
                         e->episode[i]);
        cg_buf_free(&detail);
    }
    return rc;
}

/* eom_contacts - one contact per customer, only for mail let through now */
static int eom_contacts(const struct cg_config *cfg, cg_store *st, const struct cg_msg *m,
                        const struct eom *e)
{
    for (size_t k = 0; k < e->n; k++) {
        struct cg_contact_row c;
        cg_contact_mail(&c, m->now, e->cs[k].r->customer, e->cs[k].r->addr, m->department,
                        m->category, m->message_id, m->queue_id,
                        m->has_body ? m->content_digest : NULL);
        c.relay = cfg->relay;
        if (cg_store_contact_add(st, &c) < 0) {
            cg_log(LOG_ERR, "%s: store: cannot record the contact: %s",
                   m->queue_id ? m->queue_id : "NOQUEUE", cg_store_errmsg(st));
            return -1;
        }
    }
    return 0;
}

static void eom_free(struct eom *e)
{
    for (size_t k = 0; k < e->n; k++)
        hits_free(&e->cs[k].hits);
    free(e->cs);
    free(e->episode);
    free(e->closed);
    free(e->attempt);
    free(e->changed);
}

int cg_engine_eom(const struct cg_config *cfg, cg_store *st, struct cg_msg *m, int record,
                  struct cg_decision *d)
{
    memset(d, 0, sizeof *d);
    d->verdict = CG_ACT_ACCEPT;
    eom_identify(cfg, m);
    struct eom e;
    memset(&e, 0, sizeof e);
    int rc = eom_customers(cfg, st, m, &e);
    for (size_t k = 0; k < e.n && rc == 0; k++)
        rc = eom_decide_customer(cfg, st, m, &e.cs[k]);
    if (rc < 0) {
        eom_free(&e);
        return -1;
    }
    eom_combine(m, &e, d);
    cg_ref_new(d->ref, sizeof d->ref);
    cg_reply_fill(d, m->now);
    eom_tag(cfg, d, &e);
    if (!m->dry) {
        cg_declog_line(cfg, m, d, "eom", NULL, e.n);
        rc = eom_episodes(cfg, st, m, &e, d);
        if (rc == 0)
            rc = eom_log_rows(cfg, st, m, &e, d);
        if (rc == 0 && record && (d->verdict == CG_ACT_ACCEPT || d->verdict == CG_ACT_TAG))
            rc = eom_contacts(cfg, st, m, &e);
    }
    eom_free(&e);
    return rc;
}
