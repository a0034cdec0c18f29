/*
 * test_engine.c - the policy engine with real plugins, a real
 * configuration (policies/retail-bank.json) and a real SQLite store.
 *
 * Time is injected through cg_msg.now, so window edges are exact.
 * Needs the plugins built under $CG_BUILD_DIR/plugins (default build/).
 */
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg_config.h"
#include "cg_engine.h"
#include "cg_log.h"
#include "cg_plugin.h"
#include "cg_store.h"
#include "cg_test.h"
#include "cg_util.h"

#define T0 1795000000LL /* a fixed "now" */
#define DAY 86400LL

static char tmpdir[PATH_MAX];
static char plugin_dir[PATH_MAX];
static char tp_dir[PATH_MAX];
static char policy_file[PATH_MAX];

/* write_config - a config including the retail bank set, plus extra JSON
 * members (e.g. "\"mode\": \"monitor\",") at the top level */
static struct cg_config *load_config(const char *extra, const char *extra_policies)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/cfg.json", tmpdir);
    FILE *fp = fopen(path, "w");
    fprintf(fp,
            "{ %s \"socket\": \"inet:10025@127.0.0.1\", \"database\": \"%s/db.sqlite\",\n"
            "  \"plugin_dir\": \"%s\", \"include\": [\"%s\"],\n"
            "  \"policies\": [%s]\n}\n",
            extra ? extra : "", tmpdir, plugin_dir, policy_file,
            extra_policies ? extra_policies : "");
    fclose(fp);
    char err[1024] = "";
    struct cg_config *cfg = cg_config_load(path, 0, err, sizeof err);
    if (!cfg)
        fprintf(stderr, "  config: %s\n", err);
    return cfg;
}

/* msg_new - a message from sender to recipients, at time t */
static void msg_new(struct cg_msg *m, const char *sender, int64_t t)
{
    cg_msg_init(m);
    m->now = t;
    m->sender = cg_xstrdup(sender);
    cg_msg_set(&m->client_addr, "192.0.2.10");
    cg_msg_set(&m->queue_id, "4ABC123");
}

/* send - run RCPT for every recipient and, if any is left, EOM */
static int send_msg(const struct cg_config *cfg, cg_store *st, const char *sender,
                    const char *const *rcpts, int64_t t, const char *category,
                    struct cg_decision *rcpt_d, struct cg_decision *eom_d)
{
    struct cg_msg m;
    msg_new(&m, sender, t);
    int left = 0;
    for (size_t i = 0; rcpts[i]; i++) {
        struct cg_rcpt *r = cg_msg_add_rcpt(&m, rcpts[i]);
        struct cg_decision d;
        cg_engine_rcpt(cfg, st, &m, r, &d);
        if (rcpt_d && i == 0)
            *rcpt_d = d;
        r = &m.rcpts[i];
        if (d.verdict >= CG_ACT_DEFER)
            r->refused = 1;
        else
            left++;
    }
    if (category)
        cg_msg_add_header(&m, "X-Contact-Category", category);
    cg_msg_add_header(&m, "Subject", "hello");
    cg_msg_set(&m.message_id, "<m1@bank.example>");
    int verdict = -1;
    if (left) {
        struct cg_decision d;
        cg_store_begin(st, 1);
        int rc = cg_engine_eom(cfg, st, &m, 1, &d);
        cg_store_commit(st);
        CG_CHECK(rc == 0);
        verdict = d.verdict;
        if (eom_d)
            *eom_d = d;
    }
    cg_msg_clear(&m);
    return verdict;
}

static int count_cb(const struct cg_contact_row *c, void *arg)
{
    (void)c;
    (*(int *)arg)++;
    return 0;
}

static int contacts_of(cg_store *st, const char *customer)
{
    int n = 0;
    cg_store_contacts(st, customer, 0, INT64_MAX, count_cb, &n);
    return n;
}

static int decision_count_cb(const struct cg_decision_row *d, void *arg)
{
    (void)d;
    (*(int *)arg)++;
    return 0;
}

