/*
 * test_plugin_quiet_hours.c - the quiet_hours plugin (send windows per
 * weekday in the customer's zone, exact across DST) through the real
 * engine, a real store and an injected clock.
 *
 * Every instant below was worked out by hand from 2026-01-01T00:00Z =
 * 1767225600 (a Thursday) and the 2026 DST rules: Europe/Berlin
 * 03-29 02:00 CET -> 03:00 CEST, 10-25 03:00 CEST -> 02:00 CET;
 * America/New_York 03-08 02:00 EST -> 03:00 EDT, 11-01 02:00 EDT -> 01:00 EST.
 */
#include "cg_harness.h"

#define OFFERS "deals@offers.bank.example"
#define ANN "ann@example.com"
#define BOB "bob@example.com"
#define CARL "carl@example.com"

#define STD_WINDOWS                                                                        \
    "[{\"days\": [\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"], \"from\": \"08:00\", \"to\": \"20:00\"}," \
    " {\"days\": [\"sat\"], \"from\": \"10:00\", \"to\": \"16:00\"}]"
#define WEEKDAYS "[{\"days\": [\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"], \"from\": \"08:00\", \"to\": \"20:00\"}]"

/* 2026-01-05 is a Monday; Berlin is UTC+1 then */
#define MON_0105 1767571200LL          /* 2026-01-05 00:00Z */
#define MON_0800_CET (MON_0105 + 7 * 3600)

static int quiet; /* bad-params tests expect the config error */

/* cfg_with - default zone `tz`, one defer policy with these params */
static struct cg_config *cfg_with(const char *tz, const char *params)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"plugin_dir\": \"@PLUGINS@\", \"database\": \":memory:\", \"timezone\": \"%s\",\n"
             " \"departments\": [{\"name\": \"marketing\","
             " \"match\": {\"sender\": \"*@offers.bank.example\"},"
             " \"default_category\": \"promotional.offer\","
             " \"allowed_categories\": [\"promotional.*\"]}],\n"
             " \"policies\": [{\"name\": \"quiet_hours\", \"plugin\": \"quiet_hours\","
             " \"applies_to\": {\"categories\": [\"promotional.*\"]}, \"action\": \"defer\","
             " \"params\": %s}]}\n",
             tz, params);
    struct cg_config *cfg = h_config(text);
    if (!cfg && !quiet)
        fprintf(stderr, "  config: %s\n", h_err);
    return cfg;
}

static struct cg_config *win_cfg(const char *tz, const char *windows)
{
    char p[1024];
    snprintf(p, sizeof p, "{\"windows\": %s}", windows);
    return cfg_with(tz, p);
}

static void zone(cg_store *st, const char *addr, const char *tz)
{
    CG_CHECK(cg_store_customer_put(st, addr, addr, tz, NULL, NULL) == 0);
}

/* at - send at `now`; 1 when accepted, 0 when deferred at RCPT (the
 * retry-after in *retry, the reply in s) */
static int at(const struct cg_config *cfg, cg_store *st, const char *rcpt, int64_t now,
              int64_t *retry, struct h_msg *s)
{
    memset(s, 0, sizeof *s);
    s->sender = OFFERS;
    s->rcpts[0] = rcpt;
    s->now = now;
    int v = h_send(cfg, st, s);
    *retry = s->rcpt_d[0].retry_after;
    if (v == CG_ACT_ACCEPT && s->rcpt_d[0].verdict == CG_ACT_ACCEPT)
        return 1;
    CG_CHECK(v == -1 && s->rcpt_d[0].verdict == CG_ACT_DEFER);
    return 0;
}

