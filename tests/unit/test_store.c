/*
 * test_store.c - the contact history store on a real SQLite: a temp file
 * (WAL, reopen, read-only, schema versions) and :memory:.
 */
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cg_store.h"
#include "cg_store_int.h" /* the connection, to read its pragmas */
#include "cg_test.h"
#include "cg_util.h"

#define T0 1795000000LL
#define DAY 86400LL

static char tmpdir[PATH_MAX];

static cg_store *mem(void)
{
    char err[256];
    cg_store *st = cg_store_open(":memory:", 0, err, sizeof err);
    if (!st)
        fprintf(stderr, "  open: %s\n", err);
    return st;
}

struct collect {
    char buf[1024];
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

/* file store: created with schema 1, WAL, survives reopen; read-only
 * open sees the data; a newer schema is refused, not touched */
static void test_open_reopen_versions(void)
{
    char path[PATH_MAX + 16], err[512];
    snprintf(path, sizeof path, "%s/h.db", tmpdir);
    cg_store *st = cg_store_open(path, 0, err, sizeof err);
    CG_CHECK(st != NULL);
    if (!st)
        return;
    CG_CHECK(cg_store_schema_version(st) == CG_STORE_SCHEMA_VERSION);
    struct cg_contact_row c = {.ts = T0, .customer = "C-1", .address = "a@example.com",
                               .department = "billing", .category = "functional.bill",
                               .weight = 1, .message_id = "<m1@x>", .queue_id = "Q1"};
    CG_CHECK(cg_store_begin(st, 1) == 0);
    CG_CHECK(cg_store_contact_add(st, &c) == 0);
    CG_CHECK(cg_store_commit(st) == 0);
    cg_store_free(&st);
    CG_CHECK(st == NULL);
    cg_store_free(&st); /* NULL-safe */

    /* WAL mode is persistent in the file */
    sqlite3 *db;
    CG_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL);
    CG_CHECK(sqlite3_step(s) == SQLITE_ROW);
    CG_CHECK_STR((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);

    st = cg_store_open(path, CG_STORE_READONLY, err, sizeof err);
    CG_CHECK(st != NULL);
    struct collect k = {0};
    CG_CHECK(cg_store_contacts(st, "C-1", 0, INT64_MAX, contact_cb, &k) == 0);
    CG_CHECK_STR(k.buf, "0:functional.bill");
    /* read-only really is read-only */
    CG_CHECK(cg_store_contact_add(st, &c) == -1);
    CG_CHECK_CONTAINS(cg_store_errmsg(st), "readonly");
    cg_store_free(&st);

    /* a database from a newer contactgate is refused with a clear error */
    CG_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CG_CHECK(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    st = cg_store_open(path, 0, err, sizeof err);
    CG_CHECK(st == NULL);
    CG_CHECK_CONTAINS(err, "schema version 99 is newer than this contactgate");

    /* not a database at all */
    snprintf(path, sizeof path, "%s/junk.db", tmpdir);
    FILE *fp = fopen(path, "w");
    fputs("this is not an SQLite file, just some text long enough to matter\n", fp);
    fclose(fp);
    st = cg_store_open(path, 0, err, sizeof err);
    CG_CHECK(st == NULL);
    CG_CHECK_CONTAINS(err, "junk.db");
    /* a directory that does not exist */
    st = cg_store_open("/nonexistent/dir/h.db", 0, err, sizeof err);
    CG_CHECK(st == NULL);
    CG_CHECK_CONTAINS(err, "database /nonexistent/dir/h.db");
}

/* contacts: since <= ts < until, newest first, per customer, callback stop */
/* durability: synchronous=NORMAL by default, FULL with CG_STORE_SYNC_FULL;
 * checkpoints report the WAL's size and leave the data readable */
static void test_durability_and_checkpoints(void)
{
    char path[PATH_MAX + 16], err[256];
    snprintf(path, sizeof path, "%s/sync.db", tmpdir); /* the binary's temp dir */
    for (int full = 0; full <= 1; full++) {
        cg_store *st = cg_store_open(path, full ? CG_STORE_SYNC_FULL : 0, err, sizeof err);
        CG_CHECK(st != NULL);
        if (!st)
            break;
        sqlite3_stmt *q = NULL;
        CG_CHECK(sqlite3_prepare_v2(cg_store_sqlite(st), "PRAGMA synchronous", -1, &q, NULL) ==
                 SQLITE_OK);
        CG_CHECK(q && sqlite3_step(q) == SQLITE_ROW);
        CG_CHECK(sqlite3_column_int(q, 0) == (full ? 2 : 1)); /* FULL : NORMAL */
        sqlite3_finalize(q);
        cg_store_free(&st);
    }
    cg_store *st = cg_store_open(path, CG_STORE_SYNC_FULL, err, sizeof err);
    CG_CHECK(st != NULL);
    if (st) {
        CG_CHECK(cg_store_autocheckpoint(st, 0) == 0);
        struct cg_contact_row c = {.ts = T0, .customer = "ann", .department = "d",
                                   .category = "x.y", .channel = "email", .weight = 1};
        for (int i = 0; i < 50; i++)
            CG_CHECK(cg_store_contact_add(st, &c) == 0);
        int frames = -1;
        CG_CHECK(cg_store_checkpoint(st, CG_CKPT_PASSIVE, &frames, NULL) == 0);
        CG_CHECK(frames > 0); /* autocheckpoint off: the commits are in the WAL */
        CG_CHECK(cg_store_checkpoint(st, CG_CKPT_RESTART, &frames, NULL) == 0);
        struct collect k = {.n = 0};
        CG_CHECK(cg_store_contacts(st, "ann", T0, T0 + 1, contact_cb, &k) == 0);
        CG_CHECK(k.n == 50);
        cg_store_free(&st);
    }
}

/* holder - another process's transaction: holds the write lock, commits
 * after 100 ms */
static void *holder(void *arg)
{
    sqlite3 *db = arg;
    struct timespec d = {0, 100 * 1000000L};
    nanosleep(&d, NULL);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return NULL;
}

/* locks: a write lock another connection holds for a while is waited for
 * (the store's own busy handler), not an error; a restart that must not
 * wait gives up quietly while a reader holds the WAL, and the data stay */
static void test_lock_waits(void)
{
    char path[PATH_MAX + 16], err[256];
    snprintf(path, sizeof path, "%s/lock.db", tmpdir); /* the binary's temp dir */
    cg_store *st = cg_store_open(path, 0, err, sizeof err);
    CG_CHECK(st != NULL);
    sqlite3 *other = NULL;
    CG_CHECK(sqlite3_open(path, &other) == SQLITE_OK);
    if (st && other) {
        CG_CHECK(cg_store_autocheckpoint(st, 0) == 0);
        CG_CHECK(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
        pthread_t t;
        CG_CHECK(pthread_create(&t, NULL, holder, other) == 0);
        CG_CHECK(cg_store_begin(st, 1) == 0); /* waits about 100 ms */
        struct cg_contact_row c = {.ts = T0, .customer = "ann", .department = "d",
                                   .category = "x.y", .channel = "email", .weight = 1};
        CG_CHECK(cg_store_contact_add(st, &c) == 0);
        CG_CHECK(cg_store_commit(st) == 0);
        pthread_join(t, NULL);
        /* a reader in the WAL: the no-wait restart is busy, which is no error */
        CG_CHECK(sqlite3_exec(other, "BEGIN; SELECT count(*) FROM contacts;", NULL, NULL, NULL) ==
                 SQLITE_OK);
        int frames = -1, left = -1;
        CG_CHECK(cg_store_checkpoint(st, CG_CKPT_RESTART_NOW, &frames, &left) == 0);
        CG_CHECK(frames > 0);
        CG_CHECK(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
        CG_CHECK(cg_store_checkpoint(st, CG_CKPT_RESTART_NOW, &frames, &left) == 0);
        CG_CHECK(left == 0); /* nobody in the way: all copied */
        struct collect k = {.n = 0};
        CG_CHECK(cg_store_contacts(st, "ann", T0, T0 + 1, contact_cb, &k) == 0);
        CG_CHECK(k.n == 1);
    }
    sqlite3_close(other);
    cg_store_free(&st);
}

static void test_contacts_window(void)
{
    cg_store *st = mem();
    if (!st)
        return;
    const char *cats[] = {"promotional.offer", "functional.bill", "promotional.newsletter"};
    for (int i = 0; i < 3; i++) {
        struct cg_contact_row c = {.ts = T0 + i * DAY, .customer = "C-1", .department = "x",
                                   .category = cats[i], .weight = 1};
        CG_CHECK(cg_store_contact_add(st, &c) == 0);
    }
    struct cg_contact_row other = {.ts = T0, .customer = "C-2", .department = "x",
                                   .category = "promotional.offer", .weight = 0.5,
                                   .channel = "sms"};
    CG_CHECK(cg_store_contact_add(st, &other) == 0);
    struct collect k = {0};
    cg_store_contacts(st, "C-1", T0, T0 + 2 * DAY, contact_cb, &k);
    CG_CHECK_STR(k.buf, "86400:functional.bill,0:promotional.offer"); /* until is exclusive */
    memset(&k, 0, sizeof k);
    cg_store_contacts(st, "C-1", T0 + 1, INT64_MAX, contact_cb, &k);
    CG_CHECK_STR(k.buf, "172800:promotional.newsletter,86400:functional.bill"); /* since inclusive */
    memset(&k, 0, sizeof k);
    k.stop_after = 1;
    CG_CHECK(cg_store_contacts(st, "C-1", 0, INT64_MAX, contact_cb, &k) == 0);
    CG_CHECK(k.n == 1);
    memset(&k, 0, sizeof k);
    cg_store_contacts(st, "nobody", 0, INT64_MAX, contact_cb, &k);
    CG_CHECK(k.n == 0);
    cg_store_free(&st);
}

/* transactions: rollback discards, rollback without a transaction is ok */
static void test_transactions(void)
{
    cg_store *st = mem();
    if (!st)
        return;
    CG_CHECK(cg_store_rollback(st) == 0);
    CG_CHECK(cg_store_begin(st, 1) == 0);
    struct cg_contact_row c = {.ts = T0, .customer = "C-9", .department = "x",
                               .category = "functional.bill", .weight = 1};
    cg_store_contact_add(st, &c);
    CG_CHECK(cg_store_rollback(st) == 0);
    struct collect k = {0};
    cg_store_contacts(st, "C-9", 0, INT64_MAX, contact_cb, &k);
    CG_CHECK(k.n == 0);
    CG_CHECK(cg_store_commit(st) == -1); /* no transaction open */
    CG_CHECK_CONTAINS(cg_store_errmsg(st), "commit");
    cg_store_free(&st);
}

/* customer map: insert, update, lookup, not found */
static void test_customer_map(void)
{
    cg_store *st = mem();
    if (!st)
        return;
    int added = -1;
    CG_CHECK(cg_store_customer_put(st, "a@example.com", "C-1", "Europe/Berlin", "{\"tier\":1}",
                                   &added) == 0);
    CG_CHECK(added == 1);
    CG_CHECK(cg_store_customer_put(st, "a@example.com", "C-2", NULL, NULL, &added) == 0);
    CG_CHECK(added == 0);
    char *cust = NULL, *tz = NULL;
    CG_CHECK(cg_store_customer_lookup(st, "a@example.com", &cust, &tz) == 1);
    CG_CHECK_STR(cust, "C-2");
    CG_CHECK(tz == NULL);
    free(cust);
    free(tz);
    cust = tz = NULL;
    CG_CHECK(cg_store_customer_lookup(st, "b@example.com", &cust, &tz) == 0);
    CG_CHECK(cust == NULL);
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
static void test_states(void)
{
    cg_store *st = mem();
    if (!st)
        return;
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
    CG_CHECK(cg_store_state_clear(st, "C-1", "complaint") == 1);
    CG_CHECK(cg_store_state_clear(st, "C-1", "complaint") == 0);
    CG_CHECK(cg_store_state_clear(st, "C-9", "complaint") == 0);
    memset(&k, 0, sizeof k);
    cg_store_states(st, "C-1", cg_now() + 1, state_cb, &k);
    CG_CHECK_STR(k.buf, "");
    memset(&k, 0, sizeof k);
    cg_store_states(st, "C-1", 0, state_cb, &k); /* history kept for compliance */
    CG_CHECK_CONTAINS(k.buf, "C-1/complaint(note);");
    cg_store_free(&st);
}

/* opt-outs: category patterns, "*" suppression, end dates, removal */
static void test_optouts(void)
{
    cg_store *st = mem();
    if (!st)
        return;
    struct cg_optout_row o = {.customer = "C-1", .category = "promotional.newsletter.*",
                              .since = T0};
    CG_CHECK(cg_store_optout_set(st, &o) == 0);
    int r = -1;
    CG_CHECK(cg_store_opted_out(st, "C-1", NULL, "promotional.newsletter.weekly", T0, &r) == 0);
    CG_CHECK(r == 1);
    cg_store_opted_out(st, "C-1", NULL, "promotional.offer", T0, &r);
    CG_CHECK(r == 0);
    cg_store_opted_out(st, "C-1", NULL, "promotional.newsletter", T0 - 1, &r); /* before since */
    CG_CHECK(r == 0);
    struct cg_optout_row all = {.customer = "C-2", .category = "*", .since = T0, .until = T0 + 5};
    cg_store_optout_set(st, &all);
    cg_store_opted_out(st, "C-2", NULL, "functional.bill", T0 + 4, &r);
    CG_CHECK(r == 1);
    cg_store_opted_out(st, "C-2", NULL, "functional.bill", T0 + 5, &r);
    CG_CHECK(r == 0);
    CG_CHECK(cg_store_optout_remove(st, "C-1", "promotional.newsletter.*") == 1);
    CG_CHECK(cg_store_optout_remove(st, "C-1", "promotional.newsletter.*") == 0);
    cg_store_opted_out(st, "C-1", NULL, "promotional.newsletter.weekly", T0, &r);
    CG_CHECK(r == 0);
    /* an opt-out recorded for the address counts for the customer it maps to */
    struct cg_optout_row by_addr = {.customer = "ann@example.com", .category = "promotional.*",
                                    .since = T0};
    cg_store_optout_set(st, &by_addr);
    cg_store_opted_out(st, "C-1", "ann@example.com", "promotional.offer", T0, &r);
    CG_CHECK(r == 1);
    cg_store_opted_out(st, "C-1", "bob@example.com", "promotional.offer", T0, &r);
    CG_CHECK(r == 0);
    cg_store_opted_out(st, "C-1", NULL, "promotional.offer", T0, &r);
    CG_CHECK(r == 0);
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

/* decision log: every field round-trips; filters combine; newest first */
static void test_decisions(void)
{
    cg_store *st = mem();
    if (!st)
        return;
    struct cg_decision_row rows[] = {
        {.ts = T0, .ref = "R1", .stage = "rcpt", .verdict = "reject", .policy = "p-state",
         .department = "marketing", .customer = "C-1", .queue_id = "Q1", .retry_after = 0},
        {.ts = T0 + 1, .ref = "R2", .stage = "eom", .verdict = "accept", .department = "billing",
         .customer = "C-1", .queue_id = "Q2"},
        {.ts = T0 + 2, .ref = "R3", .stage = "rcpt", .verdict = "defer", .policy = "p-cap",
         .reason = "at most 3", .detail = "p-cap=defer:at most 3", .department = "marketing",
         .sender = "a@offers.example", .recipient = "b@example.com", .customer = "C-2",
         .category = "promotional.offer", .message_id = "<m@x>", .queue_id = "Q3",
         .config_version = "0123456789abcdef", .retry_after = T0 + 99, .monitor = 1},
    };
    for (size_t i = 0; i < 3; i++)
        CG_CHECK(cg_store_decision_add(st, &rows[i]) == 0);
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
    f = (struct cg_decision_filter){.verdict = "hold"};
    memset(&k, 0, sizeof k);
    cg_store_decisions(st, &f, dec_cb, &k);
    CG_CHECK(k.n == 0);
    cg_store_free(&st);
}

static int full_cb(const struct cg_decision_row *d, void *arg)
{
    struct cg_buf *b = arg;
    cg_buf_printf(b, "%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%lld|%d", d->stage, d->reason, d->detail,
                  d->sender, d->recipient, d->customer, d->category, d->message_id,
                  d->queue_id, d->config_version, (long long)(d->retry_after - T0), d->monitor);
    return 1;
}

static void test_decision_fields(void)
{
    cg_store *st = mem();
    if (!st)
        return;
    struct cg_decision_row d = {
        .ts = T0, .ref = "R3", .stage = "rcpt", .verdict = "defer", .policy = "p-cap",
        .reason = "at most 3", .detail = "p-cap=defer:at most 3", .department = "marketing",
        .sender = "a@offers.example", .recipient = "b@example.com", .customer = "C-2",
        .category = "promotional.offer", .message_id = "<m@x>", .queue_id = "Q3",
        .config_version = "0123456789abcdef", .retry_after = T0 + 99, .monitor = 1};
    cg_store_decision_add(st, &d);
    struct cg_buf b = {0};
    cg_store_decisions(st, NULL, full_cb, &b);
    CG_CHECK_STR(b.s, "rcpt|at most 3|p-cap=defer:at most 3|a@offers.example|b@example.com|C-2|"
                      "promotional.offer|<m@x>|Q3|0123456789abcdef|99|1");
    cg_buf_free(&b);
    cg_store_free(&st);
}

/* a database of the first schema (checked-in dump) is migrated in place
 * on open, its data intact */
static void test_migrate_from_v1_fixture(void)
{
    FILE *fp = fopen("tests/fixtures/history-v1.sql", "r");
    CG_CHECK(fp != NULL);
    if (!fp)
        return;
    struct cg_buf sqltext = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        cg_buf_addn(&sqltext, chunk, n);
    fclose(fp);
    char path[PATH_MAX + 16], err[512];
    snprintf(path, sizeof path, "%s/v1.db", tmpdir);
    sqlite3 *db;
    CG_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CG_CHECK(sqlite3_exec(db, sqltext.s, NULL, NULL, NULL) == SQLITE_OK);
    cg_buf_free(&sqltext);
    sqlite3_close(db);

    /* read-only tools refuse an old schema instead of guessing */
    cg_store *st = cg_store_open(path, CG_STORE_READONLY, err, sizeof err);
    CG_CHECK(st == NULL);
    CG_CHECK_CONTAINS(err, "schema version 1, expected 2");

    st = cg_store_open(path, 0, err, sizeof err);
    CG_CHECK(st != NULL);
    if (!st)
        return;
    CG_CHECK(cg_store_schema_version(st) == CG_STORE_SCHEMA_VERSION);
    struct collect k = {0};
    cg_store_contacts(st, "C-1001", 0, INT64_MAX, contact_cb, &k);
    CG_CHECK_STR(k.buf, "3600:promotional.offer,0:functional.bill");
    char *cust = NULL, *tz = NULL;
    CG_CHECK(cg_store_customer_lookup(st, "ann@example.com", &cust, &tz) == 1);
    CG_CHECK_STR(cust, "C-1001");
    CG_CHECK_STR(tz, "Europe/London");
    free(cust);
    free(tz);
    int r = 0;
    cg_store_opted_out(st, "C-1001", NULL, "promotional.newsletter.weekly", T0 + 1, &r);
    CG_CHECK(r == 1);
    struct cg_decision_filter f = {.verdict = "reject"};
    memset(&k, 0, sizeof k);
    cg_store_decisions(st, &f, dec_cb, &k);
    CG_CHECK_STR(k.buf, "CG0000000000000001/reject/no-promotions-during-complaint");
    cg_store_free(&st);
    /* what the migration added is there */
    CG_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name IN "
                           "('contacts_department_ts', 'erasures')", -1, &s, NULL);
    CG_CHECK(sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 2);
    sqlite3_finalize(s);
    sqlite3_close(db);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cg-test-store.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    CG_RUN(test_open_reopen_versions);
    CG_RUN(test_durability_and_checkpoints);
    CG_RUN(test_lock_waits);
    CG_RUN(test_contacts_window);
    CG_RUN(test_transactions);
    CG_RUN(test_customer_map);
    CG_RUN(test_states);
    CG_RUN(test_optouts);
    CG_RUN(test_decisions);
    CG_RUN(test_decision_fields);
    CG_RUN(test_migrate_from_v1_fixture);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    CG_DONE("test_store");
}
