/*
 * test_submission.c - local submissions (issue 17.6): a deferral of mail
 * submitted on this host (Postfix's sendmail(1) path, an SMTP client in
 * local_submission.clients) ends after local_submission.max_defer, or at
 * once when its retry-after lies beyond it; a policy's shorter max_defer
 * still comes first; other mail is not touched; and however often the
 * MTA retries, the decision log keeps attempts 1-10 and the powers of two
 * while the episode counts every one, which the row that ends it states.
 */
#include "cg_episode.h"
#include "cg_harness.h"

#define T0 1795000000LL

static const char *config =
    "{\"plugin_dir\": \"@PLUGINS@\", \"database\": \":memory:\","
    " \"local_submission\": {\"max_defer\": \"1h\", \"clients\": [\"192.0.2.10/32\"]},"
    " \"departments\": [{\"name\": \"marketing\", \"match\": {\"sender\": \"*@offers.bank.example\"},"
    "   \"default_category\": \"promotional.offer\", \"allowed_categories\": [\"promotional.*\"]}],"
    " \"policies\": [{\"name\": \"wait-while-complaint\", \"plugin\": \"customer_state\","
    "   \"action\": \"defer\", %s \"params\": {\"states\": [\"complaint\"]}},"
    "  {\"name\": \"one-a-week\", \"plugin\": \"frequency\", \"action\": \"defer\","
    "   \"params\": {\"limit\": 1, \"window\": \"7d\"}}]}";

static struct cg_config *load(const char *policy_extra)
{
    char text[2048];
    snprintf(text, sizeof text, config, policy_extra);
    struct cg_config *c = h_config(text);
    if (!c)
        fprintf(stderr, "  config: %s\n", h_err);
    return c;
}

/* submit - a sendmail(1) submission through Postfix's pickup: no RCPT
 * stage, the end-of-message decision alone; its verdict */
static int submit(const struct cg_config *cfg, cg_store *st, const char *rcpt, int64_t now,
                  struct cg_decision *d)
{
    struct cg_msg m;
    cg_msg_init(&m);
    m.now = now;
    m.non_smtp = 1;
    m.sender = cg_xstrdup("news@offers.bank.example");
    cg_msg_set(&m.client_addr, "127.0.0.1");
    cg_msg_set(&m.queue_id, "4ABC123");
    cg_msg_add_rcpt(&m, rcpt);
    cg_msg_add_header(&m, "Subject", "an offer");
    cg_msg_set(&m.message_id, "<m@offers.bank.example>");
    CG_CHECK_INT(cg_store_begin(st, 1), 0);
    int rc = cg_engine_eom(cfg, st, &m, 1, d);
    CG_CHECK_INT(rc, 0);
    CG_CHECK_INT(cg_store_commit(st), 0);
    cg_msg_clear(&m);
    return rc == 0 ? d->verdict : -2;
}

/* complaint - an open-ended complaint for customer c */
static void complaint(cg_store *st, const char *c)
{
    struct cg_state_row s = {.customer = c, .state = "complaint", .since = T0 - 86400};
    CG_CHECK_INT(cg_store_state_set(st, &s), 0);
}

struct rows {
    int n;
    char detail[512];         /* of the newest */
    char reason[512];
};

static int count_row(const struct cg_decision_row *d, void *arg)
{
    struct rows *r = arg;
    if (r->n++ == 0) {
        cg_strlcpy(r->detail, d->detail ? d->detail : "", sizeof r->detail);
        cg_strlcpy(r->reason, d->reason ? d->reason : "", sizeof r->reason);
    }
    return 0;
}

/* rows_of - the decision rows of a verdict */
static struct rows rows_of(cg_store *st, const char *verdict)
{
    struct rows r = {0};
    struct cg_decision_filter f = {.verdict = verdict};
    CG_CHECK_INT(cg_store_decisions(st, &f, count_row, &r), 0);
    return r;
}

/* a submission deferred once a minute: refused after an hour; 60
 * attempts, rows for 1-10, 16 and 32 */
