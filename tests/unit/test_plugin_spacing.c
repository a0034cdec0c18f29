/*
 * test_plugin_spacing.c - spacing (no B within T after A) and dedupe (the
 * same content to the same customer within T) through the real engine on
 * a real SQLite store with an injected clock: window edges, directions,
 * departments, content normalisation and bad params.
 */
#include "cg_harness.h"

#define T0 1795000000LL
#define HOUR 3600LL
#define DAY 86400LL
#define ANN "ann@example.com"
#define OFFERS "deals@offers.bank.example"
#define BILL "billing@bank.example"
#define COLL "letters@collections.bank.example"
#define SERVICE "help@service.bank.example"

#define DEPTS                                                                              \
    "\"departments\": ["                                                                   \
    "{\"name\": \"billing\", \"match\": {\"sender\": \"" BILL "\"},"                       \
    " \"default_category\": \"functional.bill\"},"                                        \
    "{\"name\": \"collections\", \"match\": {\"sender\": \"*@collections.bank.example\"}," \
    " \"default_category\": \"collections.letter\"},"                                     \
    "{\"name\": \"service\", \"match\": {\"sender\": \"*@service.bank.example\"},"         \
    " \"default_category\": \"service.update\"},"                                         \
    "{\"name\": \"marketing\", \"match\": {\"sender\": \"*@offers.bank.example\"},"        \
    " \"default_category\": \"promotional.offer\","                                       \
    " \"allowed_categories\": [\"promotional.*\"]}]"

static int quiet;

static struct cg_config *cfg_with(const char *plugin, const char *applies, const char *params)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"plugin_dir\": \"@PLUGINS@\", \"database\": \":memory:\", " DEPTS ",\n"
             " \"policies\": [{\"name\": \"rule\", \"plugin\": \"%s\","
             " \"applies_to\": {\"categories\": [%s]}, \"action\": \"defer\", \"params\": %s}]}\n",
             plugin, applies, params);
    struct cg_config *cfg = h_config(text);
    if (!cfg && !quiet)
        fprintf(stderr, "  config: %s\n", h_err);
    return cfg;
}

/* send - one message to ANN: verdict, retry-after, reply text */
static int send(const struct cg_config *cfg, cg_store *st, const char *sender, int64_t now,
                const char *subject, const char *body, int64_t *retry, char *text)
{
    struct h_msg s = {.sender = sender, .rcpts = {ANN}, .now = now, .subject = subject,
                      .body = body};
    int v = h_send(cfg, st, &s);
    int r = h_result(&s, v, retry);
    if (text)
        /* "REASON | REPLY": why (the decision log) and what the sender is told */
        snprintf(text, 1024, "%s | %s", v == -1 ? s.rcpt_d[0].reason : s.eom_d.reason,
                 v == -1 ? s.rcpt_d[0].smtp_text : s.eom_d.smtp_text);
    return r;
}

