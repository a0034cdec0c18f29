/*
 * quiet_hours.c - contactgate policy plugin: send only inside allowed
 * windows per weekday, in the customer's own time zone.
 *
 * params:
 *   windows   required: [{"days": ["mon", "tue"], "from": "08:00",
 *             "to": "20:00"}, ...]; days are mon..sun, ranges such as
 *             "mon-fri" (wrapping: "fri-mon"), or "*"; times are
 *             "HH:MM" from 00:00 to 24:00, from < to, "to" exclusive. A
 *             weekday without a window allows no mail that day.
 *   timezone  IANA zone used for every customer (default: the customer's
 *             own zone, else the config's default zone)
 *
 * Outside every window the message is a violation whose retry-after is
 * the exact instant the next window opens in that zone. Local times are
 * turned into instants by the host (local_time, local_instant), so DST
 * changes are exact: a window start inside a spring-forward gap opens at
 * the first valid instant after it (the end of the gap); a repeated
 * fall-back hour starts at its first occurrence. evaluate() is
 * thread-safe and never touches TZ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contactgate/plugin.h"

#define MAX_WINDOWS 16  /* per weekday */
#define ZONE_MAX 64

struct win {
    int from, to; /* minutes after local midnight; to exclusive, <= 1440 */
};

struct qh {
    const struct cg_host *host;
    struct win day[7][MAX_WINDOWS]; /* 0 = Monday */
    size_t n[7];
    char zone[ZONE_MAX]; /* "" = the customer's zone */
};

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

/* parse_hhmm - "HH:MM" 00:00..24:00 to minutes, -1 when malformed */
static int parse_hhmm(const char *s)
{
    if (strlen(s) != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 24 || m > 59 || (h == 24 && m != 0))
        return -1;
    return h * 60 + m;
}

/* read_time - one "from"/"to" */
static int read_time(const struct cg_host *h, cg_param *w, const char *key, int *r)
{
    const char *s = NULL;
    if (h->param_string(w, key, 1, &s))
        return CG_ERROR;
    if ((*r = parse_hhmm(s)) < 0)
        return h->param_error(w, key, "\"%s\" is not a time from 00:00 to 24:00 (HH:MM)", s);
    return CG_OK;
}

/* day_index - 0..6 for a day name, -1 otherwise */
static int day_index(const char *s, size_t n)
{
    for (int k = 0; k < 7; k++)
        if (strlen(day_names[k]) == n && strncmp(s, day_names[k], n) == 0)
            return k;
    return -1;
}

/* day_mask - "*", "tue" or a range "mon-fri" (wrapping: "fri-mon") as a
 * bit mask of days; 0 when malformed */
static int day_mask(const char *s)
{
    if (strcmp(s, "*") == 0)
        return 0x7f;
    const char *dash = strchr(s, '-');
    if (!dash) {
        int k = day_index(s, strlen(s));
        return k < 0 ? 0 : 1 << k;
    }
    int a = day_index(s, (size_t)(dash - s)), b = day_index(dash + 1, strlen(dash + 1));
    if (a < 0 || b < 0)
        return 0;
    int mask = 0;
    for (int k = a;; k = (k + 1) % 7) {
        mask |= 1 << k;
        if (k == b)
            break;
    }
    return mask;
}

/* read_window - {"days": [...], "from": "HH:MM", "to": "HH:MM"} */
static int read_window(const struct cg_host *h, struct qh *q, cg_param *w)
{
    static const char *const keys[] = {"days", "from", "to", NULL};
    const char *const *days = NULL;
    size_t nd = 0;
    int from, to;
    if (h->param_keys(w, keys) || h->param_strlist(w, "days", 1, &days, &nd) ||
        read_time(h, w, "from", &from) || read_time(h, w, "to", &to))
        return CG_ERROR;
    if (from >= to)
        return h->param_error(w, "to", "must be later than \"from\"");
    if (nd == 0)
        return h->param_error(w, "days", "needs at least one day");
    int mask = 0;
    for (size_t i = 0; i < nd; i++) {
        int d = day_mask(days[i]);
        if (!d)
            return h->param_error(w, "days",
                                  "\"%s\" is not one of mon..sun, a range such as "
                                  "\"mon-fri\", or \"*\"",
                                  days[i]);
        mask |= d;
    }
    for (int k = 0; k < 7; k++) {
        if (!(mask & (1 << k)))
            continue;
        if (q->n[k] == MAX_WINDOWS)
            return h->param_error(w, "days", "more than %d windows on %s", MAX_WINDOWS,
                                  day_names[k]);
        q->day[k][q->n[k]++] = (struct win){from, to};
    }
    return CG_OK;
}

