/*
 * test_store.c - the store interface, the same suite against every
 * backend: SQLite in a temp file, SQLite :memory:, and PostgreSQL when
 * CG_TEST_PG_URI names a private test database (tests/e2e runs it so;
 * without it that backend is reported as skipped, never as passed).
 *
 * Each test opens a fresh, empty store of the backend under test. What is
 * SQLite's own (WAL, pragmas, checkpoints, migrations from old files) is
 * in test_sqlite.c.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg_log.h"
#include "cg_store.h"
#include "cg_store_admin.h"
#include "cg_store_held.h"
#include "cg_store_sim.h"
#include "cg_test.h"
#include "cg_util.h"

#define T0 1795000000LL /* a Tuesday, 2026-11-17 09:46:40 UTC */
#define DAY 86400LL

static char tmpdir[PATH_MAX];

/* --- backends ---------------------------------------------------------------- */

struct backend {
    const char *name;
    cg_store *(*fresh)(char *err, size_t errlen); /* a new, empty store */
    const char *(*unavailable)(void);             /* NULL, or why it cannot run here */
};
static const struct backend *cur;
static int fresh_n;

static cg_store *sqlite_file(char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/store-%d.db", tmpdir, fresh_n++);
    return cg_store_open(path, 0, err, errlen);
}

static cg_store *sqlite_memory(char *err, size_t errlen)
{
    return cg_store_open(":memory:", 0, err, errlen);
}

static const char *always(void)
{
    return NULL;
}

/* PostgreSQL: a fresh schema per test in the database CG_TEST_PG_URI
 * names (the backend's own test hook, cg_store_open with a URI carrying
 * options=-csearch_path=...) */
static const char *pg_unavailable(void)
{
    const char *uri = getenv("CG_TEST_PG_URI");
    if (!uri || !*uri)
        return "CG_TEST_PG_URI not set (tests/e2e/test_store_pg.sh sets it)";
    return NULL;
}

static cg_store *pg_fresh(char *err, size_t errlen)
{
    /* the backend drops and recreates the schema named by this variable
     * when it opens (a test hook: see core/store's PostgreSQL backend) */
    char schema[64];
    snprintf(schema, sizeof schema, "cg_test_%d_%d", (int)getpid(), fresh_n++);
    setenv("CG_PG_TEST_SCHEMA", schema, 1);
    cg_store *st = cg_store_open(getenv("CG_TEST_PG_URI"), 0, err, errlen);
    unsetenv("CG_PG_TEST_SCHEMA");
    return st;
}

static const struct backend backends[] = {
    {"sqlite-file", sqlite_file, always},
    {"sqlite-memory", sqlite_memory, always},
    {"postgresql", pg_fresh, pg_unavailable},
};

/* fresh - a new, empty store of the backend under test */
static cg_store *fresh(void)
{
    char err[1024];
    cg_store *st = cur->fresh(err, sizeof err);
    if (!st)
        fprintf(stderr, "  %s: open: %s\n", cur->name, err);
    return st;
}

/* --- helpers ------------------------------------------------------------------ */

struct collect {
    char buf[2048];
    int n;
    int stop_after;
};

static int contact_cb(const struct cg_contact_row *c, void *arg)
{
    struct collect *k = arg;
    size_t l = strlen(k->buf);
    snprintf(k->buf + l, sizeof k->buf - l, "%s%lld:%s", k->n ? "," : "",
             (long long)(c->ts - T0), c->category);
    k->n++;
    return k->stop_after && k->n >= k->stop_after;
}

static void add_contact(cg_store *st, const char *customer, const char *dept, const char *cat,
                        int64_t ts)
{
    struct cg_contact_row c = {.ts = ts, .customer = customer, .address = customer,
                               .department = dept, .category = cat, .channel = "email",
                               .weight = 1};
    CG_CHECK_INT(cg_store_contact_add(st, &c), 0);
}

/* --- tests --------------------------------------------------------------------- */

static void t_schema(void)
{
    cg_store *st = fresh();
    CG_REQUIRE(st);
    CG_CHECK_INT(cg_store_schema_version(st), CG_STORE_SCHEMA_VERSION);
    CG_CHECK(cg_store_backend(st) != NULL);
    cg_store_free(&st);
    CG_CHECK(st == NULL);
    cg_store_free(&st); /* NULL-safe */
}

/* contacts: since <= ts < until, newest first, per customer, callback stop */
static void t_contacts_window(void)
{
    cg_store *st = fresh();
    CG_REQUIRE(st);
    const char *cats[] = {"promotional.offer", "functional.bill", "promotional.newsletter"};
    for (int i = 0; i < 3; i++)
        add_contact(st, "C-1", "x", cats[i], T0 + i * DAY);
    struct cg_contact_row other = {.ts = T0, .customer = "C-2", .department = "x",
                                   .category = "promotional.offer", .weight = 0.5,
                                   .channel = "sms"};
    CG_CHECK_INT(cg_store_contact_add(st, &other), 0);
    struct collect k = {0};
    CG_CHECK_INT(cg_store_contacts(st, "C-1", T0, T0 + 2 * DAY, contact_cb, &k), 0);
    CG_CHECK_STR(k.buf, "86400:functional.bill,0:promotional.offer"); /* until is exclusive */
    memset(&k, 0, sizeof k);
    cg_store_contacts(st, "C-1", T0 + 1, INT64_MAX, contact_cb, &k);
    CG_CHECK_STR(k.buf, "172800:promotional.newsletter,86400:functional.bill"); /* since inclusive */
    memset(&k, 0, sizeof k);
    k.stop_after = 1;
    CG_CHECK_INT(cg_store_contacts(st, "C-1", 0, INT64_MAX, contact_cb, &k), 0);
    CG_CHECK_INT(k.n, 1);
    memset(&k, 0, sizeof k);
    cg_store_contacts(st, "nobody", 0, INT64_MAX, contact_cb, &k);
    CG_CHECK_INT(k.n, 0);
    /* every contact, oldest first */
    memset(&k, 0, sizeof k);
    CG_CHECK_INT(cg_store_contacts_all(st, 0, 0, contact_cb, &k), 0);
    CG_CHECK_STR(k.buf, "0:promotional.offer,0:promotional.offer,86400:functional.bill,"
                        "172800:promotional.newsletter");
    memset(&k, 0, sizeof k);
    cg_store_contacts_all(st, T0 + 1, T0 + 2 * DAY, contact_cb, &k);
    CG_CHECK_STR(k.buf, "86400:functional.bill");
    cg_store_free(&st);
}

/* transactions: rollback discards, rollback without a transaction is ok,
 * a savepoint undoes one job's writes and keeps the others' */