/* no promotion within 48 h after a bill: edges at T - 1, T, T + 1 */
static void test_spacing_edges(void)
{
    struct cg_config *cfg = cfg_with("spacing", "\"promotional.*\"",
                                     "{\"after\": \"functional.bill\", \"within\": \"48h\"}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    int64_t retry = 0;
    char text[1024];
    int64_t at[] = {2 * DAY - 1, 2 * DAY, 2 * DAY + 1};
    int want[] = {CG_ACT_DEFER, CG_ACT_ACCEPT, CG_ACT_ACCEPT};
    for (int i = 0; i < 3; i++) {
        cg_store *st = h_store();
        CG_CHECK(send(cfg, st, BILL, T0, "bill", NULL, &retry, NULL) == CG_ACT_ACCEPT);
        CG_CHECK(send(cfg, st, OFFERS, T0 + at[i], "offer", NULL, &retry, text) == want[i]);
        if (want[i] == CG_ACT_DEFER) {
            CG_CHECK(retry == T0 + 2 * DAY);
            CG_CHECK_CONTAINS(text, "no further mail within 2 days after functional.bill mail | ");
            /* issue 12.10: the reply does not tell marketing there was a bill */
            CG_CHECK_CONTAINS(text, "| contact strategy: rule: not now; retry after ");
            CG_CHECK(strstr(strchr(text, '|'), "bill") == NULL);
        }
        cg_store_free(&st);
    }
    /* a promotion first, then a bill: one direction only, both pass */
    cg_store *st = h_store();
    CG_CHECK(send(cfg, st, OFFERS, T0, "offer", NULL, &retry, NULL) == CG_ACT_ACCEPT);
    CG_CHECK(send(cfg, st, BILL, T0 + 1, "bill", NULL, &retry, NULL) == CG_ACT_ACCEPT);
    /* a letter recorded from another channel starts the gap too */
    cg_store_free(&st);
    st = h_store();
    h_contact(st, ANN, "billing", "functional.bill", "letter", T0 - HOUR, NULL);
    CG_CHECK(send(cfg, st, OFFERS, T0, "offer", NULL, &retry, NULL) == CG_ACT_DEFER);
    CG_CHECK(retry == T0 - HOUR + 2 * DAY);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* no second collections letter within 5 days; both directions between a
 * bill and a promotion; after_departments */
static void test_spacing_same_category_and_both_directions(void)
{
    struct cg_config *cfg = cfg_with("spacing", "\"collections.*\"",
                                     "{\"after\": \"collections.*\", \"within\": \"5d\"}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    cg_store *st = h_store();
    int64_t retry = 0;
    CG_CHECK(send(cfg, st, COLL, T0, "first reminder", NULL, &retry, NULL) == CG_ACT_ACCEPT);
    CG_CHECK(send(cfg, st, COLL, T0 + 4 * DAY, "second", NULL, &retry, NULL) == CG_ACT_DEFER);
    CG_CHECK(retry == T0 + 5 * DAY);
    CG_CHECK(send(cfg, st, COLL, T0 + 5 * DAY, "second", NULL, &retry, NULL) == CG_ACT_ACCEPT);
    cg_store_free(&st);
    cg_config_unref(&cfg);

    cfg = cfg_with("spacing", "\"promotional.*\", \"functional.bill\"",
                   "{\"after\": \"functional.bill\", \"block\": \"promotional.*\","
                   " \"within\": \"2d\", \"both_directions\": true}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    st = h_store();
    CG_CHECK(send(cfg, st, OFFERS, T0, "offer", NULL, &retry, NULL) == CG_ACT_ACCEPT);
    CG_CHECK(send(cfg, st, BILL, T0 + DAY, "bill", NULL, &retry, NULL) == CG_ACT_DEFER);
    CG_CHECK(retry == T0 + 2 * DAY);
    CG_CHECK(send(cfg, st, BILL, T0 + 2 * DAY, "bill", NULL, &retry, NULL) == CG_ACT_ACCEPT);
    cg_store_free(&st);
    cg_config_unref(&cfg);

    /* only bills from billing start the gap; a service note does not */
    cfg = cfg_with("spacing", "\"promotional.*\"",
                   "{\"after\": [\"functional.*\", \"service.*\"], \"within\": \"1d\","
                   " \"after_departments\": [\"billing\"]}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    st = h_store();
    CG_CHECK(send(cfg, st, SERVICE, T0, "note", NULL, &retry, NULL) == CG_ACT_ACCEPT);
    CG_CHECK(send(cfg, st, OFFERS, T0 + 1, "offer", NULL, &retry, NULL) == CG_ACT_ACCEPT);
    CG_CHECK(send(cfg, st, BILL, T0 + 2, "bill", NULL, &retry, NULL) == CG_ACT_ACCEPT);
    CG_CHECK(send(cfg, st, OFFERS, T0 + 3, "offer 2", NULL, &retry, NULL) == CG_ACT_DEFER);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* the same content within 7 days is refused, whichever department sends it */
static void test_dedupe(void)
{
    struct cg_config *cfg = cfg_with("dedupe", "\"*\"", "{\"within\": \"7d\"}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    CG_CHECK(cfg->needs_body); /* the MTA is asked for the body */
    cg_store *st = h_store();
    int64_t retry = 0;
    char text[1024];
    const char *body = "Dear customer,\r\nyour card was posted today.\r\n";
    CG_CHECK(send(cfg, st, SERVICE, T0, "Your card", body, &retry, NULL) == CG_ACT_ACCEPT);
    /* re-wrapped, "Re:", other case: the same content; another department */
    CG_CHECK(send(cfg, st, BILL, T0 + 7 * DAY - 1, "RE: your  card",
                  "Dear customer, your card\nwas posted today.", &retry, text) == CG_ACT_DEFER);
    CG_CHECK(retry == T0 + 7 * DAY);
    CG_CHECK_CONTAINS(text, "the same content already went to this recipient within 7 "
                            "days (from service) | contact strategy: rule: not now; retry after");
    /* exactly T later it may go again */
    CG_CHECK(send(cfg, st, BILL, T0 + 7 * DAY, "Your card", body, &retry, NULL) ==
             CG_ACT_ACCEPT);
    /* a different body, or a different subject, is different content */
    CG_CHECK(send(cfg, st, SERVICE, T0 + 7 * DAY + 1, "Your card", "Your card is delayed.",
                  &retry, NULL) == CG_ACT_ACCEPT);
    CG_CHECK(send(cfg, st, SERVICE, T0 + 7 * DAY + 2, "Your new card", body, &retry, NULL) ==
             CG_ACT_ACCEPT);
    /* another customer may get the same letter */
    struct h_msg s = {.sender = SERVICE, .rcpts = {"bob@example.com"}, .now = T0 + 7 * DAY + 3,
                      .subject = "Your card", .body = body};
    CG_CHECK(h_send(cfg, st, &s) == CG_ACT_ACCEPT);
    cg_store_free(&st);
    cg_config_unref(&cfg);

    /* departments: only marketing's earlier sends count */
    cfg = cfg_with("dedupe", "\"*\"", "{\"within\": \"1d\", \"departments\": [\"marketing\"]}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    st = h_store();
    CG_CHECK(send(cfg, st, SERVICE, T0, "Hello", "same", &retry, NULL) == CG_ACT_ACCEPT);
    CG_CHECK(send(cfg, st, SERVICE, T0 + 1, "Hello", "same", &retry, NULL) == CG_ACT_ACCEPT);
    CG_CHECK(send(cfg, st, OFFERS, T0 + 2, "Hello", "same", &retry, NULL) == CG_ACT_ACCEPT);
    CG_CHECK(send(cfg, st, SERVICE, T0 + 3, "Hello", "same", &retry, NULL) == CG_ACT_DEFER);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

static void bad(const char *plugin, const char *params, const char *want)
{
    quiet = 1;
    h_refused(cfg_with(plugin, "\"*\"", params), want);
    quiet = 0;
}

static void test_bad_params(void)
{
    bad("spacing", "{\"within\": \"48h\"}", "policies[0].params.after");
    bad("spacing", "{\"after\": [], \"within\": \"48h\"}", "policies[0].params.after");
    bad("spacing", "{\"after\": \"functional.bill\", \"within\": \"2 days\"}",
        "policies[0].params.within");
    bad("spacing", "{\"after\": \"functional.bill\", \"within\": \"0s\"}",
        "policies[0].params.within");
    bad("spacing", "{\"after\": 7, \"within\": \"1d\"}", "policies[0].params.after");
    bad("spacing", "{\"after\": \"a\", \"within\": \"1d\", \"both\": true}", "both");
    bad("spacing", "{\"after\": \"a\", \"within\": \"1d\", \"both_directions\": \"yes\"}",
        "policies[0].params.both_directions");
    bad("dedupe", "{}", "policies[0].params.within");
    bad("dedupe", "{\"within\": \"7d\", \"match\": \"subject\"}", "match");
    bad("dedupe", "{\"within\": -5}", "policies[0].params.within");
}

int main(void)
{
    h_init("test_plugin_spacing");
    CG_RUN(test_spacing_edges);
    CG_RUN(test_spacing_same_category_and_both_directions);
    CG_RUN(test_dedupe);
    CG_RUN(test_bad_params);
    h_done();
    CG_DONE("test_plugin_spacing");
}
