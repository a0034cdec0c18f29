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

/* send the promotion with this Message-ID at time t to rcpts (NULL-ended) */
static int promo_to(const struct cg_config *cfg, cg_store *st, const char *msgid, int64_t t,
                    const char *const *rcpts, const char *category, struct h_msg *s)
{
    memset(s, 0, sizeof *s);
    s->sender = "news@offers.bank.example";
    for (size_t i = 0; rcpts[i] && i < H_MAX_RCPTS; i++)
        s->rcpts[i] = rcpts[i];
    s->message_id = msgid;
    s->now = t;
    if (category) {
        s->headers[0][0] = "X-Contact-Category";
        s->headers[0][1] = category;
    }
    return h_send(cfg, st, s);
}

static int promo(const struct cg_config *cfg, cg_store *st, const char *msgid, int64_t t,
                 struct h_msg *s)
{
    const char *to[] = {"ann@example.com", NULL};
    return promo_to(cfg, st, msgid, t, to, NULL, s);
}

/* a deferral repeated past max_defer becomes on_expiry, from the first
 * deferral of the (sender, recipient): the retry is recognised at RCPT
 * already; the episode ends with the expiry, and a later message starts
 * its own clock */
static void test_expiry(const char *on_expiry, int want)
{
    struct cg_config *cfg = load(on_expiry);
    cg_store *st = h_store();
    CG_REQUIRE(cfg && st);
    struct h_msg s;
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "<p%d@bank.example>", i);
        CG_CHECK_INT(promo(cfg, st, id, T0 + i, &s), CG_ACT_ACCEPT);
    }
    /* the envelope settles it: deferred at RCPT, max_defer or not */
    CG_CHECK_INT(promo(cfg, st, "<late@bank.example>", T0 + 100, &s), -1);
    CG_CHECK_INT(s.rcpt_d[0].verdict, CG_ACT_DEFER);
    CG_CHECK_INT(s.rcpt_d[0].retry_after, T0 + 7 * DAY);
    CG_CHECK_INT(promo(cfg, st, "<late@bank.example>", T0 + 100 + DAY, &s), -1);
    CG_CHECK_INT(s.rcpt_d[0].verdict, CG_ACT_DEFER);
    /* one second before 2 days after the first deferral: still a deferral */
    CG_CHECK_INT(promo(cfg, st, "<late@bank.example>", T0 + 100 + 2 * DAY - 1, &s), -1);
    CG_CHECK_INT(s.rcpt_d[0].verdict, CG_ACT_DEFER);
    /* at 2 days: the policy's on_expiry (a reject at RCPT; a hold can only
     * be carried out at end of message) */
    int v = promo(cfg, st, "<late@bank.example>", T0 + 100 + 2 * DAY, &s);
    const struct cg_decision *d = v == -1 ? &s.rcpt_d[0] : &s.eom_d;
    CG_CHECK_INT(d->verdict, want);
    CG_CHECK_INT(v, want == CG_ACT_REJECT ? -1 : CG_ACT_HOLD);
    CG_CHECK_CONTAINS(d->reason, "deferred since 2026-11-18T11:08:20Z, longer");
    CG_CHECK_CONTAINS(d->reason, "longer than this policy allows (at most 3 contacts");
    if (want == CG_ACT_REJECT) {
        CG_CHECK_STR(d->smtp_code, "550");
        CG_CHECK_CONTAINS(d->smtp_text, "contact strategy: promotions-3-per-week: deferred too "
                                        "long; ref CG");
    }
    /* the expiry ended the episode: another message is deferred afresh */
    CG_CHECK_INT(promo(cfg, st, "<other@bank.example>", T0 + 100 + 2 * DAY + 1, &s), -1);
    CG_CHECK_INT(s.rcpt_d[0].verdict, CG_ACT_DEFER);
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

/* issue 12.3: a message to three customers, one at the cap: that
 * recipient alone is deferred at RCPT, and after max_defer refused at
 * RCPT alone; the other two are accepted both times */