static void t_transactions(void)
{
    cg_store *st = fresh();
    CG_REQUIRE(st);
    CG_CHECK_INT(cg_store_rollback(st), 0);
    CG_CHECK_INT(cg_store_begin(st, 1), 0);
    add_contact(st, "C-9", "x", "functional.bill", T0);
    CG_CHECK_INT(cg_store_rollback(st), 0);
    struct collect k = {0};
    cg_store_contacts(st, "C-9", 0, INT64_MAX, contact_cb, &k);
    CG_CHECK_INT(k.n, 0);
    CG_CHECK_INT(cg_store_begin(st, 1), 0);
    CG_CHECK_INT(cg_store_savepoint(st), 0);
    add_contact(st, "C-9", "x", "a.kept", T0);
    CG_CHECK_INT(cg_store_release(st), 0);
    CG_CHECK_INT(cg_store_savepoint(st), 0);
    add_contact(st, "C-9", "x", "b.undone", T0 + 1);
    CG_CHECK_INT(cg_store_rollback_savepoint(st), 0);
    CG_CHECK_INT(cg_store_savepoint(st), 0); /* the next job's */
    add_contact(st, "C-9", "x", "c.kept", T0 + 2);
    CG_CHECK_INT(cg_store_release(st), 0);
    const char *keys[] = {"C-9", "dept:x", "C-9"};
    CG_CHECK_INT(cg_store_lock_keys(st, keys, 3), 0);
    CG_CHECK_INT(cg_store_commit(st), 0);
    memset(&k, 0, sizeof k);
    cg_store_contacts(st, "C-9", 0, INT64_MAX, contact_cb, &k);
    CG_CHECK_STR(k.buf, "2:c.kept,0:a.kept");
    /* the counters agree: the undone contact was never counted */
    struct cg_check_counts n;
    CG_CHECK_INT(cg_admin_check(st, &n, NULL, NULL), 0);
    CG_CHECK_INT(n.counter_mismatches, 0);
    CG_CHECK(cg_store_commit(st) == -1); /* no transaction open */
    CG_CHECK_CONTAINS(cg_store_errmsg(st), "commit");
    cg_store_free(&st);
}

/* customer map: insert, update, lookup, not found, listing, counts */
static int customer_cb(const struct cg_customer_row *r, void *arg)
{
    struct collect *k = arg;
    size_t l = strlen(k->buf);
    snprintf(k->buf + l, sizeof k->buf - l, "%s%s=%s", k->n++ ? "," : "", r->address,
             r->customer);
    return 0;
}

static void t_customer_map(void)
{
    cg_store *st = fresh();
    CG_REQUIRE(st);
    int added = -1;
    CG_CHECK_INT(cg_store_customer_put(st, "a@example.com", "C-1", "Europe/Berlin",
                                       "{\"tier\":1}", &added), 0);
    CG_CHECK_INT(added, 1);
    CG_CHECK_INT(cg_store_customer_put(st, "a@example.com", "C-2", NULL, NULL, &added), 0);
    CG_CHECK_INT(added, 0);
    CG_CHECK_INT(cg_store_customer_put(st, "b@example.com", "C-2", NULL, NULL, NULL), 0);
    char *cust = NULL, *tz = NULL;
    CG_CHECK_INT(cg_store_customer_lookup(st, "a@example.com", &cust, &tz), 1);
    CG_CHECK_STR(cust, "C-2");
    CG_CHECK(tz == NULL);
    free(cust);
    free(tz);
    cust = tz = NULL;
    CG_CHECK_INT(cg_store_customer_lookup(st, "c@example.com", &cust, &tz), 0);
    CG_CHECK(cust == NULL);
    struct collect k = {0};
    CG_CHECK_INT(cg_admin_customers(st, NULL, customer_cb, &k), 0);
    CG_CHECK_STR(k.buf, "a@example.com=C-2,b@example.com=C-2");
    int64_t addrs = 0, custs = 0;
    CG_CHECK_INT(cg_admin_customer_count(st, &addrs, &custs), 0);
    CG_CHECK_INT(addrs, 2);
    CG_CHECK_INT(custs, 1);
    cg_store_free(&st);
}

struct states_k {
    char buf[512];
};
static int state_cb(const struct cg_state_row *s, void *arg)
{
    struct states_k *k = arg;
    size_t l = strlen(k->buf);
    snprintf(k->buf + l, sizeof k->buf - l, "%s/%s%s;", s->customer, s->state,
             s->note ? "(note)" : "");
    return 0;
}

/* states: open at a time, end dates, clear keeps the row but closes it */
static void t_states(void)
{
    cg_store *st = fresh();
    CG_REQUIRE(st);
    struct cg_state_row a = {.customer = "C-1", .state = "complaint", .since = T0, .note = "#4711"};
    struct cg_state_row b = {.customer = "C-1", .state = "debt_collection", .since = T0,
                             .until = T0 + DAY};
    struct cg_state_row c = {.customer = "C-2", .state = "bereavement", .since = T0 + DAY};
    CG_CHECK(cg_store_state_set(st, &a) == 0 && cg_store_state_set(st, &b) == 0 &&
             cg_store_state_set(st, &c) == 0);
    struct states_k k = {""};
    cg_store_states(st, "C-1", T0 + 10, state_cb, &k);
    CG_CHECK_STR(k.buf, "C-1/complaint(note);C-1/debt_collection;");
    memset(&k, 0, sizeof k);
    cg_store_states(st, "C-1", T0 + DAY, state_cb, &k); /* until is exclusive */
    CG_CHECK_STR(k.buf, "C-1/complaint(note);");
    memset(&k, 0, sizeof k);
    cg_store_states(st, NULL, T0 + 10, state_cb, &k); /* C-2's starts later */
    CG_CHECK_STR(k.buf, "C-1/complaint(note);C-1/debt_collection;");
    memset(&k, 0, sizeof k);
    cg_store_states(st, NULL, 0, state_cb, &k);
    CG_CHECK_STR(k.buf, "C-1/complaint(note);C-1/debt_collection;C-2/bereavement;");
    /* clear closes what is open now (the dates here are in the past) */
    CG_CHECK_INT(cg_store_state_clear(st, "C-1", "complaint"), 1);
    CG_CHECK_INT(cg_store_state_clear(st, "C-1", "complaint"), 0);
    CG_CHECK_INT(cg_store_state_clear(st, "C-9", "complaint"), 0);
    memset(&k, 0, sizeof k);
    cg_store_states(st, "C-1", cg_now() + 1, state_cb, &k);
    CG_CHECK_STR(k.buf, "");
    memset(&k, 0, sizeof k);
    cg_store_states(st, "C-1", 0, state_cb, &k); /* history kept for compliance */
    CG_CHECK_CONTAINS(k.buf, "C-1/complaint(note);");
    cg_store_free(&st);
}

