/*
 * cg_engine.c - the policy engine: run the applicable policies for each
 * customer of a message, combine their verdicts, build the SMTP reply and
 * tag header, write the decision log and record contacts.
 *
 * Verdict order (SPEC): reject > defer > hold > tag > accept. A violation
 * of a policy in monitor mode only tags and logs. Each customer counts
 * once per message, whichever of their addresses were used; exempt and
 * malformed recipients are never evaluated or counted.
 *
 * Errors: a plugin that returns CG_ERROR, or a host query that failed,
 * makes that policy undecided. With on_error=tempfail the customer's
 * verdict becomes a temporary failure (never a reject); with
 * on_error=accept the policy is skipped with a warning. A store error
 * while logging or recording is returned to the caller, which rolls the
 * whole step back and applies on_error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_engine.h"
#include "cg_host.h"
#include "cg_ident.h"
#include "cg_log.h"
#include "cg_plugin.h"
#include "cg_util.h"

#define CG_DEFAULT_RETRY_SECS 3600
#define CG_MAX_CANDIDATES 34
#define CG_CUST_HITS 8

/* per-customer result at end of message */
struct cust {
    struct cg_rcpt *r;        /* first recipient of this customer */
    int verdict;
    int error;
    struct cg_hit hits[CG_CUST_HITS];
    size_t n_hits;
    int decisive;             /* index into hits, -1 none */
    char detail[512];
};

/* cg_action_rank - severity; the enum is already ordered */
#define RANK(a) (a)

/* sanitize - copy a reason into a reply-safe form: printable ASCII, no
 * '%' (libmilter treats it as a format character), no ';' confusion */
static void sanitize(char *dst, size_t len, const char *src)
{
    size_t j = 0;
    for (size_t i = 0; src && src[i] && j + 1 < len; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[j++] = (c >= 0x20 && c < 0x7f && c != '%') ? (char)c : '?';
    }
    if (len)
        dst[j] = 0;
}

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
    v->customer = r->customer;
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

/* evaluate - run one policy; returns CG_OK, CG_VIOLATION or CG_ERROR */
static int evaluate(const struct cg_policy *p, const struct cg_message_view *v,
                    struct cg_verdict *vd)
{
    memset(vd, 0, sizeof *vd);
    vd->struct_size = sizeof *vd;
    if (!p->so || !p->instance)
        return CG_OK; /* loaded without plugins (validation only) */
    v->ctx->failed = 0;
    int rc = p->so->desc->evaluate(p->instance, v, vd);
    if (v->ctx->failed)
        return CG_ERROR;
    if (rc != CG_OK && rc != CG_VIOLATION)
        return CG_ERROR;
    return rc;
}

/* hit_set - fill a hit from a plugin verdict */
static void hit_set(struct cg_hit *h, const struct cg_policy *p, const struct cg_verdict *vd,
                    int error)
{
    memset(h, 0, sizeof *h);
    h->policy = p;
    /* a plugin may lower the action for one verdict, never raise it above
     * the configured one (which is what RCPT-stage reasoning relies on) */
    h->action = vd->action >= CG_ACTION_TAG && vd->action < p->action ? vd->action : p->action;
    h->monitor = p->mode == CG_MODE_MONITOR;
    h->error = error;
    sanitize(h->reason, sizeof h->reason,
             error ? "could not be checked" : (vd->reason[0] ? vd->reason : "policy violated"));
    h->retry_after = vd->retry_after;
}

/* trace - tell a dry run's observer how one policy decided */
static void trace(const struct cg_msg *m, const char *stage, const struct cg_policy *p,
                  const struct cg_rcpt *r, int outcome, const struct cg_hit *h,
                  const struct cg_verdict *vd)
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
        .detail = vd && vd->detail[0] ? vd->detail : NULL,
        .retry_after = h ? h->retry_after : 0,
    };
    m->trace->fn(m->trace->arg, &e);
}

