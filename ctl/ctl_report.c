/*
 * ctl_report.c - contactgatectl report: what contactgate let through,
 * tagged, deferred, rejected and held, per department and per policy, with
 * the most frequent reasons, as text, JSON or one self-contained HTML file
 * (inline CSS and SVG; no script, no fetch, no external font).
 *
 * The store does the counting (cg_store_report.h); this file only lays the
 * aggregates out. The report holds no customer data: counts and the names
 * of departments, policies and reasons only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cg_store_report.h"
#include "cg_util.h"
#include "ctl.h"

#define REPORT_DAY 86400
#define REPORT_DEFAULT_DAYS 30
#define REPORT_TOP 5       /* reasons per policy */
#define REPORT_HIST_CAP 20 /* "20 or more contacts" is the last bucket */

enum report_format { FMT_TEXT, FMT_JSON, FMT_HTML };

/* the verdict columns, in table and chart order */
enum { V_SENT, V_TAGGED, V_MONITORED, V_DEFERRED, V_ATTEMPTS, V_REJECTED, V_HELD, V_TEMPFAIL,
       V_COUNT };
static const char *const v_json[V_COUNT] = {"sent", "tagged", "monitored", "deferred",
                                            "deferred_attempts", "rejected", "held", "tempfail"};
static const char *const v_head[V_COUNT] = {"SENT", "TAGGED", "MONITORED", "DEFERRED",
                                            "ATTEMPTS", "REJECTED", "HELD", "TEMPFAIL"};
static const char *const v_html[V_COUNT] = {"Sent", "Tagged", "of which monitored",
                                            "Deferred (messages)", "Deferral attempts",
                                            "Rejected", "Held", "Tempfail"};

struct reason {
    char *text;
    int64_t n;
};

struct row {
    char *key;                  /* department or policy; NULL: none logged */
    int64_t v[V_COUNT];
    struct reason top[REPORT_TOP];
    int ntop;
};

struct rows {
    struct row *r;
    size_t n;
};

struct bucket {
    int64_t contacts, customers;
};

struct report {
    struct cg_report_range range;
    int64_t now, ndays;
    struct rows depts, pols;
    struct row total;
    struct bucket *hist;
    size_t nhist;
    int64_t *grid;              /* [dept][day][V_COUNT] */
    int64_t released, dropped;  /* held mail an admin released or dropped */
};

/* --- collecting ---------------------------------------------------------- */

static void counts_to(int64_t *v, const struct cg_report_counts *c)
{
    v[V_SENT] = c->sent;
    v[V_TAGGED] = c->tagged;
    v[V_MONITORED] = c->monitored;
    v[V_DEFERRED] = c->deferred;
    v[V_ATTEMPTS] = c->defer_attempts;
    v[V_REJECTED] = c->rejected;
    v[V_HELD] = c->held;
    v[V_TEMPFAIL] = c->tempfail;
}

static int same_key(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* find - the row with this key, or NULL */
static struct row *find(struct rows *rs, const char *key)
{
    for (size_t i = 0; i < rs->n; i++)
        if (same_key(rs->r[i].key, key))
            return &rs->r[i];
    return NULL;
}

static int collect_row(const struct cg_report_counts *c, void *arg)
{
    struct rows *rs = arg;
    rs->r = cg_xrealloc(rs->r, (rs->n + 1) * sizeof *rs->r);
    struct row *r = &rs->r[rs->n++];
    memset(r, 0, sizeof *r);
    r->key = cg_xstrdup(c->key);
    counts_to(r->v, c);
    return 0;
}

static int collect_reason(const char *policy, const char *reason, int64_t n, void *arg)
{
    struct row *r = find(arg, policy);
    if (r && r->ntop < REPORT_TOP) {
        r->top[r->ntop].text = cg_xstrdup(reason ? reason : "(no reason given)");
        r->top[r->ntop++].n = n;
    }
    return 0;
}

static int collect_bucket(int64_t contacts, int64_t customers, void *arg)
{
    struct report *rp = arg;
    rp->hist = cg_xrealloc(rp->hist, (rp->nhist + 1) * sizeof *rp->hist);
    rp->hist[rp->nhist].contacts = contacts;
    rp->hist[rp->nhist++].customers = customers;
    return 0;
}

static int collect_day(const struct cg_report_counts *c, void *arg)
{
    struct report *rp = arg;
    for (size_t i = 0; i < rp->depts.n; i++)
        if (same_key(rp->depts.r[i].key, c->key) && c->day >= 0 && c->day < rp->ndays) {
            counts_to(&rp->grid[((int64_t)i * rp->ndays + c->day) * V_COUNT], c);
            break;
        }
    return 0;
}

static int64_t *day_cell(const struct report *rp, size_t dept, int64_t day)
{
    return &rp->grid[((int64_t)dept * rp->ndays + day) * V_COUNT];
}

static void rows_free(struct rows *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->r[i].key);
        for (int k = 0; k < rs->r[i].ntop; k++)
            free(rs->r[i].top[k].text);
    }
    free(rs->r);
    rs->r = NULL;
    rs->n = 0;
}

