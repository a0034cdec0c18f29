/*
 * cg_host.c - the host table handed to plugins: logging, params, category
 * helpers and history queries.
 *
 * Queries go to the store behind the view's ctx and never expose SQL, so
 * the store can change without touching a plugin. A failed query marks
 * the ctx as failed: the engine then treats the policy as undecided
 * (on_error) even if the plugin ignored the error code.
 */
#include <stdarg.h>
#include <string.h>

#include "cg_category.h"
#include "cg_host.h"
#include "cg_msg.h"
#include "cg_log.h"
#include "cg_param.h"
#include "cg_store.h"
#include "cg_tz.h"
#include "cg_util.h"

/* the calling thread's plugin, policy and queue ID (cg_host_context) */
static _Thread_local const char *ctx_plugin, *ctx_policy, *ctx_queue_id;

void cg_host_context(const char *plugin, const char *policy, const char *queue_id)
{
    ctx_plugin = plugin;
    ctx_policy = policy;
    ctx_queue_id = queue_id;
}

/* host_log - plugin log lines: "QUEUEID: plugin NAME (policy P): ..." */
static void host_log(int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cg_log(level, "%s%splugin %s%s%s%s: %s", ctx_queue_id ? ctx_queue_id : "",
           ctx_queue_id ? ": " : "", ctx_plugin ? ctx_plugin : "?",
           ctx_policy ? " (policy " : "", ctx_policy ? ctx_policy : "", ctx_policy ? ")" : "",
           line);
}

/* no_history - a history query from a plugin that declared it reads none */
static int no_history(const struct cg_message_view *v, const char *what)
{
    if (v->ctx->st)
        return 0;
    cg_log(LOG_ERR, "%s%splugin %s: %s() called, but the plugin declares "
           "CG_PLUGIN_NO_HISTORY: it runs outside the store", ctx_queue_id ? ctx_queue_id : "",
           ctx_queue_id ? ": " : "", ctx_plugin ? ctx_plugin : "?", what);
    v->ctx->failed = 1;
    return 1;
}

/* host_category_match - does category match one of the patterns */
static int host_category_match(const char *category, const char *const *patterns)
{
    for (size_t i = 0; patterns && patterns[i]; i++)
        if (cg_category_match(patterns[i], category))
            return 1;
    return 0;
}

/* host_categories_within - is every candidate inside the patterns */
static int host_categories_within(const struct cg_message_view *v, const char *const *patterns)
{
    if (!patterns || !patterns[0] || v->n_categories == 0)
        return 0;
    for (size_t i = 0; i < v->n_categories; i++) {
        int inside = 0;
        for (size_t k = 0; patterns[k] && !inside; k++)
            inside = cg_category_subsumes(patterns[k], v->categories[i]);
        if (!inside)
            return 0;
    }
    return 1;
}

/* host_categories_overlap - might any candidate fall under the patterns */
static int host_categories_overlap(const struct cg_message_view *v, const char *const *patterns)
{
    for (size_t i = 0; i < v->n_categories; i++)
        for (size_t k = 0; patterns && patterns[k]; k++)
            if (cg_category_subsumes(patterns[k], v->categories[i]) ||
                cg_category_subsumes(v->categories[i], patterns[k]))
                return 1;
    return 0;
}

struct contacts_arg {
    cg_contact_cb cb;
    void *arg;
};

/* contacts_adapt - store row to plugin contact */
static int contacts_adapt(const struct cg_contact_row *row, void *arg)
{
    struct contacts_arg *ca = arg;
    struct cg_contact c = {
        .struct_size = sizeof c,
        .ts = row->ts,
        .department = row->department ? row->department : "",
        .category = row->category ? row->category : "",
        .channel = row->channel ? row->channel : "email",
        .weight = row->weight,
        .digest = row->digest,
    };
    return ca->cb(&c, ca->arg);
}

/* Contacts kept per decision: at most this many (a customer with more in
 * the range is queried directly every time). */
#define CG_CONTACT_CACHE_MAX 2048

static void cache_rows_free(struct cg_contact_cache *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free((char *)c->rows[i].department);
        free((char *)c->rows[i].category);
        free((char *)c->rows[i].channel);
        free((char *)c->rows[i].digest);
    }
    c->n = 0;
    c->valid = 0;
}

void cg_query_ctx_clear(struct cg_query_ctx *ctx)
{
    cache_rows_free(&ctx->contacts);
    free(ctx->contacts.rows);
    ctx->contacts.rows = NULL;
    ctx->contacts.cap = 0;
    for (size_t i = 0; i < ctx->n_states; i++)
        free((char *)ctx->states[i].name);
    free(ctx->states);
    ctx->states = NULL;
    ctx->n_states = 0;
    ctx->states_valid = 0;
}

