/*
 * consent.c - contactgate policy plugin: legal suppression. Blocks mail to
 * customers who opted out of its category (or who are on the global
 * suppression list), and mail of listed categories that carries no
 * List-Unsubscribe header.
 *
 * params:
 *   optouts                     check opt-outs (bool, default true)
 *   require_unsubscribe         category patterns whose mail must carry a
 *                               List-Unsubscribe header (string or list;
 *                               default none)
 *   missing_unsubscribe_action  "tag", "reject" or "policy" (default
 *                               "policy"): the action when the header is
 *                               missing; the policy's action is the ceiling
 *
 * Opt-outs are looked up for the customer and for the recipient address
 * (host->opted_out); an opt-out is open from its `since` until its `until`
 * (exclusive) or forever. Its category pattern matches the message's
 * category; "*" is the global suppression list.
 *
 * At RCPT the category is not known yet: the message is a violation only
 * when the customer is opted out of every candidate category. A candidate
 * pattern ("promotional.*") counts as opted out only when an opt-out covers
 * the whole pattern (an opt-out of "promotional.*" or "*"), never when it
 * covers just one name below it. The List-Unsubscribe check needs the
 * headers and runs at end of message only.
 *
 * Fail closed: when the opt-out lookup fails the plugin returns CG_ERROR
 * and the host applies on_error (a temporary failure by default).
 * The reason shown to the sender never names the customer or the opt-out;
 * the detail (decision log only) names the category.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contactgate/plugin.h"

/* a member of a table is usable when the table's struct_size covers it */
#define HAS_MEMBER(p, type, m) ((p)->struct_size >= offsetof(type, m) + sizeof((p)->m))

struct consent {
    const struct cg_host *host;
    int optouts;
    const char *const *unsub;  /* NULL: no List-Unsubscribe check */
    int unsub_action;          /* CG_ACTION_* */
};

/* pattern_ok - "*", "a.b" or "a.b.*": non-empty labels, no spaces */
static int pattern_ok(const char *p)
{
    if (strcmp(p, "*") == 0)
        return 1;
    size_t n = strlen(p);
    if (n > 2 && strcmp(p + n - 2, ".*") == 0)
        n -= 2;
    if (n == 0 || p[0] == '.' || p[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= ' ' || c == '*' || c == 0x7f || (c == '.' && p[i + 1] == '.'))
            return 0;
    }
    return 1;
}

/* consent_init - validate params */
static int consent_init(const struct cg_host *h, cg_param *p, void **inst_r, char *err,
                        size_t errlen)
{
    (void)err;
    (void)errlen;
    static const char *const keys[] = {"optouts", "require_unsubscribe",
                                       "missing_unsubscribe_action", NULL};
    if (h->param_keys(p, keys))
        return CG_ERROR;
    struct consent *c = calloc(1, sizeof *c);
    if (!c)
        return CG_ERROR;
    *inst_r = c;
    c->host = h;
    c->optouts = 1;
    c->unsub_action = CG_ACTION_POLICY;
    size_t n_unsub = 0;
    const char *act = NULL;
    if (h->param_bool(p, "optouts", 0, &c->optouts) ||
        h->param_strlist(p, "require_unsubscribe", 0, &c->unsub, &n_unsub) ||
        h->param_string(p, "missing_unsubscribe_action", 0, &act))
        return CG_ERROR;
    for (size_t i = 0; i < n_unsub; i++)
        if (!pattern_ok(c->unsub[i]))
            return h->param_error(p, "require_unsubscribe",
                                  "\"%s\" is not a category pattern (\"*\", \"a.b\" or \"a.b.*\")",
                                  c->unsub[i]);
    if (n_unsub == 0)
        c->unsub = NULL;
    if (act) {
        if (strcmp(act, "tag") == 0)
            c->unsub_action = CG_ACTION_TAG;
        else if (strcmp(act, "reject") == 0)
            c->unsub_action = CG_ACTION_REJECT;
        else if (strcmp(act, "policy") == 0)
            c->unsub_action = CG_ACTION_POLICY;
        else
            return h->param_error(p, "missing_unsubscribe_action",
                                  "\"%s\" is not one of tag, reject, policy", act);
        if (!c->unsub)
            return h->param_error(p, "missing_unsubscribe_action",
                                  "has no effect without \"require_unsubscribe\"");
    }
    if (c->unsub && !HAS_MEMBER(h, struct cg_host, header))
        return h->param_error(p, "require_unsubscribe",
                              "this contactgate does not give plugins the message headers");
    if (!c->optouts && !c->unsub)
        return h->param_error(p, "optouts",
                              "is false and \"require_unsubscribe\" is empty: "
                              "the policy would check nothing");
    return CG_OK;
}

