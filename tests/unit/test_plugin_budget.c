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
    if (text)
        snprintf(text, 512, "%s", v == -1 ? s.rcpt_d[0].smtp_text : s.eom_d.smtp_text);
    return r;
}

/* 3 an hour across all customers; edges at T - 1 and T */
static void test_budget_window(void)
{
    struct cg_config *cfg = cfg_with("{\"limit\": 3, \"window\": \"1h\"}");
    CG_CHECK(cfg != NULL);
    if (!cfg)
        return;
    cg_store *st = h_store();
    int64_t retry = 0;
    char text[512];
    for (int i = 0; i < 3; i++)
        CG_CHECK(send(cfg, st, BLAST, i, T0 + 10 * i, NULL, &retry, NULL) == CG_ACT_ACCEPT);
    CG_CHECK(send(cfg, st, BLAST, 9, T0 + HOUR - 1, NULL, &retry, text) == CG_ACT_DEFER);
    CG_CHECK(retry == T0 + HOUR);
    CG_CHECK_CONTAINS(text, "budget: department campaigns used its budget of 3 per 1 hour");
    CG_CHECK(strstr(text, "c9@") == NULL);
    /* other departments have their own (here: the same) budget */
    CG_CHECK(send(cfg, st, BILL, 9, T0 + HOUR - 1, NULL, &retry, NULL) == CG_ACT_ACCEPT);
    /* at exactly T the first message leaves the window */
    CG_CHECK(send(cfg, st, BLAST, 9, T0 + HOUR, NULL, &retry, NULL) == CG_ACT_ACCEPT);
    CG_CHECK(send(cfg, st, BLAST, 10, T0 + HOUR + 1, NULL, &retry, NULL) == CG_ACT_DEFER);
    CG_CHECK(retry == T0 + 10 + HOUR);
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
    CG_RUN(test_limits_and_reserve);
    CG_RUN(test_bad_params);
    h_done();
    CG_DONE("test_plugin_budget");
}
