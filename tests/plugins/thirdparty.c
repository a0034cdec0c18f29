/*
 * thirdparty.c - a third-party-style plugin built only against
 * include/contactgate/plugin.h: violates when the subject contains the
 * configured word; returns CG_ERROR when the subject contains "FAIL" (to
 * test on_error); logs one line through the host when it contains "LOG"
 * (the host's prefix: queue ID, plugin, policy). With "fail_init": true
 * its init() fails after handing over an instance, and with
 * "destroy_marker": PATH its destroy() appends "destroyed" to PATH (the
 * ABI's promise: destroy() follows a failed init() too). Used by the unit
 * tests of the loader and the engine.
 */
#include <stdio.h>
#include <string.h>
#include "contactgate/plugin.h"

struct inst {
    const char *word;
    const char *marker;
    const struct cg_host *host;
};

static struct inst the_inst;

static int tp_init(const struct cg_host *h, cg_param *p, void **inst_r, char *err, size_t errlen)
{
    static const char *const keys[] = {"word", "fail_init", "destroy_marker", NULL};
    int fail = 0;
    the_inst.word = "SPAMMY";
    the_inst.marker = NULL;
    the_inst.host = h;
    if (h->param_keys(p, keys) || h->param_string(p, "word", 0, &the_inst.word) ||
        h->param_bool(p, "fail_init", 0, &fail) ||
        h->param_string(p, "destroy_marker", 0, &the_inst.marker))
        return CG_ERROR;
    *inst_r = &the_inst;
    if (fail) {
        h->log(CG_LOG_WARNING, "init fails as asked");
        snprintf(err, errlen, "asked to fail");
        return CG_ERROR;
    }
    return CG_OK;
}

static int tp_evaluate(void *inst, const struct cg_message_view *v, struct cg_verdict *out)
{
    const struct inst *in = inst;
    if (!v->subject)
        return CG_OK;
    if (strstr(v->subject, "FAIL"))
        return CG_ERROR;
    if (strstr(v->subject, "LOG"))
        in->host->log(CG_LOG_WARNING, "the subject asks for a log line");
    if (strstr(v->subject, in->word)) {
        strcpy(out->reason, "subject has a forbidden word");
        return CG_VIOLATION;
    }
    return CG_OK;
}

static void tp_destroy(void *inst)
{
    const struct inst *in = inst;
    if (!in || !in->marker)
        return;
    FILE *fp = fopen(in->marker, "a");
    if (fp) {
        fputs("destroyed\n", fp);
        fclose(fp);
    }
}

__attribute__((visibility("default"))) const struct cg_plugin cg_plugin_descriptor = {
    .abi_version = CG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct cg_plugin),
    .name = "thirdparty",
    .version = "0.1",
    .init = tp_init,
    .evaluate = tp_evaluate,
    .destroy = tp_destroy,
};
