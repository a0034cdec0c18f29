/*
 * test_plugin_frequency.c - the frequency plugin through the real engine on
 * a real SQLite store with an injected clock: window edges, weights,
 * overlapping windows, counting versus blocking, the headroom reserve,
 * calendar windows (month ends, DST days, the customer's zone) and bad
 * params.
 */
#include <time.h>

#include "cg_harness.h"

#define T0 1795000000LL
#define DAY 86400LL
#define ANN "ann@example.com"
#define OFFERS "deals@offers.bank.example"
#define BILL "billing@bank.example"
#define SERVICE "help@service.bank.example"

#define DEPTS                                                                              \
    "\"departments\": ["                                                                   \
    "{\"name\": \"billing\", \"match\": {\"sender\": \"" BILL "\"},"                       \
    " \"default_category\": \"functional.bill\"},"                                        \
    "{\"name\": \"service\", \"match\": {\"sender\": \"*@service.bank.example\"},"         \
    " \"default_category\": \"service.update\"},"                                         \
    "{\"name\": \"marketing\", \"match\": {\"sender\": \"*@offers.bank.example\"},"        \
    " \"default_category\": \"promotional.offer\","                                       \
    " \"allowed_categories\": [\"promotional.*\"]}]"

static int quiet;

/* cfg_with - one frequency policy over `applies` categories */
static struct cg_config *cfg_with(const char *applies, const char *params)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"plugin_dir\": \"@PLUGINS@\", \"database\": \":memory:\", " DEPTS ",\n"
             " \"policies\": [{\"name\": \"cap\", \"plugin\": \"frequency\","
             " \"applies_to\": {\"categories\": [%s]}, \"action\": \"defer\", \"params\": %s}]}\n",
             applies, params);
    struct cg_config *cfg = h_config(text);
    if (!cfg && !quiet)
        fprintf(stderr, "  config: %s\n", h_err);
    return cfg;
}

/* utc - Unix time of a UTC wall clock */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi, .tm_sec = s};
    return (int64_t)timegm(&tm);
}

/* send_at - one message to ANN; verdict, retry-after and reply text */
static int send_at(const struct cg_config *cfg, cg_store *st, const char *sender, int64_t now,
                   const char *category, int64_t *retry, char *text, size_t len)
{
    struct h_msg s = {.sender = sender, .rcpts = {ANN}, .now = now};
    if (category) {
        s.headers[0][0] = "X-Contact-Category";
        s.headers[0][1] = category;
    }
    int v = h_send(cfg, st, &s);
    int r = h_result(&s, v, retry);
    if (text)
        snprintf(text, len, "%s", v == -1 ? s.rcpt_d[0].reason : s.eom_d.reason);
    return r;
}

/* probe - a fresh store with the given promotional contacts of ANN, then
 * one promotion at `now` */
static int probe(const struct cg_config *cfg, const int64_t *ts, size_t n, int64_t now,
                 int64_t *retry)
{
    cg_store *st = h_store();
    for (size_t i = 0; i < n; i++)
        h_contact(st, ANN, "marketing", "promotional.offer", NULL, ts[i], NULL);
    int v = send_at(cfg, st, OFFERS, now, NULL, retry, NULL, 0);
    cg_store_free(&st);
    return v;
}

/* at exactly T after a contact it no longer counts; one second before it
 * does; the retry-after is when the oldest counted contact leaves */
