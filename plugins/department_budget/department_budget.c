/*
 * department_budget.c - contactgate policy plugin: a department's volume
 * per hour or per day (every customer together), with a reserve that
 * functional mail may still use.
 *
 * params:
 *   limit        messages per window for each department the policy
 *                applies to (required unless "limits" names them all)
 *   limits       [{"department": "marketing", "limit": 20000}, ...]: per
 *                department, overriding "limit"
 *   window       "1h", "1d" or any duration: a rolling window (default 1d)
 *   reserve      {"amount": 500, "categories": ["functional.*"]}: the last
 *                `amount` messages of each budget are kept for mail of these
 *                categories; other mail stops at limit - amount
 *   count_categories  category patterns that use the budget (default ["*"]:
 *                everything the department sends, functional mail included)
 *
 * A contact at time t uses the budget while now - window < t. The volume
 * is read from the department counters the host keeps with every
 * recorded contact (a few hundred counter rows, whatever the volume; never
 * the department's contacts), counted per minute at the window's edges,
 * so a message is never let over the limit and the retry-after (when
 * enough counted messages have left the window) is rounded up to the
 * minute, never early. A department that is not in "limits" and without
 * "limit" has no budget (the policy passes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contactgate/plugin.h"

#define MAX_DEPTS 64

struct budget {
    const struct cg_host *host;
    long long limit; /* -1: none */
    struct {
        const char *dept;
        long long limit;
    } per[MAX_DEPTS];
    size_t n_per;
    int64_t window;
    long long reserve;
    const char *const *reserve_cats;
    const char *const *count_cats;
};

/* db_init - validate params */
static int db_init(const struct cg_host *h, cg_param *p, void **inst_r, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    static const char *const keys[] = {"limit", "limits", "window", "reserve",
                                       "count_categories", NULL};
    if (h->param_keys(p, keys))
        return CG_ERROR;
    struct budget *b = calloc(1, sizeof *b);
    if (!b)
        return CG_ERROR;
    *inst_r = b;
    b->host = h;
    b->limit = -1;
    b->window = 86400;
    static const char *const all[] = {"*", NULL};
    b->count_cats = all;
    if (h->param_int(p, "limit", 0, &b->limit) || h->param_duration(p, "window", 0, &b->window) ||
        h->param_strlist(p, "count_categories", 0, &b->count_cats, NULL))
        return CG_ERROR;
    if (h->param_get(p, "limit") && b->limit < 0)
        return h->param_error(p, "limit", "must not be negative");
    if (b->window <= 0)
        return h->param_error(p, "window", "must be longer than 0 seconds");
    cg_param *lims = h->param_get(p, "limits");
    if (lims) {
        long n = h->param_len(lims);
        if (n < 0)
            return CG_ERROR;
        if (n > MAX_DEPTS)
            return h->param_error(p, "limits", "more than %d departments", MAX_DEPTS);
        static const char *const lkeys[] = {"department", "limit", NULL};
        for (long i = 0; i < n; i++) {
            cg_param *e = h->param_item(lims, i);
            if (h->param_keys(e, lkeys) ||
                h->param_string(e, "department", 1, &b->per[b->n_per].dept) ||
                h->param_int(e, "limit", 1, &b->per[b->n_per].limit))
                return CG_ERROR;
            if (b->per[b->n_per].limit < 0)
                return h->param_error(e, "limit", "must not be negative");
            b->n_per++;
        }
    }
    if (b->limit < 0 && b->n_per == 0)
        return h->param_error(p, NULL, "needs \"limit\" or \"limits\"");
    cg_param *rs = h->param_get(p, "reserve");
    if (rs) {
        static const char *const rkeys[] = {"amount", "categories", NULL};
        size_t n = 0;
        if (h->param_keys(rs, rkeys) || h->param_int(rs, "amount", 1, &b->reserve) ||
            h->param_strlist(rs, "categories", 1, &b->reserve_cats, &n))
            return CG_ERROR;
        if (b->reserve < 0)
            return h->param_error(rs, "amount", "must not be negative");
        if (n == 0)
            return h->param_error(rs, "categories", "needs at least one category pattern");
    }
    return CG_OK;
}