/* reply_fill - SMTP reply, tag header value for a decided verdict */
static void reply_fill(struct cg_decision *d, int64_t now)
{
    char when[32];
    const char *pol = d->policy ? d->policy->name : "contactgate";
    d->smtp_code[0] = d->smtp_xcode[0] = d->smtp_text[0] = 0;
    if (d->error && d->verdict == CG_ACT_DEFER) {
        strcpy(d->smtp_code, "451");
        strcpy(d->smtp_xcode, "4.3.0");
        snprintf(d->smtp_text, sizeof d->smtp_text,
                 "contact strategy: temporary failure, the contact history could not be "
                 "checked; ref %s", d->ref);
        return;
    }
    if (d->verdict == CG_ACT_DEFER) {
        if (d->retry_after <= now)
            d->retry_after = now + CG_DEFAULT_RETRY_SECS;
        strcpy(d->smtp_code, "451");
        strcpy(d->smtp_xcode, "4.7.1");
        snprintf(d->smtp_text, sizeof d->smtp_text, "contact strategy: %s: %s; retry after %s; ref %s",
                 pol, d->reason, cg_format_time(d->retry_after, when, sizeof when), d->ref);
    } else if (d->verdict == CG_ACT_REJECT) {
        strcpy(d->smtp_code, "550");
        strcpy(d->smtp_xcode, "5.7.1");
        snprintf(d->smtp_text, sizeof d->smtp_text, "contact strategy: %s: %s; ref %s", pol,
                 d->reason, d->ref);
    }
}

/* tag_fill - X-Contact-Gate value: verdict, policy names, reference only */
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

static void tag_fill(struct cg_decision *d, const struct cust *cs, size_t n)
{
    struct cg_buf enf = {0}, mon = {0};
    for (size_t c = 0; c < n; c++)
        for (size_t i = 0; i < cs[c].n_hits; i++) {
            const struct cg_hit *h = &cs[c].hits[i];
            if (h->error)
                continue;
            struct cg_buf *b = h->monitor ? &mon : &enf;
            if (name_listed(b->s, h->policy->name))
                continue; /* the same policy for another customer */
            cg_buf_printf(b, "%s%s", b->len ? "," : "", h->policy->name);
        }
    d->tag_value[0] = 0;
    if (d->verdict == CG_ACT_TAG || d->verdict == CG_ACT_HOLD) {
        int off = snprintf(d->tag_value, sizeof d->tag_value, "verdict=%s",
                           cg_action_name(d->verdict));
        if (enf.len && off < (int)sizeof d->tag_value)
            off += snprintf(d->tag_value + off, sizeof d->tag_value - off, "; policies=%s", enf.s);
        if (mon.len && off < (int)sizeof d->tag_value)
            off += snprintf(d->tag_value + off, sizeof d->tag_value - off, "; monitor=%s", mon.s);
        if (off < (int)sizeof d->tag_value)
            snprintf(d->tag_value + off, sizeof d->tag_value - off, "; ref=%s", d->ref);
    }
    cg_buf_free(&enf);
    cg_buf_free(&mon);
}

/* log_row - one decision log row for one recipient */
static int log_row(cg_store *st, const struct cg_config *cfg, const struct cg_msg *m,
                   const struct cg_rcpt *r, const struct cg_decision *d, const char *stage,
                   const char *category, const char *detail, int monitor)
{
    struct cg_decision_row row = {
        .ts = m->now,
        .ref = d->ref,
        .stage = stage,
        .verdict = d->error && d->verdict == CG_ACT_DEFER ? "tempfail" : cg_action_name(d->verdict),
        .policy = d->policy ? d->policy->name : NULL,
        .reason = d->reason[0] ? d->reason : NULL,
        .detail = detail && *detail ? detail : NULL,
        .department = m->department,
        .sender = m->sender,
        .recipient = r->addr ? r->addr : r->raw,
        .customer = r->customer,
        .category = category,
        .message_id = m->message_id,
        .queue_id = m->queue_id,
        .config_version = cfg->version,
        .retry_after = d->verdict == CG_ACT_DEFER ? d->retry_after : 0,
        .monitor = monitor,
    };
    if (cg_store_decision_add(st, &row) < 0) {
        cg_log(LOG_ERR, "%s: store: cannot write the decision log: %s",
               m->queue_id ? m->queue_id : "NOQUEUE", cg_store_errmsg(st));
        return -1;
    }
    return 0;
}