static void report_free(struct report *rp)
{
    rows_free(&rp->depts);
    rows_free(&rp->pols);
    free(rp->hist);
    free(rp->grid);
}

/* report_load - run the queries; -1 on a store error */
static int report_load(cg_store *st, struct report *rp)
{
    const struct cg_report_range *r = &rp->range;
    if (cg_store_report_counts(st, r, CG_REPORT_BY_DEPARTMENT, collect_row, &rp->depts) < 0 ||
        cg_store_report_counts(st, r, CG_REPORT_BY_POLICY, collect_row, &rp->pols) < 0 ||
        cg_store_report_reasons(st, r, REPORT_TOP, collect_reason, &rp->pols) < 0 ||
        cg_store_report_histogram(st, r, REPORT_HIST_CAP, collect_bucket, rp) < 0 ||
        cg_store_report_held_outcomes(st, r, &rp->released, &rp->dropped) < 0)
        return -1;
    for (size_t i = 0; i < rp->depts.n; i++)
        for (int k = 0; k < V_COUNT; k++)
            rp->total.v[k] += rp->depts.r[i].v[k];
    size_t cells = (rp->depts.n ? rp->depts.n : 1) * (size_t)rp->ndays * V_COUNT;
    rp->grid = cg_xcalloc(cells, sizeof *rp->grid);
    return cg_store_report_counts(st, r, CG_REPORT_BY_DEPARTMENT_DAY, collect_day, rp);
}

/* --- shared formatting ------------------------------------------------------ */

static const char *day_name(const struct report *rp, int64_t day, char *buf, size_t len)
{
    time_t t = (time_t)(rp->range.day0 + day * REPORT_DAY);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d", &tm))
        cg_strlcpy(buf, "?", len);
    return buf;
}

/* duration - the range's length: "30 days", "36 hours", "2.5 days" */
static const char *duration(const struct report *rp, char *buf, size_t len)
{
    int64_t secs = rp->range.until - rp->range.since;
    if (secs % REPORT_DAY == 0)
        snprintf(buf, len, "%lld day%s", (long long)(secs / REPORT_DAY),
                 secs == REPORT_DAY ? "" : "s");
    else if (secs < 2 * REPORT_DAY && secs % 3600 == 0)
        snprintf(buf, len, "%lld hour%s", (long long)(secs / 3600), secs == 3600 ? "" : "s");
    else
        snprintf(buf, len, "%.1f days", (double)secs / REPORT_DAY);
    return buf;
}

static const char *key_name(const char *key, const char *none)
{
    return key ? key : none;
}

/* bucket_label - "3", or "20+" for the last, open bucket */
static const char *bucket_label(int64_t contacts, char *buf, size_t len)
{
    snprintf(buf, len, "%lld%s", (long long)contacts, contacts >= REPORT_HIST_CAP ? "+" : "");
    return buf;
}

/* --- text ----------------------------------------------------------------- */

static void text_table(struct cg_buf *b, const char *title, const char *head,
                       const struct rows *rs, const struct row *total, int first, const char *none)
{
    int w = (int)strlen(head);
    for (size_t i = 0; i < rs->n; i++) {
        int l = (int)strlen(key_name(rs->r[i].key, none));
        if (l > w)
            w = l;
    }
    if (total && w < 5)
        w = 5;
    cg_buf_printf(b, "%s\n%-*s", title, w, head);
    for (int k = first; k < V_COUNT; k++)
        cg_buf_printf(b, "  %9s", v_head[k]);
    cg_buf_add(b, "\n");
    if (!rs->n)
        cg_buf_add(b, "(nothing in this range)\n");
    for (size_t i = 0; i <= rs->n; i++) {
        const struct row *r = i < rs->n ? &rs->r[i] : total;
        if (!r)
            break;
        cg_buf_printf(b, "%-*s", w, i < rs->n ? key_name(r->key, none) : "TOTAL");
        for (int k = first; k < V_COUNT; k++)
            cg_buf_printf(b, "  %9lld", (long long)r->v[k]);
        cg_buf_add(b, "\n");
    }
}