static void test_expiry_per_recipient(void)
{
    struct cg_config *cfg = load("reject");
    cg_store *st = h_store();
    CG_REQUIRE(cfg && st);
    struct h_msg s;
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "<p%d@bank.example>", i);
        CG_CHECK_INT(promo(cfg, st, id, T0 + i, &s), CG_ACT_ACCEPT);
    }
    const char *three[] = {"bob@example.com", "ann@example.com", "cy@example.com", NULL};
    CG_CHECK_INT(promo_to(cfg, st, "<m@bank.example>", T0 + 100, three, NULL, &s),
                 CG_ACT_ACCEPT);
    CG_CHECK_INT(s.rcpt_d[0].verdict, CG_ACT_ACCEPT);
    CG_CHECK_INT(s.rcpt_d[1].verdict, CG_ACT_DEFER);
    CG_CHECK_INT(s.rcpt_d[2].verdict, CG_ACT_ACCEPT);
    const char *ann[] = {"ann@example.com", NULL};
    CG_CHECK_INT(promo_to(cfg, st, "<m@bank.example>", T0 + 100 + 3 * DAY, ann, NULL, &s), -1);
    CG_CHECK_INT(s.rcpt_d[0].verdict, CG_ACT_REJECT);
    CG_CHECK_STR(s.rcpt_d[0].smtp_code, "550");
    /* the others are not touched by ann's expiry */
    const char *two[] = {"dee@example.com", "eve@example.com", NULL};
    CG_CHECK_INT(promo_to(cfg, st, "<n@bank.example>", T0 + 100 + 3 * DAY, two, NULL, &s),
                 CG_ACT_ACCEPT);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* an expiry found at end of message (the policy depends on the headers)
 * while another recipient is fine: the message is deferred once more, and
 * the next attempt refuses that recipient at RCPT, alone */
static void test_expiry_at_eom_kept_for_next_attempt(void)
{
    struct cg_config *cfg = h_config(
        "{\"plugin_dir\": \"@PLUGINS@\", \"database\": \":memory:\","
        " \"departments\": [{\"name\": \"marketing\", \"match\": {\"sender\": \"*@offers.bank.example\"},"
        "   \"default_category\": \"promotional.newsletter\", \"allowed_categories\": [\"promotional.*\"]}],"
        " \"policies\": [{\"name\": \"offers-3-per-week\", \"plugin\": \"frequency\","
        "   \"applies_to\": {\"categories\": [\"promotional.offer\"]},"
        "   \"action\": \"defer\", \"max_defer\": \"2d\", \"on_expiry\": \"reject\","
        "   \"params\": {\"limit\": 1, \"window\": \"7d\"}}]}");
    cg_store *st = h_store();
    CG_REQUIRE(cfg && st);
    struct h_msg s;
    const char *ann[] = {"ann@example.com", NULL};
    const char *both[] = {"ann@example.com", "bob@example.com", NULL};
    CG_CHECK_INT(promo_to(cfg, st, "<a@x>", T0, ann, "promotional.offer", &s), CG_ACT_ACCEPT);
    /* not settled at RCPT (the category could be a newsletter): the whole
     * message is deferred at end of message */
    CG_CHECK_INT(promo_to(cfg, st, "<b@x>", T0 + 10, both, "promotional.offer", &s),
                 CG_ACT_DEFER);
    CG_CHECK_INT(s.rcpt_d[0].verdict, CG_ACT_ACCEPT);
    /* past max_defer: ann's expiry would refuse bob too: deferred again */
    CG_CHECK_INT(promo_to(cfg, st, "<b@x>", T0 + 10 + 2 * DAY, both, "promotional.offer", &s),
                 CG_ACT_DEFER);
    /* the next attempt: ann refused at RCPT alone, bob let through */
    CG_CHECK_INT(promo_to(cfg, st, "<b@x>", T0 + 20 + 2 * DAY, both, "promotional.offer", &s),
                 CG_ACT_ACCEPT);
    CG_CHECK_INT(s.rcpt_d[0].verdict, CG_ACT_REJECT);
    CG_CHECK_STR(s.rcpt_d[0].smtp_code, "550");
    CG_CHECK_INT(s.rcpt_d[1].verdict, CG_ACT_ACCEPT);
    cg_store_free(&st);
    cg_config_unref(&cfg);
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
    CG_RUN(test_expiry_per_recipient);
    CG_RUN(test_expiry_at_eom_kept_for_next_attempt);
    CG_RUN(test_expiry_config_errors);
    CG_RUN(test_digests);
    h_done();
    CG_DONE("test_expiry");
}