/* syslog_decision - the one key=value line per decision */
static void syslog_decision(const struct cg_config *cfg, const struct cg_msg *m,
                            const struct cg_decision *d, const char *stage, const char *rcpt,
                            size_t n_customers)
{
    char when[32] = "";
    if (d->verdict == CG_ACT_DEFER && !d->error)
        cg_format_time(d->retry_after, when, sizeof when);
    cg_log(LOG_INFO,
           "%s: ref=%s stage=%s verdict=%s%s%s%s%s%s dept=%s category=%s%s%s from=<%s> %s%s%s "
           "customers=%zu%s%s%s config=%s",
           m->queue_id ? m->queue_id : "NOQUEUE", d->ref, stage,
           d->error && d->verdict == CG_ACT_DEFER ? "tempfail" : cg_action_name(d->verdict),
           d->policy ? " policy=" : "", d->policy ? d->policy->name : "",
           d->reason[0] ? " reason=\"" : "", d->reason[0] ? d->reason : "",
           d->reason[0] ? "\"" : "", m->department, m->category ? m->category : "-",
           m->category_claim ? " refused_claim=" : "", m->category_claim ? m->category_claim : "",
           m->sender ? m->sender : "", rcpt ? "rcpt=<" : "", rcpt ? rcpt : "", rcpt ? ">" : "",
           n_customers, when[0] ? " retry_after=" : "", when, d->mixed ? " mixed=yes" : "",
           cfg->version);
}

/* log_decision - the syslog line now, or left in d for the session's
 * thread (m->log_later) */
static void log_decision(const struct cg_config *cfg, const struct cg_msg *m,
                         struct cg_decision *d, const char *stage, const char *rcpt,
                         size_t n_customers)
{
    if (m->quiet)
        return;
    if (m->log_later) {
        d->log_stage = stage;
        d->log_rcpt = rcpt;
        d->log_customers = n_customers;
        return;
    }
    syslog_decision(cfg, m, d, stage, rcpt, n_customers);
}

void cg_engine_syslog(const struct cg_config *cfg, const struct cg_msg *m,
                      struct cg_decision *d)
{
    if (!d->log_stage)
        return;
    syslog_decision(cfg, m, d, d->log_stage, d->log_rcpt, d->log_customers);
    d->log_stage = NULL;
}

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
    sanitize(d->reason, sizeof d->reason, why);
    /* with a legal suppression configured, nothing unchecked goes out */
    int accept = cfg->on_error == CG_ONERR_ACCEPT && !cfg->has_fail_closed;
    d->verdict = accept ? CG_ACT_ACCEPT : CG_ACT_DEFER;
    reply_fill(d, cg_now());
}

/* cg_engine_rcpt_decide - envelope-only decision for one recipient, read
 * only (see cg_engine.h) */
int cg_engine_rcpt_decide(const struct cg_config *cfg, cg_store *st, struct cg_msg *m,
                          struct cg_rcpt *r, struct cg_decision *d)
{
    memset(d, 0, sizeof *d);
    d->verdict = CG_ACT_ACCEPT;
    if (cg_ident_recipient(cfg, st, r) < 0)
        return -1;
    if (!r->addr || r->exempt || m->non_smtp)
        return 0;
    int settled;
    cg_ident_department(cfg, m, 0, &settled);
    if (!settled)
        return 0;
    const char *cands[CG_MAX_CANDIDATES];
    size_t n_cands = cg_ident_candidates(cfg, m, cands, CG_MAX_CANDIDATES);
    struct cg_query_ctx ctx = {.st = st, .m = m};
    struct cg_message_view v;
    view_fill(&v, cfg, m, r, CG_STAGE_RCPT, cands, n_cands, &ctx);

