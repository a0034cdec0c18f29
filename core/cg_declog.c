/*
 * cg_declog.c - the decision log rows and the syslog line of a decision
 * (see cg_declog.h).
 */
#include <stdio.h>
#include <string.h>

#include "cg_declog.h"
#include "cg_log.h"
#include "cg_util.h"

/* cg_declog_row - see cg_declog.h */
int cg_declog_row(cg_store *st, const struct cg_config *cfg, const struct cg_msg *m,
                  const struct cg_rcpt *r, const struct cg_decision *d, const char *stage,
                  const char *verdict, const char *category, const char *detail, int monitor,
                  const char *episode)
{
    struct cg_decision_row row = {
        .ts = m->now,
        .ref = d->ref,
        .stage = stage,
        .verdict = verdict ? verdict
                   : d->error && d->verdict == CG_ACT_DEFER ? "tempfail"
                                                            : cg_action_name(d->verdict),
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
        .episode = episode && *episode ? episode : NULL,
        .relay = cfg->relay,
    };
    if (cg_store_decision_add(st, &row) < 0) {
        cg_log(LOG_ERR, "%s: store: cannot write the decision log: %s",
               m->queue_id ? m->queue_id : "NOQUEUE", cg_store_errmsg(st));
        return -1;
    }
    return 0;
}

/* rcpt_list - "<a@x>,<b@y>" of the message's recipients still in it, at
 * most CG_LOG_RCPTS of them ("... +N more") */
static void rcpt_list(const struct cg_msg *m, struct cg_buf *b)
{
    size_t shown = 0, more = 0;
    for (size_t i = 0; i < m->n_rcpts; i++) {
        const struct cg_rcpt *r = &m->rcpts[i];
        if (r->refused)
            continue;
        if (shown == CG_LOG_RCPTS) {
            more++;
            continue;
        }
        cg_buf_printf(b, "%s<%s>", shown++ ? "," : "", r->addr ? r->addr : r->raw);
    }
    if (more)
        cg_buf_printf(b, ",+%zu more", more);
}

/* syslog_decision - the one key=value line per decision */
static void syslog_decision(const struct cg_config *cfg, const struct cg_msg *m,
                            const struct cg_decision *d, const char *stage, const char *rcpt,
                            size_t n_customers)
{
    char when[32] = "";
    if (d->verdict == CG_ACT_DEFER && !d->error)
        cg_format_time(d->retry_after, when, sizeof when);
    struct cg_buf rcpts = {0};
    if (rcpt)
        cg_buf_printf(&rcpts, "<%s>", rcpt);
    else
        rcpt_list(m, &rcpts);
    cg_log(LOG_INFO,
           "%s: ref=%s stage=%s verdict=%s%s%s%s%s%s dept=%s category=%s%s%s from=<%s> rcpt=%s "
           "customers=%zu%s%s%s config=%s",
           m->queue_id ? m->queue_id : "NOQUEUE", d->ref, stage,
           d->error && d->verdict == CG_ACT_DEFER ? "tempfail" : cg_action_name(d->verdict),
           d->policy ? " policy=" : "", d->policy ? d->policy->name : "",
           d->reason[0] ? " reason=\"" : "", d->reason[0] ? d->reason : "",
           d->reason[0] ? "\"" : "", m->department, m->category ? m->category : "-",
           m->category_claim ? " refused_claim=" : "", m->category_claim ? m->category_claim : "",
           m->sender ? m->sender : "", rcpts.s ? rcpts.s : "", n_customers,
           when[0] ? " retry_after=" : "", when, d->mixed ? " mixed=yes" : "", cfg->version);
    cg_buf_free(&rcpts);
}

/* cg_declog_line - see cg_declog.h */
void cg_declog_line(const struct cg_config *cfg, const struct cg_msg *m, struct cg_decision *d,
                    const char *stage, const char *rcpt, size_t n_customers)
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

/* cg_engine_syslog - see cg_engine.h */
void cg_engine_syslog(const struct cg_config *cfg, const struct cg_msg *m,
                      struct cg_decision *d)
{
    if (!d->log_stage)
        return;
    syslog_decision(cfg, m, d, d->log_stage, d->log_rcpt, d->log_customers);
    d->log_stage = NULL;
}