/* deferred_until - deferred at `now` with exactly this retry-after */
static void deferred_until(const struct cg_config *cfg, cg_store *st, const char *rcpt,
                           int64_t now, int64_t want, int line)
{
    struct h_msg s;
    int64_t r = -1;
    int ok = at(cfg, st, rcpt, now, &r, &s);
    if (ok || r != want) {
        fprintf(stderr, "  line %d: now=%lld accepted=%d retry_after=%lld, expected %lld\n", line,
                (long long)now, ok, (long long)r, (long long)want);
        cg_t_failed_checks++;
    }
}
#define DEFERRED(cfg, st, rcpt, now, want) deferred_until(cfg, st, rcpt, now, want, __LINE__)

static int accepted(const struct cg_config *cfg, cg_store *st, const char *rcpt, int64_t now)
{
    struct h_msg s;
    int64_t r;
    return at(cfg, st, rcpt, now, &r, &s);
}

static void test_window_edges(void)
{
    struct cg_config *cfg = win_cfg("Europe/Berlin", STD_WINDOWS);
    cg_store *st = h_store();
    CG_CHECK(cfg && st);
    if (!cfg || !st)
        goto out;
    CG_CHECK(accepted(cfg, st, ANN, MON_0105 + 11 * 3600));   /* 12:00 CET */
    CG_CHECK(accepted(cfg, st, ANN, MON_0800_CET));            /* exactly "from" */
    CG_CHECK(accepted(cfg, st, ANN, MON_0105 + 19 * 3600 - 1)); /* 19:59:59 */
    DEFERRED(cfg, st, ANN, MON_0800_CET - 1, MON_0800_CET);
    /* "to" is exclusive: Monday 20:00 waits for Tuesday 08:00 */
    DEFERRED(cfg, st, ANN, MON_0105 + 19 * 3600, MON_0800_CET + 86400);
    /* the reply carries the retry-after and the local opening, no address */
    struct h_msg s;
    int64_t r;
    CG_CHECK(!at(cfg, st, ANN, MON_0800_CET - 1, &r, &s));
    CG_CHECK_STR(s.rcpt_d[0].smtp_code, "451");
    CG_CHECK_CONTAINS(s.rcpt_d[0].smtp_text, "quiet_hours: not now");
    CG_CHECK_CONTAINS(s.rcpt_d[0].reason, "outside the customer's send hours");
    CG_CHECK_CONTAINS(s.rcpt_d[0].reason, "next window opens 2026-01-05 08:00 local");
    CG_CHECK_CONTAINS(s.rcpt_d[0].smtp_text, "retry after 2026-01-05T07:00:00Z");
    CG_CHECK(strstr(s.rcpt_d[0].smtp_text, ANN) == NULL);
    CG_CHECK(strstr(s.rcpt_d[0].smtp_text, "Europe/Berlin") == NULL);
    /* Saturday 10:00-16:00; Sunday closed */
    int64_t sat = MON_0105 - 2 * 86400;  /* 2026-01-03 00:00Z */
    CG_CHECK(accepted(cfg, st, ANN, sat + 9 * 3600));
    DEFERRED(cfg, st, ANN, sat + 15 * 3600, MON_0800_CET);
    DEFERRED(cfg, st, ANN, sat + 86400 + 11 * 3600, MON_0800_CET);
out:
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

static void test_weekend_skip(void)
{
    struct cg_config *cfg = win_cfg("Europe/Berlin", WEEKDAYS);
    struct cg_config *std = win_cfg("Europe/Berlin", STD_WINDOWS);
    struct cg_config *range = NULL;
    cg_store *st = h_store();
    CG_CHECK(cfg && std && st);
    if (!cfg || !std || !st)
        goto out;
    int64_t fri_2000 = MON_0105 + 4 * 86400 + 19 * 3600; /* 2026-01-09 20:00 CET */
    DEFERRED(cfg, st, ANN, fri_2000, MON_0800_CET + 7 * 86400);
    /* with a Saturday window: Saturday 10:00 CET */
    DEFERRED(std, st, ANN, fri_2000, MON_0105 + 5 * 86400 + 9 * 3600);
    /* the same as a range of days */
    range = win_cfg("Europe/Berlin", "[{\"days\": \"mon-fri\", \"from\": \"08:00\", \"to\": \"20:00\"}]");
    CG_CHECK(range != NULL);
    if (range)
        DEFERRED(range, st, ANN, fri_2000 + 60, MON_0800_CET + 7 * 86400);
    /* a wrapping range: fri-mon is Friday, Saturday, Sunday, Monday */
    cg_config_unref(&range);
    range = win_cfg("Europe/Berlin", "[{\"days\": \"fri-mon\", \"from\": \"08:00\", \"to\": \"20:00\"}]");
    CG_CHECK(range != NULL);
    if (range)
        DEFERRED(range, st, ANN, fri_2000 + 120, MON_0105 + 5 * 86400 + 7 * 3600);
out:
    cg_store_free(&st);
    cg_config_unref(&cfg);
    cg_config_unref(&std);
    cg_config_unref(&range);
}

/* Friday 20:00 -> Monday 08:00 across each DST change: 59 h or 61 h */
static void test_dst_changes(void)
{
    struct cg_config *cfg = win_cfg("UTC", WEEKDAYS);
    cg_store *st = h_store();
    CG_CHECK(cfg && st);
    if (!cfg || !st)
        goto out;
    zone(st, ANN, "Europe/Berlin");
    zone(st, BOB, "America/New_York");
    /* Berlin spring: Fri 03-27 20:00 CET = 19:00Z -> Mon 03-30 08:00 CEST = 06:00Z */
    DEFERRED(cfg, st, ANN, 1774638000LL, 1774850400LL);
    CG_CHECK(accepted(cfg, st, ANN, 1774850400LL));
    /* Berlin autumn: Fri 10-23 20:00 CEST = 18:00Z -> Mon 10-26 08:00 CET = 07:00Z */
    DEFERRED(cfg, st, ANN, 1792778400LL, 1792998000LL);
    /* New York spring: Fri 03-06 20:00 EST = Sat 01:00Z -> Mon 03-09 08:00 EDT = 12:00Z */
    DEFERRED(cfg, st, BOB, 1772845200LL, 1773057600LL);
    /* New York autumn: Fri 10-30 20:00 EDT = Sat 00:00Z -> Mon 11-02 08:00 EST = 13:00Z */
    DEFERRED(cfg, st, BOB, 1793404800LL, 1793624400LL);
    CG_CHECK(accepted(cfg, st, BOB, 1793624400LL));
    /* between the two spring changes: Mon 03-09 07:30Z is 08:30 CET but 03:30 EDT */
    CG_CHECK(accepted(cfg, st, ANN, 1773041400LL));
    DEFERRED(cfg, st, BOB, 1773041400LL, 1773057600LL);
    /* the reply names the local wall time after the change */
    struct h_msg s;
    int64_t r;
    CG_CHECK(!at(cfg, st, ANN, 1774638000LL, &r, &s));
    CG_CHECK_CONTAINS(s.rcpt_d[0].reason, "next window opens 2026-03-30 08:00 local");
    CG_CHECK_CONTAINS(s.rcpt_d[0].smtp_text, "retry after 2026-03-30T06:00:00Z");
out:
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* a window starting in a DST gap opens when the gap ends; one that lies
 * wholly inside the gap does not exist that day; a repeated hour starts at
 * its first occurrence */
static void test_dst_gap(void)
{
    struct cg_config *cfg = win_cfg("UTC", "[{\"days\": \"sun\", \"from\": \"02:30\", \"to\": \"05:00\"}]");
    struct cg_config *in_gap =
        win_cfg("Europe/Berlin", "[{\"days\": [\"sun\"], \"from\": \"02:10\", \"to\": \"02:50\"}]");
    cg_store *st = h_store();
    CG_CHECK(cfg && in_gap && st);
    if (!cfg || !in_gap || !st)
        goto out;
    zone(st, ANN, "Europe/Berlin");
    zone(st, BOB, "America/New_York");
    /* Berlin Sat 03-28 20:00 CET -> Sun 03-29 03:00 CEST = 01:00Z */
    DEFERRED(cfg, st, ANN, 1774724400LL, 1774746000LL);
    DEFERRED(cfg, st, ANN, 1774746000LL - 1, 1774746000LL); /* 01:59:59 CET */
    CG_CHECK(accepted(cfg, st, ANN, 1774746000LL));
    /* New York Sun 03-08 01:00 EST = 06:00Z -> 03:00 EDT = 07:00Z */
    DEFERRED(cfg, st, BOB, 1772949600LL, 1772953200LL);
    CG_CHECK(accepted(cfg, st, BOB, 1772953200LL));
    /* Berlin Sun 10-25: the first 02:30 (CEST) = 00:30Z */
    DEFERRED(cfg, st, ANN, 1792886400LL, 1792888200LL);
    CG_CHECK(accepted(cfg, st, ANN, 1792888200LL));
    /* 02:10-02:50 on 03-29 is skipped: next Sunday 04-05 02:10 CEST = 00:10Z */
    DEFERRED(in_gap, st, CARL, 1774724400LL, 1775347800LL);
out:
    cg_store_free(&st);
    cg_config_unref(&cfg);
    cg_config_unref(&in_gap);
}

/* the customer's zone beats the default; the param beats both */
static void test_zone_choice(void)
{
    struct cg_config *cfg = win_cfg("Europe/Berlin", WEEKDAYS);
    struct cg_config *tokyo = cfg_with("Europe/Berlin",
                                       "{\"timezone\": \"Asia/Tokyo\", \"windows\": " WEEKDAYS "}");
    cg_store *st = h_store();
    CG_CHECK(cfg && tokyo && st);
    if (!cfg || !tokyo || !st)
        goto out;
    zone(st, ANN, "America/New_York");
    zone(st, CARL, "Europe/Berlin");
    zone(st, "dora@example.com", "Mars/Olympus_Mons"); /* unknown: UTC */
    int64_t t = MON_0105 + 12 * 3600 + 1800; /* Mon 12:30Z: 13:30 CET, 07:30 EST */
    DEFERRED(cfg, st, ANN, t, MON_0105 + 13 * 3600);
    CG_CHECK(accepted(cfg, st, BOB, t));   /* no zone: the default */
    CG_CHECK(accepted(cfg, st, CARL, t));
    /* Mon 07:30Z: 08:30 CET, 07:30 for the unknown zone read as UTC */
    CG_CHECK(accepted(cfg, st, BOB, MON_0105 + 7 * 3600 + 1800));
    DEFERRED(cfg, st, "dora@example.com", MON_0105 + 7 * 3600 + 1800, MON_0105 + 8 * 3600);
    /* 12:30Z is 21:30 JST for everyone: Tuesday 08:00 JST = Mon 23:00Z */
    DEFERRED(tokyo, st, ANN, t, MON_0105 + 23 * 3600);
    DEFERRED(tokyo, st, BOB, t, MON_0105 + 23 * 3600);
out:
    cg_store_free(&st);
    cg_config_unref(&cfg);
    cg_config_unref(&tokyo);
}

/* "*", a day of two windows, 24:00 */
static void test_day_forms(void)
{
    struct cg_config *cfg = win_cfg("UTC", "[{\"days\": \"*\", \"from\": \"22:00\", \"to\": \"24:00\"},"
                                           " {\"days\": [\"*\"], \"from\": \"00:00\", \"to\": \"01:00\"},"
                                           " {\"days\": [\"wed\"], \"from\": \"12:00\", \"to\": \"13:00\"}]");
    cg_store *st = h_store();
    CG_CHECK(cfg && st);
    if (!cfg || !st)
        goto out;
    int64_t wed = MON_0105 + 2 * 86400;
    CG_CHECK(accepted(cfg, st, ANN, wed - 1));        /* Tue 23:59:59 */
    CG_CHECK(accepted(cfg, st, ANN, wed));            /* Wed 00:00 */
    DEFERRED(cfg, st, ANN, wed + 3600, wed + 12 * 3600);
    DEFERRED(cfg, st, ANN, wed + 13 * 3600, wed + 22 * 3600);
    DEFERRED(cfg, st, ANN, MON_0105 + 3600, MON_0105 + 22 * 3600);
out:
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* bad_params - the config is refused and the error names the key */
static void bad_params(const char *params, const char *key)
{
    quiet = 1;
    h_refused_param(cfg_with("UTC", params), key);
    quiet = 0;
}

#define W(x) "{\"windows\": [{" x "}]}"
static void test_bad_params(void)
{
    bad_params("{\"windows\": " WEEKDAYS ", \"zone\": \"UTC\"}", "zone: unknown key");
    bad_params("{}", "windows: is required");
    bad_params("{\"windows\": {\"days\": \"*\"}}", "windows: is not an array");
    bad_params("{\"windows\": []}", "windows: needs at least one window");
    bad_params(W("\"days\": \"*\", \"from\": \"25:00\", \"to\": \"26:00\""), "windows[0].from: \"25:00\"");
    bad_params(W("\"days\": \"*\", \"from\": \"8:00\", \"to\": \"20:00\""), "windows[0].from");
    bad_params(W("\"days\": \"*\", \"from\": \"08:00\", \"to\": \"24:01\""), "windows[0].to");
    bad_params(W("\"days\": \"*\", \"from\": 8, \"to\": \"20:00\""), "windows[0].from");
    bad_params(W("\"days\": \"*\", \"from\": \"20:00\", \"to\": \"08:00\""), "windows[0].to: must be later");
    bad_params(W("\"days\": \"*\", \"from\": \"08:00\", \"to\": \"08:00\""), "windows[0].to");
    bad_params(W("\"days\": [\"mon\", \"monday\"], \"from\": \"08:00\", \"to\": \"20:00\""),
               "windows[0].days: \"monday\"");
    bad_params(W("\"days\": \"mon-\", \"from\": \"08:00\", \"to\": \"20:00\""), "windows[0].days: \"mon-\"");
    bad_params(W("\"days\": \"mon-xyz\", \"from\": \"08:00\", \"to\": \"20:00\""), "windows[0].days");
    bad_params(W("\"days\": [], \"from\": \"08:00\", \"to\": \"20:00\""), "windows[0].days");
    bad_params(W("\"from\": \"08:00\", \"to\": \"20:00\""), "windows[0].days");
    bad_params(W("\"days\": \"*\", \"from\": \"08:00\", \"to\": \"20:00\", \"tz\": 1"), "windows[0].tz");
    bad_params("{\"windows\": " WEEKDAYS ", \"timezone\": \"Europe/Atlantis\"}",
               "timezone: \"Europe/Atlantis\"");
    bad_params("{\"windows\": " WEEKDAYS ", \"timezone\": 1}", "timezone");
    /* and the good ones load */
    struct cg_config *cfg = cfg_with("UTC", "{\"windows\": " STD_WINDOWS ", \"timezone\": \"UTC\"}");
    CG_CHECK(cfg != NULL);
    cg_config_unref(&cfg);
}

int main(void)
{
    h_init("test_plugin_quiet_hours");
    CG_RUN(test_window_edges);
    CG_RUN(test_weekend_skip);
    CG_RUN(test_dst_changes);
    CG_RUN(test_dst_gap);
    CG_RUN(test_zone_choice);
    CG_RUN(test_day_forms);
    CG_RUN(test_bad_params);
    h_done();
    CG_DONE("test_plugin_quiet_hours");
}