    int sure = CG_ACT_ACCEPT, possible = CG_ACT_ACCEPT;
    struct cg_hit best;
    memset(&best, 0, sizeof best);
    for (size_t i = 0; i < cfg->n_policies; i++) {
        const struct cg_policy *p = &cfg->policies[i];
        if (!policy_for_dept(p, m->department)) {
            trace(m, "rcpt", p, r, CG_TRACE_NOT_DEPT, NULL, NULL);
            continue;
        }
        if (!policy_cover(p, cands, n_cands, 0)) {
            trace(m, "rcpt", p, r, CG_TRACE_NOT_CATEGORY, NULL, NULL);
            continue;
        }
        if (p->mode == CG_MODE_MONITOR) {
            trace(m, "rcpt", p, r, CG_TRACE_DEFERRED_TO_EOM, NULL, NULL);
            continue;
        }
        /* tag and hold can never out-rank a defer decided here */
        if (p->action < CG_ACT_DEFER || RANK(p->action) <= RANK(sure)) {
            trace(m, "rcpt", p, r,
                  p->action < CG_ACT_DEFER ? CG_TRACE_DEFERRED_TO_EOM : CG_TRACE_NOT_NEEDED, NULL,
                  NULL);
            continue;
        }
        /* a policy that covers only some candidate categories depends on
         * the headers: it could still fire at end of message; so does one
         * with max_defer, which tracks a deferral by Message-ID */
        if (!policy_cover(p, cands, n_cands, 1) || p->max_defer) {
            if (RANK(p->action) > RANK(possible))
                possible = p->action;
            trace(m, "rcpt", p, r, CG_TRACE_DEFERRED_TO_EOM, NULL, NULL);
            continue;
        }
        struct cg_verdict vd;
        int rc = evaluate(p, &v, &vd);
        if (rc == CG_VIOLATION) {
            struct cg_hit h;
            hit_set(&h, p, &vd, 0);
            trace(m, "rcpt", p, r, CG_TRACE_VIOLATION, &h, &vd);
            if (RANK(h.action) > RANK(sure)) {
                sure = h.action;
                best = h;
            }
        } else if (rc == CG_ERROR) {
            trace(m, "rcpt", p, r, CG_TRACE_ERROR, NULL, NULL);
            if (RANK(p->action) > RANK(possible))
                possible = p->action; /* undecided here: leave it to end of message */
        } else {
            trace(m, "rcpt", p, r, CG_TRACE_PASS, NULL, NULL);
        }
    }
    cg_query_ctx_clear(&ctx);
    if (sure < CG_ACT_DEFER || RANK(sure) < RANK(possible))
        return 0; /* the headers may still change it: decide at end of message */
    d->verdict = sure;
    d->policy = best.policy;
    cg_strlcpy(d->reason, best.reason, sizeof d->reason);
    d->retry_after = best.retry_after;
    d->hits[0] = best;
    d->n_hits = 1;
    cg_ref_new(d->ref, sizeof d->ref);
    reply_fill(d, m->now);
    return 0;
}

