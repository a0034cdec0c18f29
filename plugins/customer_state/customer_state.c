/*
 * customer_state.c - contactgate policy plugin: block categories while the
 * customer has an open state (complaint, debt_collection, bereavement, or
 * any name set with `contactgatectl state set`).
 *
 * params:
 *   states   state names that block (string or list; default: any state)
 *   block    category patterns blocked while such a state is open
 *            (default ["*"]: everything the policy applies to)
 *   rules    per-state actions, milder than the policy's action:
 *            [{"state": "bereavement", "action": "hold"}]
 *
 * A state is open from its `since` until its `until` (exclusive), or
 * forever when it has no end date. The retry-after of a violation is the
 * end date of the latest-ending blocking state (0 if one is open-ended).
 * The reason shown to the sender never names the state: the state is
 * customer data and goes only into the decision log's detail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contactgate/plugin.h"

#define MAX_RULES 32

struct rule {
    const char *state;
    int action;
};

struct cs {
    const struct cg_host *host;
    const char *const *states;   /* NULL: any */
    const char *const *block;
    struct rule rules[MAX_RULES];
    size_t n_rules;
};

/* action_parse - "tag", "hold", "defer", "reject" */
static int action_parse(const char *s)
{
    static const char *const names[] = {"", "tag", "hold", "defer", "reject"};
    for (int i = CG_ACTION_TAG; i <= CG_ACTION_REJECT; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return 0;
}

/* cs_init - validate params */
static int cs_init(const struct cg_host *h, cg_param *p, void **inst_r, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    static const char *const keys[] = {"states", "block", "rules", NULL};
    if (h->param_keys(p, keys))
        return CG_ERROR;
    struct cs *c = calloc(1, sizeof *c);
    if (!c)
        return CG_ERROR;
    *inst_r = c;
    c->host = h;
    static const char *const all[] = {"*", NULL};
    c->block = all;
    if (h->param_strlist(p, "states", 0, &c->states, NULL) ||
        h->param_strlist(p, "block", 0, &c->block, NULL))
        return CG_ERROR;
    cg_param *rules = h->param_get(p, "rules");
    if (rules) {
        long n = h->param_len(rules);
        if (n < 0)
            return CG_ERROR;
        if (n > MAX_RULES)
            return h->param_error(p, "rules", "more than %d rules", MAX_RULES);
        static const char *const rkeys[] = {"state", "action", NULL};
        for (long i = 0; i < n; i++) {
            cg_param *r = h->param_item(rules, i);
            const char *st = NULL, *act = NULL;
            if (h->param_keys(r, rkeys) || h->param_string(r, "state", 1, &st) ||
                h->param_string(r, "action", 1, &act))
                return CG_ERROR;
            int a = action_parse(act);
            if (!a)
                return h->param_error(r, "action", "\"%s\" is not one of tag, hold, defer, reject",
                                      act);
            c->rules[c->n_rules].state = st;
            c->rules[c->n_rules].action = a;
            c->n_rules++;
        }
    }
    return CG_OK;
}

struct scan {
    const struct cs *c;
    int found;
    int open_ended;
    int64_t until;
    int action;               /* strictest action among blocking states */
    char names[160];
};

/* state_action - the action for one state */
static int state_action(const struct cs *c, const char *name)
{
    for (size_t i = 0; i < c->n_rules; i++)
        if (strcmp(c->rules[i].state, name) == 0)
            return c->rules[i].action;
    return CG_ACTION_POLICY;
}

/* scan_cb - look at one open state */
static int scan_cb(const struct cg_state *s, void *arg)
{
    struct scan *sc = arg;
    const struct cs *c = sc->c;
    int listed = !c->states;
    for (size_t i = 0; c->states && c->states[i] && !listed; i++)
        listed = strcmp(c->states[i], s->name) == 0;
    if (!listed)
        return 0;
    int a = state_action(c, s->name);
    /* CG_ACTION_POLICY (0) means the policy's own action: the strictest */
    if (!sc->found || a == CG_ACTION_POLICY || (sc->action != CG_ACTION_POLICY && a > sc->action))
        sc->action = a;
    sc->found = 1;
    if (s->until == 0)
        sc->open_ended = 1;
    else if (s->until > sc->until)
        sc->until = s->until;
    size_t len = strlen(sc->names);
    if (len + strlen(s->name) + 2 < sizeof sc->names)
        snprintf(sc->names + len, sizeof sc->names - len, "%s%s", len ? "," : "", s->name);
    return 0;
}

/* cs_evaluate - violation when a listed state is open */
static int cs_evaluate(void *inst, const struct cg_message_view *v, struct cg_verdict *out)
{
    const struct cs *c = inst;
    if (!c->host->categories_within(v, c->block))
        return CG_OK;
    struct scan sc;
    memset(&sc, 0, sizeof sc);
    sc.c = c;
    if (c->host->states(v, scan_cb, &sc) != CG_OK)
        return CG_ERROR;
    if (!sc.found)
        return CG_OK;
    snprintf(out->reason, sizeof out->reason, "%s mail is blocked while the customer's case is open",
             v->category ? v->category : "this");
    snprintf(out->detail, sizeof out->detail, "states=%s", sc.names);
    out->retry_after = sc.open_ended ? 0 : sc.until;
    out->action = sc.action;
    return CG_VIOLATION;
}

/* cs_destroy - free the instance */
static void cs_destroy(void *inst)
{
    free(inst);
}

__attribute__((visibility("default"))) const struct cg_plugin cg_plugin_descriptor = {
    .abi_version = CG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct cg_plugin),
    .name = "customer_state",
    .version = "1.0",
    .init = cs_init,
    .evaluate = cs_evaluate,
    .destroy = cs_destroy,
    .flags = CG_PLUGIN_FAIL_CLOSED,
};