static void text_report(struct cg_buf *b, const struct report *rp)
{
    char since[32], until[32], gen[32], lab[32], dur[32];
    cg_buf_printf(b, "Contact strategy report\n"
                     "  range       %s .. %s (%s, end exclusive)\n"
                     "  department  %s\n"
                     "  generated   %s\n\n",
                  cg_format_time(rp->range.since, since, sizeof since),
                  cg_format_time(rp->range.until, until, sizeof until),
                  duration(rp, dur, sizeof dur),
                  rp->range.department ? rp->range.department : "all",
                  cg_format_time(rp->now, gen, sizeof gen));
    if (rp->range.relay) /* one relay's share: its decisions and the mail it let through */
        cg_buf_printf(b, "  relay       %s\n\n", rp->range.relay);
    text_table(b, "Per department", "DEPARTMENT", &rp->depts, &rp->total, V_SENT, "(none)");
    cg_buf_printf(b, "Held mail reviewed in this range: %lld released, %lld dropped\n\n",
                  (long long)rp->released, (long long)rp->dropped);
    text_table(b, "Per policy (the policy that decided)", "POLICY", &rp->pols, NULL, V_TAGGED,
               "(none)");
    cg_buf_add(b, "\nTop reasons per policy (decisions)\n");
    int any = 0;
    for (size_t i = 0; i < rp->pols.n; i++) {
        const struct row *r = &rp->pols.r[i];
        if (!r->ntop)
            continue;
        any = 1;
        cg_buf_printf(b, "  %s\n", key_name(r->key, "(none)"));
        for (int k = 0; k < r->ntop; k++)
            cg_buf_printf(b, "    %9lld  %s\n", (long long)r->top[k].n, r->top[k].text);
    }
    if (!any)
        cg_buf_add(b, "  (none)\n");
    cg_buf_add(b, "\nContacts per customer (any channel)\n CONTACTS  CUSTOMERS\n");
    for (size_t i = 0; i < rp->nhist; i++)
        cg_buf_printf(b, "%9s  %9lld\n", bucket_label(rp->hist[i].contacts, lab, sizeof lab),
                      (long long)rp->hist[i].customers);
    if (!rp->nhist)
        cg_buf_add(b, "(no contacts in this range)\n");
    cg_buf_add(b, "\nSENT counts e-mail contacts recorded (accepted and tagged mail, one per\n"
                  "customer). The other columns count decisions per recipient; DEFERRED counts\n"
                  "messages (distinct Message-ID and recipient), ATTEMPTS every deferral.\n"
                  "MONITORED: tagged only because a policy in monitor mode was violated.\n");
}

/* --- JSON ------------------------------------------------------------------- */

/* jtext - a JSON string even for bytes that are not UTF-8 (shown as '?') */
static json_t *jtext(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    char *c = cg_xstrdup(s);
    for (char *p = c; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(c);
    free(c);
    return j ? j : json_string("?");
}

static void json_counts(json_t *o, const int64_t *v, int first)
{
    for (int k = first; k < V_COUNT; k++)
        json_object_set_new(o, v_json[k], json_integer(v[k]));
}

static json_t *json_report(const struct report *rp)
{
    char ts[32];
    json_t *o = json_object(), *range = json_object();
    json_object_set_new(range, "since", json_string(cg_format_time(rp->range.since, ts, sizeof ts)));
    json_object_set_new(range, "until", json_string(cg_format_time(rp->range.until, ts, sizeof ts)));
    json_object_set_new(range, "seconds", json_integer(rp->range.until - rp->range.since));
    json_object_set_new(range, "days_basis", json_string("UTC"));
    json_object_set_new(range, "department", jtext(rp->range.department));
    if (rp->range.relay)
        json_object_set_new(range, "relay", jtext(rp->range.relay));
    json_object_set_new(range, "generated", json_string(cg_format_time(rp->now, ts, sizeof ts)));
    json_object_set_new(o, "range", range);

    json_t *arr = json_array();
    for (size_t i = 0; i < rp->depts.n; i++) {
        json_t *d = json_object();
        json_object_set_new(d, "department", jtext(rp->depts.r[i].key));
        json_counts(d, rp->depts.r[i].v, V_SENT);
        json_array_append_new(arr, d);
    }
    json_object_set_new(o, "departments", arr);
    json_t *tot = json_object();
    json_counts(tot, rp->total.v, V_SENT);
    json_object_set_new(o, "totals", tot);
    json_t *ho = json_object();
    json_object_set_new(ho, "released", json_integer(rp->released));
    json_object_set_new(ho, "dropped", json_integer(rp->dropped));
    json_object_set_new(o, "held_reviewed", ho);

    arr = json_array();
    for (size_t i = 0; i < rp->pols.n; i++) {
        const struct row *r = &rp->pols.r[i];
        json_t *p = json_object(), *top = json_array();
        json_object_set_new(p, "policy", jtext(r->key));
        json_counts(p, r->v, V_TAGGED);
        for (int k = 0; k < r->ntop; k++) {
            json_t *t = json_object();
            json_object_set_new(t, "reason", jtext(r->top[k].text));
            json_object_set_new(t, "count", json_integer(r->top[k].n));
            json_array_append_new(top, t);
        }
        json_object_set_new(p, "top_reasons", top);
        json_array_append_new(arr, p);
    }
    json_object_set_new(o, "policies", arr);

    arr = json_array();
    for (size_t i = 0; i < rp->nhist; i++) {
        json_t *h = json_object();
        json_object_set_new(h, "contacts", json_integer(rp->hist[i].contacts));
        json_object_set_new(h, "customers", json_integer(rp->hist[i].customers));
        if (rp->hist[i].contacts >= REPORT_HIST_CAP)
            json_object_set_new(h, "or_more", json_true());
        json_array_append_new(arr, h);
    }
    json_object_set_new(o, "contacts_per_customer", arr);

    /* sparse: only the days on which a department had something */
    arr = json_array();
    for (int64_t day = 0; day < rp->ndays; day++)
        for (size_t i = 0; i < rp->depts.n; i++) {
            const int64_t *v = day_cell(rp, i, day);
            int any = 0;
            for (int k = 0; k < V_COUNT; k++)
                any |= v[k] != 0;
            if (!any)
                continue;
            json_t *d = json_object();
            json_object_set_new(d, "day", json_string(day_name(rp, day, ts, sizeof ts)));
            json_object_set_new(d, "department", jtext(rp->depts.r[i].key));
            json_counts(d, v, V_SENT);
            json_array_append_new(arr, d);
        }
    json_object_set_new(o, "per_day", arr);
    return o;
}

/* --- HTML ------------------------------------------------------------------- */

/* esc - s escaped for HTML text and attribute values */
static void esc(struct cg_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': cg_buf_add(b, "&amp;"); break;
        case '<': cg_buf_add(b, "&lt;"); break;
        case '>': cg_buf_add(b, "&gt;"); break;
        case '"': cg_buf_add(b, "&quot;"); break;
        case '\'': cg_buf_add(b, "&#39;"); break;
        default: cg_buf_addn(b, s, 1);
        }
    }
}

