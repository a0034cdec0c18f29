/*
 * thirdparty.c - a third-party-style plugin built only against
 * include/contactgate/plugin.h: violates when the subject contains the
 * configured word; returns CG_ERROR when the subject contains "FAIL" (to
 * test on_error). Used by the unit tests of the loader and the engine.
 */
#include <string.h>
#include "contactgate/plugin.h"

struct inst {
    const char *word;
};

static struct inst the_inst;

static int tp_init(const struct cg_host *h, cg_param *p, void **inst_r, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    static const char *const keys[] = {"word", NULL};
    the_inst.word = "SPAMMY";
    if (h->param_keys(p, keys) || h->param_string(p, "word", 0, &the_inst.word))
        return CG_ERROR;
    *inst_r = &the_inst;
    return CG_OK;
}

static int tp_evaluate(void *inst, const struct cg_message_view *v, struct cg_verdict *out)
{
    const struct inst *in = inst;
    if (!v->subject)
        return CG_OK;
    if (strstr(v->subject, "FAIL"))
        return CG_ERROR;
    if (strstr(v->subject, in->word)) {
        strcpy(out->reason, "subject has a forbidden word");
        return CG_VIOLATION;
    }
    return CG_OK;
}

__attribute__((visibility("default"))) const struct cg_plugin cg_plugin_descriptor = {
    .abi_version = CG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct cg_plugin),
    .name = "thirdparty",
    .version = "0.1",
    .init = tp_init,
    .evaluate = tp_evaluate,
    .destroy = NULL,
};
