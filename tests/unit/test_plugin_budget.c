/*
 * test_plugin_budget.c - department_budget through the real engine on a
 * real SQLite store with an injected clock: the volume of one department
 * (every customer together) per rolling window, per-department limits, the
 * reserve functional mail may still use, window edges and bad params.
 */
#include "cg_harness.h"

#define T0 1795000000LL
#define HOUR 3600LL
#define BLAST "blast@campaign.example"
#define BILL "billing@bank.example"

#define DEPTS                                                                              \
    "\"departments\": ["                                                                   \
    "{\"name\": \"billing\", \"match\": {\"sender\": \"" BILL "\"},"                       \
    " \"default_category\": \"functional.bill\"},"                                        \
    "{\"name\": \"campaigns\", \"match\": {\"sender\": \"*@campaign.example\"},"           \
    " \"default_category\": \"promotional.campaign\","                                    \
    " \"allowed_categories\": [\"promotional.*\", \"functional.notice\"]}]"

static int quiet;

static struct cg_config *cfg_with(const char *params)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"plugin_dir\": \"@PLUGINS@\", \"database\": \":memory:\", " DEPTS ",\n"
             " \"policies\": [{\"name\": \"budget\", \"plugin\": \"department_budget\","
             " \"action\": \"defer\", \"params\": %s}]}\n",
             params);
    struct cg_config *cfg = h_config(text);
    if (!cfg && !quiet)
        fprintf(stderr, "  config: %s\n", h_err);
    return cfg;
}

/* send - one message from `sender` to customer n; verdict and retry */
static int send(const struct cg_config *cfg, cg_store *st, const char *sender, int n,
                int64_t now, const char *category, int64_t *retry, char *text)
{
    char rcpt[64];
    snprintf(rcpt, sizeof rcpt, "c%d@example.com", n);
    struct h_msg s = {.sender = sender, .rcpts = {rcpt}, .now = now};
    if (category) {
        s.headers[0][0] = "X-Contact-Category";
        s.headers[0][1] = category;
    }
    int v = h_send(cfg, st, &s);
    int r = h_result(&s, v, retry);
    if (text) /* why, as the decision log has it (the reply only names the policy) */
        snprintf(text, 512, "%s", v == -1 ? s.rcpt_d[0].reason : s.eom_d.reason);
    return r;
}

/* 3 an hour across all customers. The volume comes from per-minute
 * counters at the window's edges: the minute holding the window's start
 * counts whole, so a message is never let over the limit, and the
 * retry-after is the end of the minute that frees a slot, plus the window:
 * never earlier than the exact instant, at most a minute later. */