/* the stacked segments of the per-day chart: accepted is sent minus tagged */
enum { S_ACCEPTED, S_TAGGED, S_DEFERRED, S_REJECTED, S_HELD, S_TEMPFAIL, S_COUNT };
static const char *const s_name[S_COUNT] = {"accepted", "tagged", "deferred", "rejected", "held",
                                            "tempfail"};
static const char *const s_color[S_COUNT] = {"#3a8f5c", "#7fb2d9", "#e8a317", "#c9372c",
                                             "#7c5cc4", "#8a8a8a"};

static void segments(const int64_t *v, int64_t *s)
{
    s[S_ACCEPTED] = v[V_SENT] > v[V_TAGGED] ? v[V_SENT] - v[V_TAGGED] : 0;
    s[S_TAGGED] = v[V_TAGGED];
    s[S_DEFERRED] = v[V_DEFERRED];
    s[S_REJECTED] = v[V_REJECTED];
    s[S_HELD] = v[V_HELD];
    s[S_TEMPFAIL] = v[V_TEMPFAIL];
}

/* axis_step - a round tick step (1, 2, 5 x 10^n) for about four ticks */
static int64_t axis_step(int64_t max)
{
    int64_t want = (max + 3) / 4, p = 1;
    if (want < 1)
        return 1;
    while (p * 10 <= want)
        p *= 10;
    if (p >= want)
        return p;
    return 2 * p >= want ? 2 * p : 5 * p >= want ? 5 * p : 10 * p;
}

/* y_axis - grid lines and labels; returns the top of the scale */
static int64_t y_axis(struct cg_buf *b, int64_t max, double x0, double x1, double y0, double h)
{
    int64_t step = axis_step(max), top = step * ((max + step - 1) / step);
    if (top <= 0)
        top = step;
    for (int64_t t = 0; t <= top; t += step) {
        double y = y0 - h * (double)t / (double)top;
        cg_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                         "<text x=\"%.1f\" y=\"%.1f\" class=\"ylab\">%lld</text>\n",
                      x0, y, x1, y, x0 - 6, y + 4, (long long)t);
    }
    return top;
}