/* cg_engine_rcpt_log - syslog and decision log of a settled RCPT verdict */
int cg_engine_rcpt_log(const struct cg_config *cfg, cg_store *st, struct cg_msg *m,
                       struct cg_rcpt *r, struct cg_decision *d)
{
    if (m->dry || d->verdict < CG_ACT_DEFER)
        return 0;
    log_decision(cfg, m, d, "rcpt", r->addr, 1);
    /* before the headers the category is one of the candidates: log them
     * all ("promotional.offer|promotional.*") rather than guess */
    const char *cands[CG_MAX_CANDIDATES];
    size_t n_cands = cg_ident_candidates(cfg, m, cands, CG_MAX_CANDIDATES);
    struct cg_buf cat = {0};
    for (size_t i = 0; i < n_cands; i++)
        cg_buf_printf(&cat, "%s%s", i ? "|" : "", cands[i]);
    int rc = log_row(st, cfg, m, r, d, "rcpt", cat.s, NULL, 0);
    cg_buf_free(&cat);
    return rc;
}

/* cg_engine_rcpt - decide and, when settled, log */
int cg_engine_rcpt(const struct cg_config *cfg, cg_store *st, struct cg_msg *m,
                   struct cg_rcpt *r, struct cg_decision *d)
{
    if (cg_engine_rcpt_decide(cfg, st, m, r, d) < 0)
        return -1;
    return cg_engine_rcpt_log(cfg, st, m, r, d);
}

/* expire_deferral - a message deferred for longer than the policy's
 * max_defer (from its first deferral, by Message-ID and recipient) gets
 * the policy's on_expiry verdict instead of another deferral */
static int expire_deferral(cg_store *st, const struct cg_msg *m, const struct cg_rcpt *r,
                           const struct cg_policy *p, struct cg_hit *h)
{
    if (!m->message_id || !r->addr)
        return 0; /* nothing to track it by: it stays a deferral */
    int64_t first;
    int found = cg_store_first_deferral(st, m->message_id, r->addr, &first);
    if (found < 0) {
        cg_log(LOG_ERR, "store: deferral lookup failed: %s", cg_store_errmsg(st));
        return -1;
    }
    if (!found || m->now - first < p->max_defer)
        return 0;
    char when[32], why[sizeof h->reason];
    cg_format_time(first, when, sizeof when);
    snprintf(why, sizeof why, "deferred since %s, longer than this policy allows (%s)", when,
             h->reason);
    sanitize(h->reason, sizeof h->reason, why);
    h->action = p->on_expiry;
    h->retry_after = 0;
    return 0;
}

/* decide_customer - evaluate every applicable policy for one customer */
static void decide_customer(const struct cg_config *cfg, cg_store *st, struct cg_msg *m,
                            struct cust *c)
{
    const char *cands[2] = {m->category, NULL};
    struct cg_query_ctx ctx = {.st = st, .m = m};
    struct cg_message_view v;
    view_fill(&v, cfg, m, c->r, CG_STAGE_EOM, cands, 1, &ctx);
    c->verdict = CG_ACT_ACCEPT;
    c->decisive = -1;
    size_t dlen = 0;
    for (size_t i = 0; i < cfg->n_policies; i++) {
        const struct cg_policy *p = &cfg->policies[i];
        if (!policy_for_dept(p, m->department)) {
            trace(m, "eom", p, c->r, CG_TRACE_NOT_DEPT, NULL, NULL);
            continue;
        }
        if (!policy_for_category(p, m->category)) {
            trace(m, "eom", p, c->r, CG_TRACE_NOT_CATEGORY, NULL, NULL);
            continue;
        }
        struct cg_verdict vd;
        int rc = evaluate(p, &v, &vd);
        if (rc == CG_OK) {
            trace(m, "eom", p, c->r, CG_TRACE_PASS, NULL, NULL);
            continue;
        }
        int error = rc == CG_ERROR;
        if (error)
            trace(m, "eom", p, c->r, CG_TRACE_ERROR, NULL, NULL);
        if (error) {
            int accept = cfg->on_error == CG_ONERR_ACCEPT && !p->fail_closed;
            cg_log(LOG_WARNING, "%s: policy %s (plugin %s) could not decide for this message; %s",
                   m->queue_id ? m->queue_id : "NOQUEUE", p->name, p->plugin_name,
                   accept ? "on_error=accept" : p->fail_closed ? "legal suppression: tempfail"
                                                              : "on_error=tempfail");
            if (accept)
                continue;
        }
        if (c->n_hits < CG_CUST_HITS)
            hit_set(&c->hits[c->n_hits++], p, &vd, error);
        struct cg_hit *h = &c->hits[c->n_hits - 1];
        if (!error && !h->monitor && h->action == CG_ACT_DEFER && p->max_defer &&
            expire_deferral(st, m, c->r, p, h) < 0)
            error = h->error = 1;
        if (!error)
            trace(m, "eom", p, c->r, CG_TRACE_VIOLATION, h, &vd);
        if (vd.detail[0] && dlen < sizeof c->detail - 1)
            dlen += (size_t)snprintf(c->detail + dlen, sizeof c->detail - dlen, "%s%s: %s",
                                     dlen ? "; " : "", p->name, vd.detail);
        int act = error ? CG_ACT_DEFER : (h->monitor ? CG_ACT_TAG : h->action);
        if (error)
            c->error = 1;
        if (RANK(act) > RANK(c->verdict) ||
            (c->decisive < 0 && act == c->verdict)) {
            c->verdict = act;
            c->decisive = (int)(c->n_hits - 1);
        }
    }
    cg_query_ctx_clear(&ctx);
}

