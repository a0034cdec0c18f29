/*
 * cg_host.h - the host side of the plugin ABI: the table of functions
 * handed to every plugin (logging, params, categories, history queries,
 * calendar), and the per-evaluation context its queries run in.
 *
 * History queries go to the store behind the view's ctx and never expose
 * SQL, so the store can change without touching a plugin.
 */
#ifndef CG_HOST_H
#define CG_HOST_H

#include <stddef.h>
#include <stdint.h>
#include "contactgate/plugin.h"

/* The host table handed to every plugin (cg_host.c). */
extern const struct cg_host cg_host_table;

/* The host side of one evaluation (the view's ctx): where queries go.
 * `failed` is set when a query failed, so the engine treats the policy as
 * undecided even if the plugin ignored the error. */
struct cg_store;             /* cg_store.h */
struct cg_msg;               /* cg_msg.h */
/* One customer's contacts of one range, kept for the other policies of the
 * same decision (they mostly ask for the same week). */
struct cg_contact_cache {
    int valid;
    int64_t since, until;
    struct cg_contact *rows;    /* newest first, strings owned */
    size_t n, cap;
};

struct cg_query_ctx {
    struct cg_store *st;        /* NULL: no history (a CG_PLUGIN_NO_HISTORY plugin
                                 * evaluated before the decision is queued) */
    const struct cg_msg *m;     /* the message (headers), or NULL */
    int failed;
    /* per-decision caches (one customer): release with cg_query_ctx_clear */
    struct cg_contact_cache contacts;
    int states_valid;
    struct cg_state *states;
    size_t n_states;
};

/* cg_query_ctx_clear - free the caches of a ctx */
void cg_query_ctx_clear(struct cg_query_ctx *ctx);

/* cg_host_context - what the calling thread's plugin log lines are
 * prefixed with: the plugin, the policy and the message's queue ID (any
 * may be NULL). The engine sets it around init() and evaluate(); it is
 * per thread. */
void cg_host_context(const char *plugin, const char *policy, const char *queue_id);

#endif