static void html_hist(struct cg_buf *b, const struct report *rp)
{
    if (!rp->nhist) {
        cg_buf_add(b, "<p class=\"empty\">No contacts in this range.</p>\n");
        return;
    }
    /* every count from the first bucket to the last, empty ones included */
    int64_t lo = rp->hist[0].contacts, hi = rp->hist[rp->nhist - 1].contacts, max = 0;
    for (size_t i = 0; i < rp->nhist; i++)
        if (rp->hist[i].customers > max)
            max = rp->hist[i].customers;
    int64_t n = hi - lo + 1;
    const double W = 1000, H = 230, L = 60, R = 20, T = 16, B = 44;
    double pw = W - L - R, ph = H - T - B, slot = pw / (double)n, bw = slot * 0.75;
    cg_buf_printf(b, "<svg id=\"chart-contacts-per-customer\" class=\"chart\" role=\"img\""
                     " viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\""
                     ">\n"
                     "<title>Contacts per customer: how many customers got N contacts</title>\n",
                  W, H, W, H);
    int64_t top = y_axis(b, max, L, W - R, T + ph, ph);
    size_t i = 0;
    for (int64_t k = lo; k <= hi; k++) {
        int64_t c = 0;
        if (i < rp->nhist && rp->hist[i].contacts == k)
            c = rp->hist[i++].customers;
        char lab[32];
        double x = L + slot * (double)(k - lo) + (slot - bw) / 2, h = ph * (double)c / (double)top;
        cg_buf_printf(b, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\""
                         " fill=\"#2f6f9f\"><title>%s contact%s: %lld customer%s</title></rect>\n",
                      x, T + ph - h, bw, h, bucket_label(k, lab, sizeof lab), k == 1 ? "" : "s",
                      (long long)c, c == 1 ? "" : "s");
        if (n <= 40 && c > 0)
            cg_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"val\">%lld</text>\n",
                          x + bw / 2, T + ph - h - 4, (long long)c);
        cg_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"xlab\">%s</text>\n", x + bw / 2,
                      T + ph + 16, lab);
    }
    cg_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"axis\">contacts in the range</text>\n"
                     "<text x=\"14\" y=\"%.1f\" class=\"axis\" transform=\"rotate(-90 14 %.1f)\">"
                     "customers</text>\n</svg>\n",
                  L + pw / 2, H - 8, T + ph / 2, T + ph / 2);
}

static void html_legend(struct cg_buf *b)
{
    cg_buf_add(b, "<svg id=\"chart-legend\" class=\"legend\" viewBox=\"0 0 700 24\" width=\"700\""
                  " height=\"24\">\n");
    for (int s = 0; s < S_COUNT; s++)
        cg_buf_printf(b, "<rect x=\"%d\" y=\"5\" width=\"14\" height=\"14\" fill=\"%s\"/>"
                         "<text x=\"%d\" y=\"17\">%s</text>\n",
                      s * 115, s_color[s], s * 115 + 20, s_name[s]);
    cg_buf_add(b, "</svg>\n");
}

static void html_days(struct cg_buf *b, const struct report *rp)
{
    if (!rp->depts.n) {
        cg_buf_add(b, "<p class=\"empty\">Nothing in this range.</p>\n");
        return;
    }
    html_legend(b);
    cg_buf_add(b, "<div class=\"multiples\">\n");
    const double W = 520, H = 150, L = 40, R = 10, T = 10, B = 24;
    double pw = W - L - R, ph = H - T - B, slot = pw / (double)rp->ndays;
    double bw = slot > 3 ? slot * 0.8 : slot;
    int64_t every = (rp->ndays + 7) / 8; /* about eight date labels */
    for (size_t i = 0; i < rp->depts.n; i++) {
        const char *dept = key_name(rp->depts.r[i].key, "(none)");
        int64_t max = 0, s[S_COUNT];
        for (int64_t d = 0; d < rp->ndays; d++) {
            segments(day_cell(rp, i, d), s);
            int64_t sum = 0;
            for (int k = 0; k < S_COUNT; k++)
                sum += s[k];
            if (sum > max)
                max = sum;
        }
        cg_buf_add(b, "<figure class=\"dept\"><figcaption>");
        esc(b, dept);
        cg_buf_printf(b, "</figcaption>\n<svg class=\"chart dept-day\" role=\"img\""
                         " viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\""
                         "><title>Verdicts per day: ",
                      W, H, W, H);
        esc(b, dept);
        cg_buf_add(b, "</title>\n");
        int64_t top = y_axis(b, max, L, W - R, T + ph, ph);
        char day[32];
        for (int64_t d = 0; d < rp->ndays; d++) {
            segments(day_cell(rp, i, d), s);
            double x = L + slot * (double)d + (slot - bw) / 2, y = T + ph;
            day_name(rp, d, day, sizeof day);
            for (int k = 0; k < S_COUNT; k++) {
                if (!s[k])
                    continue;
                double h = ph * (double)s[k] / (double)top;
                y -= h;
                cg_buf_printf(b, "<rect class=\"seg %s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\""
                                 " height=\"%.2f\" fill=\"%s\"><title>",
                              s_name[k], x, y, bw, h, s_color[k]);
                esc(b, dept);
                cg_buf_printf(b, " %s: %lld %s</title></rect>\n", day, (long long)s[k], s_name[k]);
            }
            if (d % every == 0)
                cg_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"xlab\">%s</text>\n",
                              x + bw / 2, T + ph + 16, day + 5);
        }
        cg_buf_add(b, "</svg></figure>\n");
    }
    cg_buf_add(b, "</div>\n");
}