static void test_local_max_defer(void)
{
    struct cg_config *cfg = load("");
    cg_store *st = h_store();
    CG_REQUIRE(cfg && st);
    complaint(st, "ann@example.com");
    struct cg_decision d;
    int64_t t = T0;
    int n = 0;
    for (; t < T0 + 3600; t += 60, n++)
        CG_CHECK_INT(submit(cfg, st, "ann@example.com", t, &d), CG_ACT_DEFER);
    CG_CHECK_INT(n, 60);
    CG_CHECK_INT(submit(cfg, st, "ann@example.com", t, &d), CG_ACT_REJECT);
    CG_CHECK(d.expired);
    CG_CHECK_CONTAINS(d.smtp_text, "deferred too long");
    struct rows defer = rows_of(st, "defer"), reject = rows_of(st, "reject");
    CG_CHECK_INT(defer.n, 12); /* 1..10, 16, 32 */
    CG_CHECK_CONTAINS(defer.detail, "attempt 32 of a local submission");
    CG_CHECK_INT(reject.n, 1);
    CG_CHECK_CONTAINS(reject.reason, "a local submission deferred since 2026-");
    CG_CHECK_CONTAINS(reject.reason, "local_submission.max_defer (1h)");
    CG_CHECK_CONTAINS(reject.detail, "refused after 60 deferrals");
    /* the episode is over: the next submission starts afresh */
    CG_CHECK_INT(submit(cfg, st, "ann@example.com", t + 60, &d), CG_ACT_DEFER);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* a retry-after beyond the limit: refused at once, no deferral first */
static void test_local_refused_at_once(void)
{
    struct cg_config *cfg = load("");
    cg_store *st = h_store();
    CG_REQUIRE(cfg && st);
    struct cg_decision d;
    CG_CHECK_INT(submit(cfg, st, "bob@example.com", T0, &d), CG_ACT_ACCEPT);
    CG_CHECK_INT(submit(cfg, st, "bob@example.com", T0 + 60, &d), CG_ACT_REJECT);
    CG_CHECK(d.expired);
    CG_CHECK_INT(rows_of(st, "defer").n, 0);
    struct rows reject = rows_of(st, "reject");
    CG_CHECK_CONTAINS(reject.reason, "a local submission would wait until 2026-");
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* SMTP mail is no local submission: deferred as ever, every row kept;
 * an SMTP client in local_submission.clients is, already at RCPT */
static void test_smtp(void)
{
    struct cg_config *cfg = load("");
    cg_store *st = h_store();
    CG_REQUIRE(cfg && st);
    complaint(st, "carl@example.com");
    struct h_msg s = {.sender = "news@offers.bank.example", .rcpts = {"carl@example.com"}};
    int v = 0;
    for (int i = 0; i < 70; i++) {
        s.now = T0 + 60 * i;
        v = h_send(cfg, st, &s); /* from 192.0.2.10: local */
        if (v != -1 || s.rcpt_d[0].verdict != CG_ACT_DEFER)
            break;
    }
    CG_CHECK_INT(v, -1);
    CG_CHECK_INT(s.rcpt_d[0].verdict, CG_ACT_REJECT); /* after an hour, at RCPT */
    CG_CHECK_INT(rows_of(st, "defer").n, 12);
    cg_store_free(&st);
    cg_config_unref(&cfg);

    /* the same from another client */
    cfg = h_config("{\"plugin_dir\": \"@PLUGINS@\", \"database\": \":memory:\","
                   " \"local_submission\": {\"max_defer\": \"1h\"},"
                   " \"policies\": [{\"name\": \"wait-while-complaint\","
                   " \"plugin\": \"customer_state\", \"action\": \"defer\","
                   " \"params\": {\"states\": [\"complaint\"]}}]}");
    st = h_store();
    CG_REQUIRE(cfg && st);
    complaint(st, "carl@example.com");
    for (int i = 0; i < 70; i++) {
        s.now = T0 + 60 * i;
        v = h_send(cfg, st, &s);
        CG_CHECK_INT(v, -1);
        CG_CHECK_INT(s.rcpt_d[0].verdict, CG_ACT_DEFER);
    }
    CG_CHECK_INT(rows_of(st, "defer").n, 70);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* a policy's own shorter max_defer comes first, with its own wording */
static void test_policy_first(void)
{
    struct cg_config *cfg = load("\"max_defer\": \"30m\",");
    cg_store *st = h_store();
    CG_REQUIRE(cfg && st);
    complaint(st, "dora@example.com");
    struct cg_decision d;
    CG_CHECK_INT(submit(cfg, st, "dora@example.com", T0, &d), CG_ACT_DEFER);
    CG_CHECK_INT(submit(cfg, st, "dora@example.com", T0 + 1799, &d), CG_ACT_DEFER);
    CG_CHECK_INT(submit(cfg, st, "dora@example.com", T0 + 1800, &d), CG_ACT_REJECT);
    CG_CHECK_CONTAINS(rows_of(st, "reject").reason, "longer than this policy allows");
    CG_CHECK_CONTAINS(rows_of(st, "reject").detail, "refused after 2 deferrals");
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

static void test_rows_wanted(void)
{
    int64_t kept = 0;
    for (int64_t a = 1; a <= 10000; a++)
        kept += cg_episode_row_wanted(a, 0);
    CG_CHECK_INT(kept, 10 + 10); /* 1-10, then 16 ... 8192 */
    CG_CHECK(cg_episode_row_wanted(11, 1));
    CG_CHECK(!cg_episode_row_wanted(11, 0));
    CG_CHECK(cg_episode_row_wanted(4096, 0));
}

int main(void)
{
    h_init("test_submission");
    CG_RUN(test_local_max_defer);
    CG_RUN(test_local_refused_at_once);
    CG_RUN(test_smtp);
    CG_RUN(test_policy_first);
    CG_RUN(test_rows_wanted);
    h_done();
    CG_DONE("test_submission");
}