/* hits_summary - "pol=defer:reason, pol2=tag(monitor):reason" for the log */
static void hits_summary(const struct cust *c, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = 0;
    for (size_t i = 0; i < c->n_hits && off + 1 < len; i++) {
        const struct cg_hit *h = &c->hits[i];
        off += (size_t)snprintf(buf + off, len - off, "%s%s=%s%s:%s", i ? ", " : "",
                                h->policy->name, h->error ? "error" : cg_action_name(h->action),
                                h->monitor ? "(monitor)" : "", h->reason);
    }
    if (c->detail[0] && off + 1 < len)
        snprintf(buf + off, len - off, " [%s]", c->detail);
}

/* cg_engine_eom - decide the whole message; see cg_engine.h */
int cg_engine_eom(const struct cg_config *cfg, cg_store *st, struct cg_msg *m, int record,
                  struct cg_decision *d)
{
    memset(d, 0, sizeof *d);
    d->verdict = CG_ACT_ACCEPT;
    cg_ident_department(cfg, m, 1, NULL);
    cg_ident_category(cfg, m);
    if (m->force_digest) {
        m->has_body = 1;
        cg_strlcpy(m->content_digest, m->force_digest, sizeof m->content_digest);
        cg_strlcpy(m->body_digest, m->force_digest, sizeof m->body_digest);
    } else {
        cg_msg_digests(m, m->body_digest, m->content_digest);
    }

    /* one entry per distinct customer */
    struct cust *cs = cg_xcalloc(m->n_rcpts ? m->n_rcpts : 1, sizeof *cs);
    size_t n = 0;
    for (size_t i = 0; i < m->n_rcpts; i++) {
        struct cg_rcpt *r = &m->rcpts[i];
        if (!r->customer && cg_ident_recipient(cfg, st, r) < 0) {
            free(cs);
            return -1;
        }
        if (!r->addr || r->exempt || r->refused)
            continue;
        size_t k;
        for (k = 0; k < n; k++)
            if (strcmp(cs[k].r->customer, r->customer) == 0)
                break;
        if (k == n)
            cs[n++].r = r;
    }
    for (size_t k = 0; k < n; k++)
        decide_customer(cfg, st, m, &cs[k]);