static void test_window_edges(void)
{
    struct cg_config *cfg = cfg_with("\"promotional.*\"", "{\"limit\": 2, \"window\": \"1d\"}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    int64_t ts[] = {T0, T0 + 100};
    int64_t retry = 0;
    CG_CHECK(probe(cfg, ts, 2, T0 + DAY - 1, &retry) == CG_ACT_DEFER);
    CG_CHECK(retry == T0 + DAY);
    CG_CHECK(probe(cfg, ts, 2, T0 + DAY, &retry) == CG_ACT_ACCEPT);
    CG_CHECK(probe(cfg, ts, 2, T0 + DAY + 1, &retry) == CG_ACT_ACCEPT);
    /* one contact: room for the second */
    CG_CHECK(probe(cfg, ts, 1, T0 + 1, &retry) == CG_ACT_ACCEPT);
    /* the reply says why and when */
    cg_store *st = h_store();
    h_contact(st, ANN, "marketing", "promotional.offer", NULL, T0, NULL);
    h_contact(st, ANN, "marketing", "promotional.offer", NULL, T0 + 100, NULL);
    char text[512];
    CG_CHECK(send_at(cfg, st, OFFERS, T0 + 200, NULL, &retry, text, sizeof text) == CG_ACT_DEFER);
    CG_CHECK_STR(text, "at most 2 contacts per 1 day"); /* the decision log's reason */
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* a heavily contacted customer: more contacts than fit the plugin's
 * first buffer (128), still counted exactly */
static void test_many_contacts(void)
{
    struct cg_config *cfg = cfg_with("\"promotional.*\"", "{\"limit\": 300, \"window\": \"7d\"}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    int64_t ts[300];
    for (int i = 0; i < 300; i++)
        ts[i] = T0 - 1000 + i;
    int64_t retry = 0;
    CG_CHECK(probe(cfg, ts, 299, T0, &retry) == CG_ACT_ACCEPT);
    CG_CHECK(probe(cfg, ts, 300, T0, &retry) == CG_ACT_DEFER);
    CG_CHECK(retry == T0 - 1000 + 7 * DAY);
    cg_config_unref(&cfg);
}

/* weights by category and channel: a newsletter counts 0.5, a call 2 */
static void test_weights(void)
{
    struct cg_config *cfg = cfg_with(
        "\"promotional.*\"",
        "{\"limit\": 2, \"window\": \"7d\","
        " \"weights\": [{\"match\": \"promotional.newsletter\", \"weight\": 0.5},"
        "               {\"match\": \"functional.*\", \"weight\": 0}],"
        " \"channel_weights\": [{\"match\": \"call\", \"weight\": 2}]}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    cg_store *st = h_store();
    for (int i = 0; i < 3; i++)
        h_contact(st, ANN, "marketing", "promotional.newsletter", NULL, T0 + i, NULL);
    h_contact(st, ANN, "billing", "functional.bill", NULL, T0 + 5, NULL); /* weight 0 */
    int64_t retry = 0;
    /* 1.5 counted: a fourth newsletter (0.5) fits exactly */
    CG_CHECK(send_at(cfg, st, OFFERS, T0 + 10, "promotional.newsletter", &retry, NULL, 0) ==
             CG_ACT_ACCEPT);
    /* 2.0 counted: an offer (1) does not; retry when enough newsletters left:
     * 2.0 - 0.5 - 0.5 + 1 <= 2 after the two oldest leave */
    CG_CHECK(send_at(cfg, st, OFFERS, T0 + 20, "promotional.offer", &retry, NULL, 0) ==
             CG_ACT_DEFER);
    CG_CHECK(retry == T0 + 1 + 7 * DAY);
    cg_store_free(&st);
    /* a call counts 2: nothing else fits in the week */
    st = h_store();
    h_contact(st, ANN, "service", "promotional.offer", "call", T0, NULL);
    CG_CHECK(send_at(cfg, st, OFFERS, T0 + 10, "promotional.newsletter", &retry, NULL, 0) ==
             CG_ACT_DEFER);
    CG_CHECK(retry == T0 + 7 * DAY);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* 3 a week and 5 a month at once: the month decides here */
static void test_overlapping_windows(void)
{
    struct cg_config *cfg = cfg_with("\"promotional.*\"",
                                     "{\"windows\": [{\"limit\": 3, \"window\": \"7d\"},"
                                     "              {\"limit\": 5, \"window\": \"30d\"}]}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    int64_t month[] = {T0 - 20 * DAY, T0 - 16 * DAY, T0 - 12 * DAY, T0 - 9 * DAY, T0 - 8 * DAY};
    int64_t retry = 0;
    cg_store *st = h_store();
    for (int i = 0; i < 5; i++)
        h_contact(st, ANN, "marketing", "promotional.offer", NULL, month[i], NULL);
    char text[512];
    CG_CHECK(send_at(cfg, st, OFFERS, T0, NULL, &retry, text, sizeof text) == CG_ACT_DEFER);
    CG_CHECK(retry == T0 - 20 * DAY + 30 * DAY);
    CG_CHECK_CONTAINS(text, "at most 5 contacts per 30 days");
    cg_store_free(&st);
    /* the week decides: 3 in the last 3 days, 4 in the month */
    int64_t week[] = {T0 - 25 * DAY, T0 - 3 * DAY, T0 - 2 * DAY, T0 - DAY};
    CG_CHECK(probe(cfg, week, 4, T0, &retry) == CG_ACT_DEFER);
    CG_CHECK(retry == T0 - 3 * DAY + 7 * DAY);
    /* both deny: the later retry-after wins (the message passes only then) */
    int64_t both[] = {T0 - 29 * DAY, T0 - 28 * DAY, T0 - 3 * DAY, T0 - 2 * DAY, T0 - DAY};
    CG_CHECK(probe(cfg, both, 5, T0, &retry) == CG_ACT_DEFER);
    CG_CHECK(retry == T0 - 3 * DAY + 7 * DAY);
    cg_config_unref(&cfg);
}

/* bills count toward the cap but are never blocked by it */
static void test_counts_versus_blocks(void)
{
    struct cg_config *cfg = cfg_with("\"promotional.*\"", "{\"limit\": 2, \"window\": \"7d\"}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    cg_store *st = h_store();
    int64_t retry = 0;
    CG_CHECK(send_at(cfg, st, BILL, T0, NULL, &retry, NULL, 0) == CG_ACT_ACCEPT);
    CG_CHECK(send_at(cfg, st, BILL, T0 + 1, NULL, &retry, NULL, 0) == CG_ACT_ACCEPT);
    CG_CHECK(send_at(cfg, st, BILL, T0 + 2, NULL, &retry, NULL, 0) == CG_ACT_ACCEPT);
    CG_CHECK(send_at(cfg, st, OFFERS, T0 + 3, NULL, &retry, NULL, 0) == CG_ACT_DEFER);
    cg_store_free(&st);
    cg_config_unref(&cfg);
    /* count_categories: only promotions count, bills are free */
    cfg = cfg_with("\"promotional.*\"", "{\"limit\": 2, \"window\": \"7d\","
                                        " \"count_categories\": [\"promotional.*\"]}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    st = h_store();
    for (int i = 0; i < 3; i++)
        CG_CHECK(send_at(cfg, st, BILL, T0 + i, NULL, &retry, NULL, 0) == CG_ACT_ACCEPT);
    CG_CHECK(send_at(cfg, st, OFFERS, T0 + 3, NULL, &retry, NULL, 0) == CG_ACT_ACCEPT);
    CG_CHECK(send_at(cfg, st, OFFERS, T0 + 4, NULL, &retry, NULL, 0) == CG_ACT_ACCEPT);
    CG_CHECK(send_at(cfg, st, OFFERS, T0 + 5, NULL, &retry, NULL, 0) == CG_ACT_DEFER);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* the last slot of the week stays free for service mail */
static void test_reserve(void)
{
    struct cg_config *cfg = cfg_with(
        "\"*\"", "{\"limit\": 3, \"window\": \"7d\","
                 " \"reserve\": {\"slots\": 1, \"categories\": [\"service.*\"]}}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    cg_store *st = h_store();
    int64_t retry = 0;
    char text[512];
    h_contact(st, ANN, "marketing", "promotional.offer", NULL, T0 - 2 * DAY, NULL);
    h_contact(st, ANN, "marketing", "promotional.offer", NULL, T0 - DAY, NULL);
    CG_CHECK(send_at(cfg, st, OFFERS, T0, NULL, &retry, text, sizeof text) == CG_ACT_DEFER);
    CG_CHECK_CONTAINS(text, "reserved for other mail");
    /* marketing may only send promotional.*, which the reserve is not for:
     * the envelope settles it (451 at RCPT, not after DATA) */
    struct h_msg m = {.sender = OFFERS, .rcpts = {ANN}, .now = T0};
    CG_CHECK(h_send(cfg, st, &m) == -1);
    CG_CHECK(m.rcpt_d[0].verdict == CG_ACT_DEFER);
    CG_CHECK(retry == T0 - 2 * DAY + 7 * DAY);
    CG_CHECK(send_at(cfg, st, SERVICE, T0, NULL, &retry, NULL, 0) == CG_ACT_ACCEPT);
    /* the window is full now, for everyone */
    CG_CHECK(send_at(cfg, st, SERVICE, T0 + 1, NULL, &retry, NULL, 0) == CG_ACT_DEFER);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* a calendar month in the customer's zone: a contact at 00:30 on 1
 * February in Berlin is February's, although it is still January in UTC;
 * the retry-after is 1 March 00:00 Berlin time */
static void test_calendar_month_in_customer_zone(void)
{
    struct cg_config *cfg =
        cfg_with("\"promotional.*\"", "{\"limit\": 1, \"calendar\": \"month\"}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    cg_store *st = h_store();
    int added = 0;
    CG_CHECK(cg_store_customer_put(st, ANN, ANN, "Europe/Berlin", NULL, &added) == 0);
    h_contact(st, ANN, "marketing", "promotional.offer", NULL, utc(2026, 1, 31, 22, 30, 0), NULL);
    int64_t retry = 0;
    char text[512];
    /* 10 February: January's contact does not count, so the cap is free */
    CG_CHECK(send_at(cfg, st, OFFERS, utc(2026, 2, 10, 12, 0, 0), NULL, &retry, NULL, 0) ==
             CG_ACT_ACCEPT);
    cg_store_free(&st);

    st = h_store();
    CG_CHECK(cg_store_customer_put(st, ANN, ANN, "Europe/Berlin", NULL, &added) == 0);
    h_contact(st, ANN, "marketing", "promotional.offer", NULL, utc(2026, 1, 31, 23, 30, 0), NULL);
    CG_CHECK(send_at(cfg, st, OFFERS, utc(2026, 2, 28, 22, 59, 59), NULL, &retry, text,
                     sizeof text) == CG_ACT_DEFER);
    CG_CHECK(retry == utc(2026, 2, 28, 23, 0, 0));
    CG_CHECK_CONTAINS(text, "per calendar month");
    /* at the first second of March (Berlin) the cap is free again */
    CG_CHECK(send_at(cfg, st, OFFERS, utc(2026, 2, 28, 23, 0, 0), NULL, &retry, NULL, 0) ==
             CG_ACT_ACCEPT);
    cg_store_free(&st);

    /* a customer without a zone uses the config's default (UTC): both
     * contacts are January's */
    st = h_store();
    h_contact(st, ANN, "marketing", "promotional.offer", NULL, utc(2026, 1, 31, 23, 30, 0), NULL);
    CG_CHECK(send_at(cfg, st, OFFERS, utc(2026, 2, 1, 0, 10, 0), NULL, &retry, NULL, 0) ==
             CG_ACT_ACCEPT);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* a calendar day on the spring DST change in New York is 23 hours long */
static void test_calendar_day_dst(void)
{
    struct cg_config *cfg = cfg_with("\"promotional.*\"",
                                     "{\"limit\": 1, \"calendar\": \"day\","
                                     " \"timezone\": \"America/New_York\"}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    /* 8 March 2026: EST until 02:00, EDT after; the day is 05:00Z..04:00Z */
    int64_t ts[] = {utc(2026, 3, 8, 5, 0, 0)};
    int64_t retry = 0;
    CG_CHECK(probe(cfg, ts, 1, utc(2026, 3, 9, 3, 59, 59), &retry) == CG_ACT_DEFER);
    CG_CHECK(retry == utc(2026, 3, 9, 4, 0, 0));
    CG_CHECK(probe(cfg, ts, 1, utc(2026, 3, 9, 4, 0, 0), &retry) == CG_ACT_ACCEPT);
    /* one second before the day began, the contact is not yet in it */
    int64_t before[] = {utc(2026, 3, 8, 4, 59, 59)};
    CG_CHECK(probe(cfg, before, 1, utc(2026, 3, 8, 12, 0, 0), &retry) == CG_ACT_ACCEPT);
    cg_config_unref(&cfg);

    /* a calendar week starts on Monday 00:00 */
    cfg = cfg_with("\"promotional.*\"", "{\"limit\": 1, \"calendar\": \"week\"}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    int64_t sun[] = {utc(2026, 11, 22, 23, 59, 59)}; /* a Sunday, UTC */
    CG_CHECK(probe(cfg, sun, 1, utc(2026, 11, 23, 0, 0, 0), &retry) == CG_ACT_ACCEPT);
    CG_CHECK(probe(cfg, sun, 1, utc(2026, 11, 22, 23, 59, 59), &retry) == CG_ACT_DEFER);
    CG_CHECK(retry == utc(2026, 11, 23, 0, 0, 0));
    cg_config_unref(&cfg);
}

static void bad(const char *params, const char *want)
{
    quiet = 1;
    h_refused(cfg_with("\"promotional.*\"", params), want);
    quiet = 0;
}

static void test_bad_params(void)
{
    bad("{\"limit\": 3, \"window\": \"7x\"}", "policies[0].params.window");
    bad("{\"limt\": 3, \"window\": \"7d\"}", "limt");
    bad("{\"limit\": -1, \"window\": \"7d\"}", "policies[0].params.limit");
    bad("{\"limit\": \"three\", \"window\": \"7d\"}", "policies[0].params.limit");
    bad("{\"limit\": 3}", "window");
    bad("{\"limit\": 3, \"window\": \"7d\", \"calendar\": \"month\"}", "not both");
    bad("{\"limit\": 3, \"calendar\": \"year\"}", "policies[0].params.calendar");
    bad("{\"windows\": []}", "policies[0].params.windows");
    bad("{\"windows\": [{\"limit\": 3, \"window\": \"0s\"}]}", "policies[0].params.windows[0].window");
    bad("{\"limit\": 1, \"window\": \"7d\", \"windows\": [{\"limit\": 3, \"window\": \"7d\"}]}",
        "not both");
    bad("{\"limit\": 1, \"window\": \"7d\", \"weights\": [{\"match\": \"a.*\", \"weight\": -1}]}",
        "policies[0].params.weights[0].weight");
    bad("{\"limit\": 1, \"window\": \"7d\", \"reserve\": {\"slots\": 1}}", "reserve");
    bad("{\"limit\": 1, \"calendar\": \"day\", \"timezone\": \"Mars/Olympus\"}",
        "policies[0].params.timezone");
}

int main(void)
{
    h_init("test_plugin_frequency");
    CG_RUN(test_window_edges);
    CG_RUN(test_weights);
    CG_RUN(test_many_contacts);
    CG_RUN(test_overlapping_windows);
    CG_RUN(test_counts_versus_blocks);
    CG_RUN(test_reserve);
    CG_RUN(test_calendar_month_in_customer_zone);
    CG_RUN(test_calendar_day_dst);
    CG_RUN(test_bad_params);
    h_done();
    CG_DONE("test_plugin_frequency");
}
