/*
 * test_plugin_consent.c - the consent plugin (opt-outs, global suppression,
 * List-Unsubscribe) through the real engine, a real store and an injected
 * clock.
 */
#include <sqlite3.h>

#include "cg_harness.h"

#define T0 1795000000LL
#define DAY 86400LL

#define BILL "billing@bank.example"
#define OFFERS "deals@offers.bank.example"
#define ANN "ann@example.com"
#define UNSUB "<https://bank.example/unsub?x=1>"

#define DEPTS                                                                              \
    "\"departments\": ["                                                                   \
    "{\"name\": \"billing\", \"match\": {\"sender\": \"" BILL "\"},"                       \
    " \"default_category\": \"functional.bill\"},"                                        \
    "{\"name\": \"marketing\", \"match\": {\"sender\": \"*@offers.bank.example\"},"        \
    " \"default_category\": \"promotional.offer\","                                       \
    " \"allowed_categories\": [\"promotional.*\"]}]"

static int quiet; /* bad-params tests expect the config error */

/* cfg_with - a config with one consent policy */
static struct cg_config *cfg_with(const char *applies, const char *action, const char *params)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"plugin_dir\": \"@PLUGINS@\", \"database\": \":memory:\", " DEPTS ",\n"
             " \"policies\": [{\"name\": \"consent\", \"plugin\": \"consent\","
             " \"applies_to\": {\"categories\": [%s]}, \"action\": \"%s\", \"params\": %s}]}\n",
             applies, action, params);
    struct cg_config *cfg = h_config(text);
    if (!cfg && !quiet)
        fprintf(stderr, "  config: %s\n", h_err);
    return cfg;
}

/* std_cfg - the brief's example: promotional.* must carry List-Unsubscribe */
static struct cg_config *std_cfg(void)
{
    return cfg_with("\"promotional.*\"", "reject",
                    "{\"require_unsubscribe\": \"promotional.*\","
                    " \"missing_unsubscribe_action\": \"reject\"}");
}

static void optout(cg_store *st, const char *who, const char *cat, int64_t since, int64_t until)
{
    struct cg_optout_row o = {.customer = who, .category = cat, .since = since, .until = until,
                              .note = "test"};
    CG_CHECK(cg_store_optout_set(st, &o) == 0);
}

/* sendm - one message to one recipient; category header and List-Unsubscribe
 * optional; returns the h_send verdict, *rcpt_v the RCPT verdict */
static int sendm(const struct cg_config *cfg, cg_store *st, const char *sender, const char *rcpt,
                 int64_t now, const char *category, const char *unsub, struct h_msg *s)
{
    memset(s, 0, sizeof *s);
    s->sender = sender;
    s->rcpts[0] = rcpt;
    s->now = now;
    size_t k = 0;
    if (category) {
        s->headers[k][0] = "X-Contact-Category";
        s->headers[k][1] = category;
        k++;
    }
    if (unsub) {
        s->headers[k][0] = "List-Unsubscribe";
        s->headers[k][1] = unsub;
    }
    return h_send(cfg, st, s);
}

static void test_optout_rejects_at_rcpt(void)
{
    struct cg_config *cfg = std_cfg();
    cg_store *st = h_store();
    CG_CHECK(cfg && st);
    if (!cfg || !st)
        goto out;
    optout(st, ANN, "promotional.*", T0 - DAY, 0);
    int rv = -9;
    struct h_msg s;
    CG_CHECK(h_simple(cfg, st, OFFERS, ANN, T0, NULL, &rv) == -1);
    CG_CHECK(rv == CG_ACT_REJECT);
    /* the whole message again, to look at the SMTP reply */
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0, NULL, UNSUB, &s) == -1);
    CG_CHECK(s.rcpt_d[0].verdict == CG_ACT_REJECT);
    CG_CHECK_CONTAINS(s.rcpt_d[0].smtp_text, "consent: not permitted");
    CG_CHECK_CONTAINS(s.rcpt_d[0].reason, "opted out");
    CG_CHECK(strstr(s.rcpt_d[0].smtp_text, ANN) == NULL); /* no customer data */
    /* case of the recipient does not matter: the address is normalised */
    CG_CHECK(h_simple(cfg, st, OFFERS, "Ann@Example.COM", T0, NULL, &rv) == -1);
    CG_CHECK(rv == CG_ACT_REJECT);
    /* another customer is not affected */
    CG_CHECK(sendm(cfg, st, OFFERS, "bob@example.com", T0, NULL, UNSUB, &s) == CG_ACT_ACCEPT);
    /* the bill is not promotional: the policy does not apply */
    CG_CHECK(h_simple(cfg, st, BILL, ANN, T0, NULL, &rv) == CG_ACT_ACCEPT);
    CG_CHECK(rv == CG_ACT_ACCEPT);