/* opt-outs: category patterns, "*" suppression, end dates, removal */
static void t_optouts(void)
{
    cg_store *st = fresh();
    CG_REQUIRE(st);
    struct cg_optout_row o = {.customer = "C-1", .category = "promotional.newsletter.*",
                              .since = T0};
    CG_CHECK_INT(cg_store_optout_set(st, &o), 0);
    int r = -1;
    CG_CHECK_INT(cg_store_opted_out(st, "C-1", NULL, "promotional.newsletter.weekly", T0, &r), 0);
    CG_CHECK_INT(r, 1);
    cg_store_opted_out(st, "C-1", NULL, "promotional.offer", T0, &r);
    CG_CHECK_INT(r, 0);
    cg_store_opted_out(st, "C-1", NULL, "promotional.newsletter", T0 - 1, &r); /* before since */
    CG_CHECK_INT(r, 0);
    struct cg_optout_row all = {.customer = "C-2", .category = "*", .since = T0, .until = T0 + 5};
    CG_CHECK_INT(cg_store_optout_set(st, &all), 0);
    cg_store_opted_out(st, "C-2", NULL, "functional.bill", T0 + 4, &r);
    CG_CHECK_INT(r, 1);
    cg_store_opted_out(st, "C-2", NULL, "functional.bill", T0 + 5, &r);
    CG_CHECK_INT(r, 0);
    CG_CHECK_INT(cg_store_optout_remove(st, "C-1", "promotional.newsletter.*"), 1);
    CG_CHECK_INT(cg_store_optout_remove(st, "C-1", "promotional.newsletter.*"), 0);
    cg_store_opted_out(st, "C-1", NULL, "promotional.newsletter.weekly", T0, &r);
    CG_CHECK_INT(r, 0);
    /* an opt-out recorded for the address counts for the customer it maps to */
    struct cg_optout_row by_addr = {.customer = "ann@example.com", .category = "promotional.*",
                                    .since = T0};
    CG_CHECK_INT(cg_store_optout_set(st, &by_addr), 0);
    cg_store_opted_out(st, "C-1", "ann@example.com", "promotional.offer", T0, &r);
    CG_CHECK_INT(r, 1);
    cg_store_opted_out(st, "C-1", "bob@example.com", "promotional.offer", T0, &r);
    CG_CHECK_INT(r, 0);
    /* a customer who is its own address (no customer map entry): one key */
    r = -1;
    cg_store_opted_out(st, "ann@example.com", "ann@example.com", "promotional.offer", T0, &r);
    CG_CHECK_INT(r, 1);
    cg_store_opted_out(st, "ann@example.com", "ann@example.com", "functional.bill", T0, &r);
    CG_CHECK_INT(r, 0);
    cg_store_opted_out(st, "C-1", NULL, "promotional.offer", T0, &r);
    CG_CHECK_INT(r, 0);
    cg_store_free(&st);
}

static int dec_cb(const struct cg_decision_row *d, void *arg)
{
    struct collect *k = arg;
    size_t l = strlen(k->buf);
    snprintf(k->buf + l, sizeof k->buf - l, "%s%s/%s/%s", k->n ? "," : "", d->ref, d->verdict,
             d->policy ? d->policy : "-");
    k->n++;
    return 0;
}

/* decision log: filters combine; newest first */
static void t_decisions(void)
{
    cg_store *st = fresh();
    CG_REQUIRE(st);
    struct cg_decision_row rows[] = {
        {.ts = T0, .ref = "R1", .stage = "rcpt", .verdict = "reject", .policy = "p-state",
         .department = "marketing", .customer = "C-1", .queue_id = "Q1", .relay = "mx1"},
        {.ts = T0 + 1, .ref = "R2", .stage = "eom", .verdict = "accept", .department = "billing",
         .customer = "C-1", .queue_id = "Q2", .relay = "mx2"},
        {.ts = T0 + 2, .ref = "R3", .stage = "rcpt", .verdict = "defer", .policy = "p-cap",
         .department = "marketing", .customer = "C-2", .queue_id = "Q3", .relay = "mx1"},
    };
    for (size_t i = 0; i < 3; i++)
        CG_CHECK_INT(cg_store_decision_add(st, &rows[i]), 0);
    struct collect k = {0};
    cg_store_decisions(st, NULL, dec_cb, &k);
    CG_CHECK_STR(k.buf, "R3/defer/p-cap,R2/accept/-,R1/reject/p-state");
    struct cg_decision_filter f = {.department = "marketing"};
    memset(&k, 0, sizeof k);
    cg_store_decisions(st, &f, dec_cb, &k);
    CG_CHECK_STR(k.buf, "R3/defer/p-cap,R1/reject/p-state");
    f = (struct cg_decision_filter){.customer = "C-1", .since = T0 + 1};
    memset(&k, 0, sizeof k);
    cg_store_decisions(st, &f, dec_cb, &k);
    CG_CHECK_STR(k.buf, "R2/accept/-");
    f = (struct cg_decision_filter){.until = T0 + 2, .limit = 1};
    memset(&k, 0, sizeof k);
    cg_store_decisions(st, &f, dec_cb, &k);
    CG_CHECK_STR(k.buf, "R2/accept/-");
    f = (struct cg_decision_filter){.verdict = "defer", .policy = "p-cap", .queue_id = "Q3"};
    memset(&k, 0, sizeof k);
    cg_store_decisions(st, &f, dec_cb, &k);
    CG_CHECK_STR(k.buf, "R3/defer/p-cap");
    f = (struct cg_decision_filter){.relay = "mx1"};
    memset(&k, 0, sizeof k);
    cg_store_decisions(st, &f, dec_cb, &k);
    CG_CHECK_STR(k.buf, "R3/defer/p-cap,R1/reject/p-state");
    f = (struct cg_decision_filter){.verdict = "hold"};
    memset(&k, 0, sizeof k);
    cg_store_decisions(st, &f, dec_cb, &k);
    CG_CHECK_INT(k.n, 0);
    cg_store_free(&st);
}

/* held mail (contactgatectl held): the enforced hold rows of a queue ID's
 * newest hold, and whether it was released or dropped */
static int held_cb(const struct cg_decision_row *d, void *arg)
{
    struct collect *k = arg;
    size_t l = strlen(k->buf);
    snprintf(k->buf + l, sizeof k->buf - l, "%s%s/%s/%s", k->n ? "," : "", d->ref,
             d->recipient ? d->recipient : "-", d->customer ? d->customer : "-");
    k->n++;
    return 0;
}