static void html_table(struct cg_buf *b, const char *head, const struct rows *rs,
                       const struct row *total, int first, int reasons)
{
    cg_buf_printf(b, "<table>\n<thead><tr><th>%s</th>", head);
    for (int k = first; k < V_COUNT; k++)
        cg_buf_printf(b, "<th class=\"n\">%s</th>", v_html[k]);
    if (reasons)
        cg_buf_printf(b, "<th>Top reasons (up to %d)</th>", REPORT_TOP);
    cg_buf_add(b, "</tr></thead>\n<tbody>\n");
    for (size_t i = 0; i <= rs->n; i++) {
        const struct row *r = i < rs->n ? &rs->r[i] : total;
        if (!r)
            break;
        cg_buf_add(b, i < rs->n ? "<tr><td>" : "<tr class=\"total\"><td>");
        esc(b, i < rs->n ? key_name(r->key, "(none)") : "Total");
        cg_buf_add(b, "</td>");
        for (int k = first; k < V_COUNT; k++)
            cg_buf_printf(b, "<td class=\"n%s\">%lld</td>", r->v[k] ? "" : " zero",
                          (long long)r->v[k]);
        if (reasons) {
            cg_buf_add(b, "<td class=\"reasons\">");
            if (r->ntop)
                cg_buf_add(b, "<ol>");
            for (int k = 0; k < r->ntop; k++) {
                cg_buf_printf(b, "<li><span class=\"cnt\">%lld</span> ", (long long)r->top[k].n);
                esc(b, r->top[k].text);
                cg_buf_add(b, "</li>");
            }
            cg_buf_add(b, r->ntop ? "</ol></td>" : "</td>");
        }
        cg_buf_add(b, "</tr>\n");
    }
    if (!rs->n)
        cg_buf_printf(b, "<tr><td colspan=\"%d\" class=\"empty\">Nothing in this range.</td></tr>\n",
                      V_COUNT - first + 1 + reasons);
    cg_buf_add(b, "</tbody></table>\n");
}