out:
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

static void test_optout_time_window(void)
{
    struct cg_config *cfg = std_cfg();
    cg_store *st = h_store();
    CG_CHECK(cfg && st);
    if (!cfg || !st)
        goto out;
    struct h_msg s;
    /* ended yesterday: no longer applies */
    optout(st, ANN, "promotional.*", T0 - 30 * DAY, T0 - DAY);
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0, NULL, UNSUB, &s) == CG_ACT_ACCEPT);
    CG_CHECK(s.rcpt_d[0].verdict == CG_ACT_ACCEPT);
    /* ... but it did while it was open; until is exclusive */
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0 - DAY - 1, NULL, UNSUB, &s) == -1);
    CG_CHECK(s.rcpt_d[0].verdict == CG_ACT_REJECT);
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0 - DAY, NULL, UNSUB, &s) == CG_ACT_ACCEPT);
    /* starts tomorrow: not yet */
    optout(st, "carl@example.com", "promotional.*", T0 + DAY, 0);
    CG_CHECK(sendm(cfg, st, OFFERS, "carl@example.com", T0, NULL, UNSUB, &s) == CG_ACT_ACCEPT);
    CG_CHECK(sendm(cfg, st, OFFERS, "carl@example.com", T0 + DAY, NULL, UNSUB, &s) == -1);
out:
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* detail_cb - keep the newest decision's detail */
static int detail_cb(const struct cg_decision_row *d, void *arg)
{
    snprintf(arg, 256, "%s", d->detail ? d->detail : "");
    return 1;
}

static void test_optout_one_category_at_eom(void)
{
    struct cg_config *cfg = std_cfg();
    cg_store *st = h_store();
    CG_CHECK(cfg && st);
    if (!cfg || !st)
        goto out;
    optout(st, ANN, "promotional.newsletter", T0 - DAY, 0);
    struct h_msg s;
    /* the newsletter is refused at end of message, not at RCPT */
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0, "promotional.newsletter", UNSUB, &s) ==
             CG_ACT_REJECT);
    CG_CHECK(s.rcpt_d[0].verdict == CG_ACT_ACCEPT);
    CG_CHECK_CONTAINS(s.eom_d.smtp_text, "consent: not permitted");
    CG_CHECK_CONTAINS(s.eom_d.reason, "opted out");
    /* the decision log (not the reply) says which opt-out */
    char detail[256] = "";
    struct cg_decision_filter f = {.limit = 1};
    CG_CHECK(cg_store_decisions(st, &f, detail_cb, detail) == 0);
    CG_CHECK_CONTAINS(detail, "opt-out category=promotional.newsletter");
    CG_CHECK(strstr(s.eom_d.smtp_text, "opt-out category") == NULL);
    /* an offer is still fine, explicit or by the department default */
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0, "promotional.offer", UNSUB, &s) == CG_ACT_ACCEPT);
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0, NULL, UNSUB, &s) == CG_ACT_ACCEPT);
    CG_CHECK(s.rcpt_d[0].verdict == CG_ACT_ACCEPT);
out:
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* at RCPT the marketing candidates are promotional.offer and promotional.*:
 * an opt-out of the default category alone cannot decide there */