static void t_held(void)
{
    cg_store *st = fresh();
    CG_REQUIRE(st);
    struct cg_decision_row rows[] = {
        /* an older message the MTA gave the same queue ID */
        {.ts = T0 - 100, .ref = "R0", .stage = "eom", .verdict = "hold", .policy = "p-hold",
         .recipient = "old@x.example", .customer = "C-0", .queue_id = "QH"},
        {.ts = T0, .ref = "R1", .stage = "eom", .verdict = "hold", .policy = "p-hold",
         .recipient = "ann@x.example", .customer = "C-1", .queue_id = "QH"},
        {.ts = T0, .ref = "R1", .stage = "eom", .verdict = "hold", .policy = "p-hold",
         .recipient = "bob@x.example", .customer = "C-2", .queue_id = "QH"},
        /* a monitored hold held nothing */
        {.ts = T0, .ref = "R2", .stage = "eom", .verdict = "hold", .policy = "p-hold",
         .recipient = "cy@x.example", .customer = "C-3", .queue_id = "QM", .monitor = 1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        CG_CHECK_INT(cg_store_decision_add(st, &rows[i]), 0);
    struct collect k = {0};
    CG_CHECK_INT(cg_held_rows(st, "QH", T0 - 10, held_cb, &k), 0);
    CG_CHECK_STR(k.buf, "R1/ann@x.example/C-1,R1/bob@x.example/C-2");
    memset(&k, 0, sizeof k); /* since before the older message: still the newest hold only */
    CG_CHECK_INT(cg_held_rows(st, "QH", T0 - 1000, held_cb, &k), 0);
    CG_CHECK_STR(k.buf, "R1/ann@x.example/C-1,R1/bob@x.example/C-2");
    memset(&k, 0, sizeof k);
    CG_CHECK_INT(cg_held_rows(st, "QM", 0, held_cb, &k), 0);
    CG_CHECK_INT(k.n, 0);
    memset(&k, 0, sizeof k);
    CG_CHECK_INT(cg_held_rows(st, "NOSUCH", 0, held_cb, &k), 0);
    CG_CHECK_INT(k.n, 0);
    const char *v = NULL;
    CG_CHECK_INT(cg_held_outcome(st, "QH", "R1", &v), 0);
    struct cg_decision_row out = {.ts = T0 + 5, .ref = "R1", .stage = "admin",
                                  .verdict = "released", .recipient = "ann@x.example",
                                  .customer = "C-1", .queue_id = "QH"};
    CG_CHECK_INT(cg_store_decision_add(st, &out), 0);
    CG_CHECK_INT(cg_held_outcome(st, "QH", "R1", &v), 1);
    CG_CHECK_STR(v, "released");
    CG_CHECK_INT(cg_held_outcome(st, "QH", "R0", &v), 0);
    out.ref = "R0";
    out.verdict = "dropped";
    CG_CHECK_INT(cg_store_decision_add(st, &out), 0);
    CG_CHECK_INT(cg_held_outcome(st, "QH", "R0", &v), 1);
    CG_CHECK_STR(v, "dropped");
    cg_store_free(&st);
}

static int full_cb(const struct cg_decision_row *d, void *arg)
{
    struct cg_buf *b = arg;
    cg_buf_printf(b, "%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%lld|%d|%s|%s", d->stage, d->reason,
                  d->detail, d->sender, d->recipient, d->customer, d->category, d->message_id,
                  d->queue_id, d->config_version, (long long)(d->retry_after - T0), d->monitor,
                  d->episode, d->relay);
    return 1;
}

/* every field of a decision row round-trips */
static void t_decision_fields(void)
{
    cg_store *st = fresh();
    CG_REQUIRE(st);
    struct cg_decision_row d = {
        .ts = T0, .ref = "R3", .stage = "rcpt", .verdict = "defer", .policy = "p-cap",
        .reason = "at most 3", .detail = "p-cap=defer:at most 3", .department = "marketing",
        .sender = "a@offers.example", .recipient = "b@example.com", .customer = "C-2",
        .category = "promotional.offer", .message_id = "<m@x>", .queue_id = "Q3",
        .config_version = "0123456789abcdef", .retry_after = T0 + 99, .monitor = 1,
        .episode = "CG0001", .relay = "mx1.corp"};
    CG_CHECK_INT(cg_store_decision_add(st, &d), 0);
    struct cg_buf b = {0};
    cg_store_decisions(st, NULL, full_cb, &b);
    CG_CHECK_STR(b.s, "rcpt|at most 3|p-cap=defer:at most 3|a@offers.example|b@example.com|C-2|"
                      "promotional.offer|<m@x>|Q3|0123456789abcdef|99|1|CG0001|mx1.corp");
    cg_buf_free(&b);
    cg_store_free(&st);
}

/* --- department counters ------------------------------------------------------- */

struct sum {
    int64_t n;
    int64_t first_start, last_end;
    int rows;
    const char *only;         /* a category, or NULL */
};
static int sum_cb(const struct cg_count_bucket *b, void *arg)
{
    struct sum *s = arg;
    if (s->only && strcmp(b->category, s->only) != 0)
        return 0;
    if (!s->rows++)
        s->first_start = b->start;
    s->last_end = b->end;
    s->n += b->n;
    return 0;
}

/* count_naive - what a scan of the department's contacts would count in
 * the window rounded outwards to the minute */
static int64_t count_naive(const int64_t *ts, size_t n, int64_t since, int64_t until)
{
    int64_t lo = cg_store_bucket_of(since, 60), hi = cg_store_bucket_of(until + 59, 60);
    int64_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ts[i] >= lo && ts[i] < hi)
            k++;
    return k;
}

/* the buckets cover the window exactly once, whatever its length and edges;
 * a sum equals a scan of the contacts over the window rounded outwards to
 * the minute; never a contact of another department */
static void t_dept_counts(void)
{
    cg_store *st = fresh();
    CG_REQUIRE(st);
    static int64_t ts[600];
    size_t n = 0;
    uint64_t seed = 42;
    CG_CHECK_INT(cg_store_begin(st, 1), 0);
    for (; n < sizeof ts / sizeof ts[0]; n++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        ts[n] = T0 - (int64_t)((seed >> 33) % (10 * DAY));
        add_contact(st, "C-x", "marketing", n % 3 ? "promotional.offer" : "functional.bill",
                    ts[n]);
        add_contact(st, "C-y", "billing", "functional.bill", ts[n]);
    }
    CG_CHECK_INT(cg_store_commit(st), 0);
    const int64_t windows[][2] = {
        {T0 - 3600, T0 + 1},           {T0 - DAY + 1, T0 + 1},     {T0 - 7 * DAY + 17, T0 + 1},
        {T0 - 10 * DAY, T0 + 1},       {T0 - 59, T0 - 58},         {T0 - 2 * DAY, T0 - DAY},
        {T0 - 5 * DAY - 123, T0 - 61}, {T0 - 9 * DAY + 3599, T0 - 3 * 3600 + 1},
    };
    for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
        struct sum s = {0};
        CG_CHECK_INT(cg_store_dept_counts(st, "marketing", windows[w][0], windows[w][1], sum_cb,
                                          &s), 0);
        CG_CHECK_INT(s.n, count_naive(ts, n, windows[w][0], windows[w][1]));
        /* only buckets inside the window rounded outwards to the minute */
        CG_CHECK(s.rows == 0 || s.first_start >= cg_store_bucket_of(windows[w][0], 60));
        CG_CHECK(s.rows == 0 || s.last_end <= cg_store_bucket_of(windows[w][1] + 59, 60));
        /* a day's window reads at most a few hundred rows per category */
        CG_CHECK(s.rows <= 2 * (59 + 23 + 10 + 23 + 60));
    }
    struct sum s = {.only = "functional.bill"};
    cg_store_dept_counts(st, "marketing", T0 - 10 * DAY, T0 + 1, sum_cb, &s);
    CG_CHECK_INT(s.n, n / 3);
    memset(&s, 0, sizeof s);
    cg_store_dept_counts(st, "nobody", T0 - 10 * DAY, T0 + 1, sum_cb, &s);
    CG_CHECK_INT(s.n, 0);
    cg_store_free(&st);
}

