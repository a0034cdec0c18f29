/*
 * spacing.c - contactgate policy plugin: no category B within T after a
 * contact of category A ("no promotion within 48 h after a bill", "no
 * second collections letter within 5 days").
 *
 * params:
 *   after              category patterns of the earlier contact (A), required
 *   block              category patterns this rule holds back (B); default
 *                      ["*"], i.e. whatever the policy applies_to
 *   within             T, a duration ("48h", "5d"), required
 *   after_departments  only contacts from these departments start the gap
 *                      (default: any department)
 *   both_directions    true: also no A within T after a B (a bill and a
 *                      promotion are kept T apart whichever came first);
 *                      default false
 *
 * Window edges: a contact at time t holds B back while now < t + T; at
 * exactly t + T the message passes, which is also the retry-after. Contacts
 * from other channels (calls, letters recorded with `contactgatectl record`)
 * count like e-mail.
 *
 * At RCPT (category not known) the rule holds only when every candidate
 * category is inside `block`, so the envelope verdict is never stricter
 * than the end-of-message one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contactgate/plugin.h"

struct spacing {
    const struct cg_host *host;
    const char *const *after;
    const char *const *block;
    const char *const *after_depts;
    int64_t within;
    int both;
};

/* sp_init - validate params */
static int sp_init(const struct cg_host *h, cg_param *p, void **inst_r, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    static const char *const keys[] = {"after", "block", "within", "after_departments",
                                       "both_directions", NULL};
    if (h->param_keys(p, keys))
        return CG_ERROR;
    struct spacing *s = calloc(1, sizeof *s);
    if (!s)
        return CG_ERROR;
    *inst_r = s;
    s->host = h;
    static const char *const all[] = {"*", NULL};
    s->block = all;
    size_t n_after = 0;
    if (h->param_strlist(p, "after", 1, &s->after, &n_after) ||
        h->param_strlist(p, "block", 0, &s->block, NULL) ||
        h->param_strlist(p, "after_departments", 0, &s->after_depts, NULL) ||
        h->param_duration(p, "within", 1, &s->within) ||
        h->param_bool(p, "both_directions", 0, &s->both))
        return CG_ERROR;
    if (n_after == 0)
        return h->param_error(p, "after", "needs at least one category pattern");
    if (s->within <= 0)
        return h->param_error(p, "within", "must be longer than 0 seconds");
    return CG_OK;
}

struct find {
    const struct spacing *s;
    const char *const *earlier; /* patterns of the earlier contact */
    int64_t newest;             /* newest matching contact, 0: none */
    char category[64];
    char department[64];
};

/* find_cb - contacts arrive newest first: the first match is the newest */
static int find_cb(const struct cg_contact *c, void *arg)
{
    struct find *f = arg;
    if (!f->s->host->category_match(c->category, f->earlier))
        return 0;
    if (f->earlier == f->s->after && f->s->after_depts) {
        int listed = 0;
        for (size_t i = 0; f->s->after_depts[i] && !listed; i++)
            listed = strcmp(f->s->after_depts[i], c->department) == 0;
        if (!listed)
            return 0;
    }
    f->newest = c->ts;
    snprintf(f->category, sizeof f->category, "%s", c->category);
    snprintf(f->department, sizeof f->department, "%s", c->department);
    return 1;
}

/* newest_of - the newest contact matching `earlier` within T before now */
static int newest_of(const struct spacing *s, const struct cg_message_view *v,
                     const char *const *earlier, struct find *f)
{
    memset(f, 0, sizeof *f);
    f->s = s;
    f->earlier = earlier;
    return s->host->contacts(v, v->now - s->within + 1, v->now + 1, find_cb, f);
}

/* sp_evaluate - is an earlier contact too close */
static int sp_evaluate(void *inst, const struct cg_message_view *v, struct cg_verdict *out)
{
    const struct spacing *s = inst;
    struct find f;
    const char *const *earlier = NULL;
    if (s->host->categories_within(v, s->block)) {
        if (newest_of(s, v, s->after, &f) != CG_OK)
            return CG_ERROR;
        if (f.newest)
            earlier = s->after;
    }
    /* the other direction needs the final category: only at end of message */
    if (!earlier && s->both && v->category && s->host->category_match(v->category, s->after)) {
        if (newest_of(s, v, s->block, &f) != CG_OK)
            return CG_ERROR;
        if (f.newest)
            earlier = s->block;
    }
    if (!earlier)
        return CG_OK;
    char span[32];
    s->host->duration_text(s->within, span, sizeof span);
    /* before the category is known, name what the rule blocks */
    char what[96] = "";
    if (v->category)
        snprintf(what, sizeof what, "%s", v->category);
    for (size_t i = 0; !v->category && s->block[i]; i++) {
        size_t len = strlen(what);
        snprintf(what + len, sizeof what - len, "%s%s", i ? "/" : "",
                 strcmp(s->block[i], "*") ? s->block[i] : "further");
    }
    snprintf(out->reason, sizeof out->reason, "no %.80s mail within %.30s after %.60s mail", what, span,
             f.category);
    snprintf(out->detail, sizeof out->detail, "earlier=%s from=%s at=%lld", f.category,
             f.department, (long long)f.newest);
    out->retry_after = f.newest + s->within;
    return CG_VIOLATION;
}

/* sp_destroy - free the instance */
static void sp_destroy(void *inst)
{
    free(inst);
}

__attribute__((visibility("default"))) const struct cg_plugin cg_plugin_descriptor = {
    .abi_version = CG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct cg_plugin),
    .name = "spacing",
    .version = "1.0",
    .init = sp_init,
    .evaluate = sp_evaluate,
    .destroy = sp_destroy,
};