static void test_rcpt_needs_every_candidate(void)
{
    struct cg_config *cfg = std_cfg();
    cg_store *st = h_store();
    CG_CHECK(cfg && st);
    if (!cfg || !st)
        goto out;
    optout(st, ANN, "promotional.offer", T0 - DAY, 0);
    struct h_msg s;
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0, NULL, UNSUB, &s) == CG_ACT_REJECT);
    CG_CHECK(s.rcpt_d[0].verdict == CG_ACT_ACCEPT);
    CG_CHECK_CONTAINS(s.eom_d.reason, "opted out");
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0, "promotional.survey", UNSUB, &s) == CG_ACT_ACCEPT);
    /* an opt-out of a wider pattern covers every candidate */
    optout(st, ANN, "promotional.*", T0 - DAY, 0);
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0, "promotional.survey", UNSUB, &s) == -1);
    CG_CHECK(s.rcpt_d[0].verdict == CG_ACT_REJECT);
out:
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

static void test_global_suppression(void)
{
    struct cg_config *cfg = std_cfg();
    struct cg_config *all = cfg_with("\"*\"", "reject", "{}");
    cg_store *st = h_store();
    CG_CHECK(cfg && all && st);
    if (!cfg || !all || !st)
        goto out;
    optout(st, ANN, "*", T0 - DAY, 0);
    int rv = -9;
    struct h_msg s;
    CG_CHECK(h_simple(cfg, st, OFFERS, ANN, T0, NULL, &rv) == -1);
    CG_CHECK(rv == CG_ACT_REJECT);
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0, "promotional.newsletter", UNSUB, &s) == -1);
    /* the promotional-only policy lets the bill through */
    CG_CHECK(h_simple(cfg, st, BILL, ANN, T0, NULL, &rv) == CG_ACT_ACCEPT);
    /* a policy for every category blocks it too */
    CG_CHECK(h_simple(all, st, BILL, ANN, T0, NULL, &rv) == -1);
    CG_CHECK(rv == CG_ACT_REJECT);
    /* a category opt-out does not block other categories */
    optout(st, "dora@example.com", "promotional.*", T0 - DAY, 0);
    CG_CHECK(h_simple(all, st, BILL, "dora@example.com", T0, NULL, &rv) == CG_ACT_ACCEPT);
out:
    cg_store_free(&st);
    cg_config_unref(&cfg);
    cg_config_unref(&all);
}

static void test_optouts_off(void)
{
    struct cg_config *cfg = cfg_with("\"promotional.*\"", "reject",
                                     "{\"optouts\": false, \"require_unsubscribe\": [\"promotional.*\"]}");
    cg_store *st = h_store();
    CG_CHECK(cfg && st);
    if (!cfg || !st)
        goto out;
    optout(st, ANN, "*", T0 - DAY, 0);
    struct h_msg s;
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0, NULL, UNSUB, &s) == CG_ACT_ACCEPT);
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0, NULL, NULL, &s) == CG_ACT_REJECT);
out:
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

static void test_unsubscribe_reject(void)
{
    struct cg_config *cfg = std_cfg();
    cg_store *st = h_store();
    CG_CHECK(cfg && st);
    if (!cfg || !st)
        goto out;
    struct h_msg s;
    int rv = -9;
    /* missing: accepted at RCPT (no headers yet), rejected at end of message */
    CG_CHECK(h_simple(cfg, st, OFFERS, ANN, T0, NULL, &rv) == CG_ACT_REJECT);
    CG_CHECK(rv == CG_ACT_ACCEPT);
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0, "promotional.newsletter", NULL, &s) == CG_ACT_REJECT);
    CG_CHECK(s.rcpt_d[0].verdict == CG_ACT_ACCEPT);
    CG_CHECK_CONTAINS(s.eom_d.smtp_text, "consent: not permitted");
    CG_CHECK_CONTAINS(s.eom_d.reason, "List-Unsubscribe");
    /* blank counts as missing */
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0, NULL, "  ", &s) == CG_ACT_REJECT);
    /* present: accepted */
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0, NULL, UNSUB, &s) == CG_ACT_ACCEPT);
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0, "promotional.newsletter", UNSUB, &s) ==
             CG_ACT_ACCEPT);
    /* header name is case-insensitive */
    memset(&s, 0, sizeof s);
    s.sender = OFFERS;
    s.rcpts[0] = ANN;
    s.now = T0;
    s.headers[0][0] = "list-unsubscribe";
    s.headers[0][1] = UNSUB;
    CG_CHECK(h_send(cfg, st, &s) == CG_ACT_ACCEPT);
    /* the bill needs none */
    CG_CHECK(h_simple(cfg, st, BILL, ANN, T0, NULL, &rv) == CG_ACT_ACCEPT);