    /* the message gets the strictest customer verdict */
    int best = -1;
    for (size_t k = 0; k < n; k++) {
        if (k > 0 && cs[k].verdict != cs[0].verdict)
            d->mixed = 1;
        if (best < 0 || RANK(cs[k].verdict) > RANK(cs[best].verdict))
            best = (int)k;
    }
    cg_ref_new(d->ref, sizeof d->ref);
    if (best >= 0 && cs[best].decisive >= 0) {
        const struct cust *c = &cs[best];
        const struct cg_hit *h = &c->hits[c->decisive];
        d->verdict = c->verdict;
        d->error = h->error;
        d->policy = h->policy;
        cg_strlcpy(d->reason, h->reason, sizeof d->reason);
        d->retry_after = h->retry_after;
        for (size_t i = 0; i < c->n_hits && d->n_hits < CG_MAX_HITS; i++)
            d->hits[d->n_hits++] = c->hits[i];
    }
    reply_fill(d, m->now);
    tag_fill(d, cs, n);
    if (m->dry) {
        free(cs);
        return 0;
    }
    log_decision(cfg, m, d, "eom", n == 1 ? cs[0].r->addr : NULL, n);

    int rc = 0;
    /* decision log: every recipient of a customer with any hit, or all
     * recipients when the message as a whole was not accepted */
    for (size_t i = 0; i < m->n_rcpts && rc == 0; i++) {
        struct cg_rcpt *r = &m->rcpts[i];
        if (!r->addr || r->exempt || r->refused)
            continue;
        const struct cust *c = NULL;
        for (size_t k = 0; k < n; k++)
            if (strcmp(cs[k].r->customer, r->customer) == 0)
                c = &cs[k];
        if (!c || (d->verdict == CG_ACT_ACCEPT && c->n_hits == 0))
            continue;
        char detail[1024];
        hits_summary(c, detail, sizeof detail);
        if (d->mixed && c->verdict != d->verdict) {
            size_t off = strlen(detail);
            snprintf(detail + off, sizeof detail - off,
                     "%sthis recipient alone: %s; message verdict %s from another recipient "
                     "(strictest wins)", off ? "; " : "", cg_action_name(c->verdict),
                     cg_action_name(d->verdict));
        }
        int monitor_only = c->n_hits > 0 && d->verdict <= CG_ACT_TAG;
        for (size_t k = 0; k < c->n_hits && monitor_only; k++)
            if (!c->hits[k].monitor)
                monitor_only = 0;
        if (m->category_claim) {
            size_t off = strlen(detail);
            snprintf(detail + off, sizeof detail - off,
                     "%sclaimed category \"%s\" not allowed for department %s", off ? "; " : "",
                     m->category_claim, m->department);
        }
        rc = log_row(st, cfg, m, r, d, "eom", m->category, detail, monitor_only);
    }
    /* a refused category claim on an accepted message is logged too */
    if (rc == 0 && m->category_claim && d->verdict == CG_ACT_ACCEPT && n > 0) {
        char detail[256];
        snprintf(detail, sizeof detail, "claimed category \"%s\" not allowed for department %s",
                 m->category_claim, m->department);
        for (size_t k = 0; k < n && rc == 0; k++)
            if (cs[k].n_hits == 0)
                rc = log_row(st, cfg, m, cs[k].r, d, "eom", m->category, detail, 0);
    }
    /* contacts: one per customer, only for mail that is let through now */
    if (rc == 0 && record && (d->verdict == CG_ACT_ACCEPT || d->verdict == CG_ACT_TAG)) {
        for (size_t k = 0; k < n && rc == 0; k++) {
            struct cg_contact_row c = {
                .ts = m->now,
                .customer = cs[k].r->customer,
                .address = cs[k].r->addr,
                .department = m->department,
                .category = m->category,
                .channel = "email",
                .weight = 1.0,
                .message_id = m->message_id,
                .queue_id = m->queue_id,
                .digest = m->has_body ? m->content_digest : NULL,
            };
            if (cg_store_contact_add(st, &c) < 0) {
                cg_log(LOG_ERR, "%s: store: cannot record the contact: %s",
                       m->queue_id ? m->queue_id : "NOQUEUE", cg_store_errmsg(st));
                rc = -1;
            }
        }
    }
    free(cs);
    return rc;
}
