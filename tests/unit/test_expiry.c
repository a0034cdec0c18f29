/*
 * test_expiry.c - every delay has an expiry (max_defer / on_expiry), and
 * the content digests that content rules and the history use.
 */
#include "cg_harness.h"

#define T0 1795000000LL
#define DAY 86400LL

static const char *config =
    "{\"plugin_dir\": \"@PLUGINS@\", \"database\": \":memory:\","
    " \"departments\": [{\"name\": \"marketing\", \"match\": {\"sender\": \"*@offers.bank.example\"},"
    "   \"default_category\": \"promotional.offer\", \"allowed_categories\": [\"promotional.*\"]}],"
    " \"policies\": [{\"name\": \"promotions-3-per-week\", \"plugin\": \"frequency\","
    "   \"action\": \"defer\", \"max_defer\": \"2d\", \"on_expiry\": \"%s\","
    "   \"params\": {\"limit\": 3, \"window\": \"7d\"}}]}";

static struct cg_config *load(const char *on_expiry)
{
    char text[2048];
    snprintf(text, sizeof text, config, on_expiry);
    struct cg_config *c = h_config(text);
    if (!c)
        fprintf(stderr, "  config: %s\n", h_err);
    return c;
}

/* send the promotion with this Message-ID at time t */
static int promo(const struct cg_config *cfg, cg_store *st, const char *msgid, int64_t t,
                 struct h_msg *s)
{
    memset(s, 0, sizeof *s);
    s->sender = "news@offers.bank.example";
    s->rcpts[0] = "ann@example.com";
    s->message_id = msgid;
    s->now = t;
    return h_send(cfg, st, s);
}

/* a deferral repeated past max_defer becomes on_expiry (from the first
 * deferral of that Message-ID and recipient); another message starts
 * its own clock */
static void test_expiry(const char *on_expiry, int want)
{
    struct cg_config *cfg = load(on_expiry);
    cg_store *st = h_store();
    CG_CHECK(cfg && st);
    if (!cfg || !st)
        return;
    struct h_msg s;
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "<p%d@bank.example>", i);
        CG_CHECK(promo(cfg, st, id, T0 + i, &s) == CG_ACT_ACCEPT);
    }
    /* decided at end of message: max_defer needs the Message-ID */
    CG_CHECK(promo(cfg, st, "<late@bank.example>", T0 + 100, &s) == CG_ACT_DEFER);
    CG_CHECK(s.rcpt_d[0].verdict == CG_ACT_ACCEPT);
    CG_CHECK(s.eom_d.retry_after == T0 + 7 * DAY);
    CG_CHECK(promo(cfg, st, "<late@bank.example>", T0 + 100 + DAY, &s) == CG_ACT_DEFER);
    /* one second before 2 days after the first deferral: still a deferral */
    CG_CHECK(promo(cfg, st, "<late@bank.example>", T0 + 100 + 2 * DAY - 1, &s) == CG_ACT_DEFER);
    /* at 2 days: the policy's on_expiry */
    CG_CHECK(promo(cfg, st, "<late@bank.example>", T0 + 100 + 2 * DAY, &s) == want);
    CG_CHECK_CONTAINS(s.eom_d.reason, "deferred since 2026-11-18T11:08:20Z, longer");
    CG_CHECK_CONTAINS(s.eom_d.reason, "longer than this policy allows (at most 3 contacts");
    if (want == CG_ACT_REJECT) {
        CG_CHECK_STR(s.eom_d.smtp_code, "550");
        CG_CHECK_CONTAINS(s.eom_d.smtp_text, "contact strategy: promotions-3-per-week: deferred since");
    }
    /* another message is deferred afresh */
    CG_CHECK(promo(cfg, st, "<other@bank.example>", T0 + 100 + 2 * DAY, &s) == CG_ACT_DEFER);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

static void test_expiry_reject(void)
{
    test_expiry("reject", CG_ACT_REJECT);
}

static void test_expiry_hold(void)
{
    test_expiry("hold", CG_ACT_HOLD);
}

/* max_defer is validated */
static void test_expiry_config_errors(void)
{
    struct cg_config *c = h_config(
        "{\"plugin_dir\": \"@PLUGINS@\", \"policies\": [{\"name\": \"p\", \"plugin\": \"frequency\","
        " \"action\": \"reject\", \"max_defer\": \"2d\", \"params\": {\"limit\": 1, \"window\": \"1d\"}}]}");
    CG_CHECK(c == NULL);
    CG_CHECK_CONTAINS(h_err, "policies[0].max_defer: only a policy whose action is defer");
    c = h_config(
        "{\"plugin_dir\": \"@PLUGINS@\", \"policies\": [{\"name\": \"p\", \"plugin\": \"frequency\","
        " \"action\": \"defer\", \"max_defer\": \"2x\", \"params\": {\"limit\": 1, \"window\": \"1d\"}}]}");
    CG_CHECK(c == NULL);
    CG_CHECK_CONTAINS(h_err, "policies[0].max_defer: \"2x\" is not a duration");
    c = h_config(
        "{\"plugin_dir\": \"@PLUGINS@\", \"policies\": [{\"name\": \"p\", \"plugin\": \"frequency\","
        " \"action\": \"defer\", \"max_defer\": \"2d\", \"on_expiry\": \"tag\","
        " \"params\": {\"limit\": 1, \"window\": \"1d\"}}]}");
    CG_CHECK(c == NULL);
    CG_CHECK_CONTAINS(h_err, "policies[0].on_expiry: \"tag\" is not reject or hold");
}

/* content digest: white space and Re:/Fwd: do not make a new message */
static void test_digests(void)
{
    struct cg_msg a, b;
    cg_msg_init(&a);
    cg_msg_init(&b);
    char ba[17], ca[17], bb[17], cb[17];
    CG_CHECK(cg_msg_digests(&a, ba, ca) == 0); /* no body yet */
    cg_msg_set(&a.subject, "Your  new card");
    cg_msg_set(&b.subject, "Re: your new CARD");
    const char *t1 = "Dear customer,\r\nyour card is on its way.\r\n";
    const char *t2 = "Dear customer, your card\nis on its way.\n";
    cg_msg_add_body(&a, (const unsigned char *)t1, strlen(t1));
    cg_msg_add_body(&b, (const unsigned char *)t2, 10);
    cg_msg_add_body(&b, (const unsigned char *)t2 + 10, strlen(t2) - 10);
    CG_CHECK(cg_msg_digests(&a, ba, ca) == 1);
    CG_CHECK(cg_msg_digests(&b, bb, cb) == 1);
    CG_CHECK(strlen(ca) == 16);
    CG_CHECK_STR(ba, bb);
    CG_CHECK_STR(ca, cb);
    cg_msg_set(&b.subject, "Your new card (2)");
    cg_msg_digests(&b, bb, cb);
    CG_CHECK(strcmp(ca, cb) != 0);
    cg_msg_clear(&a);
    cg_msg_clear(&b);
}

int main(void)
{
    h_init("test_expiry");
    CG_RUN(test_expiry_reject);
    CG_RUN(test_expiry_hold);
    CG_RUN(test_expiry_config_errors);
    CG_RUN(test_digests);
    h_done();
    CG_DONE("test_expiry");
}
