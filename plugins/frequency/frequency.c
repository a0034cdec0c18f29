/*
 * frequency.c - contactgate policy plugin: at most N contacts per customer
 * per rolling window.
 *
 * What the cap blocks is the policy's applies_to (departments, categories).
 * What counts toward the cap is separate (params count_*): functional mail
 * may count without ever being blocked.
 *
 * params:
 *   limit, window        one window ("limit": 3, "window": "7d"), or
 *   windows              several at once: [{"limit": 3, "window": "7d"},
 *                        {"limit": 8, "window": "30d"}]
 *   count_categories     category patterns that count (default ["*"])
 *   count_departments    departments whose contacts count (default all)
 *   count_channels       channels that count (default all: email, sms, ...)
 *   weights              [{"match": "promotional.newsletter", "weight": 0.5}]:
 *                        weight of a contact by category pattern; the most
 *                        specific matching pattern wins; default 1
 *   channel_weights      [{"match": "call", "weight": 2}]: by channel,
 *                        multiplied in; default 1
 *   reserve              {"slots": 1, "categories": [...], "departments":
 *                        [...]}: the last `slots` of each window are kept
 *                        for mail of those categories or departments
 *
 *   calendar             instead of "window": "day", "week" or "month", a
 *                        calendar period: {"limit": 8, "calendar": "month"}
 *   timezone             zone of calendar periods (default: the customer's
 *                        own zone from the customer map, else the config's)
 *
 * Rolling windows: a contact at time t counts while now - window < t, i.e.
 * exactly `window` seconds after it was sent it no longer counts. The
 * retry-after is exact: the moment enough of the oldest counted contacts
 * have left the window.
 *
 * Calendar windows count the contacts since the start of the current day,
 * week (Monday) or month in the customer's time zone: from local midnight
 * (on the rare day whose midnight is skipped by a DST change, the first
 * instant of that day) to the next one. A day is 23 or 25 hours long on DST
 * days; a month runs from the 1st to the 1st whatever its length. When the
 * cap is reached the retry-after is the start of the next period.
 *
 * A message is a violation when (counted weight + its own weight) would
 * exceed the limit of any window.
 *
 * At RCPT (category not known yet) the message's own weight is the
 * smallest weight any category could have, so the envelope-stage verdict
 * is never stricter than the end-of-message one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contactgate/plugin.h"

#define MAX_WINDOWS 8
#define MAX_WEIGHTS 64
#define MAX_CONTACTS 4096

struct weight {
    const char *key;
    double w;
};

struct window {
    double limit;
    int64_t secs;   /* rolling window length, 0 for a calendar window */
    int calendar;   /* CG_PERIOD_* for a calendar window */
};

struct freq {
    const struct cg_host *host;
    struct window win[MAX_WINDOWS];
    size_t n_win;
    const char *zone;
    const char *const *count_cats;
    const char *const *count_depts;
    const char *const *count_channels;
    struct weight cat_w[MAX_WEIGHTS];
    size_t n_cat_w;
    struct weight chan_w[MAX_WEIGHTS];
    size_t n_chan_w;
    double reserve_slots;
    const char *const *reserve_cats;
    const char *const *reserve_depts;
};

/* in_list - exact membership in a NULL-terminated list */
static int in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

/* pattern_rank - specificity of a category pattern (longer base = more) */
static size_t pattern_rank(const char *p)
{
    if (strcmp(p, "*") == 0)
        return 0;
    size_t n = strlen(p);
    return n > 2 && strcmp(p + n - 2, ".*") == 0 ? 2 * (n - 2) : 2 * n + 1;
}

/* category_weight - the most specific matching pattern's weight */
static double category_weight(const struct freq *f, const char *cat)
{
    double w = 1.0;
    size_t best = 0;
    int found = 0;
    for (size_t i = 0; i < f->n_cat_w; i++) {
        const char *one[2] = {f->cat_w[i].key, NULL};
        if (f->host->category_match(cat, one)) {
            size_t r = pattern_rank(f->cat_w[i].key);
            if (!found || r > best) {
                best = r;
                w = f->cat_w[i].w;
                found = 1;
            }
        }
    }
    return w;
}