/* set_action - the verdict's action, if the host's verdict has the member */
static void set_action(struct cg_verdict *out, int action)
{
    if (HAS_MEMBER(out, struct cg_verdict, action))
        out->action = action;
}

/* set_detail - the verdict's detail, if the host's verdict has the member */
static void set_detail(struct cg_verdict *out, const char *cats)
{
    if (HAS_MEMBER(out, struct cg_verdict, detail))
        snprintf(out->detail, sizeof out->detail, "opt-out category=%s", cats);
}

/* check_optout - *hit = 1 when opted out of the category (EOM) or of every
 * candidate (RCPT); cats gets the categories for the detail */
static int check_optout(const struct consent *c, const struct cg_message_view *v, int *hit,
                        char *cats, size_t catslen)
{
    *hit = 0;
    cats[0] = 0;
    if (v->category) {
        int r = 0;
        if (c->host->opted_out(v, v->category, &r) != CG_OK)
            return CG_ERROR;
        if (r)
            snprintf(cats, catslen, "%s", v->category);
        *hit = r;
        return CG_OK;
    }
    if (!v->categories || v->n_categories == 0)
        return CG_OK; /* nothing known: decide at end of message */
    for (size_t i = 0; i < v->n_categories; i++) {
        int r = 0;
        if (!v->categories[i])
            return CG_OK;
        if (c->host->opted_out(v, v->categories[i], &r) != CG_OK)
            return CG_ERROR;
        if (!r)
            return CG_OK; /* one candidate could still be delivered */
        size_t len = strlen(cats);
        if (len + strlen(v->categories[i]) + 2 < catslen)
            snprintf(cats + len, catslen - len, "%s%s", len ? "," : "", v->categories[i]);
    }
    *hit = 1;
    return CG_OK;
}

/* has_unsubscribe - a non-blank List-Unsubscribe header */
static int has_unsubscribe(const struct consent *c, const struct cg_message_view *v)
{
    const char *s = c->host->header(v, "List-Unsubscribe");
    if (!s)
        return 0;
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return 1;
    return 0;
}

/* consent_evaluate - opt-outs first, then List-Unsubscribe at EOM */
static int consent_evaluate(void *inst, const struct cg_message_view *v, struct cg_verdict *out)
{
    const struct consent *c = inst;
    if (c->optouts) {
        char cats[160];
        int hit = 0;
        if (check_optout(c, v, &hit, cats, sizeof cats) != CG_OK)
            return CG_ERROR; /* fail closed: the host applies on_error */
        if (hit) {
            snprintf(out->reason, sizeof out->reason,
                     "the customer has opted out of this kind of mail");
            set_detail(out, cats);
            out->retry_after = 0;
            set_action(out, CG_ACTION_POLICY);
            return CG_VIOLATION;
        }
    }
    if (c->unsub && v->stage == CG_STAGE_EOM && v->category) {
        if (c->host->category_match(v->category, c->unsub) && !has_unsubscribe(c, v)) {
            snprintf(out->reason, sizeof out->reason,
                     "promotional mail without List-Unsubscribe");
            if (HAS_MEMBER(out, struct cg_verdict, detail))
                snprintf(out->detail, sizeof out->detail,
                         "missing List-Unsubscribe category=%s", v->category);
            out->retry_after = 0;
            set_action(out, c->unsub_action);
            return CG_VIOLATION;
        }
    }
    return CG_OK;
}

/* consent_destroy - free the instance */
static void consent_destroy(void *inst)
{
    free(inst);
}

__attribute__((visibility("default"))) const struct cg_plugin cg_plugin_descriptor = {
    .abi_version = CG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct cg_plugin),
    .name = "consent",
    .version = "1.0",
    .init = consent_init,
    .evaluate = consent_evaluate,
    .destroy = consent_destroy,
    .flags = CG_PLUGIN_FAIL_CLOSED,
};
