/*
 * dedupe.c - contactgate policy plugin: the same content to the same
 * customer within T is refused, whichever department sends it.
 *
 * "The same content" is the host's content digest: the subject with
 * "Re:"/"Fwd:" prefixes, case and runs of white space normalised, plus the
 * body with all white space removed (so re-wrapped text or a changed
 * line ending is still the same letter). Every recorded contact carries its
 * digest; this plugin looks for an earlier contact with the same one.
 *
 * params:
 *   within        T, a duration ("7d"), required
 *   departments   only earlier sends from these departments count
 *                 (default: any department, which is the point)
 *
 * Window edges: a contact at time t blocks the same content while
 * now < t + T; the retry-after is t + T of the newest duplicate.
 *
 * The plugin needs the message body (CG_PLUGIN_WANTS_BODY): loading it
 * makes the MTA send contactgate the body. At RCPT it cannot decide
 * (there is no content yet) and passes; the decision is at end of message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contactgate/plugin.h"

struct dedupe {
    const struct cg_host *host;
    int64_t within;
    const char *const *depts;
};

/* dd_init - validate params */
static int dd_init(const struct cg_host *h, cg_param *p, void **inst_r, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    static const char *const keys[] = {"within", "departments", NULL};
    if (h->param_keys(p, keys))
        return CG_ERROR;
    struct dedupe *d = calloc(1, sizeof *d);
    if (!d)
        return CG_ERROR;
    *inst_r = d;
    d->host = h;
    if (h->param_duration(p, "within", 1, &d->within) ||
        h->param_strlist(p, "departments", 0, &d->depts, NULL))
        return CG_ERROR;
    if (d->within <= 0)
        return h->param_error(p, "within", "must be longer than 0 seconds");
    return CG_OK;
}

struct find {
    const struct dedupe *d;
    const char *digest;
    int64_t ts;
    char department[64];
};

/* find_cb - newest first: stop at the first contact with the same digest */
static int find_cb(const struct cg_contact *c, void *arg)
{
    struct find *f = arg;
    if (!c->digest || strcmp(c->digest, f->digest) != 0)
        return 0;
    if (f->d->depts) {
        int listed = 0;
        for (size_t i = 0; f->d->depts[i] && !listed; i++)
            listed = strcmp(f->d->depts[i], c->department) == 0;
        if (!listed)
            return 0;
    }
    f->ts = c->ts;
    snprintf(f->department, sizeof f->department, "%s", c->department);
    return 1;
}

/* dd_evaluate - an earlier contact with the same content */
static int dd_evaluate(void *inst, const struct cg_message_view *v, struct cg_verdict *out)
{
    const struct dedupe *d = inst;
    size_t have = v->struct_size;
    if (v->stage != CG_STAGE_EOM ||
        have < offsetof(struct cg_message_view, content_digest) + sizeof v->content_digest ||
        !v->content_digest)
        return CG_OK;
    struct find f = {.d = d, .digest = v->content_digest};
    if (d->host->contacts(v, v->now - d->within + 1, v->now + 1, find_cb, &f) != CG_OK)
        return CG_ERROR;
    if (!f.ts)
        return CG_OK;
    char span[32];
    d->host->duration_text(d->within, span, sizeof span);
    snprintf(out->reason, sizeof out->reason,
             "the same content already went to this recipient within %s (from %s)", span,
             f.department);
    snprintf(out->detail, sizeof out->detail, "digest=%s first=%lld", v->content_digest,
             (long long)f.ts);
    out->retry_after = f.ts + d->within;
    return CG_VIOLATION;
}

/* dd_destroy - free the instance */
static void dd_destroy(void *inst)
{
    free(inst);
}

__attribute__((visibility("default"))) const struct cg_plugin cg_plugin_descriptor = {
    .abi_version = CG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct cg_plugin),
    .name = "dedupe",
    .version = "1.0",
    .init = dd_init,
    .evaluate = dd_evaluate,
    .destroy = dd_destroy,
    .flags = CG_PLUGIN_WANTS_BODY,
};