/* limit_for - the department's budget, -1 for none */
static long long limit_for(const struct budget *b, const char *dept)
{
    for (size_t i = 0; i < b->n_per; i++)
        if (strcmp(b->per[i].dept, dept) == 0)
            return b->per[i].limit;
    return b->limit;
}

struct count {
    const struct budget *b;
    int64_t n;             /* counted contacts in the window */
    /* the buckets, oldest first: when enough of them have left the window */
    struct {
        int64_t end;
        int64_t n;
    } *bk;
    size_t n_bk, cap;
};

/* count_cb - one counter bucket (oldest first) */
static int count_cb(const struct cg_count *c, void *arg)
{
    struct count *k = arg;
    if (!k->b->host->category_match(c->category, k->b->count_cats) || c->n <= 0)
        return 0;
    k->n += c->n;
    if (k->n_bk && k->bk[k->n_bk - 1].end == c->end) {
        k->bk[k->n_bk - 1].n += c->n; /* another category of the same bucket */
        return 0;
    }
    if (k->n_bk == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 64;
        void *p = realloc(k->bk, cap * sizeof *k->bk);
        if (!p)
            return 1; /* count stays as is: the caller sees bk NULL-safe */
        k->bk = p;
        k->cap = cap;
    }
    k->bk[k->n_bk].end = c->end;
    k->bk[k->n_bk].n = c->n;
    k->n_bk++;
    return 0;
}

/* free_at - when enough counted contacts have left the window that fewer
 * than `mine` remain: the end of the bucket holding the one that frees
 * the slot, plus the window (a contact of a bucket is at most end - 1;
 * never earlier than the true instant); 0 if unknown */
static int64_t free_at(const struct count *k, long long mine, int64_t window)
{
    int64_t must_leave = k->n - mine + 1, left = 0;
    for (size_t i = 0; i < k->n_bk; i++) {
        left += k->bk[i].n;
        if (left >= must_leave)
            return k->bk[i].end - 1 + window;
    }
    return 0;
}

/* db_evaluate - has the department used its budget */
static int db_evaluate(void *inst, const struct cg_message_view *v, struct cg_verdict *out)
{
    const struct budget *b = inst;
    long long limit = limit_for(b, v->department);
    if (limit < 0)
        return CG_OK;
    /* before the category is known it might still be one the reserve is
     * for: never refuse at RCPT with the smaller limit */
    int reserved = b->reserve_cats && b->host->categories_overlap(v, b->reserve_cats);
    long long mine = reserved ? limit : limit - b->reserve;
    if (mine < 0)
        mine = 0;
    /* a contact at t uses the budget while now - window < t: the counters
     * of [now - window + 1, now] (edges rounded outwards: never too few) */
    struct count k = {.b = b};
    if (mine > 0 && b->host->department_counts(v, v->department, v->now - b->window + 1,
                                               v->now + 1, count_cb, &k) != CG_OK) {
        free(k.bk);
        return CG_ERROR;
    }
    if (mine > 0 && k.n < mine) {
        free(k.bk);
        return CG_OK;
    }
    char span[32];
    b->host->duration_text(b->window, span, sizeof span);
    snprintf(out->reason, sizeof out->reason, "department %s used its budget of %lld per %s%s",
             v->department, limit, span,
             !reserved && b->reserve ? " (the rest is reserved)" : "");
    snprintf(out->detail, sizeof out->detail, "counted=%lld limit=%lld reserve=%lld",
             (long long)k.n, limit, b->reserve);
    out->retry_after = mine > 0 ? free_at(&k, mine, b->window) : 0;
    free(k.bk);
    return CG_VIOLATION;
}

/* db_destroy - free the instance */
static void db_destroy(void *inst)
{
    free(inst);
}

__attribute__((visibility("default"))) const struct cg_plugin cg_plugin_descriptor = {
    .abi_version = CG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct cg_plugin),
    .name = "department_budget",
    .version = "1.0",
    .init = db_init,
    .evaluate = db_evaluate,
    .destroy = db_destroy,
};