/* cache_add - keep one store row; non-zero stops (cache full) */
static int cache_add(const struct cg_contact_row *row, void *arg)
{
    struct cg_contact_cache *c = arg;
    if (c->n == CG_CONTACT_CACHE_MAX)
        return 1;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->rows = cg_xrealloc(c->rows, c->cap * sizeof *c->rows);
    }
    c->rows[c->n++] = (struct cg_contact){
        .struct_size = sizeof(struct cg_contact),
        .ts = row->ts,
        .department = cg_xstrdup(row->department ? row->department : ""),
        .category = cg_xstrdup(row->category ? row->category : ""),
        .channel = cg_xstrdup(row->channel ? row->channel : "email"),
        .weight = row->weight,
        .digest = row->digest ? cg_xstrdup(row->digest) : NULL,
    };
    return 0;
}

/* host_contacts - the customer's contacts in [since, until), newest first.
 * The first query of a decision is kept; a later one inside its range (the
 * next policy's week) is answered from it. */
static int host_contacts(const struct cg_message_view *v, int64_t since, int64_t until,
                         cg_contact_cb cb, void *arg)
{
    struct cg_contact_cache *c = &v->ctx->contacts;
    if (no_history(v, "contacts"))
        return CG_ERROR;
    if (!(c->valid && c->since <= since && until <= c->until)) {
        cache_rows_free(c);
        int full = 0;
        struct contacts_arg ca = {cb, arg};
        /* fill the cache; if the customer has too many contacts, stream */
        int rc = cg_store_contacts(v->ctx->st, v->customer, since, until, cache_add, c);
        if (rc == 0 && c->n == CG_CONTACT_CACHE_MAX) {
            full = 1;
            cache_rows_free(c);
            rc = cg_store_contacts(v->ctx->st, v->customer, since, until, contacts_adapt, &ca);
        }
        if (rc < 0) {
            cache_rows_free(c);
            cg_log(LOG_ERR, "store: contact query failed: %s", cg_store_errmsg(v->ctx->st));
            v->ctx->failed = 1;
            return CG_ERROR;
        }
        if (full)
            return CG_OK;
        c->valid = 1;
        c->since = since;
        c->until = until;
    }
    for (size_t i = 0; i < c->n; i++)
        if (c->rows[i].ts >= since && c->rows[i].ts < until && cb(&c->rows[i], arg))
            break;
    return CG_OK;
}

struct counts_arg {
    cg_count_cb cb;
    void *arg;
};

/* counts_adapt - store bucket to plugin bucket */
static int counts_adapt(const struct cg_count_bucket *b, void *arg)
{
    struct counts_arg *ca = arg;
    struct cg_count c = {
        .struct_size = sizeof c,
        .start = b->start,
        .end = b->end,
        .category = b->category ? b->category : "",
        .n = b->n,
    };
    return ca->cb(&c, ca->arg);
}

/* host_department_counts - a department's volume from its counters */
static int host_department_counts(const struct cg_message_view *v, const char *department,
                                  int64_t since, int64_t until, cg_count_cb cb, void *arg)
{
    struct counts_arg ca = {cb, arg};
    if (!department || no_history(v, "department_counts"))
        return CG_ERROR;
    if (cg_store_dept_counts(v->ctx->st, department, since, until, counts_adapt, &ca) < 0) {
        cg_log(LOG_ERR, "store: department counters: %s", cg_store_errmsg(v->ctx->st));
        v->ctx->failed = 1;
        return CG_ERROR;
    }
    return CG_OK;
}

/* state_keep - copy one open state into the ctx */
static int state_keep(const struct cg_state_row *row, void *arg)
{
    struct cg_query_ctx *ctx = arg;
    ctx->states = cg_xrealloc(ctx->states, (ctx->n_states + 1) * sizeof *ctx->states);
    ctx->states[ctx->n_states++] = (struct cg_state){
        .struct_size = sizeof(struct cg_state),
        .name = cg_xstrdup(row->state),
        .since = row->since,
        .until = row->until,
    };
    return 0;
}

/* host_states - the customer's open states (read once per decision) */
static int host_states(const struct cg_message_view *v, cg_state_cb cb, void *arg)
{
    struct cg_query_ctx *ctx = v->ctx;
    if (no_history(v, "states"))
        return CG_ERROR;
    if (!ctx->states_valid) {
        if (cg_store_states(ctx->st, v->customer, v->now > 0 ? v->now : 1, state_keep, ctx) < 0) {
            cg_log(LOG_ERR, "store: state query failed: %s", cg_store_errmsg(ctx->st));
            ctx->failed = 1;
            return CG_ERROR;
        }
        ctx->states_valid = 1;
    }
    for (size_t i = 0; i < ctx->n_states; i++)
        if (cb(&ctx->states[i], arg))
            break;
    return CG_OK;
}