/* the spans of a window: in order, adjacent, the edges rounded outwards */
static void t_count_spans(void)
{
    struct cg_count_span sp[CG_COUNT_MAX_SPANS];
    int64_t cases[][2] = {{T0 - 7 * DAY + 17, T0 + 1}, {T0, T0 + 1}, {T0 - 3600, T0},
                          {0, DAY}, {DAY - 1, DAY + 1}, {T0 - 40 * DAY, T0 - 39 * DAY}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = cg_store_count_spans(cases[c][0], cases[c][1], sp);
        CG_CHECK(n >= 1 && n <= CG_COUNT_MAX_SPANS);
        CG_CHECK_INT(sp[0].from, cg_store_bucket_of(cases[c][0], 60));
        CG_CHECK(sp[n - 1].to >= cases[c][1] && sp[n - 1].to - cases[c][1] < 60);
        for (size_t i = 0; i < n; i++) {
            CG_CHECK(sp[i].from < sp[i].to);
            CG_CHECK_INT(sp[i].from % sp[i].level, 0);
            CG_CHECK_INT(sp[i].to % sp[i].level, 0);
            if (i)
                CG_CHECK_INT(sp[i].from, sp[i - 1].to);
        }
    }
    CG_CHECK_INT(cg_store_bucket_of(-1, 60), -60);
    CG_CHECK_INT(cg_store_bucket_of(119, 60), 60);
}

/* prune, forget and record keep the counters equal to a recount */
static void t_counters_follow_prune_forget(void)
{
    cg_store *st = fresh();
    CG_REQUIRE(st);
    for (int i = 0; i < 200; i++) {
        char cust[32];
        snprintf(cust, sizeof cust, "C-%d", i % 7);
        add_contact(st, cust, i % 2 ? "marketing" : "service", "promotional.offer",
                    T0 - i * 3001);
    }
    CG_CHECK_INT(cg_store_customer_put(st, "ann@example.com", "C-3", NULL, NULL, NULL), 0);
    add_contact(st, "ann@example.com", "marketing", "functional.bill", T0);
    struct cg_check_counts n;
    CG_CHECK_INT(cg_admin_check(st, &n, NULL, NULL), 0);
    CG_CHECK_INT(n.contacts, 201);
    CG_CHECK_INT(n.counter_mismatches, 0);
    struct cg_prune_counts p;
    CG_CHECK_INT(cg_admin_prune(st, T0 - 100 * 3001 - 7, 13, 0, &p), 0);
    CG_CHECK_INT(p.contacts, 99);
    CG_CHECK_INT(cg_admin_check(st, &n, NULL, NULL), 0);
    CG_CHECK_INT(n.contacts, 102);
    CG_CHECK_INT(n.counter_mismatches, 0);
    char ref[64];
    struct cg_forget_counts f;
    CG_CHECK_INT(cg_admin_forget(st, "C-3", T0, ref, sizeof ref, &f), 0);
    CG_CHECK(f.contacts > 1); /* the customer's and its mapped address's */
    CG_CHECK_INT(cg_admin_check(st, &n, NULL, NULL), 0);
    CG_CHECK_INT(n.counter_mismatches, 0);
    CG_CHECK_INT(n.erasures, 1);
    struct sum s = {0};
    cg_store_dept_counts(st, "marketing", T0 - 100 * DAY, T0 + 1, sum_cb, &s);
    int64_t want = 0;
    struct collect k = {0};
    (void)k;
    for (int i = 0; i <= 100; i++)
        if (i % 2 && i % 7 != 3 && T0 - i * 3001 >= T0 - 100 * 3001 - 7)
            want++;
    CG_CHECK_INT(s.n, want);
    cg_store_free(&st);
}

/* --- deferral episodes and relays ----------------------------------------------- */

static void t_episodes(void)
{
    cg_store *st = fresh();
    CG_REQUIRE(st);
    struct cg_episode e;
    CG_CHECK_INT(cg_store_episode_get(st, "", "ann@example.com", &e), 0);
    struct cg_episode put = {.sender = "", .recipient = "ann@example.com", .first_ts = T0,
                             .first_ref = "CG1", .last_ts = T0, .attempts = 1,
                             .retry_after = T0 + 60, .policy = "cap"};
    CG_CHECK_INT(cg_store_episode_put(st, &put), 0);
    put.sender = "a@corp.example";
    put.first_ref = "CG2";
    put.message_id = "<m@x>";
    put.expired = 4;
    CG_CHECK_INT(cg_store_episode_put(st, &put), 0);
    CG_CHECK_INT(cg_store_episode_get(st, "", "ann@example.com", &e), 1);
    CG_CHECK_STR(e.first_ref, "CG1");
    CG_CHECK(e.message_id == NULL);
    CG_CHECK_INT(e.retry_after, T0 + 60);
    CG_CHECK_STR(e.policy, "cap");
    CG_CHECK_INT(cg_store_episode_get(st, "a@corp.example", "ann@example.com", &e), 1);
    CG_CHECK_STR(e.first_ref, "CG2");
    CG_CHECK_STR(e.message_id, "<m@x>");
    CG_CHECK_INT(e.expired, 4);
    /* the strings of a lookup may be handed back in */
    struct cg_episode again = e;
    again.attempts = 2;
    CG_CHECK_INT(cg_store_episode_put(st, &again), 0);
    CG_CHECK_INT(cg_store_episode_get(st, again.sender, again.recipient, &e), 1);
    CG_CHECK_INT(e.attempts, 2);
    CG_CHECK_INT(cg_store_episode_end(st, "a@corp.example", "ann@example.com"), 0);
    CG_CHECK_INT(cg_store_episode_get(st, "a@corp.example", "ann@example.com", &e), 0);
    CG_CHECK_INT(cg_store_episode_get(st, "", "ann@example.com", &e), 1);
    struct cg_check_counts n;
    CG_CHECK_INT(cg_admin_check(st, &n, NULL, NULL), 0);
    CG_CHECK_INT(n.episodes, 1);
    cg_store_free(&st);
}