static void test_budget_window(void)
{
    struct cg_config *cfg = cfg_with("{\"limit\": 3, \"window\": \"1h\"}");
    cg_store *st = h_store();
    CG_REQUIRE(cfg && st);
    int64_t retry = 0;
    char text[512];
    /* T0 is 40 s into its minute: T0 and T0 + 10 share a minute, T0 + 20
     * starts the next */
    CG_REQUIRE(T0 % 60 == 40);
    for (int i = 0; i < 3; i++)
        CG_CHECK_INT(send(cfg, st, BLAST, i, T0 + 10 * i, NULL, &retry, NULL), CG_ACT_ACCEPT);
    CG_CHECK_INT(send(cfg, st, BLAST, 9, T0 + HOUR - 1, NULL, &retry, text), CG_ACT_DEFER);
    /* exact: T0 + HOUR; from the counters: the end of T0's minute (T0 +
     * 20) - 1 + the window */
    CG_CHECK_INT(retry, T0 + 19 + HOUR);
    CG_CHECK_CONTAINS(text, "department campaigns used its budget of 3 per 1 hour");
    CG_CHECK(strstr(text, "c9@") == NULL);
    /* other departments have their own (here: the same) budget */
    CG_CHECK_INT(send(cfg, st, BILL, 9, T0 + HOUR - 1, NULL, &retry, NULL), CG_ACT_ACCEPT);
    /* at T0 + HOUR the minute of T0 still counts whole: never one over */
    CG_CHECK_INT(send(cfg, st, BLAST, 9, T0 + HOUR, NULL, &retry, NULL), CG_ACT_DEFER);
    CG_CHECK_INT(send(cfg, st, BLAST, 9, T0 + HOUR + 18, NULL, &retry, NULL), CG_ACT_DEFER);
    /* from the retry-after on, that minute has left: two slots */
    CG_CHECK_INT(send(cfg, st, BLAST, 9, T0 + HOUR + 19, NULL, &retry, NULL), CG_ACT_ACCEPT);
    CG_CHECK_INT(send(cfg, st, BLAST, 10, T0 + HOUR + 20, NULL, &retry, NULL), CG_ACT_ACCEPT);
    CG_CHECK_INT(send(cfg, st, BLAST, 11, T0 + HOUR + 21, NULL, &retry, NULL), CG_ACT_DEFER);
    /* the next slot: when T0 + 20's minute has left */
    CG_CHECK_INT(retry, T0 + 79 + HOUR);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* exact at volume: a day's budget of 20,001 over 20,000 contacts of the
 * department lets exactly one more through (the cost of the decision is
 * in bench/engine.sh: it reads counters, never the contacts) */
static void test_budget_exact_at_volume(void)
{
    struct cg_config *cfg = cfg_with("{\"limit\": 20001, \"window\": \"1d\"}");
    cg_store *st = h_store();
    CG_REQUIRE(cfg && st);
    cg_store_begin(st, 1);
    for (int i = 0; i < 20000; i++) {
        char cust[32];
        snprintf(cust, sizeof cust, "c%d@example.com", i);
        h_contact(st, cust, "campaigns", "promotional.campaign", NULL, T0 - 80000 + i * 4, NULL);
    }
    cg_store_commit(st);
    int64_t retry = 0;
    CG_CHECK_INT(send(cfg, st, BLAST, 1, T0, NULL, &retry, NULL), CG_ACT_ACCEPT);
    CG_CHECK_INT(send(cfg, st, BLAST, 2, T0 + 1, NULL, &retry, NULL), CG_ACT_DEFER);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* per-department limits and a reserve for functional mail */
static void test_limits_and_reserve(void)
{
    struct cg_config *cfg = cfg_with(
        "{\"limits\": [{\"department\": \"campaigns\", \"limit\": 3}], \"window\": \"1d\","
        " \"reserve\": {\"amount\": 1, \"categories\": [\"functional.*\"]}}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    cg_store *st = h_store();
    int64_t retry = 0;
    char text[512];
    CG_CHECK(send(cfg, st, BLAST, 1, T0, NULL, &retry, NULL) == CG_ACT_ACCEPT);
    CG_CHECK(send(cfg, st, BLAST, 2, T0 + 1, NULL, &retry, NULL) == CG_ACT_ACCEPT);
    /* 2 of 3 used: the last one is reserved for functional mail */
    CG_CHECK(send(cfg, st, BLAST, 3, T0 + 2, NULL, &retry, text) == CG_ACT_DEFER);
    CG_CHECK_CONTAINS(text, "(the rest is reserved)");
    CG_CHECK(send(cfg, st, BLAST, 3, T0 + 3, "functional.notice", &retry, NULL) == CG_ACT_ACCEPT);
    CG_CHECK(send(cfg, st, BLAST, 4, T0 + 4, "functional.notice", &retry, NULL) == CG_ACT_DEFER);
    /* billing is not in "limits" and there is no "limit": no budget */
    for (int i = 0; i < 5; i++)
        CG_CHECK(send(cfg, st, BILL, i, T0 + i, NULL, &retry, NULL) == CG_ACT_ACCEPT);
    cg_store_free(&st);
    cg_config_unref(&cfg);

    /* count_categories: functional mail does not use the budget */
    cfg = cfg_with("{\"limit\": 1, \"window\": \"1d\", \"count_categories\": \"promotional.*\"}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    st = h_store();
    CG_CHECK(send(cfg, st, BLAST, 1, T0, "functional.notice", &retry, NULL) == CG_ACT_ACCEPT);
    CG_CHECK(send(cfg, st, BLAST, 2, T0 + 1, NULL, &retry, NULL) == CG_ACT_ACCEPT);
    CG_CHECK(send(cfg, st, BLAST, 3, T0 + 2, NULL, &retry, NULL) == CG_ACT_DEFER);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

static void bad(const char *params, const char *want)
{
    quiet = 1;
    h_refused(cfg_with(params), want);
    quiet = 0;
}

static void test_bad_params(void)
{
    bad("{}", "needs \"limit\" or \"limits\"");
    bad("{\"limit\": -1}", "policies[0].params.limit");
    bad("{\"limit\": 1.5}", "policies[0].params.limit");
    bad("{\"limit\": 10, \"window\": \"1y\"}", "policies[0].params.window");
    bad("{\"limit\": 10, \"per\": \"day\"}", "per");
    bad("{\"limits\": {\"campaigns\": 3}}", "policies[0].params.limits");
    bad("{\"limits\": [{\"department\": \"campaigns\"}]}", "policies[0].params.limits[0].limit");
    bad("{\"limit\": 10, \"reserve\": {\"amount\": 1}}", "policies[0].params.reserve.categories");
    bad("{\"limit\": 10, \"reserve\": {\"amount\": -1, \"categories\": \"functional.*\"}}",
        "policies[0].params.reserve.amount");
}

int main(void)
{
    h_init("test_plugin_budget");
    CG_RUN(test_budget_window);
    CG_RUN(test_budget_exact_at_volume);
    CG_RUN(test_limits_and_reserve);
    CG_RUN(test_bad_params);
    h_done();
    CG_DONE("test_plugin_budget");
}