static const char html_css[] =
    "body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,"
    "sans-serif;color:#1d2733;background:#fff;margin:0;padding:24px 32px;max-width:1100px}"
    "h1{font-size:26px;margin:0 0 6px}h2{font-size:19px;margin:26px 0 8px;border-bottom:"
    "2px solid #dfe5ec;padding-bottom:4px}.meta{color:#4d5b6a;margin:2px 0}"
    ".cards{display:flex;gap:12px;margin:20px 0 4px;flex-wrap:wrap}.card{border:1px solid "
    "#dfe5ec;border-radius:6px;padding:10px 16px;min-width:120px}.card b{display:block;"
    "font-size:24px;font-variant-numeric:tabular-nums}.card span{color:#4d5b6a;font-size:13px}"
    "table{border-collapse:collapse;width:100%;font-size:14px}th,td{padding:5px 8px;"
    "border-bottom:1px solid #e6ebf0;text-align:left;vertical-align:top}th{background:#f3f6f9;"
    "font-weight:600}td:first-child{white-space:nowrap}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    "td.zero{color:#a0aab4}tr.total td{font-weight:600;border-top:2px solid #c5ced8}"
    "td.reasons{min-width:280px}td.reasons ol{margin:0;padding-left:18px}td.reasons .cnt{font-variant-numeric:"
    "tabular-nums;font-weight:600;margin-right:4px}.empty{color:#6b7785;font-style:italic}"
    "svg.chart{display:block;max-width:100%;height:auto}svg text{font-size:12px;fill:#33414f}"
    "svg .xlab{text-anchor:middle}svg .ylab{text-anchor:end}svg .val{text-anchor:middle;"
    "font-size:11px}svg .axis{text-anchor:middle;fill:#4d5b6a}svg .grid{stroke:#e3e8ee;"
    "stroke-width:1}.multiples{display:grid;grid-template-columns:repeat(auto-fill,minmax(500px,1fr));"
    "gap:4px 24px}figure.dept{margin:4px 0 8px;min-width:0}figure.dept figcaption{font-weight:600;"
    "margin-bottom:2px}footer{margin-top:32px;color:#4d5b6a;font-size:13px}";

static void html_report(struct cg_buf *b, const struct report *rp)
{
    char since[32], until[32], gen[32], dur[32];
    cg_format_time(rp->range.since, since, sizeof since);
    cg_format_time(rp->range.until, until, sizeof until);
    cg_format_time(rp->now, gen, sizeof gen);
    cg_buf_printf(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<title>Contact strategy report %s to %s</title>\n<style>%s</style>\n"
                     "</head>\n<body>\n<h1>Contact strategy report: %s to %s</h1>\n"
                     "<p class=\"meta\">%s (end exclusive; days are UTC); department: ",
                  since, until, html_css, since, until, duration(rp, dur, sizeof dur));
    esc(b, rp->range.department ? rp->range.department : "all");
    if (rp->range.relay) {
        cg_buf_add(b, "; relay: ");
        esc(b, rp->range.relay);
    }
    cg_buf_printf(b, "</p>\n<p class=\"meta\">Generated %s by contactgatectl report</p>\n", gen);

    static const int cards[] = {V_SENT, V_TAGGED, V_DEFERRED, V_REJECTED, V_HELD};
    cg_buf_add(b, "<div class=\"cards\">");
    for (size_t i = 0; i < sizeof cards / sizeof cards[0]; i++)
        cg_buf_printf(b, "<div class=\"card\"><b>%lld</b><span>%s</span></div>",
                      (long long)rp->total.v[cards[i]], v_html[cards[i]]);
    cg_buf_add(b, "</div>\n<h2>Per department</h2>\n");
    html_table(b, "Department", &rp->depts, &rp->total, V_SENT, 0);
    cg_buf_printf(b, "<p class=\"meta\">Held mail reviewed in this range: %lld released, "
                     "%lld dropped.</p>\n",
                  (long long)rp->released, (long long)rp->dropped);
    cg_buf_add(b, "<h2>Per policy (the policy that decided)</h2>\n");
    html_table(b, "Policy", &rp->pols, NULL, V_TAGGED, 1);
    cg_buf_add(b, "<h2>Contacts per customer</h2>\n<p class=\"meta\">How many customers got 1, 2,"
                  " 3, &hellip; contacts (any channel) in the range");
    if (rp->nhist && rp->hist[0].contacts == 0)
        cg_buf_add(b, "; 0: customers of the customer map not contacted");
    cg_buf_printf(b, "; the last bar is %d or more.</p>\n", REPORT_HIST_CAP);
    html_hist(b, rp);
    cg_buf_add(b, "<h2>Verdicts per department per day</h2>\n<p class=\"meta\">Accepted is "
                  "mail let through untagged; deferred counts messages. Each department has"
                  " its own scale.</p>\n");
    html_days(b, rp);
    cg_buf_add(b, "<footer>Sent counts e-mail contacts recorded (accepted and tagged mail, one per"
                  " customer). The other columns count decisions per recipient; deferred counts"
                  " messages (distinct Message-ID and recipient) and deferral attempts every"
                  " deferral. Monitored: tagged only because a policy in monitor mode was"
                  " violated. No customer data is included.</footer>\n</body>\n</html>\n");
}

/* --- the command ---------------------------------------------------------- */

/* out_open - open --output before the store is opened (contactgatectl may
 * then act as the database's owner, who may not be able to create it);
 * nothing is truncated until the report is ready */
static int out_open(const char *path, int *created)
{
    *created = 0;
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && errno == ENOENT) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);
        *created = fd >= 0;
    }
    return fd;
}