static int relay_cb(const struct cg_relay_row *r, void *arg)
{
    struct collect *k = arg;
    size_t l = strlen(k->buf);
    snprintf(k->buf + l, sizeof k->buf - l, "%s%s:%s:%lld:%lld", k->n++ ? "," : "", r->name,
             r->config_version, (long long)(r->started - T0), (long long)(r->last_seen - T0));
    return 0;
}

static void t_relays(void)
{
    cg_store *st = fresh();
    CG_REQUIRE(st);
    struct cg_relay_row r = {.name = "mx2", .config_version = "v1", .software = "3.0",
                             .started = T0, .last_seen = T0};
    CG_CHECK_INT(cg_store_relay_seen(st, &r), 0);
    r.name = "mx1";
    CG_CHECK_INT(cg_store_relay_seen(st, &r), 0);
    r = (struct cg_relay_row){.name = "mx2", .config_version = "v2", .last_seen = T0 + 60};
    CG_CHECK_INT(cg_store_relay_seen(st, &r), 0); /* started 0: kept */
    struct collect k = {0};
    CG_CHECK_INT(cg_store_relays(st, relay_cb, &k), 0);
    CG_CHECK_STR(k.buf, "mx1:v1:0:0,mx2:v2:0:60");
    cg_store_free(&st);
}

/* --- bulk loads (cg_admin_bulk: PostgreSQL sends the rows by COPY) ------------------ */

/* What a CSV field may hold: COPY's own escapes and delimiters, quotes,
 * non-ASCII, nothing at all. Each must come back byte for byte. */
static const char *const odd[] = {
    "tab\there",       "back\\slash",     "new\nline",   "carriage\rreturn",
    "\"quoted\" 'it'", "\\N",             "\\.",         "\\t\\n\\\\ written out",
    "end\\",           "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7", "", " lead, trail ",
};
#define N_ODD (sizeof odd / sizeof odd[0])

/* one address's mapping as "address|customer|timezone|attrs" ("" when
 * none), NULL as "(null)"; the listing is the backend's own */
struct map_one {
    const char *address;
    struct cg_buf line;
};
static int map_cb(const struct cg_customer_row *r, void *arg)
{
    struct map_one *m = arg;
    if (!strcmp(r->address, m->address))
        cg_buf_printf(&m->line, "%s|%s|%s|%s", r->address, r->customer,
                      r->timezone ? r->timezone : "(null)", r->attrs ? r->attrs : "(null)");
    return 0;
}

static char *map_of(cg_store *st, const char *address)
{
    struct map_one m = {address, {0}};
    cg_admin_customers(st, NULL, map_cb, &m);
    return m.line.s ? m.line.s : cg_xstrdup("");
}

/* lookup - "customer timezone" of an address as the mail path sees it */
static char *lookup(cg_store *st, const char *address)
{
    char *c = NULL, *tz = NULL;
    int found = cg_store_customer_lookup(st, address, &c, &tz);
    char *r = cg_xasprintf("%s %s", found == 1 ? c : "(not found)", tz ? tz : "(null)");
    free(c);
    free(tz);
    return r;
}

static int64_t addresses(cg_store *st)
{
    int64_t n = -1;
    cg_admin_customer_count(st, &n, NULL);
    return n;
}

/* the customer map as an import writes it: one transaction, odd bytes in
 * every field, NULLs, an address given three times (the last counts), a
 * mapping that changes and one that does not, enough rows for several
 * pieces of COPY, a lookup in the middle that sees the rows before it,
 * added and updated from the counts before and after */