static cg_store *store_new(void)
{
    char err[512];
    cg_store *st = cg_store_open(":memory:", 0, err, sizeof err);
    if (!st)
        fprintf(stderr, "  store: %s\n", err);
    return st;
}

/* a bill is delivered and counted; a promotion to a customer with an
 * open complaint is rejected at RCPT with the SPEC's text */
static void test_complaint_blocks_promotion_not_bill(void)
{
    struct cg_config *cfg = load_config(NULL, NULL);
    cg_store *st = store_new();
    CG_CHECK(cfg && st);
    if (!cfg || !st)
        return;
    struct cg_state_row s = {.customer = "ann@example.com", .state = "complaint", .since = T0 - DAY};
    CG_CHECK(cg_store_state_set(st, &s) == 0);
    const char *to[] = {"Ann@Example.com", NULL};
    struct cg_decision rd, ed;
    int v = send_msg(cfg, st, "offers@offers.bank.example", to, T0, NULL, &rd, &ed);
    CG_CHECK(v == -1); /* refused at RCPT: no end of message */
    CG_CHECK(rd.verdict == CG_ACT_REJECT);
    CG_CHECK_STR(rd.smtp_code, "550");
    CG_CHECK_STR(rd.smtp_xcode, "5.7.1");
    CG_CHECK_CONTAINS(rd.smtp_text, "contact strategy: no-promotions-during-complaint: ");
    CG_CHECK_CONTAINS(rd.smtp_text, "; ref CG");
    CG_CHECK(strstr(rd.smtp_text, "complaint;") == NULL); /* no state name in the reason */
    CG_CHECK(contacts_of(st, "ann@example.com") == 0);

    v = send_msg(cfg, st, "billing@bank.example", to, T0 + 10, NULL, &rd, &ed);
    CG_CHECK(v == CG_ACT_ACCEPT);
    CG_CHECK(rd.verdict == CG_ACT_ACCEPT);
    CG_CHECK(contacts_of(st, "ann@example.com") == 1);

    /* the decision log has the reject with department and category */
    struct cg_decision_filter f = {.verdict = "reject", .customer = "ann@example.com"};
    int n = 0;
    cg_store_decisions(st, &f, decision_count_cb, &n);
    CG_CHECK(n == 1);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* the 4th promotion in 7 days is deferred with an exact retry-after; at
 * exactly 7 days after the first it passes */
static void test_weekly_cap_and_window_edges(void)
{
    struct cg_config *cfg = load_config(NULL, NULL);
    cg_store *st = store_new();
    if (!cfg || !st) {
        CG_CHECK(0);
        return;
    }
    const char *to[] = {"bob@example.com", NULL};
    struct cg_decision rd, ed;
    CG_CHECK(send_msg(cfg, st, "a@offers.bank.example", to, T0, NULL, &rd, &ed) == CG_ACT_ACCEPT);
    CG_CHECK(send_msg(cfg, st, "a@offers.bank.example", to, T0 + DAY, NULL, &rd, &ed) == CG_ACT_ACCEPT);
    CG_CHECK(send_msg(cfg, st, "a@offers.bank.example", to, T0 + 2 * DAY, NULL, &rd, &ed) == CG_ACT_TAG); /* trial policy (monitor, 2 a week) tags */
    /* bills do not count toward the promotional cap */
    CG_CHECK(send_msg(cfg, st, "billing@bank.example", to, T0 + 2 * DAY, NULL, &rd, &ed) == CG_ACT_ACCEPT);
    /* 4th promotion: settled by the envelope (marketing sends only promotional) */
    int v = send_msg(cfg, st, "a@offers.bank.example", to, T0 + 3 * DAY, NULL, &rd, &ed);
    CG_CHECK(v == -1);
    CG_CHECK(rd.verdict == CG_ACT_DEFER);
    CG_CHECK_STR(rd.smtp_code, "451");
    CG_CHECK_STR(rd.smtp_xcode, "4.7.1");
    CG_CHECK(rd.retry_after == T0 + 7 * DAY);
    char when[32];
    cg_format_time(T0 + 7 * DAY, when, sizeof when);
    char want[128];
    snprintf(want, sizeof want, "; retry after %s; ref CG", when);
    /* the reply: which policy, when, a reference; why is for the log */
    CG_CHECK_CONTAINS(rd.smtp_text, "contact strategy: promotions-3-per-week: not now; retry after");
    CG_CHECK_CONTAINS(rd.smtp_text, want);
    CG_CHECK(strstr(rd.smtp_text, "3 contacts") == NULL);
    CG_CHECK_CONTAINS(rd.reason, "at most 3 contacts per 7 days");
    /* one second before the first leaves the window: still deferred */
    v = send_msg(cfg, st, "a@offers.bank.example", to, T0 + 7 * DAY - 1, NULL, &rd, &ed);
    CG_CHECK(rd.verdict == CG_ACT_DEFER);
    /* exactly at T: the first contact no longer counts */
    v = send_msg(cfg, st, "a@offers.bank.example", to, T0 + 7 * DAY, NULL, &rd, &ed);
    CG_CHECK(v == CG_ACT_TAG); /* let through; the monitored 2-a-week trial tags it */
    CG_CHECK(contacts_of(st, "bob@example.com") == 5);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* two recipients: only the capped one is deferred at RCPT; one customer
 * with two addresses counts once; exempt recipients never count */
static void test_multi_recipient(void)
{
    struct cg_config *cfg = load_config(NULL, NULL);
    cg_store *st = store_new();
    if (!cfg || !st) {
        CG_CHECK(0);
        return;
    }
    int added;
    CG_CHECK(cg_store_customer_put(st, "carl@example.com", "C-1001", "Europe/Berlin", NULL, &added) == 0);
    CG_CHECK(cg_store_customer_put(st, "carl@work.example", "C-1001", NULL, NULL, &added) == 0);
    const char *carl[] = {"carl@example.com", NULL};
    for (int i = 0; i < 3; i++)
        CG_CHECK(send_msg(cfg, st, "a@offers.bank.example", carl, T0 + i, NULL, NULL, NULL) <= CG_ACT_TAG);
    CG_CHECK(contacts_of(st, "C-1001") == 3);

    struct cg_msg m;
    msg_new(&m, "a@offers.bank.example", T0 + 100);
    struct cg_decision d1, d2, d3, d4;
    cg_engine_rcpt(cfg, st, &m, cg_msg_add_rcpt(&m, "<carl+promo@work.example>"), &d1);
    cg_engine_rcpt(cfg, st, &m, cg_msg_add_rcpt(&m, "dora@example.com"), &d2);
    cg_engine_rcpt(cfg, st, &m, cg_msg_add_rcpt(&m, "qa@bank.example"), &d3);
    CG_CHECK(d1.verdict == CG_ACT_DEFER); /* +tag stripped, mapped to C-1001 */
    CG_CHECK(d2.verdict == CG_ACT_ACCEPT);
    CG_CHECK(d3.verdict == CG_ACT_ACCEPT);
    CG_CHECK(m.rcpts[2].exempt == 1);
    m.rcpts[0].refused = 1;
    /* dora twice through two spellings: one contact */
    cg_engine_rcpt(cfg, st, &m, cg_msg_add_rcpt(&m, "DORA@EXAMPLE.COM"), &d4);
    cg_store_begin(st, 1);
    CG_CHECK(cg_engine_eom(cfg, st, &m, 1, &d4) == 0);
    cg_store_commit(st);
    CG_CHECK(d4.verdict == CG_ACT_ACCEPT);
    CG_CHECK(contacts_of(st, "dora@example.com") == 1);
    CG_CHECK(contacts_of(st, "qa@bank.example") == 0);
    CG_CHECK(contacts_of(st, "C-1001") == 3);
    cg_msg_clear(&m);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* at end of message the strictest customer verdict wins and the log says
 * the verdicts were mixed */
static void test_mixed_verdicts_at_eom(void)
{
    struct cg_config *cfg = load_config(NULL, NULL);
    cg_store *st = store_new();
    if (!cfg || !st) {
        CG_CHECK(0);
        return;
    }
    struct cg_state_row s = {.customer = "eve@example.com", .state = "debt_collection", .since = T0 - DAY};
    cg_store_state_set(st, &s);
    /* service may send promotional? no: service sends functional.*, so a
     * claim of promotional.* is refused; use the header-selected marketing */
    struct cg_msg m;
    msg_new(&m, "someone@elsewhere.example", T0);
    cg_msg_set(&m.client_addr, "127.0.0.1"); /* trusted: X-Department counts */
    struct cg_decision d;
    cg_engine_rcpt(cfg, st, &m, cg_msg_add_rcpt(&m, "eve@example.com"), &d);
    CG_CHECK(d.verdict == CG_ACT_ACCEPT); /* a header may still pick the department */
    cg_engine_rcpt(cfg, st, &m, cg_msg_add_rcpt(&m, "fay@example.com"), &d);
    cg_msg_add_header(&m, "X-Department", " marketing ");
    cg_msg_add_header(&m, "X-Contact-Category", "promotional.newsletter");
    cg_store_begin(st, 1);
    CG_CHECK(cg_engine_eom(cfg, st, &m, 1, &d) == 0);
    cg_store_commit(st);
    CG_CHECK_STR(m.department, "marketing");
    CG_CHECK_STR(m.dept_source, "header");
    CG_CHECK_STR(m.category, "promotional.newsletter");
    CG_CHECK(d.verdict == CG_ACT_REJECT);
    CG_CHECK(d.mixed == 1);
    CG_CHECK(contacts_of(st, "fay@example.com") == 0); /* rejected message: nothing counts */
    struct cg_decision_filter f = {.customer = "fay@example.com"};
    int n = 0;
    cg_store_decisions(st, &f, decision_count_cb, &n);
    CG_CHECK(n == 1); /* fay's copy was rejected because of eve: logged */
    cg_msg_clear(&m);

    /* the same header from an untrusted client is ignored */
    msg_new(&m, "someone@elsewhere.example", T0);
    cg_msg_add_rcpt(&m, "fay@example.com");
    cg_msg_add_header(&m, "X-Department", "marketing");
    cg_store_begin(st, 1);
    cg_engine_eom(cfg, st, &m, 1, &d);
    cg_store_commit(st);
    CG_CHECK_STR(m.department, "unknown");
    /* unclassified mail is held to the promotional rules */
    CG_CHECK_STR(m.category, "promotional.unclassified");
    cg_msg_clear(&m);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* a category claim outside allowed_categories is ignored and logged;
 * heuristics make bulk mail promotional */
static void test_classification(void)
{
    struct cg_config *cfg = load_config(NULL, NULL);
    cg_store *st = store_new();
    if (!cfg || !st) {
        CG_CHECK(0);
        return;
    }
    struct cg_msg m;
    struct cg_decision d;
    msg_new(&m, "billing@bank.example", T0);
    cg_msg_add_rcpt(&m, "gil@example.com");
    cg_msg_add_header(&m, "X-Contact-Category", "Promotional.Offer");
    cg_store_begin(st, 1);
    cg_engine_eom(cfg, st, &m, 1, &d);
    cg_store_commit(st);
    CG_CHECK_STR(m.department, "billing");
    CG_CHECK_STR(m.category, "functional.bill");
    CG_CHECK_STR(m.category_claim, "promotional.offer");
    CG_CHECK(d.verdict == CG_ACT_ACCEPT);
    struct cg_decision_filter f = {.customer = "gil@example.com"};
    int n = 0;
    cg_store_decisions(st, &f, decision_count_cb, &n);
    CG_CHECK(n == 1);
    cg_msg_clear(&m);

    msg_new(&m, "billing@bank.example", T0);
    cg_msg_add_rcpt(&m, "gil@example.com");
    cg_msg_add_header(&m, "List-Unsubscribe", "<mailto:unsub@bank.example>");
    cg_store_begin(st, 1);
    cg_engine_eom(cfg, st, &m, 1, &d);
    cg_store_commit(st);
    CG_CHECK_STR(m.category, "promotional.newsletter");
    CG_CHECK_STR(m.category_source, "heuristic");
    cg_msg_clear(&m);

    msg_new(&m, "billing@bank.example", T0);
    cg_msg_add_rcpt(&m, "gil@example.com");
    cg_msg_add_header(&m, "X-Contact-Category", "functional.bill.final");
    cg_store_begin(st, 1);
    cg_engine_eom(cfg, st, &m, 1, &d);
    cg_store_commit(st);
    CG_CHECK_STR(m.category, "functional.bill.final");
    CG_CHECK_STR(m.category_source, "header");
    cg_msg_clear(&m);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* monitor mode: violations only tag; the tag carries the verdict and the
 * reference, never customer data, and names policies only when the admin
 * asks for it (tag_policy_names) */
static void test_monitor_mode_tags(void)
{
    struct cg_config *cfg = load_config("\"mode\": \"monitor\",", NULL);
    cg_store *st = store_new();
    if (!cfg || !st) {
        CG_CHECK(0);
        return;
    }
    struct cg_state_row s = {.customer = "hal@example.com", .state = "complaint", .since = T0 - DAY};
    cg_store_state_set(st, &s);
    const char *to[] = {"hal@example.com", NULL};
    struct cg_decision rd, ed;
    int v = send_msg(cfg, st, "x@offers.bank.example", to, T0, NULL, &rd, &ed);
    CG_CHECK(rd.verdict == CG_ACT_ACCEPT);
    CG_CHECK(v == CG_ACT_TAG);
    CG_CHECK_CONTAINS(ed.tag_value, "verdict=tag; ref=CG");
    CG_CHECK(strstr(ed.tag_value, "complaint") == NULL);
    CG_CHECK(strstr(ed.tag_value, "monitor=") == NULL);
    /* the tag names policies, never the customer or what the state is */
    CG_CHECK(strstr(ed.tag_value, "hal") == NULL && strstr(ed.tag_value, "example.com") == NULL);
    CG_CHECK(strstr(ed.tag_value, "states=") == NULL);
    CG_CHECK(contacts_of(st, "hal@example.com") == 1); /* tagged mail counts */
    cg_store_free(&st);
    cg_config_unref(&cfg);
    /* names only when asked for */
    cfg = load_config("\"mode\": \"monitor\", \"tag_policy_names\": true,", NULL);
    st = store_new();
    CG_REQUIRE(cfg && st);
    cg_store_state_set(st, &s);
    v = send_msg(cfg, st, "x@offers.bank.example", to, T0, NULL, &rd, &ed);
    CG_CHECK_INT(v, CG_ACT_TAG);
    CG_CHECK_CONTAINS(ed.tag_value, "monitor=no-promotions-during-complaint");
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* tp_load - a configuration of the third-party test plugin's directory
 * with `policies` (a JSON array's members) and `extra` top-level members
 * (each ending with a comma, or ""), loaded; NULL with err on failure */
static struct cg_config *tp_load(const char *extra, const char *policies, char *err,
                                 size_t errlen)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/tp.json", tmpdir);
    FILE *fp = fopen(path, "w");
    if (!fp) {
        cg_strlcpy(err, "tp.json: cannot write", errlen);
        return NULL;
    }
    fprintf(fp, "{%s \"socket\": \"inet:10025@127.0.0.1\", \"plugin_dir\": \"%s\", "
            "\"policies\": [%s]}\n", extra, tp_dir, policies);
    fclose(fp);
    return cg_config_load(path, 0, err, errlen);
}

/* eom_subject - one message from a@b.example to ivy@example.com with
 * `subject`, decided at end of message in a transaction of its own */
static void eom_subject(const struct cg_config *cfg, cg_store *st, const char *subject,
                        struct cg_decision *d)
{
    struct cg_msg m;
    msg_new(&m, "a@b.example", T0);
    cg_msg_add_rcpt(&m, "ivy@example.com");
    cg_msg_set(&m.subject, subject);
    cg_store_begin(st, 1);
    CG_CHECK_INT(cg_engine_eom(cfg, st, &m, 1, d), 0);
    cg_store_commit(st);
    cg_msg_clear(&m);
}

/* a plugin error: tempfail (never reject) by default; accept with
 * on_error=accept; a third-party plugin works through the public ABI */
static void test_plugin_error_and_third_party(void)
{
    const char *pol = "{\"name\": \"no-spammy\", \"plugin\": \"thirdparty\", \"action\": \"reject\","
                      " \"params\": {\"word\": \"SPAMMY\"}}";
    char err[1024] = "";
    struct cg_config *cfg = tp_load("", pol, err, sizeof err);
    CG_CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    cg_store *st = store_new();
    struct cg_decision d;
    eom_subject(cfg, st, "a SPAMMY offer", &d);
    CG_CHECK(d.verdict == CG_ACT_REJECT);
    CG_CHECK_CONTAINS(d.smtp_text, "contact strategy: no-spammy: not permitted; ref ");
    CG_CHECK_CONTAINS(d.reason, "subject has a forbidden word");
    eom_subject(cfg, st, "FAIL please", &d);
    CG_CHECK(d.verdict == CG_ACT_DEFER && d.error == 1);
    CG_CHECK_STR(d.smtp_code, "451");
    cg_config_unref(&cfg);

    cfg = tp_load("\"on_error\": \"accept\",", pol, err, sizeof err);
    CG_CHECK(cfg != NULL);
    if (cfg) {
        eom_subject(cfg, st, "FAIL please", &d);
        CG_CHECK(d.verdict == CG_ACT_ACCEPT);
        CG_CHECK_INT(d.errors_accepted, 1);
    }
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* the plugin ABI's promises (plugin.h, issue 15.7): destroy() follows a
 * failed init(); a plugin's log line carries the queue ID, its name and
 * its policy; CG_HAS_MEMBER tells a member a shorter descriptor lacks */
static void test_plugin_abi_contract(void)
{
    char marker[PATH_MAX + 64], logf[PATH_MAX + 64], pol[2 * PATH_MAX], err[1024] = "";
    snprintf(marker, sizeof marker, "%s/destroyed", tmpdir);
    snprintf(logf, sizeof logf, "%s/stderr.log", tmpdir);
    unlink(marker);
    snprintf(pol, sizeof pol, "{\"name\": \"will-fail\", \"plugin\": \"thirdparty\", "
             "\"action\": \"tag\", \"params\": {\"fail_init\": true, \"destroy_marker\": "
             "\"%s\"}}", marker);
    struct cg_config *cfg = tp_load("", pol, err, sizeof err);
    CG_CHECK(cfg == NULL);
    CG_CHECK_CONTAINS(err, "policies[0].params: asked to fail");
    cg_config_unref(&cfg);
    char got[256] = "";
    FILE *fp = fopen(marker, "r");
    CG_CHECK(fp != NULL);
    if (fp) {
        if (!fgets(got, sizeof got, fp))
            got[0] = 0;
        fclose(fp);
    }
    CG_CHECK_STR(got, "destroyed\n");

    /* a log line from evaluate(), on stderr for the length of one message */
    cfg = tp_load("", "{\"name\": \"no-spammy\", \"plugin\": \"thirdparty\", "
                      "\"action\": \"reject\"}", err, sizeof err);
    CG_CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    cg_store *st = store_new();
    struct cg_decision d;
    fflush(stderr);
    int saved = dup(2), fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CG_CHECK(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    cg_log_open("test_engine", 0, 1, LOG_INFO);
    eom_subject(cfg, st, "please LOG this", &d);
    cg_log_open("test_engine", 0, 0, LOG_ERR);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    CG_CHECK(d.verdict == CG_ACT_ACCEPT);
    struct cg_buf lines = {0};
    fp = fopen(logf, "r");
    for (char line[1024]; fp && fgets(line, sizeof line, fp);)
        cg_buf_printf(&lines, "%s", line);
    if (fp)
        fclose(fp);
    CG_CHECK_CONTAINS(lines.s ? lines.s : "",
                      "4ABC123: plugin thirdparty (policy no-spammy): the subject asks for a log line");
    cg_buf_free(&lines);
    cg_store_free(&st);
    cg_config_unref(&cfg);

    /* CG_HAS_MEMBER on a descriptor that ends before its last member, as
     * one built against an older plugin.h would */
    struct cg_plugin old = {.struct_size = offsetof(struct cg_plugin, destroy)};
    CG_CHECK(CG_HAS_MEMBER(&old, struct cg_plugin, evaluate));
    CG_CHECK(!CG_HAS_MEMBER(&old, struct cg_plugin, destroy));
    old.struct_size = sizeof old;
    CG_CHECK(CG_HAS_MEMBER(&old, struct cg_plugin, destroy));
}

/* every violated policy counts, however many there are (issue 12.2):
 * 19 tag policies and a reject last give reject, and the decision log
 * lists all 20 */
static int detail_cb(const struct cg_decision_row *d, void *arg)
{
    cg_strlcpy(arg, d->detail ? d->detail : "", 8192);
    return 1;
}

static void test_twenty_violations_reject_last(void)
{
    struct cg_buf pols = {0};
    for (int i = 0; i < 20; i++)
        cg_buf_printf(&pols, "%s{\"name\": \"p%02d\", \"plugin\": \"thirdparty\", \"action\": \"%s\"}",
                      i ? ", " : "", i, i == 19 ? "reject" : "tag");
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/cfg20.json", tmpdir);
    FILE *fp = fopen(path, "w");
    CG_REQUIRE(fp);
    fprintf(fp, "{\"plugin_dir\": \"%s\", \"policies\": [%s]}\n", tp_dir, pols.s);
    fclose(fp);
    cg_buf_free(&pols);
    char err[1024] = "";
    struct cg_config *cfg = cg_config_load(path, 0, err, sizeof err);
    cg_store *st = store_new();
    CG_REQUIRE(cfg && st);
    struct cg_msg m;
    struct cg_decision d;
    msg_new(&m, "a@b.example", T0);
    cg_msg_add_rcpt(&m, "jo@example.com");
    cg_msg_set(&m.subject, "a SPAMMY offer");
    CG_CHECK_INT(cg_store_begin(st, 1), 0);
    CG_CHECK_INT(cg_engine_eom(cfg, st, &m, 1, &d), 0);
    CG_CHECK_INT(cg_store_commit(st), 0);
    CG_CHECK_INT(d.verdict, CG_ACT_REJECT);
    CG_CHECK(d.policy && strcmp(d.policy->name, "p19") == 0);
    CG_CHECK_STR(d.smtp_code, "550");
    static char detail[8192];
    struct cg_decision_filter f = {.customer = "jo@example.com"};
    CG_CHECK_INT(cg_store_decisions(st, &f, detail_cb, detail), 0);
    CG_CHECK_CONTAINS(detail, "p00=tag:");
    CG_CHECK_CONTAINS(detail, "p18=tag:");
    CG_CHECK_CONTAINS(detail, "p19=reject:subject has a forbidden word");
    CG_CHECK_INT(contacts_of(st, "jo@example.com"), 0);
    cg_msg_clear(&m);
    cg_store_free(&st);
    cg_config_unref(&cfg);
}

/* the loader refuses a wrong ABI, a missing symbol, a group-writable file */
static void test_loader_refusals(void)
{
    char err[1024] = "";
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/bad_abi.so", tp_dir);
    CG_CHECK(cg_plugin_open_path(path, "bad_abi", err, sizeof err) == NULL);
    CG_CHECK_CONTAINS(err, "bad_abi.so: ABI version mismatch");
    snprintf(path, sizeof path, "%s/no_symbol.so", tp_dir);
    CG_CHECK(cg_plugin_open_path(path, "no_symbol", err, sizeof err) == NULL);
    CG_CHECK_CONTAINS(err, "no_symbol.so: no symbol cg_plugin_descriptor");
    /* a group-writable copy of a good plugin (next to it: /tmp, where
     * tmpdir is, may hold no plugin at all) */
    char src[PATH_MAX + 64], dst[PATH_MAX + 64];
    snprintf(src, sizeof src, "%s/thirdparty.so", tp_dir);
    snprintf(dst, sizeof dst, "%s/gw.so", tp_dir);
    char cmd[4 * PATH_MAX + 256];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && chmod 775 '%s'", src, dst, dst);
    CG_CHECK(system(cmd) == 0);
    CG_CHECK(cg_plugin_open_path(dst, "gw", err, sizeof err) == NULL);
    CG_CHECK_CONTAINS(err, "gw.so: the file is writable by group (mode 0775): refusing to load it");
    chmod(dst, 0755);
    struct cg_plugin_so *so = cg_plugin_open_path(dst, "gw", err, sizeof err);
    CG_CHECK(so != NULL);
    cg_plugin_close(&so);
    CG_CHECK(so == NULL);
    unlink(dst);
    CG_CHECK(cg_plugin_open("/nonexistent", "frequency", err, sizeof err) == NULL);
    CG_CHECK_CONTAINS(err, "/nonexistent/frequency.so: No such file");
}

/* bad params are caught at load with the key path */
static void test_bad_params_name_key_path(void)
{
    const char *pols[][2] = {
        {"{\"name\": \"x\", \"plugin\": \"frequency\", \"action\": \"defer\", \"params\": {\"limit\": 3, \"window\": \"7x\"}}",
         "policies[0].params.window: \"7x\" is not a duration"},
        {"{\"name\": \"x\", \"plugin\": \"frequency\", \"action\": \"defer\", \"params\": {\"limit\": 3, \"window\": \"7d\", \"windw\": 1}}",
         "policies[0].params.windw: unknown key"},
        {"{\"name\": \"x\", \"plugin\": \"frequency\", \"action\": \"defer\", \"params\": {\"limit\": \"three\", \"window\": \"7d\"}}",
         "policies[0].params.limit: \"three\" is not a number"},
        {"{\"name\": \"x\", \"plugin\": \"customer_state\", \"action\": \"defer\", \"params\": {\"rules\": [{\"state\": \"a\", \"action\": \"drop\"}]}}",
         "policies[0].params.rules[0].action: \"drop\" is not one of"},
        {"{\"name\": \"x\", \"plugin\": \"nosuch\", \"action\": \"defer\"}", "nosuch.so"},
    };
    for (size_t i = 0; i < sizeof pols / sizeof pols[0]; i++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/bad%zu.json", tmpdir, i);
        FILE *fp = fopen(path, "w");
        fprintf(fp, "{\"socket\": \"inet:10025@127.0.0.1\", \"plugin_dir\": \"%s\", \"policies\": [%s]}\n",
                plugin_dir, pols[i][0]);
        fclose(fp);
        char err[1024] = "";
        struct cg_config *cfg = cg_config_load(path, 0, err, sizeof err);
        CG_CHECK(cfg == NULL);
        CG_CHECK_CONTAINS(err, pols[i][1]);
        cg_config_unref(&cfg);
    }
}

int main(void)
{
    cg_log_open("test_engine", 0, 0, LOG_ERR);
    const char *build = getenv("CG_BUILD_DIR") ? getenv("CG_BUILD_DIR") : "build";
    char rp[PATH_MAX];
    if (!realpath(build, rp)) {
        fprintf(stderr, "test_engine: build dir %s not found\n", build);
        return 1;
    }
    snprintf(plugin_dir, sizeof plugin_dir, "%.*s/plugins", PATH_MAX - 16, rp);
    snprintf(tp_dir, sizeof tp_dir, "%.*s/tests/plugins", PATH_MAX - 16, rp);
    if (!realpath("policies/retail-bank.json", policy_file)) {
        fprintf(stderr, "test_engine: run from the source tree (policies/ not found)\n");
        return 1;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cg-test-engine.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    CG_RUN(test_complaint_blocks_promotion_not_bill);
    CG_RUN(test_weekly_cap_and_window_edges);
    CG_RUN(test_multi_recipient);
    CG_RUN(test_mixed_verdicts_at_eom);
    CG_RUN(test_classification);
    CG_RUN(test_monitor_mode_tags);
    CG_RUN(test_plugin_error_and_third_party);
    CG_RUN(test_plugin_abi_contract);
    CG_RUN(test_twenty_violations_reject_last);
    CG_RUN(test_loader_refusals);
    CG_RUN(test_bad_params_name_key_path);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    CG_DONE("test_engine");
}
