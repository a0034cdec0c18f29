/*
 * require_header.c - a minimal contactgate policy plugin, written only
 * against the installed public header <contactgate/plugin.h>: the message
 * must carry a header (say, a campaign id for promotional mail).
 *
 * Build and install (the loader wants the file owned by root or the
 * daemon's user and not writable by group or others):
 *
 *   cc -std=c11 -Wall -Wextra -fPIC -fvisibility=hidden -shared \
 *      -I/usr/local/include -o require_header.so require_header.c
 *   install -m 755 require_header.so /usr/local/lib/contactgate/plugins/
 *
 * Use it in a policy:
 *
 *   {"name": "campaigns-need-an-id", "plugin": "require_header",
 *    "applies_to": {"categories": ["promotional.*"]}, "action": "reject",
 *    "params": {"header": "X-Campaign-Id"}}
 */
#include <stdio.h>
#include <stdlib.h>

#include <contactgate/plugin.h>

struct req {
    const struct cg_host *host;
    const char *header;
};

/* init: validate params (unknown keys and wrong types are errors that the
 * host reports with the key path) and build the instance */
static int req_init(const struct cg_host *h, cg_param *params, void **inst_r, char *err,
                    size_t errlen)
{
    (void)err;
    (void)errlen;
    static const char *const keys[] = {"header", NULL};
    struct req *r = calloc(1, sizeof *r);
    if (!r)
        return CG_ERROR;
    *inst_r = r; /* the host calls destroy() even when init fails */
    r->host = h;
    if (h->param_keys(params, keys) || h->param_string(params, "header", 1, &r->header))
        return CG_ERROR;
    return CG_OK;
}

/* evaluate: may run on many threads at once; the instance is read-only */
static int req_evaluate(void *inst, const struct cg_message_view *v, struct cg_verdict *out)
{
    const struct req *r = inst;
    if (v->stage != CG_STAGE_EOM) /* headers are only known at end of message */
        return CG_OK;
    if (r->host->header(v, r->header))
        return CG_OK;
    /* the reason goes to the sending department: no customer data */
    snprintf(out->reason, sizeof out->reason, "the message has no %s header", r->header);
    return CG_VIOLATION;
}

static void req_destroy(void *inst)
{
    free(inst);
}

/* the one exported symbol */
__attribute__((visibility("default"))) const struct cg_plugin cg_plugin_descriptor = {
    .abi_version = CG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct cg_plugin),
    .name = "require_header",
    .version = "1.0",
    .init = req_init,
    .evaluate = req_evaluate,
    .destroy = req_destroy,
};