static void t_bulk_customer_map(void)
{
    cg_store *st = fresh();
    CG_REQUIRE(st);
    CG_CHECK_INT(cg_store_customer_put(st, "old@example.com", "C-old", "Europe/Paris", "{}", NULL),
                 0);
    CG_CHECK_INT(cg_store_customer_put(st, "same@example.com", "C-same", NULL, "{\"a\":1}", NULL),
                 0);
    CG_CHECK_INT(cg_admin_bulk(st), 0);
    CG_CHECK_INT(cg_store_begin(st, 1), 0);
    int64_t before = addresses(st);
    CG_CHECK_INT(before, 2);
    char addr[64], cust[64], attrs[160];
    for (size_t i = 0; i < N_ODD; i++) {
        snprintf(addr, sizeof addr, "odd%zu@example.com", i);
        snprintf(cust, sizeof cust, "C-%s", odd[i]);
        CG_CHECK_INT(cg_store_customer_put(st, addr, cust, odd[i], odd[i], NULL), 0);
    }
    CG_CHECK_INT(cg_store_customer_put(st, "raw@example.com", "C-raw", NULL, "caf\xe9\xff.", NULL),
                 0);
    CG_CHECK_INT(cg_store_customer_put(st, "dup@example.com", "C-dup1", "Europe/Berlin", "{}", NULL), 0);
    CG_CHECK_INT(cg_store_customer_put(st, "dup@example.com", "C-dup2", "Asia/Tokyo", NULL, NULL), 0);
    CG_CHECK_INT(cg_store_customer_put(st, "old@example.com", "C-new", NULL, NULL, NULL), 0);
    CG_CHECK_INT(cg_store_customer_put(st, "same@example.com", "C-same", NULL, "{\"a\":1}", NULL),
                 0);
    const int many = 70000; /* about 5 MB of COPY text */
    for (int i = 0; i < many; i++) {
        snprintf(addr, sizeof addr, "u%06d@example.com", i);
        snprintf(cust, sizeof cust, "C-%d", i / 2);
        snprintf(attrs, sizeof attrs, "{\"n\":%d,\"branch\":\"Branch, %d\\t\\\"x\\\"\"}", i, i % 13);
        CG_CHECK_INT(cg_store_customer_put(st, addr, cust, i % 4 ? "Europe/London" : NULL,
                                           i % 3 ? attrs : NULL, NULL), 0);
        if (i == many / 2) { /* a read sees what came before it */
            char *seen = lookup(st, "u000101@example.com");
            CG_CHECK_STR(seen, "C-50 Europe/London");
            free(seen);
            seen = lookup(st, "dup@example.com");
            CG_CHECK_STR(seen, "C-dup2 Asia/Tokyo");
            free(seen);
        }
    }
    CG_CHECK_INT(cg_store_customer_put(st, "dup@example.com", "C-dup3", NULL, "{\"last\":true}", NULL),
                 0);
    int64_t after = addresses(st);
    CG_CHECK_INT(cg_store_commit(st), 0);
    CG_CHECK_INT(after - before, (int64_t)N_ODD + 2 + many); /* added */
    CG_CHECK_INT(addresses(st), after);
    for (size_t i = 0; i < N_ODD; i++) {
        snprintf(addr, sizeof addr, "odd%zu@example.com", i);
        char *got = map_of(st, addr), *want = cg_xasprintf("%s|C-%s|%s|%s", addr, odd[i], odd[i],
                                                           odd[i]);
        CG_CHECK_STR(got, want);
        free(got);
        free(want);
    }
    const char *const want[][2] = {
        {"dup@example.com", "dup@example.com|C-dup3|(null)|{\"last\":true}"},
        /* bytes that are not UTF-8: a '?' for each on PostgreSQL, as its
         * row-at-a-time path stores them; SQLite keeps them */
        {"raw@example.com", strcmp(cg_store_backend(st), "postgresql")
                                ? "raw@example.com|C-raw|(null)|caf\xe9\xff."
                                : "raw@example.com|C-raw|(null)|caf?" "?."},
        {"old@example.com", "old@example.com|C-new|(null)|(null)"},
        {"same@example.com", "same@example.com|C-same|(null)|{\"a\":1}"},
        {"u069998@example.com", "u069998@example.com|C-34999|Europe/London|{\"n\":69998,"
                                "\"branch\":\"Branch, 6\\t\\\"x\\\"\"}"},
        {"u069999@example.com", "u069999@example.com|C-34999|Europe/London|(null)"},
        {"u000000@example.com", "u000000@example.com|C-0|(null)|(null)"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char *got = map_of(st, want[i][0]);
        CG_CHECK_STR(got, want[i][1]);
        free(got);
    }
    int64_t custs = 0;
    cg_admin_customer_count(st, NULL, &custs);
    CG_CHECK_INT(custs, 2 + N_ODD + 2 + many / 2); /* C-same, C-new (C-old is gone), C-raw,
                                                     * C-dup3 */
    cg_store_free(&st);
}

/* a bulk transaction rolled back, or failed by a bad row, writes nothing;
 * the connection is fine for the next one */
static void t_bulk_rollback(void)
{
    cg_store *st = fresh();
    CG_REQUIRE(st);
    CG_CHECK_INT(cg_admin_bulk(st), 0);
    char addr[64];
    for (int round = 0; round < 2; round++) {
        CG_CHECK_INT(cg_store_begin(st, 1), 0);
        for (int i = 0; i < (round ? 60000 : 10); i++) { /* before and after a piece went */
            snprintf(addr, sizeof addr, "r%d@example.com", i);
            CG_CHECK_INT(cg_store_customer_put(st, addr, "C-r", NULL, NULL, NULL), 0);
        }
        add_contact(st, "C-r", "marketing", "promotional.offer", T0);
        CG_CHECK_INT(cg_store_rollback(st), 0);
        CG_CHECK_INT(addresses(st), 0);
    }
    /* a row the database refuses (no customer): the put or the commit
     * fails, naming what; nothing of the transaction stays */
    CG_CHECK_INT(cg_store_begin(st, 1), 0);
    CG_CHECK_INT(cg_store_customer_put(st, "ok@example.com", "C-ok", NULL, NULL, NULL), 0);
    int rc = cg_store_customer_put(st, "bad@example.com", NULL, NULL, NULL, NULL);
    if (rc == 0)
        rc = cg_store_commit(st);
    CG_CHECK_INT(rc, -1);
    CG_CHECK_CONTAINS(cg_store_errmsg(st), "customer");
    cg_store_rollback(st);
    CG_CHECK_INT(addresses(st), 0);
    CG_CHECK_INT(cg_store_begin(st, 1), 0);
    CG_CHECK_INT(cg_store_customer_put(st, "ok@example.com", "C-ok", NULL, NULL, NULL), 0);
    CG_CHECK_INT(cg_store_commit(st), 0);
    CG_CHECK_INT(addresses(st), 1);
    cg_store_free(&st);
}

/* history_cb - each contact as one line with every field */
static int history_cb(const struct cg_contact_row *c, void *arg)
{
    cg_buf_printf(arg, "%lld|%s|%s|%s|%s|%s|%g|%s|%s|%s|%s\n", (long long)(c->ts - T0),
                  c->customer, c->address ? c->address : "(null)", c->department, c->category,
                  c->channel, c->weight, c->message_id ? c->message_id : "(null)",
                  c->queue_id ? c->queue_id : "(null)", c->digest ? c->digest : "(null)",
                  c->relay ? c->relay : "(null)");
    return 0;
}

static int all_decisions_cb(const struct cg_decision_row *d, void *arg)
{
    cg_buf_printf(arg, "%lld|%s|", (long long)(d->ts - T0), d->ref);
    full_cb(d, arg);
    cg_buf_add(arg, "\n");
    return 0;
}

/* history_rows - round r of t_bulk_history's rows into st: the contacts,
 * then the decisions (as a copy sends them); odd bytes and NULLs in every
 * text field, several rows with one time */
static void history_rows(cg_store *st, int r)
{
    static const double weights[] = {1, 0.5, 0.001, 2.25};
    for (size_t i = 0; i < N_ODD; i++) {
        const char *v = odd[i];
        struct cg_contact_row c = {
            .ts = T0 - (int64_t)(i % 3) * 3599, .customer = i % 2 ? "C-1" : "C-2",
            .address = i % 4 ? v : NULL, .department = i % 3 ? "marketing" : v,
            .category = i % 2 ? "promotional.offer" : v, .channel = i % 5 ? "email" : v,
            .weight = weights[i % 4], .message_id = i % 2 ? v : NULL, .queue_id = v,
            .digest = i % 3 ? NULL : v, .relay = i % 2 ? NULL : v};
        CG_CHECK_INT(cg_store_contact_add(st, &c), 0);
    }
    for (size_t i = 0; i < N_ODD; i++) {
        const char *v = odd[i];
        struct cg_decision_row d = {
            .ts = T0 + r, .ref = i % 2 ? "R-same" : v, .stage = "eom", .verdict = "defer",
            .policy = i % 3 ? NULL : v, .reason = v, .detail = i % 2 ? NULL : v,
            .department = v, .sender = v, .recipient = v, .customer = i % 2 ? NULL : v,
            .category = v, .message_id = v, .queue_id = i % 3 ? v : NULL,
            .config_version = v, .retry_after = T0 + (int64_t)i, .monitor = (int)(i % 2),
            .episode = i % 2 ? v : NULL, .relay = v};
        CG_CHECK_INT(cg_store_decision_add(st, &d), 0);
    }
}

/* contacts and decisions as a copy writes them, in one bulk transaction,
 * read back as a row-at-a-time store (SQLite :memory:) keeps the same
 * rows: every field, rows of the same time in their order (ids ascend as
 * they came); the transaction reads its own rows; the department counters
 * equal a recount */
static void t_bulk_history(void)
{
    cg_store *st = fresh(), *ref = cg_store_open(":memory:", 0, NULL, 0);
    CG_REQUIRE(st && ref);
    CG_CHECK_INT(cg_admin_bulk(st), 0);
    CG_CHECK_INT(cg_store_begin(st, 1), 0);
    for (int r = 0; r < 2; r++) {
        history_rows(st, r);
        history_rows(ref, r);
        if (!r) {
            struct collect k = {0};
            CG_CHECK_INT(cg_store_contacts(st, "C-1", 0, INT64_MAX, contact_cb, &k), 0);
            CG_CHECK_INT(k.n, (int)(N_ODD / 2));
        }
    }
    CG_CHECK_INT(cg_store_commit(st), 0);
    struct cg_buf got_c = {0}, want_c = {0}, got_d = {0}, want_d = {0};
    cg_store_contacts_all(st, 0, 0, history_cb, &got_c);
    cg_store_contacts_all(ref, 0, 0, history_cb, &want_c);
    CG_CHECK_STR(got_c.s, want_c.s);
    struct cg_decision_filter in_order = {.oldest_first = 1};
    cg_store_decisions(st, &in_order, all_decisions_cb, &got_d);
    cg_store_decisions(ref, &in_order, all_decisions_cb, &want_d);
    CG_CHECK_STR(got_d.s, want_d.s);
    CG_CHECK(want_c.s && strlen(want_c.s) > 100 && want_d.s && strlen(want_d.s) > 100);
    struct cg_check_counts n;
    CG_CHECK_INT(cg_admin_check(st, &n, NULL, NULL), 0);
    CG_CHECK_INT(n.contacts, 2 * (int64_t)N_ODD);
    CG_CHECK_INT(n.decisions, 2 * (int64_t)N_ODD);
    CG_CHECK_INT(n.counter_mismatches, 0);
    struct sum s = {0}, s_ref = {0};
    cg_store_dept_counts(st, "marketing", T0 - DAY, T0 + 1, sum_cb, &s);
    cg_store_dept_counts(ref, "marketing", T0 - DAY, T0 + 1, sum_cb, &s_ref);
    CG_CHECK_INT(s.n, s_ref.n);
    CG_CHECK(s.n > 0);
    cg_buf_free(&got_c);
    cg_buf_free(&want_c);
    cg_buf_free(&got_d);
    cg_buf_free(&want_d);
    cg_store_free(&ref);
    cg_store_free(&st);
}

/* --- copies ------------------------------------------------------------------------ */

/* everything copied into an empty store is there, counters included */
static void t_copy(void)
{
    cg_store *src = fresh(), *dst = NULL;
    CG_REQUIRE(src);
    char err[1024];
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/copy-%d.db", tmpdir, fresh_n++);
    dst = cg_store_open(path, 0, err, sizeof err);
    CG_REQUIRE(dst);
    for (int i = 0; i < 50; i++)
        add_contact(src, i % 2 ? "C-1" : "C-2", "marketing", "promotional.offer", T0 - i * 600);
    cg_store_customer_put(src, "ann@example.com", "C-1", "Europe/Paris", NULL, NULL);
    struct cg_state_row s = {.customer = "C-1", .state = "complaint", .since = T0};
    cg_store_state_set(src, &s);
    struct cg_optout_row o = {.customer = "C-2", .category = "*", .since = T0};
    cg_store_optout_set(src, &o);
    struct cg_decision_row d = {.ts = T0, .ref = "R1", .stage = "eom", .verdict = "tag",
                                .customer = "C-1", .relay = "mx1"};
    cg_store_decision_add(src, &d);
    struct cg_relay_row r = {.name = "mx1", .config_version = "v9", .started = T0,
                             .last_seen = T0};
    cg_store_relay_seen(src, &r);
    struct cg_copy_counts n;
    CG_CHECK_INT(cg_store_copy(dst, src, &n, NULL, NULL, err, sizeof err), 0);
    CG_CHECK_INT(n.contacts, 50);
    CG_CHECK_INT(n.addresses, 1);
    CG_CHECK_INT(n.states, 1);
    CG_CHECK_INT(n.optouts, 1);
    CG_CHECK_INT(n.decisions, 1);
    CG_CHECK_INT(n.relays, 1);
    struct cg_check_counts c;
    CG_CHECK_INT(cg_admin_check(dst, &c, NULL, NULL), 0);
    CG_CHECK_INT(c.contacts, 50);
    CG_CHECK_INT(c.counter_mismatches, 0);
    struct sum k = {0};
    cg_store_dept_counts(dst, "marketing", T0 - DAY, T0 + 1, sum_cb, &k);
    CG_CHECK_INT(k.n, 50);
    int out = 0;
    cg_store_opted_out(dst, "C-2", NULL, "promotional.offer", T0, &out);
    CG_CHECK_INT(out, 1);
    /* the simulation's seed: map, states, opt-outs, the recent contacts */
    cg_store *sim = cg_store_open(":memory:", 0, err, sizeof err);
    CG_REQUIRE(sim);
    CG_CHECK_INT(cg_store_sim_seed(sim, src, T0 - 3 * 3600, T0 - 3600 + 1), 0);
    struct collect kk = {0};
    cg_store_contacts_all(sim, 0, 0, contact_cb, &kk);
    CG_CHECK_INT(kk.n, 13); /* T0-10800 .. T0-3600, every 600 s */
    cg_store_free(&sim);
    cg_store_free(&dst);
    cg_store_free(&src);
}

/* --- the runner ------------------------------------------------------------------- */

static const struct {
    const char *name;
    void (*fn)(void);
} tests[] = {
    {"schema", t_schema},
    {"contacts_window", t_contacts_window},
    {"transactions", t_transactions},
    {"customer_map", t_customer_map},
    {"states", t_states},
    {"optouts", t_optouts},
    {"decisions", t_decisions},
    {"decision_fields", t_decision_fields},
    {"held", t_held},
    {"dept_counts", t_dept_counts},
    {"count_spans", t_count_spans},
    {"counters_follow_prune_forget", t_counters_follow_prune_forget},
    {"episodes", t_episodes},
    {"relays", t_relays},
    {"copy", t_copy},
    {"bulk_customer_map", t_bulk_customer_map},
    {"bulk_rollback", t_bulk_rollback},
    {"bulk_history", t_bulk_history},
};

static const char *skip_why;
static void skipped(void)
{
    CG_SKIP(skip_why);
}

int main(void)
{
    cg_log_open("test_store", 0, 0, LOG_ERR);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cg-test-store.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
        cur = &backends[b];
        skip_why = cur->unavailable();
        for (size_t t = 0; t < sizeof tests / sizeof tests[0]; t++) {
            char name[128];
            snprintf(name, sizeof name, "%s/%s", cur->name, tests[t].name);
            if (skip_why)
                CG_RUN_NAMED(name, skipped);
            else
                CG_RUN_NAMED(name, tests[t].fn);
        }
    }
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    CG_DONE("test_store");
}