/* channel_weight - weight of a channel */
static double channel_weight(const struct freq *f, const char *chan)
{
    for (size_t i = 0; i < f->n_chan_w; i++)
        if (strcmp(f->chan_w[i].key, chan) == 0)
            return f->chan_w[i].w;
    return 1.0;
}

/* read_weight_list - [{"match": "promotional.newsletter", "weight": 0.5}] */
static int read_weight_list(const struct cg_host *h, cg_param *p, const char *key,
                            struct weight *out, size_t *n)
{
    cg_param *arr = h->param_get(p, key);
    if (!arr)
        return CG_OK;
    long len = h->param_len(arr);
    if (len < 0)
        return CG_ERROR;
    if (len > MAX_WEIGHTS)
        return h->param_error(p, key, "more than %d entries", MAX_WEIGHTS);
    static const char *const keys[] = {"match", "weight", NULL};
    for (long i = 0; i < len; i++) {
        cg_param *e = h->param_item(arr, i);
        const char *m = NULL;
        double w = 1;
        if (h->param_keys(e, keys) || h->param_string(e, "match", 1, &m) ||
            h->param_number(e, "weight", 1, &w))
            return CG_ERROR;
        if (w < 0)
            return h->param_error(e, "weight", "must not be negative");
        out[*n].key = m;
        out[*n].w = w;
        (*n)++;
    }
    return CG_OK;
}

/* read_window - one {limit, window} or {limit, calendar} */
static int read_window(const struct cg_host *h, cg_param *p, struct window *w)
{
    double dlim = -1;
    int64_t secs = 0;
    const char *cal = NULL;
    if (h->param_number(p, "limit", 1, &dlim) || h->param_string(p, "calendar", 0, &cal))
        return CG_ERROR;
    if (dlim < 0)
        return h->param_error(p, "limit", "must not be negative");
    w->limit = dlim;
    if (cal) {
        if (h->param_get(p, "window"))
            return h->param_error(p, NULL, "give either \"window\" or \"calendar\", not both");
        static const char *const units[] = {"day", "week", "month"};
        for (int i = 0; i < 3; i++)
            if (strcmp(cal, units[i]) == 0)
                w->calendar = CG_PERIOD_DAY + i;
        if (!w->calendar)
            return h->param_error(p, "calendar", "\"%s\" is not one of day, week, month", cal);
        return CG_OK;
    }
    if (h->param_duration(p, "window", 1, &secs))
        return CG_ERROR;
    if (secs <= 0)
        return h->param_error(p, "window", "must be longer than 0 seconds");
    w->secs = secs;
    return CG_OK;
}

/* freq_init - validate params */
static int freq_init(const struct cg_host *h, cg_param *p, void **inst_r, char *err,
                     size_t errlen)
{
    (void)err;
    (void)errlen;
    static const char *const keys[] = {"limit", "window", "calendar", "windows",
                                       "count_categories", "count_departments",
                                       "count_channels", "weights", "channel_weights",
                                       "reserve", "timezone", NULL};
    if (h->param_keys(p, keys))
        return CG_ERROR;
    struct freq *f = calloc(1, sizeof *f);
    if (!f)
        return CG_ERROR;
    f->host = h;
    *inst_r = f;
    cg_param *ws = h->param_get(p, "windows");
    int single = h->param_get(p, "limit") || h->param_get(p, "window") ||
                 h->param_get(p, "calendar");
    if (ws && single)
        return h->param_error(p, NULL, "give either \"limit\"/\"window\" or \"windows\", not both");
    if (h->param_string(p, "timezone", 0, &f->zone))
        return CG_ERROR;
    if (f->zone && !h->timezone_valid(f->zone))
        return h->param_error(p, "timezone", "\"%s\" is not a time zone", f->zone);
    if (ws) {
        long n = h->param_len(ws);
        if (n < 0)
            return CG_ERROR;
        if (n == 0 || n > MAX_WINDOWS)
            return h->param_error(p, "windows", "needs 1 to %d windows", MAX_WINDOWS);
        static const char *const wkeys[] = {"limit", "window", "calendar", NULL};
        for (long i = 0; i < n; i++) {
            cg_param *w = h->param_item(ws, i);
            if (h->param_keys(w, wkeys) || read_window(h, w, &f->win[f->n_win]))
                return CG_ERROR;
            f->n_win++;
        }
    } else {
        if (read_window(h, p, &f->win[0]))
            return CG_ERROR;
        f->n_win = 1;
    }
    static const char *const all[] = {"*", NULL};
    f->count_cats = all;
    if (h->param_strlist(p, "count_categories", 0, &f->count_cats, NULL) ||
        h->param_strlist(p, "count_departments", 0, &f->count_depts, NULL) ||
        h->param_strlist(p, "count_channels", 0, &f->count_channels, NULL) ||
        read_weight_list(h, p, "weights", f->cat_w, &f->n_cat_w) ||
        read_weight_list(h, p, "channel_weights", f->chan_w, &f->n_chan_w))
        return CG_ERROR;
    cg_param *rs = h->param_get(p, "reserve");
    if (rs) {
        static const char *const rkeys[] = {"slots", "categories", "departments", NULL};
        if (h->param_keys(rs, rkeys) || h->param_number(rs, "slots", 1, &f->reserve_slots) ||
            h->param_strlist(rs, "categories", 0, &f->reserve_cats, NULL) ||
            h->param_strlist(rs, "departments", 0, &f->reserve_depts, NULL))
            return CG_ERROR;
        if (f->reserve_slots < 0)
            return h->param_error(rs, "slots", "must not be negative");
        if (!f->reserve_cats && !f->reserve_depts)
            return h->param_error(p, "reserve", "needs \"categories\" or \"departments\" "
                                                "that may use the reserved slots");
    }
    return CG_OK;
}