out:
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

static void test_unsubscribe_tag_and_policy(void)
{
    struct cg_config *tag = cfg_with("\"promotional.*\"", "reject",
                                     "{\"require_unsubscribe\": \"promotional.*\","
                                     " \"missing_unsubscribe_action\": \"tag\"}");
    /* "policy" (the default) takes the policy's action */
    struct cg_config *pol = cfg_with("\"promotional.*\"", "hold",
                                     "{\"require_unsubscribe\": \"promotional.*\"}");
    /* reject is capped at the policy's action */
    struct cg_config *capped = cfg_with("\"promotional.*\"", "tag",
                                        "{\"require_unsubscribe\": \"promotional.*\","
                                        " \"missing_unsubscribe_action\": \"reject\"}");
    /* only the newsletter needs the header */
    struct cg_config *nl = cfg_with("\"promotional.*\"", "reject",
                                    "{\"require_unsubscribe\": [\"promotional.newsletter\"]}");
    cg_store *st = h_store();
    CG_CHECK(tag && pol && capped && nl && st);
    if (!tag || !pol || !capped || !nl || !st)
        goto out;
    struct h_msg s;
    CG_CHECK(sendm(tag, st, OFFERS, ANN, T0, NULL, NULL, &s) == CG_ACT_TAG);
    CG_CHECK(s.rcpt_d[0].verdict == CG_ACT_ACCEPT);
    CG_CHECK_CONTAINS(s.eom_d.tag_value, "verdict=tag; ref=CG");
    CG_CHECK(sendm(tag, st, OFFERS, ANN, T0, NULL, UNSUB, &s) == CG_ACT_ACCEPT);
    /* an opt-out still uses the policy's action (reject) */
    optout(st, ANN, "promotional.*", T0 - DAY, 0);
    CG_CHECK(sendm(tag, st, OFFERS, ANN, T0, NULL, NULL, &s) == -1);
    CG_CHECK(s.rcpt_d[0].verdict == CG_ACT_REJECT);
    const char *bob = "bob@example.com";
    CG_CHECK(sendm(pol, st, OFFERS, bob, T0, NULL, NULL, &s) == CG_ACT_HOLD);
    CG_CHECK(sendm(capped, st, OFFERS, bob, T0, NULL, NULL, &s) == CG_ACT_TAG);
    CG_CHECK(sendm(nl, st, OFFERS, bob, T0, NULL, NULL, &s) == CG_ACT_ACCEPT);
    CG_CHECK(sendm(nl, st, OFFERS, bob, T0, "promotional.newsletter", NULL, &s) == CG_ACT_REJECT);
out:
    cg_store_free(&st);
    cg_config_unref(&tag);
    cg_config_unref(&pol);
    cg_config_unref(&capped);
    cg_config_unref(&nl);
}

