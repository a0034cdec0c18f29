/*
 * slow.c - a test plugin that reads no history and blocks: it sleeps 2 s
 * for one customer address (slow@example.com) and passes everyone. With
 * CG_PLUGIN_NO_HISTORY it runs in the session's own thread before the
 * decision is queued, so no other message waits for it (test_decider).
 */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <time.h>

#include "contactgate/plugin.h"

static int slow_init(const struct cg_host *h, cg_param *p, void **inst_r, char *err,
                     size_t errlen)
{
    (void)err;
    (void)errlen;
    static const char *const keys[] = {NULL};
    static int inst;
    if (h->param_keys(p, keys))
        return CG_ERROR;
    *inst_r = &inst;
    return CG_OK;
}

static int slow_evaluate(void *inst, const struct cg_message_view *v, struct cg_verdict *out)
{
    (void)inst;
    (void)out;
    if (v->address && strcmp(v->address, "slow@example.com") == 0) {
        struct timespec two = {2, 0};
        nanosleep(&two, NULL);
    }
    return CG_OK;
}

__attribute__((visibility("default"))) const struct cg_plugin cg_plugin_descriptor = {
    .abi_version = CG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct cg_plugin),
    .name = "slow",
    .version = "0.1",
    .flags = CG_PLUGIN_NO_HISTORY,
    .init = slow_init,
    .evaluate = slow_evaluate,
    .destroy = NULL,
};