/* qh_init - validate params */
static int qh_init(const struct cg_host *h, cg_param *p, void **inst_r, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    static const char *const keys[] = {"windows", "timezone", NULL};
    if (h->param_keys(p, keys))
        return CG_ERROR;
    struct qh *q = calloc(1, sizeof *q);
    if (!q)
        return CG_ERROR;
    *inst_r = q;
    q->host = h;
    const char *zone = NULL;
    if (h->param_string(p, "timezone", 0, &zone))
        return CG_ERROR;
    if (zone && (strlen(zone) >= ZONE_MAX || !h->timezone_valid(zone)))
        return h->param_error(p, "timezone", "\"%s\" is not a known time zone", zone);
    if (zone)
        snprintf(q->zone, sizeof q->zone, "%s", zone);
    cg_param *ws = h->param_get(p, "windows");
    if (!ws)
        return h->param_error(p, "windows", "is required");
    long n = h->param_len(ws);
    if (n < 0)
        return CG_ERROR;
    if (n == 0)
        return h->param_error(p, "windows", "needs at least one window");
    for (long i = 0; i < n; i++)
        if (read_window(h, q, h->param_item(ws, i)))
            return CG_ERROR;
    return CG_OK;
}

/* format_local - "YYYY-MM-DD HH:MM" of instant t in zone */
static void format_local(const struct qh *q, const struct cg_message_view *v, const char *zone,
                         int64_t t, char *buf, size_t len)
{
    struct cg_local_time l = {.struct_size = sizeof l};
    if (q->host->local_time(v, zone, t, &l) != CG_OK) {
        snprintf(buf, len, "?");
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02d %02d:%02d", l.year, l.month, l.day, l.hour, l.minute);
}

/* qh_evaluate - inside a window, or a violation until the next one opens */
static int qh_evaluate(void *inst, const struct cg_message_view *v, struct cg_verdict *out)
{
    const struct qh *q = inst;
    const char *zone = q->zone[0] ? q->zone : NULL; /* NULL: the customer's (the host's
                                                        default when unknown) */
    struct cg_local_time now = {.struct_size = sizeof now};
    if (q->host->local_time(v, zone, v->now, &now) != CG_OK)
        return CG_ERROR;
    int64_t next = 0;
    int inside = 0;
    for (int d = 0; d <= 8 && !inside; d++) {
        int k = (now.weekday + d) % 7;
        for (size_t i = 0; i < q->n[k] && !inside; i++) {
            int64_t s, e;
            if (q->host->local_instant(v, zone, now.year, now.month, now.day + d,
                                       q->day[k][i].from, &s) != CG_OK ||
                q->host->local_instant(v, zone, now.year, now.month, now.day + d,
                                       q->day[k][i].to, &e) != CG_OK)
                return CG_ERROR;
            if (s >= e)
                continue; /* the whole window fell into a DST gap */
            if (s <= v->now && v->now < e)
                inside = 1;
            else if (s > v->now && (!next || s < next))
                next = s;
        }
    }
    if (inside)
        return CG_OK;
    char when[32] = "", now_l[32] = "";
    if (next)
        format_local(q, v, zone, next, when, sizeof when);
    format_local(q, v, zone, v->now, now_l, sizeof now_l);
    if (next)
        snprintf(out->reason, sizeof out->reason,
                 "outside the customer's send hours; next window opens %s local", when);
    else
        snprintf(out->reason, sizeof out->reason, "outside the customer's send hours");
    snprintf(out->detail, sizeof out->detail, "zone=%s local=%s next=%s",
             zone ? zone : v->timezone ? v->timezone : "UTC", now_l, next ? when : "none");
    out->retry_after = next;
    return CG_VIOLATION;
}

/* qh_destroy - free the instance */
static void qh_destroy(void *inst)
{
    free(inst);
}

__attribute__((visibility("default"))) const struct cg_plugin cg_plugin_descriptor = {
    .abi_version = CG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct cg_plugin),
    .name = "quiet_hours",
    .version = "1.0",
    .init = qh_init,
    .evaluate = qh_evaluate,
    .destroy = qh_destroy,
};