/* out_write - the whole report to fd (truncating it first) or stdout */
static int out_write(int fd, const struct cg_buf *b)
{
    if (fd < 0) {
        if (b->len && fwrite(b->s, 1, b->len, stdout) != b->len)
            return -1;
        return fflush(stdout) == 0 ? 0 : -1;
    }
    if (ftruncate(fd, 0) < 0)
        return -1;
    for (size_t off = 0; off < b->len;) {
        ssize_t n = write(fd, b->s + off, b->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

static int report_run(struct ctl *c, int argc, char **argv)
{
    const char *cmd = "report";
    const char *since_s = NULL, *until_s = NULL, *dept = NULL, *format = NULL, *output = NULL;
    const char *relay = NULL;
    const struct ctl_opt opts[] = {
        {"--since", &since_s, NULL},   {"--until", &until_s, NULL},
        {"--department", &dept, NULL}, {"--format", &format, NULL},
        {"--output", &output, NULL},   {"--relay", &relay, NULL},
        {NULL, NULL, NULL},
    };
    if (ctl_args(cmd, argc, argv, opts, NULL, 0, NULL) != CTL_OK)
        return CTL_USAGE;
    enum report_format fmt = c->json ? FMT_JSON : FMT_TEXT;
    if (format) {
        if (!strcmp(format, "text"))
            fmt = FMT_TEXT;
        else if (!strcmp(format, "json"))
            fmt = FMT_JSON;
        else if (!strcmp(format, "html"))
            fmt = FMT_HTML;
        else
            return ctl_err(CTL_USAGE, cmd, "--format \"%s\" is not one of text, json, html",
                           format);
        if (c->json && fmt != FMT_JSON)
            return ctl_err(CTL_USAGE, cmd, "--json contradicts --format %s", format);
    }
    if (dept && !*dept)
        return ctl_err(CTL_USAGE, cmd, "--department is empty");
    if (relay && !*relay)
        return ctl_err(CTL_USAGE, cmd, "--relay is empty");
    if (output && !*output)
        return ctl_err(CTL_USAGE, cmd, "--output is empty");

    struct report rp = {.now = c->now};
    struct cg_report_range *r = &rp.range;
    r->department = dept;
    r->relay = relay;
    r->until = c->now;
    if (until_s && ctl_since_arg(c, cmd, "--until", until_s, &r->until))
        return CTL_USAGE;
    r->since = r->until - (int64_t)REPORT_DEFAULT_DAYS * REPORT_DAY;
    if (since_s && ctl_since_arg(c, cmd, "--since", since_s, &r->since))
        return CTL_USAGE;
    if (r->since < 0)
        r->since = 0;
    if (r->since >= r->until)
        return ctl_err(CTL_USAGE, cmd, "--since (%s) must be before --until (%s)",
                       since_s ? since_s : "default", until_s ? until_s : "now");
    r->day0 = r->since - r->since % REPORT_DAY;
    rp.ndays = (r->until - 1 - r->day0) / REPORT_DAY + 1;

    int fd = -1, created = 0;
    if (output && (fd = out_open(output, &created)) < 0)
        return ctl_err(CTL_USAGE, cmd, "--output \"%s\": %s", output, strerror(errno));
    int rc = CTL_OK;
    cg_store *st = ctl_store(c);
    if (!st)
        rc = CTL_STORE;
    else if (report_load(st, &rp) < 0)
        rc = ctl_err(CTL_STORE, cmd, "%s", cg_store_errmsg(st));
    if (rc == CTL_OK) {
        struct cg_buf b = {0};
        if (fmt == FMT_TEXT) {
            text_report(&b, &rp);
        } else if (fmt == FMT_HTML) {
            html_report(&b, &rp);
        } else {
            json_t *j = json_report(&rp);
            char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            json_decref(j);
            if (s) {
                cg_buf_add(&b, s);
                cg_buf_add(&b, "\n");
                free(s);
            }
        }
        if (out_write(fd, &b) < 0)
            rc = ctl_err(CTL_USAGE, cmd, "cannot write the report to %s: %s",
                         output ? output : "standard output", strerror(errno));
        cg_buf_free(&b);
    }
    if (fd >= 0 && close(fd) < 0 && rc == CTL_OK)
        rc = ctl_err(CTL_USAGE, cmd, "cannot write the report to %s: %s", output,
                     strerror(errno));
    if (rc != CTL_OK && created)
        unlink(output); /* best effort: leave no empty report behind */
    report_free(&rp);
    return rc;
}

const struct ctl_cmd ctl_cmd_report = {
    .name = "report",
    .synopsis = "per department and policy: sent, tagged, deferred, rejected, held (text/JSON/HTML)",
    .help =
        "SYNOPSIS\n"
        "  contactgatectl report [--since TIME] [--until TIME] [--department D]\n"
        "                        [--relay NAME] [--format text|json|html] [--output FILE]\n"
        "                        [--json]\n\n"
        "DESCRIPTION\n"
        "  Aggregates over since <= time < until (default: the last 30 days):\n"
        "  per department and per deciding policy, how much mail was sent\n"
        "  (e-mail contacts recorded: accepted and tagged), tagged (and of\n"
        "  those, only monitored), deferred, rejected, held and tempfailed; the\n"
        "  five most frequent reasons of each policy; how many customers got\n"
        "  1, 2, 3, ... contacts (any channel); and verdicts per department per\n"
        "  day (UTC days). Decisions count per recipient; deferred counts\n"
        "  messages (distinct Message-ID and recipient) and, as attempts, every\n"
        "  deferral. --department D restricts everything to one department.\n"
        "  The report spans every relay that shares the history; --relay NAME\n"
        "  counts only the decisions of that relay and the mail it let through.\n\n"
        "  --format text (default) prints aligned tables; json (or --json) one\n"
        "  object with range, departments, totals, policies,\n"
        "  contacts_per_customer and per_day; html one self-contained page\n"
        "  with the tables and inline SVG charts (no scripts, no network).\n"
        "  --output FILE writes there instead of standard output.\n"
        "  The report holds counts only, never a customer or an address.\n\n"
        "  TIME is 2026-11-22, 2026-11-22T10:00:00Z (UTC), @UNIXTIME, relative\n"
        "  to now (-30d, -12h), or an age: 30d is 30 days ago. At most 10 years\n"
        "  from now.\n\n"
        "EXAMPLES\n"
        "  contactgatectl report --since 30d\n"
        "  contactgatectl report --since 2026-11-01 --until 2026-12-01 --format html \\\n"
        "      --output november.html\n\n"
        "EXIT STATUS\n  0 ok, 1 usage or input error, 2 store error\n",
    .run = report_run,
};
CTL_REGISTER(ctl_cmd_report)