/* The counted contacts, newest first: on the stack for the usual few,
 * grown on the heap for a heavily contacted customer (up to MAX_CONTACTS). */
#define COLLECT_STACK 128
struct collect {
    const struct freq *f;
    int64_t *ts;
    double *w;
    size_t n, cap;
    int overflow, nomem;
    int64_t ts_stack[COLLECT_STACK];
    double w_stack[COLLECT_STACK];
};

/* collect_cb - keep the counted contacts (newest first) */
static int collect_cb(const struct cg_contact *c, void *arg)
{
    struct collect *col = arg;
    const struct freq *f = col->f;
    if (!f->host->category_match(c->category, f->count_cats))
        return 0;
    if (f->count_depts && !in_list(f->count_depts, c->department))
        return 0;
    if (f->count_channels && !in_list(f->count_channels, c->channel))
        return 0;
    double w = category_weight(f, c->category) * channel_weight(f, c->channel);
    if (w <= 0)
        return 0;
    if (col->n == col->cap) {
        if (col->cap == MAX_CONTACTS) {
            col->overflow = 1;
            return 1;
        }
        size_t cap = col->cap * 4 > MAX_CONTACTS ? MAX_CONTACTS : col->cap * 4;
        int64_t *ts = malloc(cap * sizeof *ts);
        double *wv = malloc(cap * sizeof *wv);
        if (!ts || !wv) {
            free(ts);
            free(wv);
            col->nomem = 1;
            return 1;
        }
        memcpy(ts, col->ts, col->n * sizeof *ts);
        memcpy(wv, col->w, col->n * sizeof *wv);
        if (col->ts != col->ts_stack) {
            free(col->ts);
            free(col->w);
        }
        col->ts = ts;
        col->w = wv;
        col->cap = cap;
    }
    col->ts[col->n] = c->ts;
    col->w[col->n] = w;
    col->n++;
    return 0;
}

/* collect_free - the heap arrays, if it grew there */
static void collect_free(struct collect *col)
{
    if (col->ts != col->ts_stack) {
        free(col->ts);
        free(col->w);
    }
}

/* own_weight - the weight this message would add */
static double own_weight(const struct freq *f, const struct cg_message_view *v)
{
    double cw = 1.0;
    if (v->category) {
        cw = category_weight(f, v->category);
    } else {
        /* RCPT: the smallest weight any candidate could have */
        for (size_t i = 0; i < f->n_cat_w; i++)
            if (f->cat_w[i].w < cw)
                cw = f->cat_w[i].w;
    }
    return cw * channel_weight(f, "email");
}

/* reserved_for - may this message use the reserved slots */
static int reserved_for(const struct freq *f, const struct cg_message_view *v)
{
    if (f->reserve_slots <= 0)
        return 1;
    if (f->reserve_depts && in_list(f->reserve_depts, v->department))
        return 1;
    /* at RCPT: if the message might be one the reserve is for, do not
     * refuse it with the smaller limit before its category is known */
    return f->reserve_cats && f->host->categories_overlap(v, f->reserve_cats);
}