/* fail closed: a broken opt-out table makes the host apply on_error */
static void fail_closed(const char *on_error)
{
    char text[PATH_MAX + 2048], db[PATH_MAX + 32];
    snprintf(db, sizeof db, "%s/failclosed.sqlite", h_tmpdir);
    snprintf(text, sizeof text,
             "{\"plugin_dir\": \"@PLUGINS@\", \"database\": \"%s\", \"on_error\": \"%s\", " DEPTS ",\n"
             " \"policies\": [{\"name\": \"consent\", \"plugin\": \"consent\","
             " \"applies_to\": {\"categories\": [\"promotional.*\"]}, \"action\": \"reject\","
             " \"params\": {}}]}\n",
             db, on_error);
    struct cg_config *cfg = h_config(text);
    char err[256];
    cg_store *st = cg_store_open(db, 0, err, sizeof err);
    CG_CHECK(cfg && st);
    if (!cfg || !st)
        goto out;
    struct h_msg s;
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0, NULL, NULL, &s) == CG_ACT_ACCEPT);
    sqlite3 *raw = NULL;
    CG_CHECK(sqlite3_open(db, &raw) == SQLITE_OK);
    CG_CHECK(sqlite3_exec(raw, "DROP TABLE optouts", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(raw);
    CG_CHECK(sendm(cfg, st, OFFERS, ANN, T0, NULL, NULL, &s) == CG_ACT_DEFER);
    CG_CHECK(s.eom_d.error == 1);
    CG_CHECK(s.eom_d.policy && strcmp(s.eom_d.policy->name, "consent") == 0);
out:
    cg_store_free(&st);
    cg_config_unref(&cfg);
    unlink(db);
}

/* a legal suppression fails closed, even with on_error "accept" */
static void test_fail_closed(void)
{
    fail_closed("tempfail");
    fail_closed("accept");
}

/* bad_params - the config is refused and the error names the key */
static void bad_params(const char *params, const char *key)
{
    quiet = 1;
    h_refused_param(cfg_with("\"promotional.*\"", "reject", params), key);
    quiet = 0;
}

static void test_bad_params(void)
{
    bad_params("{\"optout\": true}", "optout");
    bad_params("{\"optouts\": \"yes\"}", "optouts");
    bad_params("{\"optouts\": 1}", "optouts");
    bad_params("{\"require_unsubscribe\": 5}", "require_unsubscribe");
    bad_params("{\"require_unsubscribe\": [\"promotional.*\", 7]}", "require_unsubscribe");
    bad_params("{\"require_unsubscribe\": \"promo tional\"}", "require_unsubscribe");
    bad_params("{\"require_unsubscribe\": \"promotional*\"}", "require_unsubscribe");
    bad_params("{\"require_unsubscribe\": \"promotional.*\","
               " \"missing_unsubscribe_action\": \"bounce\"}",
               "missing_unsubscribe_action");
    bad_params("{\"require_unsubscribe\": \"promotional.*\","
               " \"missing_unsubscribe_action\": 4}",
               "missing_unsubscribe_action");
    bad_params("{\"missing_unsubscribe_action\": \"tag\"}", "missing_unsubscribe_action");
    bad_params("{\"optouts\": false}", "optouts");
    /* and the good ones load */
    struct cg_config *cfg = cfg_with("\"promotional.*\"", "reject", "{}");
    CG_CHECK(cfg != NULL);
    cg_config_unref(&cfg);
    cfg = cfg_with("\"promotional.*\"", "reject",
                   "{\"optouts\": true, \"require_unsubscribe\": [\"promotional.*\", \"*\"],"
                   " \"missing_unsubscribe_action\": \"policy\"}");
    CG_CHECK(cfg != NULL);
    cg_config_unref(&cfg);
}

int main(void)
{
    h_init("test_plugin_consent");
    CG_RUN(test_optout_rejects_at_rcpt);
    CG_RUN(test_optout_time_window);
    CG_RUN(test_optout_one_category_at_eom);
    CG_RUN(test_rcpt_needs_every_candidate);
    CG_RUN(test_global_suppression);
    CG_RUN(test_optouts_off);
    CG_RUN(test_unsubscribe_reject);
    CG_RUN(test_unsubscribe_tag_and_policy);
    CG_RUN(test_fail_closed);
    CG_RUN(test_bad_params);
    h_done();
    CG_DONE("test_plugin_consent");
}