/* host_opted_out - customer or address opted out of category */
static int host_opted_out(const struct cg_message_view *v, const char *category, int *r)
{
    *r = 0;
    if (no_history(v, "opted_out"))
        return CG_ERROR;
    if (cg_store_opted_out(v->ctx->st, v->customer, v->address, category, v->now, r) < 0) {
        cg_log(LOG_ERR, "store: opt-out query failed: %s", cg_store_errmsg(v->ctx->st));
        v->ctx->failed = 1;
        return CG_ERROR;
    }
    return CG_OK;
}

/* host_header - a header of the message, at end of message only */
static const char *host_header(const struct cg_message_view *v, const char *name)
{
    if (v->stage != CG_STAGE_EOM || !v->ctx->m || !name)
        return NULL;
    return cg_msg_header(v->ctx->m, name);
}

/* host_calendar_period - a day, week or month in the customer's zone */
static int host_calendar_period(const struct cg_message_view *v, const char *zone, int unit,
                                int64_t t, int64_t *start, int64_t *next)
{
    const char *z = zone ? zone : v->timezone ? v->timezone : "UTC";
    if (unit < CG_PERIOD_DAY || unit > CG_PERIOD_MONTH)
        return CG_ERROR;
    if (cg_tz_period(z, unit, t, start, next) < 0) {
        cg_log(LOG_WARNING, "time zone \"%s\" unknown, using UTC", z);
        if (cg_tz_period("UTC", unit, t, start, next) < 0)
            return CG_ERROR;
    }
    return CG_OK;
}

/* zone_of - the zone a time helper works in; an unknown one is logged and
 * replaced by UTC */
static const char *zone_of(const struct cg_message_view *v, const char *zone)
{
    const char *z = zone ? zone : v && v->timezone ? v->timezone : "UTC";
    if (!cg_tz_valid(z)) {
        cg_log(LOG_WARNING, "time zone \"%.64s\" unknown, using UTC", z);
        z = "UTC";
    }
    return z;
}

/* host_local_time - the local time of t */
static int host_local_time(const struct cg_message_view *v, const char *zone, int64_t t,
                           struct cg_local_time *out)
{
    struct cg_tz_local l;
    if (cg_tz_local(zone_of(v, zone), t, &l) < 0)
        return CG_ERROR;
    size_t size = out->struct_size;
    memset(out, 0, sizeof *out);
    out->struct_size = size;
    out->year = l.year;
    out->month = l.month;
    out->day = l.day;
    out->weekday = l.weekday;
    out->hour = l.hour;
    out->minute = l.minute;
    out->second = l.second;
    out->utc_offset_secs = l.offset_secs;
    return CG_OK;
}

/* host_local_instant - the instant of a local date and minute */
static int host_local_instant(const struct cg_message_view *v, const char *zone, int year,
                              int month, int day, int minute_of_day, int64_t *t_r)
{
    if (minute_of_day < 0 || minute_of_day > 1440)
        return CG_ERROR;
    return cg_tz_instant(zone_of(v, zone), year, month, day, minute_of_day, t_r) < 0 ? CG_ERROR
                                                                                     : CG_OK;
}

const struct cg_host cg_host_table = {
    .struct_size = sizeof(struct cg_host),
    .abi_version = CG_PLUGIN_ABI_VERSION,
    .log = host_log,
    .param_keys = cg_param_keys,
    .param_get = cg_param_get,
    .param_len = cg_param_len,
    .param_item = cg_param_item,
    .param_string = cg_param_string,
    .param_number = cg_param_number,
    .param_int = cg_param_int,
    .param_bool = cg_param_bool,
    .param_duration = cg_param_duration,
    .param_strlist = cg_param_strlist,
    .param_error = cg_param_error,
    .category_match = host_category_match,
    .categories_within = host_categories_within,
    .contacts = host_contacts,
    .states = host_states,
    .opted_out = host_opted_out,
    .categories_overlap = host_categories_overlap,
    .department_counts = host_department_counts,
    .header = host_header,
    .calendar_period = host_calendar_period,
    .timezone_valid = cg_tz_valid,
    .local_time = host_local_time,
    .local_instant = host_local_instant,
    .duration_text = cg_tz_duration_text,
};