/* window_start - first instant counted by window w at v->now; for a
 * calendar window *ends is the start of the next period */
static int window_start(const struct freq *f, const struct window *w,
                        const struct cg_message_view *v, int64_t *start, int64_t *ends)
{
    *ends = 0;
    if (!w->calendar) {
        *start = v->now - w->secs + 1;
        return CG_OK;
    }
    return f->host->calendar_period(v, f->zone, w->calendar, v->now, start, ends);
}

/* window_text - "7 days", "calendar month" */
static const char *window_text(const struct freq *f, const struct window *w, char *buf,
                               size_t len)
{
    static const char *const names[] = {"", "calendar day", "calendar week", "calendar month"};
    if (w->calendar)
        snprintf(buf, len, "%s", names[w->calendar]);
    else
        f->host->duration_text(w->secs, buf, len);
    return buf;
}

/* freq_evaluate - count and compare */
static int freq_evaluate(void *inst, const struct cg_message_view *v, struct cg_verdict *out)
{
    const struct freq *f = inst;
    int64_t from[MAX_WINDOWS], ends[MAX_WINDOWS], since = v->now;
    for (size_t k = 0; k < f->n_win; k++) {
        if (window_start(f, &f->win[k], v, &from[k], &ends[k]) != CG_OK)
            return CG_ERROR;
        if (from[k] < since)
            since = from[k];
    }
    struct collect colv = {.f = f, .cap = COLLECT_STACK}, *col = &colv;
    col->ts = col->ts_stack;
    col->w = col->w_stack;
    int qrc = f->host->contacts(v, since, v->now + 1, collect_cb, col);
    if (qrc != CG_OK || col->nomem) {
        collect_free(col);
        return CG_ERROR;
    }
    double mine = own_weight(f, v);
    int reserved = reserved_for(f, v);
    int rc = CG_OK;
    int64_t retry = 0;
    const struct window *hit = NULL;
    double hit_total = 0;
    for (size_t k = 0; k < f->n_win; k++) {
        const struct window *w = &f->win[k];
        double limit = w->limit - (reserved ? 0 : f->reserve_slots);
        double total = 0;
        size_t last = 0; /* contacts [0, last) are inside this window */
        for (size_t i = 0; i < col->n; i++)
            if (col->ts[i] >= from[k]) {
                total += col->w[i];
                last = i + 1;
            }
        if (mine <= 0 || total + mine <= limit + 1e-9)
            continue;
        int64_t when = 0;
        if (w->calendar) {
            when = ends[k]; /* nothing leaves a calendar period before it ends */
        } else {
            /* when enough of the oldest contacts have left the window */
            double remaining = total;
            for (size_t i = last; i-- > 0;) {
                remaining -= col->w[i];
                if (remaining + mine <= limit + 1e-9) {
                    when = col->ts[i] + w->secs;
                    break;
                }
            }
        }
        rc = CG_VIOLATION;
        if (col->overflow)
            when = 0; /* cannot tell */
        if (hit == NULL || when > retry || when == 0) {
            retry = when;
            hit = w;
            hit_total = total;
            if (when == 0)
                break; /* never, by this window: nothing later can be worse */
        }
    }
    if (rc == CG_VIOLATION) {
        char span[48];
        window_text(f, hit, span, sizeof span);
        snprintf(out->reason, sizeof out->reason, "at most %g contact%s per %s%s", hit->limit,
                 hit->limit == 1 ? "" : "s", span,
                 reserved ? "" : " (remaining slots reserved for other mail)");
        snprintf(out->detail, sizeof out->detail, "counted=%g own=%g limit=%g window=%s",
                 hit_total, mine, hit->limit, span);
        out->retry_after = retry;
    }
    collect_free(col);
    return rc;
}

/* freq_destroy - free the instance */
static void freq_destroy(void *inst)
{
    free(inst);
}

__attribute__((visibility("default"))) const struct cg_plugin cg_plugin_descriptor = {
    .abi_version = CG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct cg_plugin),
    .name = "frequency",
    .version = "1.0",
    .init = freq_init,
    .evaluate = freq_evaluate,
    .destroy = freq_destroy,
};
